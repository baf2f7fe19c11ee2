"""A dataset's store in a PostgreSQL database (psycopg 3).

The tables are created in the first schema of the connection's `search_path` with explicit SQL,
with no constraint besides the primary key (ids `bigint`, text `text`, price `double
precision`). Beside them, one bookkeeping table (`tables.STATE_TABLE`) holds a row per dataset:
its reset count, and a version that every tui-insert writer bumps in each commit that stores
rows (PostgreSQL has no `data_version`). It holds no validation.

The protocol of `base.py`, here:

- write lock: `LOCK TABLE … IN EXCLUSIVE MODE` inside the commit's transaction (readers, the
  browser among them, go on; writers wait);
- version: the bookkeeping row's (resets, version), read under that lock;
- reference lock: a session-level advisory lock on a key of the table, shared for an orders
  commit, exclusive for a reset;
- identity: the oids of the database and the table; a table dropped or replaced under a run is
  found out under the lock.

Errors are told apart by SQLSTATE, never by their text. The password is never shown: a store is
named host:port/dbname.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import zlib
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

from tui_insert.core.errors import (
    CommitInDoubt,
    DatabaseError,
    StoreBusy,
    StoreChanged,
    StoreError,
    StoreUnavailable,
    UserError,
)
from tui_insert.core.stores.base import (
    Emptying,
    Loaded,
    ReferenceSource,
    Target,
    Writer,
    read_unique,
)
from tui_insert.core.tables import STATE_TABLE, Table
from tui_insert.core.waiting import POLL_SECONDS, OnWait, Patience, Stopped

if TYPE_CHECKING:
    from tui_insert.core.browse_postgres import PostgresReader

R = TypeVar("R")

_USERINFO = re.compile(r"postgres(?:ql)?://([^@/?#]*)@", re.IGNORECASE)

# Seconds to wait for a server to answer a connection attempt.
CONNECT_SECONDS = 10
# The declared kinds of column (tables.py) as PostgreSQL types, as format_type() names them.
SQL_TYPES = {"integer": "bigint", "text": "text", "real": "double precision"}
# The bookkeeping table: a row per dataset stored in this database.
STATE_COLUMNS = (
    ("dataset", "text", True),
    ("resets", "bigint", False),
    ("version", "bigint", False),
)
_STATE_DDL = ", ".join(f"{n} {t}{' PRIMARY KEY' if key else ''}" for n, t, key in STATE_COLUMNS)
# The first key of every advisory lock tui-insert takes (the second names the table).
_LOCK_CLASS = 0x7475_6900 >> 1  # "tui" in a positive int4
# A shared reference lock is only ever kept waiting by a reset, which is quick: look again soon.
_SHARED_POLL = min(POLL_SECONDS, 0.01)
# Between two tries of a lock that another writer holds.
_RETRY_PAUSE = min(POLL_SECONDS, 0.005)


# Failures that may pass, by SQLSTATE: tried again (waiting.Outage), never a failed record.
_PASSING = {
    "57P01": "server shutting down",
    "57P02": "server crashed",
    "57P03": "server starting up",
    "57P05": "session ended by the server (idle_session_timeout)",
    "25P03": "session ended by the server (idle_in_transaction_session_timeout)",
    "53100": "server's disk full",
    "53200": "server out of memory",
    "53300": "too many connections to the server",
    "40001": "serialization failure",
    "40P01": "deadlock",
}
# What libpq quotes when the server answered a connection but cannot take it yet (in the
# server's messages, which are English unless lc_messages says otherwise).
_NOT_YET = (
    "starting up",
    "shutting down",
    "recovery mode",
    "not yet accepting connections",
    "too many clients",
    "connection slots are reserved",
)


def _passing(error: psycopg.Error, conn: psycopg.Connection[Any] | None = None) -> str | None:
    """Why `error` may pass (a short reason), or None if it will not by itself."""
    if isinstance(error, errors.LockNotAvailable):
        return None  # a lock: waited out by the callers, never bounded
    state = error.sqlstate
    if state in _PASSING:
        return _PASSING[state]
    if state is not None and state.startswith("08"):
        return "connection lost"
    if isinstance(error, errors.TransactionRollback):
        return "transaction rolled back by the server"
    if conn is not None and (conn.closed or conn.broken):
        return "connection lost"
    if isinstance(error, psycopg.OperationalError) and state is None:
        return "connection lost"  # libpq's own: the server went away mid-statement
    return None


def _short(message: str) -> str:
    """libpq's message about a failed connection, short: what failed, on one line."""
    first = message.strip().splitlines()[0] if message.strip() else message
    return " ".join(first.rsplit("failed: ", 1)[-1].split())


