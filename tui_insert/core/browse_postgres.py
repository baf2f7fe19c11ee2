"""Reading a PostgreSQL database for the table browser (SPEC §7), with psycopg 3's asynchronous
connection: the same interface as the SQLite reader (`browse.Reader`), read-only for real.

Read-only: the first statement of every connection makes its transactions read-only by default
(`default_transaction_read_only`); every query goes through the extended protocol (one
statement, never a script); and the reader never commits — a snapshot ends with ROLLBACK. A
statement that would write fails in the server.

Paging: the primary key orders the rows (else a unique index over columns that are never NULL);
a table without either, like a view, is counted off with OFFSET over an order of every column
(`ctid` is no key: an update or a VACUUM FULL moves a row). Order values are read as their text
and bound back cast to the column's type, so a keyset condition compares exactly what is
stored, whatever the type. NULLs come first going up, as in SQLite, stated in each ORDER BY
term (PostgreSQL's own order is the reverse); a column that is never NULL gets no NULLS clause,
so an index on it gives the order.

Errors are told apart by SQLSTATE and psycopg's exception classes, never by their text. A failed
connection is told apart by what libpq knows of it (a password asked for, one used) and by
looking: whether the server's port answers at all, and whether another database of the same
server lets the same login in. The connection string (it may hold a password) is only ever
handed to libpq: the reader is named by the target's label, host:port/dbname.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

from tui_insert.core.browse import (
    LOCK_TIMEOUT,
    BrowseError,
    Column,
    Dialect,
    Filter,
    Query,
    QueryCancelled,
    Reader,
    TableInfo,
    Version,
    quote,
)
from tui_insert.core.rules import visible
from tui_insert.core.stores.postgres import CONNECT_SECONDS, _scrubbed
from tui_insert.core.tables import STATE_TABLE

if TYPE_CHECKING:
    from tui_insert.core.stores.postgres import PostgresTarget

# After a connection failed, the next attempt waits this long (a server that does not answer
# would otherwise hold up every look for changes for the whole connect timeout).
RETRY_SECONDS = 3.0
CANCEL_SECONDS = 5.0  # how long a cancel request may take to reach the server
APPLICATION_NAME = "tui-insert browser"

_NUMBERS = frozenset({"int2", "int4", "int8", "float4", "float8", "numeric"})
# Read as Python values; every other type is read as PostgreSQL's text of it (dates, JSON,
# arrays, booleans…), which is what psql shows.
_VALUES = _NUMBERS | {"text", "varchar", "bpchar", "bytea"}


# --- the SQL -----------------------------------------------------------------------------------


class PostgresDialect(Dialect):
    mark = "%s"
    false = "FALSE"

    def quote(self, name: str) -> str:
        return quote(name).replace("%", "%%")  # psycopg reads % in a query with parameters

    def source(self, query: Query) -> str:
        table = self.quote(query.table)
        return table if query.schema is None else f"{self.quote(query.schema)}.{table}"

    def shown(self, column: Column) -> str:
        name = self.quote(column.name)
        if column.base_type == "float4":  # the digits PostgreSQL shows, not the binary float's
            return f"CAST(CAST({name} AS text) AS float8)"
        if column.base_type in _VALUES:
            return name
        return f"CAST({name} AS text)"

    @staticmethod
    def _column(query: Query, name: str) -> Column:
        column = query.column(name)
        assert column is not None, name  # every term of a PostgreSQL table is one of its columns
        return column

    def ordered(self, query: Query, name: str) -> str:
        # Named with its table: a bare name in ORDER BY would mean the column of the result
        # of that name, such as the anchor read as text.
        column = f"{self.source(query)}.{self.quote(name)}"
        return column if self._column(query, name).orderable else f"CAST({column} AS text)"

    def anchor(self, query: Query, name: str) -> str:
        return f"CAST({self.quote(name)} AS text)"

    def bound(self, query: Query, name: str, value: object) -> tuple[str, object]:
        column = self._column(query, name)
        type_ = column.declared_type.replace("%", "%%") if column.orderable else "text"
        return f"CAST(%s AS {type_})", value

    def nullable(self, query: Query, name: str) -> bool:
        return not self._column(query, name).not_null

    def order(self, query: Query, name: str, descending: bool) -> str:
        term = super().order(query, name, descending)
        if self.nullable(query, name):
            term += " NULLS LAST" if descending else " NULLS FIRST"
        return term

    def same(self, query: Query, name: str, value: object) -> tuple[str, list[object]]:
        column = self.ordered(query, name)
        if value is None:
            return f"{column} IS NULL", []
        mark, param = self.bound(query, name, value)
        # As IS NOT DISTINCT FROM, for a value that is not NULL; and an index can serve it.
        return f"{column} = {mark}", [param]

    def offset_order(self, query: Query) -> list[tuple[str, bool]]:
        """The sort column, then every column: PostgreSQL reads a table in no set order (a
        parallel or synchronized scan starts anywhere), and rows equal in every column look
        the same."""
        terms = super().offset_order(query)
        descending = query.sort.descending if query.sort else False
        for column in query.columns:
            if all(column.name != name for name, _ in terms):
                terms.append((column.name, descending))
        return terms

    def refusal(self, filter_: Filter, column: Column | None) -> str | None:
        if filter_.op in ("<", "<=", ">", ">=") and not _numeric(column):
            type_ = column.declared_type if column is not None else "no numbers"
            name = visible(filter_.column, 30)
            return f"{filter_.op} compares with a number, and {name} holds {visible(type_, 30)}"
        return None

    def condition(self, filter_: Filter, column: Column | None) -> tuple[str, list[object]]:
        name = self.quote(filter_.column)
        if filter_.op == "contains":  # ignoring ASCII case, as SQLite's LIKE does
            like = f"CAST({name} AS text) COLLATE \"C\" ILIKE %s ESCAPE E'\\\\'"
            return like, [filter_.pattern()]
        value = filter_.value
        if value is None:
            return f"{name} IS {'NOT ' if filter_.op == '!=' else ''}NULL", []
        op = "IS DISTINCT FROM" if filter_.op == "!=" else filter_.op  # NULL differs too
        if _numeric(column) and not isinstance(value, str):
            return f"{name} {op} %s", [value]
        if filter_.op in ("=", "!="):  # any other column: by its text
            text = value if isinstance(value, str) else repr(value)
            return f"CAST({name} AS text) {op} %s", [text]
        raise BrowseError(self.refusal(filter_, column) or "cannot compare")


def _numeric(column: Column | None) -> bool:
    return column is not None and column.base_type in _NUMBERS


POSTGRES = PostgresDialect()


# Where the table named (schema, name) is: its oid.
def _relation(table: str, schema: str | None) -> tuple[str, list[object]]:
    if schema is None:  # found along the search_path
        return "to_regclass(%s)", [quote(table)]
    return (
        "(SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s)",
        [schema, table],
    )


_TABLES = """
SELECT n.nspname::text, c.relname::text,
       CASE WHEN c.relkind IN ('r', 'p') THEN 'table' ELSE 'view' END,
       coalesce(n.nspname <> current_schema(), true),
       has_any_column_privilege(c.oid, 'SELECT')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY (current_schemas(false))
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND c.relname <> %s
ORDER BY array_position(current_schemas(false), n.nspname), 3, c.relname COLLATE "C"
"""

# Each column: its name, its type as SQL spells it, the type's own name (a domain's base type),
# never NULL, and whether its type has an order of its own (a default b-tree operator class).
_COLUMNS = """
SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), b.typname::text, a.attnotnull,
       EXISTS (
           SELECT FROM pg_opclass o JOIN pg_am m ON m.oid = o.opcmethod
           WHERE m.amname = 'btree' AND o.opcdefault AND (
               o.opcintype = b.oid
               OR o.opcintype IN (SELECT k.casttarget FROM pg_cast k
                                  WHERE k.castsource = b.oid AND k.castmethod = 'b')
               OR (o.opcintype = 'anyenum'::regtype AND b.typtype = 'e')
               OR (o.opcintype = 'anyrange'::regtype AND b.typtype = 'r')
               OR (o.opcintype = 'anyarray'::regtype AND b.typcategory = 'A' AND EXISTS (
                   SELECT FROM pg_opclass e
                   WHERE e.opcmethod = m.oid AND e.opcdefault AND e.opcintype = b.typelem))))
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE a.attrelid = {relation} AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