def _scrubbed(message: str, uri: str) -> str:
    """libpq's message about `uri`, on one line, without the password it may quote."""
    found = _USERINFO.match(uri)
    if found and ":" in found.group(1):
        secret = found.group(1).split(":", 1)[1]
        if len(secret) >= 4:
            message = message.replace(secret, "***")
        elif secret and secret in message:
            # So short it may stand inside other words: say nothing more rather than guess.
            return "libpq's message would show the password"
    return " ".join(message.split())


@dataclass(frozen=True)
class PostgresTarget(Target):
    """A PostgreSQL database named by a libpq URI. `conninfo` holds the password, if the URI
    gave one: it is only ever handed to libpq."""

    where: str  # host:port/dbname
    conninfo: str = field(repr=False)

    @classmethod
    def from_uri(cls, uri: str, option: str) -> PostgresTarget:
        try:
            parts = conninfo_to_dict(uri)
        except psycopg.Error as e:
            reason = _scrubbed(str(e), uri)
            raise UserError(f"{option}: not a PostgreSQL URL libpq can read: {reason}") from None
        env = os.environ
        given = {key: str(value) for key, value in parts.items() if value}
        host = given.get("host") or given.get("hostaddr") or env.get("PGHOST") or "localhost"
        port = given.get("port") or env.get("PGPORT") or "5432"
        user = given.get("user") or env.get("PGUSER") or _login()
        dbname = given.get("dbname") or env.get("PGDATABASE") or user
        shown = f"[{host}]" if ":" in host and "," not in host else host
        return cls(f"{shown}:{port}/{dbname}", uri)

    @property
    def label(self) -> str:
        return self.where

    @property
    def name(self) -> str:
        return self.where

    def clashes_with(self, other: Target) -> bool:
        return False  # one database may hold several datasets: each has its own locks

    def exists(self) -> bool:
        return True

    def connect(self, error: type[Exception] = DatabaseError) -> psycopg.Connection[Any]:
        """A connection in autocommit mode (transactions are begun explicitly) whose commits are
        durable when they return; a failure to connect is `error` naming the store."""
        # Defaults only: what the URI says (connect_timeout=3, say) comes first.
        given = conninfo_to_dict(self.conninfo)
        defaults = {"connect_timeout": str(CONNECT_SECONDS), "application_name": "tui-insert"}
        extra = {key: value for key, value in defaults.items() if key not in given}
        try:
            conn = psycopg.connect(make_conninfo(self.conninfo, **extra), autocommit=True)
        except psycopg.Error as e:
            message = _scrubbed(str(e), self.conninfo)
            # Refused by the server itself (a wrong password, no such database): a mistake to
            # mend. Anything else (no answer, a server starting up) may pass: waited for.
            answered = "FATAL:" in message or "password" in message
            if not answered or any(text in message for text in _NOT_YET):
                detail = _scrubbed(_short(str(e)), self.conninfo)
                raise StoreUnavailable(self.label, "server unreachable", detail) from None
            raise error(f"{self.label}: cannot connect: {message}") from None
        try:
            with _named(self.label, error):
                conn.execute("SET synchronous_commit = on")
                conn.execute("SET client_encoding = 'UTF8'")
                conn.execute(f"SET lock_timeout = {int(POLL_SECONDS * 1000)}")
        except BaseException:
            conn.close()
            raise
        return conn

    # -- before a run ---------------------------------------------------------------------

    def check(
        self,
        table: Table,
        *,
        writable: bool,
        creating: bool = True,
        on_wait: OnWait | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        label = self.label
        with contextlib.closing(self.connect()) as conn, _named(label, DatabaseError):
            encoding = conn.execute("SHOW server_encoding").fetchone()[0]  # type: ignore[index]
            if encoding.upper() not in ("UTF8", "UTF-8"):
                raise DatabaseError(
                    f"{label}: the database's encoding is {encoding}; tui-insert needs UTF8"
                )
            schema = _schema(conn, label)
            where = f"{schema}.{table.name}"
            found = _columns(conn, schema, table.name)
            wanted = [(n, SQL_TYPES[kind], n == table.key) for n, kind in table.columns]
            if found is not None and found != wanted:
                raise DatabaseError(
                    f"{label}: table {where} has columns ({_described(found)}),"
                    f" tui-insert needs ({_described(wanted)})"
                )
            state = _columns(conn, schema, STATE_TABLE)
            if state is not None and state != list(STATE_COLUMNS):
                raise DatabaseError(
                    f"{label}: table {schema}.{STATE_TABLE} has other columns than tui-insert's"
                    f" bookkeeping ({_described(list(STATE_COLUMNS))})"
                )
            role = conn.execute("SELECT current_user").fetchone()[0]  # type: ignore[index]
            needs: list[tuple[str, str]] = []
            if found is not None:
                needs += [(where, "SELECT")]
            if writable:
                _check_writable(conn, label)
                made = creating and (found is None or state is None)
                if made and not _granted(conn, "has_schema_privilege(%s, 'CREATE')", schema):
                    raise DatabaseError(
                        f"{label}: cannot create tables: role {role} has no CREATE"
                        f" privilege on schema {schema} (PostgreSQL 15 and later grant"
                        f" none on public): GRANT CREATE ON SCHEMA {schema} TO {role}"
                    )
                if found is not None:
                    needs += [(where, "INSERT"), (where, "DELETE")]
                if state is not None:
                    state_where = f"{schema}.{STATE_TABLE}"
                    needs += [(state_where, p) for p in ("SELECT", "INSERT", "UPDATE")]
            for relation, privilege in needs:
                query = f"has_table_privilege(%s, '{privilege}')"
                if not _granted(conn, query, _qualified(schema, relation.split(".", 1)[1])):
                    raise DatabaseError(
                        f"{label}: role {role} has no {privilege} privilege on table {relation}"
                    )

    def create(
        self, table: Table, on_wait: OnWait | None = None, stop: threading.Event | None = None
    ) -> Hashable:
        if stop is not None and stop.is_set():
            raise Stopped
        label = self.label
        with contextlib.closing(self.connect()) as conn, _named(label, DatabaseError):
            names = _Names(conn, table, label)
            columns = ", ".join(
                f"{n} {SQL_TYPES[kind]}{' PRIMARY KEY' if n == table.key else ''}"
                for n, kind in table.columns
            )

            def attempt() -> None:
                conn.execute("BEGIN")
                # Two runs creating at once would both try to add the same catalog rows.
                conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_CLASS,))
                # Only what is missing: CREATE TABLE IF NOT EXISTS needs the CREATE privilege
                # on the schema even when the table is there.
                if names.oid() is None:
                    conn.execute(f"CREATE TABLE {names.table} ({columns})")
                if names.oid(names.state) is None:
                    conn.execute(f"CREATE TABLE {names.state} ({_STATE_DDL})")
                conn.execute(
                    f"INSERT INTO {names.state} (dataset, resets, version) VALUES (%s, 0, 0)"
                    " ON CONFLICT (dataset) DO NOTHING",
                    (table.name,),
                )
                conn.execute("COMMIT")

            _waiting_for_locks(conn, attempt, label, "locked by another program", on_wait, stop)
            return names.identity()

    # -- a run ----------------------------------------------------------------------------

    def writer(
        self,
        table: Table,
        *,
        expected: Hashable | None,
        on_wait: OnWait | None,
        wait_for_lock: bool = True,
    ) -> PostgresWriter:
        return PostgresWriter(self, table, expected, on_wait)

    def reference(self, table: Table, *, expected: Hashable | None) -> PostgresReference:
        return PostgresReference(self, table, expected)

    def snapshot(self, table: Table, on_wait: OnWait | None = None) -> Loaded | None:
        with contextlib.closing(self.connect(StoreError)) as conn, _named(self.label):
            names = _Names(conn, table, self.label)
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                if names.oid() is None:
                    return None  # a run would create it: nothing stored yet
                counted = _columns(conn, names.schema, STATE_TABLE) is not None
                return _load(conn, names, table, counted=counted)[0]
            finally:
                conn.execute("ROLLBACK")

    def emptying(
        self, table: Table, on_wait: OnWait | None, stop: threading.Event | None
    ) -> PostgresEmptying:
        return PostgresEmptying(self, table, on_wait, stop)

    def browser(self) -> PostgresReader:
        from tui_insert.core.browse_postgres import PostgresReader

        return PostgresReader(self)


@contextlib.contextmanager
def _named(label: str, error: type[Exception] = StoreError) -> Iterator[None]:
    """A failure of the server as `error` naming the store: a table dropped meanwhile as
    StoreChanged, one that may pass as StoreUnavailable, a lock met mid-transaction as
    StoreBusy."""
    try:
        yield
    except errors.LockNotAvailable:
        # Met in the middle of a transaction (the callers wait out the locks they take): the
        # transaction is done again once the other session lets go.
        raise StoreBusy(label, "locked by another program") from None
    except errors.UndefinedTable:
        raise StoreChanged(
            f"{label}: a table tui-insert was using was dropped; the run stopped"
        ) from None
    except psycopg.Error as e:
        detail = " ".join(str(e).split())
        reason = _passing(e)
        if reason is not None:
            raise StoreUnavailable(label, reason, detail) from None
        raise error(f"{label}: {detail}") from None


def _waiting_for_locks(
    conn: psycopg.Connection[Any],
    attempt: Callable[[], R],
    label: str,
    reason: str,
    on_wait: OnWait | None,
    stop: threading.Event | None,
) -> R:
    """`attempt()` until it gets past other sessions' locks (each try waits `lock_timeout`);
    a transaction it leaves open on failing is rolled back."""
    patience: Patience | None = None
    while True:
        try:
            result = attempt()
            break
        except errors.LockNotAvailable:
            _rollback(conn)
            patience = patience or Patience(label, reason, on_wait, stop)
            patience.tick(_RETRY_PAUSE)
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                _rollback(conn)
            raise
    if patience is not None:
        patience.done()
    return result