# The columns of the primary key, else of the narrowest unique index over columns that are
# never NULL (no expressions, no WHERE): either orders the rows totally.
_KEY = """
SELECT array(SELECT a.attname::text
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE k.n <= i.indnkeyatts ORDER BY k.n)
FROM pg_index i
WHERE i.indrelid = {relation} AND i.indisunique AND i.indisvalid
  AND i.indpred IS NULL AND i.indexprs IS NULL
  AND (i.indisprimary OR NOT EXISTS (
      SELECT FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE k.n <= i.indnkeyatts AND NOT a.attnotnull))
ORDER BY i.indisprimary DESC, i.indnkeyatts, i.indexrelid
LIMIT 1
"""


# --- errors ------------------------------------------------------------------------------------


def _lost(conn: psycopg.AsyncConnection | None, e: psycopg.Error) -> bool:
    """The connection is gone (the server stopped, the network went)."""
    state = e.sqlstate or ""
    if state.startswith("08") or state in ("57P01", "57P02", "57P03"):
        return True
    return isinstance(e, psycopg.OperationalError) and (conn is None or conn.broken or conn.closed)


def _reason(e: psycopg.Error, cancelled: bool) -> BrowseError:
    """What a failed query means, by its SQLSTATE."""
    state = e.sqlstate or ""
    said = visible(e.diag.message_primary or type(e).__name__, 200)
    if state == "57014":  # query_canceled: by us, or by the server (statement_timeout)
        return QueryCancelled() if cancelled else BrowseError("the server cancelled the query")
    if state == "55P03":  # lock_not_available, after lock_timeout
        return BrowseError("locked by another program")
    if state == "42501":  # insufficient_privilege
        return BrowseError(f"no permission to read it ({said})")
    if state == "25006":  # read_only_sql_transaction
        return BrowseError("cannot write: the browser only reads")
    if state.startswith("53"):  # insufficient resources: memory, disk, connections
        return BrowseError(f"the server is short of resources ({said})")
    if state in ("XX001", "XX002"):  # data_corrupted, index_corrupted
        return BrowseError(f"the database is damaged ({said})")
    return BrowseError(f"cannot read: {said}")