def _rollback(conn: psycopg.Connection[Any]) -> None:
    """End the transaction, if one is open; on a lost connection there is none left."""
    if _lost(conn):
        return
    if conn.info.transaction_status != TransactionStatus.IDLE:
        conn.execute("ROLLBACK")


def _lost(conn: psycopg.Connection[Any] | None) -> bool:
    return conn is None or conn.closed or conn.broken


def _schema(conn: psycopg.Connection[Any], label: str) -> str:
    """The first schema of the search_path that exists (and this role may use)."""
    schema = conn.execute("SELECT current_schema()").fetchone()[0]  # type: ignore[index]
    if schema is None:
        path = conn.execute("SHOW search_path").fetchone()[0]  # type: ignore[index]
        raise DatabaseError(
            f"{label}: no schema of the search_path ({path}) exists or may be used:"
            " tui-insert creates its tables in the first one"
        )
    return str(schema)


def _qualified(schema: str, name: str) -> str:
    return f"{_quote(schema)}.{_quote(name)}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(
    conn: psycopg.Connection[Any], schema: str, name: str
) -> list[tuple[str, str, bool]] | None:
    """(name, type, is part of the primary key) of the columns of table `schema.name`; None
    if there is no such relation. A view or another kind of relation by that name is an
    error."""
    found = conn.execute(
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    ).fetchone()
    if found is None:
        return None
    if found[0] not in ("r", "p"):
        raise DatabaseError(f"{schema}.{name} exists and is not a table")
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod),"
        " coalesce(a.attnum = ANY(i.indkey), false)"
        " FROM pg_attribute a"
        " JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary"
        " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY a.attnum",
        (schema, name),
    ).fetchall()
    return [(n, t, bool(pk)) for n, t, pk in rows]


def _described(columns: list[tuple[str, str, bool]]) -> str:
    return ", ".join(f"{n} {t}{' PRIMARY KEY' if pk else ''}" for n, t, pk in columns)


def _granted(conn: psycopg.Connection[Any], test: str, what: str) -> bool:
    return bool(conn.execute(f"SELECT {test}", (what,)).fetchone()[0])  # type: ignore[index]


def _check_writable(conn: psycopg.Connection[Any], label: str) -> None:
    """A server that can take no writes at all: a standby, or read-only by default."""
    if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:  # type: ignore[index]
        raise DatabaseError(f"{label}: cannot write: the server is a standby (read-only)")
    read_only = conn.execute("SHOW default_transaction_read_only").fetchone()[0]  # type: ignore[index]
    if read_only == "on":
        raise DatabaseError(
            f"{label}: cannot write: transactions are read-only (default_transaction_read_only)"
        )


class _Names:
    """A table's SQL names on one connection: in the first schema of its search_path."""

    def __init__(self, conn: psycopg.Connection[Any], table: Table, label: str) -> None:
        self.conn = conn
        self.schema = _schema(conn, label)
        self.table = _qualified(self.schema, table.name)
        self.state = _qualified(self.schema, STATE_TABLE)
        self.dataset = table.name
        # Unique per table and schema; a clash of two keys would only make them wait more.
        self.lock_key = zlib.crc32(f"{self.schema}.{table.name}".encode()) & 0x7FFF_FFFF

    def oid(self, relation: str | None = None) -> int | None:
        """The oid of the table (or of `relation`); None if there is none by that name."""
        found = self.conn.execute(
            "SELECT to_regclass(%s)::oid", (relation or self.table,)
        ).fetchone()
        return None if found is None or found[0] is None else int(found[0])

    def identity(self) -> tuple[int, int | None]:
        """The database's oid and the table's: a table dropped and made again has another."""
        row = self.conn.execute(
            "SELECT (SELECT oid FROM pg_database WHERE datname = current_database()),"
            " to_regclass(%s)::oid",
            (self.table,),
        ).fetchone()
        assert row is not None
        return int(row[0]), None if row[1] is None else int(row[1])


def _load(
    conn: psycopg.Connection[Any], names: _Names, table: Table, *, counted: bool = True
) -> tuple[Loaded, tuple[int, int]]:
    """What the table holds, and its (resets, version), inside the caller's transaction."""
    unique = table.folded_unique
    if unique is not None:
        ids, holders = read_unique(
            conn.execute(f"SELECT id, {unique} FROM {names.table} ORDER BY id")
        )
    else:
        holders = {}
        ids = [rid for (rid,) in conn.execute(f"SELECT id FROM {names.table}")]
    state = (0, 0)
    if counted:
        found = conn.execute(
            f"SELECT resets, version FROM {names.state} WHERE dataset = %s", (names.dataset,)
        ).fetchone()
        if found is not None:
            state = (int(found[0]), int(found[1]))
    return Loaded(ids, holders, state[0]), state


def _table_changed(label: str, table: Table) -> StoreChanged:
    return StoreChanged(
        f"{label}: the table {table.name} was dropped or replaced while tui-insert was using"
        " it; the run stopped"
    )


def _verify(names: _Names, expected: Hashable | None, label: str, table: Table) -> None:
    """Raise StoreChanged unless the table is the one the run prepared (`expected`)."""
    if expected is None:
        return
    with _named(label):
        if names.identity() != expected:
            raise _table_changed(label, table)


def _session(
    target: PostgresTarget, table: Table, expected: Hashable | None, *, read_only: bool = False
) -> tuple[psycopg.Connection[Any], _Names]:
    """A new session for a run's writer or reader, checked to reach the table the run prepared
    (StoreUnavailable while the server cannot be reached)."""
    conn = target.connect(StoreError)
    try:
        with _named(target.label):
            if read_only:
                conn.execute("SET default_transaction_read_only = on")
            names = _Names(conn, table, target.label)
            _verify(names, expected, target.label, table)
    except BaseException:
        conn.close()
        raise
    return conn, names