async def _answers(host: str, port: str, seconds: float) -> OSError | None:
    """Whether anything listens at the server's address: None if it does, else why not."""
    try:
        if host.startswith("/"):  # a folder of Unix sockets
            opening = asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
        else:
            opening = asyncio.open_connection(host, int(port))
        _, writer = await asyncio.wait_for(opening, seconds)
    except (OSError, ValueError) as e:
        return e if isinstance(e, OSError) else OSError(str(e))
    except TimeoutError:
        return TimeoutError("no answer")
    writer.close()
    with suppress(OSError):
        await writer.wait_closed()
    return None


def _refused_reason(e: OSError) -> str:
    if isinstance(e, ConnectionRefusedError | FileNotFoundError):
        return "cannot connect: nothing answers there (is the server running?)"
    if isinstance(e, TimeoutError):
        return "cannot connect: the server does not answer"
    return f"cannot connect: {e.strerror or e}"


# --- a database --------------------------------------------------------------------------------


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark an opening's failure as seen: its caller may have been cancelled meanwhile."""
    if not future.cancelled():
        future.exception()


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class PostgresReader(Reader):
    """One PostgreSQL database, read-only: the tables and views of the schemas on the
    search_path. Every method raises BrowseError with a message for the user (QueryCancelled
    after `interrupt`)."""

    dialect = POSTGRES

    def __init__(
        self,
        target: PostgresTarget,
        *,
        lock_timeout: float = LOCK_TIMEOUT,
        connect_timeout: float = CONNECT_SECONDS,
    ) -> None:
        self._target = target
        self.label = target.label
        self.lock_timeout = lock_timeout
        self.connect_timeout = connect_timeout
        self._conn: psycopg.AsyncConnection | None = None
        self._opening: asyncio.Future[None] | None = None
        self._cancelled = False
        self._connections = 0
        self._failed: tuple[str, float] | None = None  # the last failure, and until when

    def __repr__(self) -> str:
        return f"PostgresReader({self.label!r})"

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    async def open(self) -> None:
        if self._conn is not None:
            return
        if self._failed is not None and time.monotonic() < self._failed[1]:
            raise BrowseError(self._failed[0], self.label)
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._connect())
            self._opening.add_done_callback(_retrieved)
        opening = self._opening
        try:
            await asyncio.shield(opening)
        except asyncio.CancelledError:
            if opening.cancelled() and not _being_cancelled():  # by `interrupt` or `close`
                raise QueryCancelled() from None
            raise
        finally:
            if opening.done() and self._opening is opening:
                self._opening = None

    def _conninfo(self, **changes: str) -> str:
        """The user's connection string, with a connect timeout and a name for the session
        where it gives none (only ever handed to libpq: it may hold a password)."""
        given = conninfo_to_dict(self._target.conninfo)
        options: dict[str, str | int] = {}
        if "connect_timeout" not in given:
            options["connect_timeout"] = max(1, round(self.connect_timeout))
        if "application_name" not in given:
            options["application_name"] = APPLICATION_NAME
        return make_conninfo(self._target.conninfo, **options, **changes)

    async def _connect(self) -> None:
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo(), autocommit=True, prepare_threshold=None
            )
        except psycopg.Error as e:
            reason = await self._connect_failure(e)
            self._failed = (reason, time.monotonic() + RETRY_SECONDS)
            raise BrowseError(reason, self.label) from None
        try:
            # Before anything else: from here on, no transaction of this session may write.
            await conn.execute(
                "SELECT set_config('default_transaction_read_only', 'on', false),"
                " set_config('lock_timeout', %s, false),"
                " set_config('extra_float_digits', '1', false)",  # floats' text is exact
                [f"{round(self.lock_timeout * 1000)}ms"],
                binary=True,
            )
        except BaseException as e:
            await conn.close()
            if isinstance(e, psycopg.Error):
                raise self._error(None, e) from None
            raise
        self._failed = None
        self._conn = conn
        self._connections += 1

    async def _connect_failure(self, e: psycopg.Error) -> str:
        """Why the server could not be reached or would not let us in, in a user's words."""
        if isinstance(e, psycopg.errors.ConnectionTimeout):
            return "cannot connect: the server does not answer"
        tried = e.pgconn
        if tried is None:
            return "cannot connect: " + _scrubbed(str(e), self._target.conninfo)
        if tried.needs_password:
            return "cannot connect: the server asks for a password, and none was given"
        host, port = tried.host.decode(errors="replace"), tried.port.decode(errors="replace")
        if host and port:
            silent = await _answers(host, port, self.connect_timeout)
            if silent is not None:
                return _refused_reason(silent)
        # The server answered and turned the login away: was it the database, or the login?
        database = tried.db.decode(errors="replace")
        other = "template1" if database == "postgres" else "postgres"
        with suppress(psycopg.Error):
            async with await psycopg.AsyncConnection.connect(
                self._conninfo(dbname=other), autocommit=True
            ) as probe:
                cursor = await probe.execute(
                    "SELECT EXISTS (SELECT FROM pg_database WHERE datname = %s)", [database]
                )
                row = await cursor.fetchone()
            named = repr(visible(database, 60))
            if row is not None and not row[0]:
                return f"cannot connect: there is no database {named}"
            return f"cannot connect: the server does not let this user into {named}"
        if tried.used_password:
            return "cannot connect: the password was refused"
        return "cannot connect: " + visible(_scrubbed(str(e), self._target.conninfo), 300)

    async def close(self) -> None:
        opening, self._opening = self._opening, None
        if opening is not None:
            opening.cancel()
            await asyncio.wait([opening])
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def interrupt(self) -> None:
        self._cancelled = True
        if self._opening is not None:
            self._opening.cancel()
        conn = self._conn
        if conn is not None and conn.info.transaction_status == TransactionStatus.ACTIVE:
            with suppress(psycopg.Error):
                await conn.cancel_safe(timeout=CANCEL_SECONDS)

    def resume(self) -> None:
        self._cancelled = False

    def _error(self, conn: psycopg.AsyncConnection | None, e: psycopg.Error) -> BrowseError:
        if _lost(conn, e):
            return BrowseError("lost the connection to the server", self.label)
        reason = _reason(e, self._cancelled)
        if isinstance(reason, QueryCancelled):
            return reason
        return BrowseError(reason.reason, self.label)

    async def fetch(self, sql: str, params: list[object] | tuple[object, ...] = ()) -> list[tuple]:
        if self._cancelled:
            raise QueryCancelled()
        await self.open()
        conn = self._conn
        if conn is None or self._cancelled:  # closed or interrupted while it opened
            raise QueryCancelled()
        try:
            # Binary: the extended protocol, so one statement and never a script.
            cursor = await conn.execute(sql, list(params), binary=True)
            return await cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as e:
            if conn is not self._conn:  # closed meanwhile (`close`)
                raise QueryCancelled() from None
            error = self._error(conn, e)
            if _lost(conn, e):
                await self.close()  # the next query connects again
            raise error from None

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        """The queries inside share one REPEATABLE READ, READ ONLY transaction: the counts and
        the rows of one page agree. A writer never waits for it."""
        await self.fetch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        conn = self._conn
        try:
            yield
        finally:
            if (
                conn is not None
                and conn is self._conn
                and conn.info.transaction_status != TransactionStatus.IDLE
            ):
                try:
                    await conn.execute("ROLLBACK")  # it read only: nothing is undone
                except psycopg.Error:
                    await self.close()  # a connection in an unknown state: the next reopens it

    async def version(self) -> Version:
        """The server's current snapshot (the next transaction id, and those in progress):
        it moves with every transaction that wrote anything and ended, in any database of the
        server. So a commit elsewhere on the server reads the list again too; nothing written
        here is missed."""
        snapshot = (await self.fetch("SELECT pg_current_snapshot()::text"))[0][0]
        return (self._connections, snapshot)

    async def tables(self) -> list[TableInfo]:
        tables = []
        for schema, name, kind, qualified, readable in await self.fetch(_TABLES, [STATE_TABLE]):
            info = TableInfo(name, kind, None, schema, qualified, readable)
            if kind == "table" and readable:
                source = POSTGRES.source(Query(name, (), None, schema=schema))
                rows = (await self.fetch(f"SELECT count(*) FROM {source}"))[0][0]
                info = TableInfo(name, kind, rows, schema, qualified, readable)
            tables.append(info)
        return tables

    async def columns(self, table: str, schema: str | None = None) -> list[Column]:
        relation, params = _relation(table, schema)
        rows = await self.fetch(_COLUMNS.format(relation=relation), params)
        return [
            Column(name, declared, base, orderable=orderable, not_null=not_null)
            for name, declared, base, not_null, orderable in rows
        ]

    async def key(self, table: TableInfo, columns: list[Column]) -> tuple[str, ...] | None:
        """The primary key, else a unique index over columns never NULL; None for a view or a
        table with neither (OFFSET paging)."""
        if table.kind != "table":
            return None
        relation, params = _relation(table.name, table.schema)
        rows = await self.fetch(_KEY.format(relation=relation), params)
        return tuple(rows[0][0]) if rows else None