class PostgresWriter(Writer):
    """Writes one table over one session; after the session was lost (a server restart, a
    dropped connection) the next `begin` opens a new one, and a commit whose answer was lost
    is found out by its transaction id (`fate`)."""

    def __init__(
        self,
        target: PostgresTarget,
        table: Table,
        expected: Hashable | None,
        on_wait: OnWait | None,
    ) -> None:
        """`try_begin` never waits for the lock, `begin` always does."""
        self.label = target.label
        self.table = table
        self._target = target
        self._on_wait = on_wait
        self._expected = expected
        self._conn: psycopg.Connection[Any] | None = None
        self._connected()
        names = self._names
        self._lock_sql = f"LOCK TABLE {names.table} IN EXCLUSIVE MODE"
        self._look_sql = (
            f"SELECT resets, version, to_regclass(%s)::oid FROM {names.state} WHERE dataset = %s"
        )
        self._copy_sql = (
            f"COPY {names.table} ({', '.join(table.fields)}) FROM STDIN (FORMAT BINARY)"
        )
        self._types = [
            {"integer": "int8", "text": "text", "real": "float8"}[k] for _, k in table.columns
        ]
        # The transaction's id comes back with the new version: if the answer to COMMIT is
        # lost, it tells whether the commit happened (pg_xact_status), whatever rows are there.
        self._bump_sql = (
            f"UPDATE {names.state} SET version = version + 1 WHERE dataset = %s"
            " RETURNING resets, version, pg_current_xact_id()::text"
        )
        self._version: tuple[int, int] | None = None  # as last loaded or committed
        self._seen: tuple[int, int] | None = None  # as read under the lock
        self._wrote = False
        self._first_id = 0  # of the rows the transaction under way inserted first
        # A commit whose answer was lost: (its transaction id, its version, its session's pid,
        # the id of the first row it inserted).
        self._in_doubt: tuple[str, tuple[int, int], int, int] | None = None
        # Whether the row of that id was inserted by that transaction (xmin is the 32 bits of
        # a transaction id without its epoch).
        self._inserted_by_sql = f"SELECT 1 FROM {names.table} WHERE id = %s AND xmin::text = %s"

    def _connected(self) -> psycopg.Connection[Any]:
        """The session, opened again if it was lost (StoreUnavailable while the server is
        away); what was loaded is then read again before it is trusted."""
        conn = self._conn
        if not _lost(conn):
            assert conn is not None
            return conn
        if conn is not None:
            conn.close()
            self._conn = None
            self._version = None  # what was committed meanwhile is unknown: load again
        conn, self._names = _session(self._target, self.table, self._expected)
        self._conn = conn
        self._pid = conn.info.backend_pid  # (libpq says 0 once the connection is broken)
        return conn

    def _in_transaction(self, conn: psycopg.Connection[Any]) -> bool:
        return conn.info.transaction_status != TransactionStatus.IDLE

    def load(self) -> Loaded:
        conn = self._connected()
        with _named(self.label):
            if self._in_transaction(conn):
                loaded, self._version = _load(conn, self._names, self.table)
                return loaded
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                loaded, self._version = _load(conn, self._names, self.table)
            finally:
                _rollback(conn)
            return loaded

    def changed(self) -> bool:
        return self._seen != self._version

    def begin(self, stop: threading.Event) -> None:
        conn = self._connected()

        def attempt() -> None:
            conn.execute("BEGIN")
            conn.execute(self._lock_sql)

        with _named(self.label):
            _waiting_for_locks(
                conn, attempt, self.label, "locked by another program", self._on_wait, stop
            )
        self._look()

    def try_begin(self) -> bool:
        conn = self._connected()
        try:
            with _named(self.label):
                conn.execute("BEGIN")
                try:
                    conn.execute(self._lock_sql + " NOWAIT")
                except errors.LockNotAvailable:
                    _rollback(conn)
                    return False
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                _rollback(conn)
            raise
        self._look()
        return True

    def _look(self) -> None:
        """Holding the lock: the table's version, and that it is still the table prepared."""
        conn = self._conn
        assert conn is not None
        try:
            with _named(self.label):
                names = self._names
                row = conn.execute(self._look_sql, (names.table, names.dataset)).fetchone()
            if row is None:
                raise StoreChanged(
                    f"{self.label}: tui-insert's bookkeeping row for {self.table.name} was"
                    " removed while tui-insert was using it; the run stopped"
                )
            if self._expected is not None and row[2] != self._expected[1]:  # type: ignore[index]
                raise _table_changed(self.label, self.table)
            self._seen = (int(row[0]), int(row[1]))
            self._wrote = False
        except BaseException:
            self.rollback()
            raise

    def insert(self, rows: list[tuple]) -> None:
        if not rows:
            return
        conn = self._conn
        assert conn is not None
        with _named(self.label), conn.cursor() as cur, cur.copy(self._copy_sql) as copy:
            copy.set_types(self._types)
            write = copy.write_row
            for row in rows:
                write(row)
        if not self._wrote:
            self._first_id = rows[0][0]
        self._wrote = True

    def commit(self) -> None:
        conn = self._conn
        assert conn is not None
        bumped = None
        with _named(self.label):
            if self._wrote:
                # Tells every other writer of this table that what it holds in memory is old.
                row = conn.execute(self._bump_sql, (self._names.dataset,)).fetchone()
                assert row is not None
                bumped = (int(row[0]), int(row[1])), str(row[2])
        try:
            conn.execute("COMMIT")
        except psycopg.Error as e:
            self._wrote = False
            detail = " ".join(str(e).split())
            if not _lost(conn):
                # The server answered and the session goes on: the commit did not happen.
                with _named(self.label):
                    raise e from None
            if bumped is not None:
                version, xid = bumped
                self._in_doubt = (xid, version, self._pid, self._first_id)
                raise CommitInDoubt(self.label, "connection lost during a commit", detail) from None
            # Nothing was written: committed or not, the outcome is the same.
            return
        self._wrote = False
        if bumped is not None:
            self._version = self._seen = bumped[0]

    def fate(self) -> bool:
        """After CommitInDoubt: whether that commit happened, from its transaction's status
        once a new session gets through (StoreUnavailable until then). A transaction still in
        progress belongs to the old session, which has not yet noticed it lost us: it is ended,
        and the status read again."""
        assert self._in_doubt is not None
        xid, version, old_pid, first_id = self._in_doubt
        conn = self._connected()
        with _named(self.label):
            try:
                found = conn.execute("SELECT pg_xact_status(%s::xid8)", (xid,)).fetchone()
                status = None if found is None else found[0]
            except errors.InvalidParameterValue:
                # "Transaction ID ... is in the future": the server stopped before the
                # transaction reached its log, so after recovery its id is not yet handed out
                # again. A transaction missing from the log did not commit. (The session is in
                # autocommit: the failed statement left no transaction open.)
                status = "aborted"
            if status == "in progress":
                # Its session's backend still waits for us (no word reached it that we are
                # gone): end it, then look again after a pause (and for --retry-for at most).
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE pid = %s AND backend_xid IS NOT NULL",
                    (old_pid,),
                )
                raise StoreUnavailable(self.label, "the lost session's commit is still open")
            if status == "committed":
                # A transaction lost before it reached the log leaves its id to be handed out
                # again after recovery: "committed" may be another's. Ours inserted this row.
                ours = conn.execute(
                    self._inserted_by_sql, (first_id, str(int(xid) % 2**32))
                ).fetchone()
                if ours is None:
                    status = "aborted"
        self._in_doubt = None
        if status == "committed":
            self._version = self._seen = version
            return True
        if status == "aborted":
            self._version = None  # load again: that version number may be another's now
            return False
        raise StoreError(
            f"{self.label}: cannot tell whether a commit whose answer was lost was stored"
            f" (transaction {xid} is unknown to the server); the run stopped"
        )

    def rollback(self) -> None:
        if self._conn is not None:
            with _named(self.label):
                _rollback(self._conn)
        self._wrote = False

    def verify(self) -> None:
        self._connected()
        _verify(self._names, self._expected, self.label, self.table)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                _rollback(self._conn)
            self._conn.close()


class PostgresReference(ReferenceSource):
    """Reads in READ ONLY transactions; its reference lock is an advisory lock of the table,
    which lives as long as the session: a session lost while holding it is opened again, and
    the commit that relied on it tried again (`held`)."""

    def __init__(self, target: PostgresTarget, table: Table, expected: Hashable | None) -> None:
        self.label = target.label
        self.table = table
        self._target = target
        self._expected = expected
        self._conn: psycopg.Connection[Any] | None = None
        self._connected()
        names = self._names
        self._look_up_sql = (
            f"SELECT (SELECT resets FROM {names.state} WHERE dataset = %s), to_regclass(%s)::oid,"
            f" ARRAY(SELECT id FROM {names.table} WHERE id = ANY(%s::int8[]))"
        )

    def _connected(self) -> psycopg.Connection[Any]:
        """The session, opened again if it was lost (StoreUnavailable while the server is
        away)."""
        conn = self._conn
        if not _lost(conn):
            assert conn is not None
            return conn
        if conn is not None:
            conn.close()
            self._conn = None
        conn, self._names = _session(self._target, self.table, self._expected, read_only=True)
        self._conn = conn
        return conn

    @contextlib.contextmanager
    def shared(self, on_wait: OnWait | None, stop: threading.Event | None) -> Iterator[None]:
        conn, key = self._connected(), self._names.lock_key
        patience: Patience | None = None
        with _named(self.label):
            while not conn.execute(
                "SELECT pg_try_advisory_lock_shared(%s, %s)", (_LOCK_CLASS, key)
            ).fetchone()[0]:  # type: ignore[index]
                patience = patience or Patience(
                    self.label, "being emptied by a reset", on_wait, stop
                )
                patience.tick(_SHARED_POLL)
        if patience is not None:
            patience.done()
        try:
            yield
        finally:
            # Never an error from here (the commit it guarded may be through): a session that
            # cannot let go is closed, and its session's locks go with it.
            if not _lost(conn):
                try:
                    conn.execute("SELECT pg_advisory_unlock_shared(%s, %s)", (_LOCK_CLASS, key))
                except psycopg.Error:
                    conn.close()

    def held(self) -> bool:
        # An advisory lock belongs to the database, not to a file that could be moved away;
        # but it goes with its session, which a server restart ends.
        conn = self._conn
        if _lost(conn):
            return False
        assert conn is not None
        try:
            conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def look_up(
        self, ids: list[int], on_wait: OnWait | None, stop: threading.Event | None
    ) -> tuple[int, set[int]]:
        names = self._names
        conn = self._conn
        assert conn is not None
        with _named(self.label):
            row = conn.execute(self._look_up_sql, (names.dataset, names.table, ids)).fetchone()
        assert row is not None
        if self._expected is not None and row[1] != self._expected[1]:  # type: ignore[index]
            raise _table_changed(self.label, self.table)
        return int(row[0] or 0), set(row[2])

    def verify(self) -> None:
        self._connected()
        _verify(self._names, self._expected, self.label, self.table)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()  # its advisory locks go with it


class PostgresEmptying(Emptying):
    def __init__(
        self,
        target: PostgresTarget,
        table: Table,
        on_wait: OnWait | None,
        stop: threading.Event | None,
    ) -> None:
        self.label = target.label
        self.table = table
        self._on_wait = on_wait
        self._stop = stop
        self._conn = target.connect()
        with _named(self.label, DatabaseError):
            self._names = _Names(self._conn, table, self.label)

    def lock(self, referenced: bool) -> bool:
        conn, names = self._conn, self._names
        with _named(self.label):
            if referenced:
                # Waits in the server's queue (lock_timeout at a time), where it also holds
                # back orders commits that come after it: they try their shared lock and wait.
                _waiting_for_locks(
                    conn,
                    lambda: conn.execute(
                        "SELECT pg_advisory_lock(%s, %s)", (_LOCK_CLASS, names.lock_key)
                    ),
                    self.label,
                    "in use by a running tui-insert",
                    self._on_wait,
                    self._stop,
                )
            if names.oid() is None:
                return False

            def attempt() -> None:
                conn.execute("BEGIN")
                conn.execute(f"LOCK TABLE {names.table} IN EXCLUSIVE MODE")

            _waiting_for_locks(
                conn, attempt, self.label, "locked by another program", self._on_wait, self._stop
            )
        return True

    def delete(self) -> int:
        conn, names = self._conn, self._names
        with _named(self.label, DatabaseError):
            count = conn.execute(f"DELETE FROM {names.table}").rowcount
            if names.oid(names.state) is None:  # a table made by hand, and never reset
                conn.execute(f"CREATE TABLE {names.state} ({_STATE_DDL})")
            conn.execute(
                f"INSERT INTO {names.state} (dataset, resets, version) VALUES (%s, 1, 1)"
                " ON CONFLICT (dataset) DO UPDATE"
                " SET resets = {0}.resets + 1, version = {0}.version + 1".format(names.state),
                (names.dataset,),
            )
        return count

    def still_held(self) -> bool:
        return True

    def commit(self) -> None:
        # A commit whose answer was lost is simply done again by the reset: emptying an emptied
        # table changes nothing.
        with _named(self.label):
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            _rollback(self._conn)
        self._conn.close()  # and with it, the advisory lock


def _login() -> str:
    try:
        import getpass

        return getpass.getuser()
    except (ImportError, KeyError, OSError):
        return "postgres"
