"""Reading a store for the table browser (SPEC §7): read-only, a page at a time.

`Reader` is what the browser asks of a store; `DatabaseReader` here reads any SQLite file, and
`browse_postgres.PostgresReader` a PostgreSQL database. `TableView` pages through a table with
keyset queries — `WHERE (sort value, key) > (last row seen) ORDER BY … LIMIT n` — so the last
page of a million rows costs as little as the first; it spells its SQL through the reader's
`Dialect`, so paging, sorting and filtering are the same on either kind. Values reach SQL only
as bound parameters, and names only as quoted identifiers, so any table or column name works.

A SQLite connection is opened from a read-only URI built from the resolved path and then set
`query_only`, so it cannot write even by mistake.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Literal, Protocol

import aiosqlite

from tui_insert.core.checks import read_only_uri
from tui_insert.core.rules import visible
from tui_insert.core.tables import STATE_TABLE

PAGE_ROWS = 100
# How long a query waits for another program's lock before saying the file is locked. (WAL
# databases, like the ones tui-insert writes, never make a reader wait.)
LOCK_TIMEOUT = 2.0
CELL_CHARS = 48

Move = Literal["first", "last", "next", "previous", "reload"]


class BrowseError(Exception):
    """A database cannot be read: `reason` says why, in a user's words; `where` names the
    store (a file by its name, a PostgreSQL database as host:port/dbname)."""

    def __init__(self, reason: str, where: Path | str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = where.name if isinstance(where, Path) else where

    def __str__(self) -> str:
        return self.reason if self.where is None else f"{self.where}: {self.reason}"


class QueryCancelled(BrowseError):
    """The query was interrupted (escape)."""

    def __init__(self) -> None:
        super().__init__("query cancelled")


def quote(name: str) -> str:
    """An SQL identifier for any name: spaces, quotes, brackets and unicode included."""
    return '"' + name.replace('"', '""') + '"'


# --- cells -------------------------------------------------------------------------------------

CellKind = Literal["null", "number", "text", "blob"]


@dataclass(frozen=True)
class Cell:
    text: str
    kind: CellKind


def cell(value: object, limit: int = CELL_CHARS) -> Cell:
    """How one stored value is shown: NULL apart from any text, floats at full precision,
    BLOBs as their size, text literal and cut."""
    if value is None:
        return Cell("NULL", "null")
    if isinstance(value, int):
        return Cell(str(value), "number")
    if isinstance(value, float):
        return Cell(repr(value), "number")  # the shortest text that reads back as the same float
    if isinstance(value, Decimal):  # PostgreSQL's numeric, digit for digit
        return Cell(visible(str(value), limit), "number")
    if isinstance(value, bytes):
        return Cell(f"BLOB, {len(value):,} byte{'' if len(value) == 1 else 's'}", "blob")
    return Cell(visible(str(value), limit), "text")


# --- what is in a file -------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    declared_type: str
    # What PostgreSQL's typed columns tell (SQLite decides per value, and leaves these be):
    base_type: str = ""  # the type's own name (a domain's base type): int8, text, jsonb…
    orderable: bool = True  # has an order of its own; else it is ordered by its text
    not_null: bool = False  # never NULL: its order needs no place for NULLs


@dataclass(frozen=True)
class TableInfo:
    name: str
    kind: Literal["table", "view"]
    # None for views (counting one may mean running a large query) and unreadable tables.
    rows: int | None
    schema: str | None = None  # PostgreSQL: the schema that holds it
    qualified: bool = False  # named with its schema (it is not in the first schema searched)
    readable: bool = True  # this user may read it

    @property
    def title(self) -> str:
        """How the browser names it."""
        return f"{self.schema}.{self.name}" if self.qualified else self.name


# --- sorting and filtering ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sort:
    column: str
    descending: bool = False


_COMPARISON = re.compile(r"\s*(>=|<=|!=|<>|>|<|=)\s*(.*?)\s*", re.DOTALL)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class Filter:
    """One column's condition: `contains` some text (ignoring ASCII case), a comparison with a
    number, `=`/`!=` some text, or `= null` / `!= null`."""

    column: str
    op: str  # contains, <, <=, >, >=, =, !=
    value: str | int | float | None

    def pattern(self) -> str:
        """The LIKE pattern of `contains` (escaped with a backslash)."""
        assert isinstance(self.value, str)
        return "%" + re.sub(r"([\\%_])", r"\\\1", self.value) + "%"

    def describe(self) -> str:
        column = visible(self.column, 30)
        if self.op == "contains":
            return f"{column} contains {visible(repr(self.value), 30)}"
        value = "null" if self.value is None else self.value
        shown = visible(repr(value) if isinstance(value, str) else str(value), 30)
        return f"{column} {self.op} {shown}"


def parse_filter(column: str, text: str) -> Filter | None:
    """The filter a user typed for `column`; None for empty text. Raises ValueError with a
    message to show."""
    if not text.strip():
        return None
    match = _COMPARISON.fullmatch(text)
    if match is None:
        value = text
        if len(value) >= 2 and value[0] == value[-1] == '"':  # "> 5" in quotes: the text itself
            value = value[1:-1]
        return Filter(column, "contains", value)
    op, operand = match.groups()
    op = "!=" if op == "<>" else op
    if operand.lower() == "null" and op in ("=", "!="):
        return Filter(column, op, None)
    number: int | float | None = None
    if _NUMBER.fullmatch(operand):
        number = float(operand) if re.search(r"[.eE]", operand) else int(operand)
        if isinstance(number, int) and not -(2**63) <= number < 2**63:
            number = float(number)  # beyond SQLite's integers; compared as a real

    if number is not None:
        return Filter(column, op, number)
    if op in ("=", "!="):
        if len(operand) >= 2 and operand[0] == operand[-1] == '"':
            operand = operand[1:-1]
        return Filter(column, op, operand)
    if not operand:
        raise ValueError(f"{op} needs a number after it, e.g. {op} 10")
    raise ValueError(f"{op} compares with a number, not {operand!r}")


# --- how each kind of database spells it ------------------------------------------------------

Terms = list[tuple[str, bool]]  # ORDER BY terms: (column name, descending)


class Dialect:
    """The pieces of SQL that TableView and the filters ask a reader for, so that the same
    paging, sorting and filtering run on each kind of database. This one is SQLite's;
    `browse_postgres.PostgresDialect` is PostgreSQL's.

    The order of a term is the same on both: NULLs first going up, last going down (SQLite's
    own order). A row's order values are read with `anchor` and bound back with `bound`, so a
    keyset condition compares the very values that were stored."""

    mark = "?"  # a parameter
    false = "0"  # a condition no row meets

    def quote(self, name: str) -> str:
        return quote(name)

    def source(self, query: Query) -> str:
        """The table or view in FROM."""
        return self.quote(query.table)

    def shown(self, column: Column) -> str:
        """What reads a column's value for display."""
        return self.quote(column.name)

    def ordered(self, query: Query, name: str) -> str:
        """What a column is ordered and compared by."""
        return self.quote(name)

    def anchor(self, query: Query, name: str) -> str:
        """What reads a row's order value in a column: the anchor of the next move."""
        return self.ordered(query, name)

    def bound(self, query: Query, name: str, value: object) -> tuple[str, object]:
        """The placeholder and parameter that stand for an anchor read with `anchor`."""
        if isinstance(value, UndecodableText):
            return "CAST(? AS TEXT)", value.raw
        return "?", value

    def nullable(self, query: Query, name: str) -> bool:
        """Whether the column may hold NULL (a SQLite column always may)."""
        return True

    def order(self, query: Query, name: str, descending: bool) -> str:
        """One ORDER BY term."""
        return f"{self.ordered(query, name)} {'DESC' if descending else 'ASC'}"

    def same(self, query: Query, name: str, value: object) -> tuple[str, list[object]]:
        """The column holds the anchor `value` (NULL equals NULL here)."""
        mark, param = self.bound(query, name, value)
        return f"{self.ordered(query, name)} IS {mark}", [param]

    def offset_order(self, query: Query) -> Terms:
        """The order of the pages of a table or view without a key (counted off with OFFSET):
        the sort column, or none (SQLite reads a table in the same order each time)."""
        return [(query.sort.column, query.sort.descending)] if query.sort else []

    def refusal(self, filter_: Filter, column: Column | None) -> str | None:
        """Why `filter_` cannot apply to its column, in a user's words; None if it can."""
        return None

    def condition(self, filter_: Filter, column: Column | None) -> tuple[str, list[object]]:
        """The WHERE condition of a filter."""
        name = self.quote(filter_.column)
        if filter_.op == "contains":  # SQLite's LIKE ignores ASCII case
            return f"{name} LIKE ? ESCAPE '\\'", [filter_.pattern()]
        if filter_.value is None:
            return f"{name} IS {'NOT ' if filter_.op == '!=' else ''}NULL", []
        if filter_.op == "=":
            return f"{name} = ?", [filter_.value]
        if filter_.op == "!=":
            return f"{name} IS NOT ?", [filter_.value]  # rows without a value do differ
        # Only numbers are compared with a number: in SQLite every text is greater than any
        # number, which would let every text through `> 5`.
        value = filter_.value
        return f"(typeof({name}) IN ('integer', 'real') AND {name} {filter_.op} ?)", [value]


SQLITE = Dialect()


# --- what the browser asks of a store ----------------------------------------------------------

# Changes whenever something was committed that could change what is shown, and on every new
# connection: (which connection of the reader, that connection's own version).
Version = tuple[int, object]


class Reader(ABC):
    """A store opened read-only for the browser. Every method raises BrowseError with a message
    for the user (QueryCancelled after `interrupt`)."""

    label: str  # the store, as the browser names it (never with a password)
    dialect: Dialect

    @property
    @abstractmethod
    def is_open(self) -> bool: ...

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None:
        """Close the connection; `fetch` opens it again."""

    @abstractmethod
    async def interrupt(self) -> None:
        """Stop the query running now, and every later one until `resume`: they raise
        QueryCancelled. (One move of a TableView runs several queries; a cancel that comes
        between two of them must stop it all the same.)"""

    @abstractmethod
    def resume(self) -> None:
        """Let queries run again after `interrupt`."""

    @abstractmethod
    async def fetch(
        self, sql: str, params: list[object] | tuple[object, ...] = ()
    ) -> list[tuple]: ...

    @abstractmethod
    def snapshot(self) -> AbstractAsyncContextManager[None]:
        """The queries inside see the store as it was at the first of them: the counts and the
        rows of one page agree, even while a run writes."""

    @abstractmethod
    async def version(self) -> Version:
        """Differs from an earlier one whenever anything was committed since that could change
        what is shown, or the connection was opened again in between."""

    @abstractmethod
    async def tables(self) -> list[TableInfo]:
        """The tables and views to browse, with row counts (tui-insert's bookkeeping left out)."""

    @abstractmethod
    async def columns(self, table: str, schema: str | None = None) -> list[Column]: ...

    @abstractmethod
    async def key(self, table: TableInfo, columns: list[Column]) -> tuple[str, ...] | None:
        """The columns that order the rows uniquely for keyset paging; None: the pages are
        counted off with OFFSET (a view)."""


class Browsable(Protocol):
    """A store the browser can show (a stores.Target)."""

    @property
    def label(self) -> str: ...

    @property
    def name(self) -> str: ...

    def browser(self) -> Reader: ...


# --- a SQLite file -----------------------------------------------------------------------------


def _error(path: Path, e: sqlite3.Error) -> BrowseError:
    text = str(e)
    if text == "interrupted":
        return QueryCancelled()
    if "not a database" in text:
        return BrowseError("not an SQLite database", path)
    if "locked" in text or "busy" in text:
        return BrowseError("locked by another program", path)
    if "malformed" in text or "corrupt" in text:
        return BrowseError(f"the database is damaged ({text})", path)
    if "unable to open" in text:
        return BrowseError(f"cannot open ({text})", path)
    return BrowseError(f"cannot read: {text}", path)


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark an opening's failure as seen: its caller may have been cancelled meanwhile."""
    if not future.cancelled():
        future.exception()


class DatabaseReader(Reader):
    """One SQLite file, opened read-only. Every method raises BrowseError with a message for
    the user (QueryCancelled after `interrupt`)."""

    dialect = SQLITE

    def __init__(self, path: Path, *, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.path = path
        self.label = str(path)
        self.lock_timeout = lock_timeout
        self._db: aiosqlite.Connection | None = None
        self._opening: asyncio.Future[None] | None = None
        self._cancelled = False
        self._connections = 0  # opened so far: a data_version holds only within one

    @property
    def is_open(self) -> bool:
        return self._db is not None

    async def open(self) -> None:
        if self._db is not None:
            return
        # Opening starts a thread that only `close` ends; so an open runs to its end even when
        # the caller is cancelled, and `close` waits for it.
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._connect())
            self._opening.add_done_callback(_retrieved)
        opening = self._opening
        try:
            await asyncio.shield(opening)
        finally:
            if opening.done() and self._opening is opening:
                self._opening = None

    async def _connect(self) -> None:
        path = self.path
        if not path.exists():
            raise BrowseError("no such file", path)
        if path.is_dir():
            raise BrowseError("a folder, not a database file", path)
        try:
            db = await aiosqlite.connect(
                read_only_uri(path), uri=True, timeout=self.lock_timeout, isolation_level=None
            )
        except sqlite3.Error as e:
            raise _error(path, e) from None
        # Text that is not valid UTF-8 is shown with escapes instead of failing the page.
        db.text_factory = _decode
        try:
            await db.execute("PRAGMA query_only = ON")
            # Reading the schema is what tells a text file or a damaged file from a database.
            await db.execute_fetchall("SELECT count(*) FROM sqlite_master")
        except BaseException as e:
            await db.close()
            if isinstance(e, sqlite3.Error):
                raise _error(path, e) from None
            raise
        self._db = db
        self._connections += 1

    async def close(self) -> None:
        """Close the connection (and end its thread); `fetch` opens it again."""
        opening, self._opening = self._opening, None
        if opening is not None:
            await asyncio.wait([opening])
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    async def interrupt(self) -> None:
        self._cancelled = True
        if self._db is not None:
            await self._db.interrupt()

    def resume(self) -> None:
        self._cancelled = False

    async def fetch(self, sql: str, params: list[object] | tuple[object, ...] = ()) -> list[tuple]:
        if self._cancelled:
            raise QueryCancelled()
        await self.open()
        db = self._db
        if db is None:  # closed while it opened
            raise QueryCancelled()
        try:
            rows = await db.execute_fetchall(sql, params)
        except sqlite3.Error as e:
            raise _error(self.path, e) from None
        except ValueError:  # aiosqlite: the connection was closed meanwhile
            if self._db is db:
                raise
            raise QueryCancelled() from None
        return [tuple(row) for row in rows]

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        """The queries inside see the file as it was at the first of them: the counts and the
        rows of one page agree, even while a run writes. (In WAL mode a reader holds back no
        writer.)"""
        await self.fetch("BEGIN")
        db = self._db
        try:
            yield
        finally:
            if db is not None and db is self._db and db.in_transaction:
                try:
                    await db.execute("ROLLBACK")  # it read only: nothing is undone
                except (sqlite3.Error, ValueError):
                    await self.close()  # a connection in an unknown state: the next reopens it

    async def version(self) -> Version:
        """Another connection's commit to the file changes `data_version`; a fresh connection
        starts again from the same small number, so the connection is counted too."""
        data_version = (await self.fetch("PRAGMA data_version"))[0][0]
        return (self._connections, data_version)

    async def tables(self) -> list[TableInfo]:
        # SQLite's own tables and tui-insert's bookkeeping are not data: left out.
        rows = await self.fetch(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')"
            " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name != ? ORDER BY type, name",
            (STATE_TABLE,),
        )
        tables = []
        for name, kind in rows:
            count = None
            if kind == "table":
                count = (await self.fetch(f"SELECT count(*) FROM {quote(name)}"))[0][0]
            tables.append(TableInfo(name, kind, count))
        return tables

    async def columns(self, table: str, schema: str | None = None) -> list[Column]:
        rows = await self.fetch("SELECT name, type FROM pragma_table_info(?)", (table,))
        return [Column(name, declared_type) for name, declared_type in rows]

    async def key(self, table: TableInfo, columns: list[Column]) -> tuple[str, ...] | None:
        """The rowid (or the column that is its alias), the primary key of a WITHOUT ROWID
        table, or None (a view: its pages are counted off with OFFSET)."""
        if table.kind != "table":
            return None
        names = {c.name.lower() for c in columns}
        pk = await self.fetch(
            "SELECT name, type FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table.name,)
        )
        name = quote(table.name)
        free = [n for n in ("rowid", "_rowid_", "oid") if n not in names]
        if free:
            try:
                # The bare name: SQLite would take an unknown quoted name for a string.
                await self.fetch(f"SELECT {free[0]} FROM {name} LIMIT 0")
            except QueryCancelled:
                raise
            except BrowseError:
                free = []  # a WITHOUT ROWID table
        if not free:  # its primary key is unique and never NULL (or OFFSET paging)
            return tuple(column for column, _ in pk) or None
        if len(pk) == 1 and pk[0][1].upper() == "INTEGER":
            plan = await self.fetch(
                f"EXPLAIN QUERY PLAN SELECT * FROM {name} WHERE {quote(pk[0][0])} = 0"
            )
            if any("INTEGER PRIMARY KEY" in str(row[-1]) for row in plan):
                return (pk[0][0],)  # the rowid under its column name
        return (free[0],)


# --- a table, a page at a time -----------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """Which rows of a table, in which order."""

    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] | None
    sort: Sort | None = None
    filters: tuple[Filter, ...] = ()
    schema: str | None = None  # PostgreSQL: the schema that holds the table

    def column(self, name: str) -> Column | None:
        """The column of that name (None for SQLite's rowid, which is no column)."""
        return next((c for c in self.columns if c.name == name), None)

    def sorted_by(self, sort: Sort | None) -> Query:
        return replace(self, sort=sort)

    def filtered(self, column: str, filter_: Filter | None) -> Query:
        kept = tuple(f for f in self.filters if f.column != column)
        return replace(self, filters=kept + ((filter_,) if filter_ else ()))

    def filter_for(self, column: str) -> Filter | None:
        return next((f for f in self.filters if f.column == column), None)

    def terms(self) -> list[tuple[str, bool]]:
        """The ORDER BY terms: the sort column, then the key (which makes the order total)."""
        terms: list[tuple[str, bool]] = []
        descending = self.sort.descending if self.sort else False
        if self.sort is not None:
            terms.append((self.sort.column, descending))
        for name in self.key or ():
            if (name, descending) not in terms:
                terms.append((name, descending))
        return terms

    def where(self, dialect: Dialect) -> tuple[list[str], list[object]]:
        parts, params = [], []
        for f in self.filters:
            column = self.column(f.column)
            refusal = dialect.refusal(f, column)
            if refusal is not None:
                raise BrowseError(refusal)
            sql, values = dialect.condition(f, column)
            parts.append(sql)
            params.extend(values)
        return parts, params


class UndecodableText(str):
    """Stored text that is not valid UTF-8: shown with escapes, and kept as its bytes, so that
    a page can continue after it (`CAST(? AS TEXT)` gives back the very same value)."""

    raw: bytes

    def __new__(cls, raw: bytes) -> UndecodableText:
        text = super().__new__(cls, raw.decode("utf-8", "backslashreplace"))
        text.raw = raw
        return text


def _decode(data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return UndecodableText(data)


def _beyond(
    d: Dialect, query: Query, name: str, descending: bool, value: object, *, or_same: bool = False
) -> tuple[str, list[object]] | None:
    """The condition for a value after `value` in one ORDER BY term (NULLs come first going up,
    last going down); None when nothing comes after. With `or_same`, `value` itself too: only
    for a column that is never NULL, and a value that is not."""
    column = d.ordered(query, name)
    if or_same:
        mark, param = d.bound(query, name, value)
        return f"{column} {'<=' if descending else '>='} {mark}", [param]
    if not descending:
        if value is None:
            return f"{column} IS NOT NULL", []
        mark, param = d.bound(query, name, value)
        return f"{column} > {mark}", [param]
    if value is None:
        return None
    mark, param = d.bound(query, name, value)
    if not d.nullable(query, name):  # (an OR would keep an index from giving the order)
        return f"{column} < {mark}", [param]
    return f"({column} < {mark} OR {column} IS NULL)", [param]


def _same(d: Dialect, query: Query, terms: Terms, values: tuple) -> tuple[list[str], list[object]]:
    """Conditions for equal values in the first terms (NULL equals NULL here)."""
    parts, params = [], []
    for (name, _), value in zip(terms, values, strict=False):
        sql, same_params = d.same(query, name, value)
        parts.append(sql)
        params.extend(same_params)
    return parts, params


def _after(
    d: Dialect, query: Query, terms: Terms, values: tuple, *, inclusive: bool = False
) -> tuple[str, list[object]]:
    """Rows after the row whose order values are `values` (or that row too, if inclusive)."""
    alternatives: list[str] = []
    params: list[object] = []
    last = len(terms) - 1
    # The row itself and those after it in the last term, in one condition where it can be.
    merged = (
        inclusive
        and last >= 0
        and values[last] is not None
        and not d.nullable(query, terms[last][0])
    )
    for i, (name, descending) in enumerate(terms):
        beyond = _beyond(d, query, name, descending, values[i], or_same=merged and i == last)
        if beyond is None:
            continue
        same, same_params = _same(d, query, terms[:i], values)
        alternatives.append("(" + " AND ".join([*same, beyond[0]]) + ")")
        params.extend(same_params)
        params.extend(beyond[1])
    if inclusive and not merged:
        same, same_params = _same(d, query, terms, values)
        alternatives.append("(" + " AND ".join(same) + ")")
        params.extend(same_params)
    if not alternatives:
        return d.false, []
    return "(" + " OR ".join(alternatives) + ")", params


def _reversed(terms: Terms) -> Terms:
    return [(name, not descending) for name, descending in terms]


@dataclass(frozen=True)
class Page:
    rows: list[tuple]  # the values of the table's columns
    order: list[tuple]  # each row's values of the ORDER BY terms: the anchors of the next move
    start: int  # how many matching rows come before this page
    total: int  # the rows that match the filters


def position_text(page: Page, table_rows: int | None = None) -> str:
    """'rows 401–500 of 1,000,000' (and how many the table holds when a filter is on)."""
    whole = "" if table_rows is None else f" ({table_rows:,} in the table)"
    if not page.rows:
        return "no rows match" + whole if table_rows is not None else "no rows"
    first, last = page.start + 1, page.start + len(page.rows)
    matching = " matching" if table_rows is not None else ""
    return f"rows {first:,}–{last:,} of {page.total:,}{matching}{whole}"


@dataclass
class TableView:
    """A table as the browser shows it: a query and its current page. A move changes them only
    when it succeeds, so a cancelled or failed query leaves the view as it was."""

    reader: Reader
    query: Query
    page_rows: int = PAGE_ROWS
    page: Page | None = None
    table_rows: int | None = None  # all rows of the table, when filtered

    @classmethod
    async def open(cls, reader: Reader, table: TableInfo) -> TableView:
        columns = await reader.columns(table.name, table.schema)
        key = await reader.key(table, columns)
        return cls(reader, Query(table.name, tuple(columns), key, schema=table.schema))

    def refusal(self, filter_: Filter) -> str | None:
        """Why this table cannot take `filter_` (a comparison with a number on a column of
        text, in PostgreSQL), in a user's words; None if it can."""
        return self.reader.dialect.refusal(filter_, self.query.column(filter_.column))

    async def go(self, move: Move, query: Query | None = None) -> Page:
        """Show the first, last, next or previous page, or the current one again (`reload`,
        after the table changed); with `query`, of that query (a new sort or filter)."""
        query = query or self.query
        async with self.reader.snapshot():
            new, table_rows = await self._move(move, query)
        self.query, self.page, self.table_rows = query, new, table_rows
        return new

    async def _move(self, move: Move, query: Query) -> tuple[Page, int | None]:
        page = self.page if query == self.query else None
        if (page is None or not page.rows) and move != "last":
            move = "first"
        if page is not None and move in ("next", "previous"):
            total, table_rows = page.total, self.table_rows
        else:
            total = await self._count(query)
            table_rows = await self._count(replace(query, filters=())) if query.filters else None
        if query.key is None:
            return await self._offset_page(query, move, page, total), table_rows
        return await self._keyset_page(query, move, page, total), table_rows

    async def _count(self, query: Query, extra: tuple[str, list[object]] | None = None) -> int:
        d = self.reader.dialect
        parts, params = query.where(d)
        if extra is not None:
            parts.append(extra[0])
            params.extend(extra[1])
        where = f" WHERE {' AND '.join(parts)}" if parts else ""
        sql = f"SELECT count(*) FROM {d.source(query)}{where}"
        return (await self.reader.fetch(sql, params))[0][0]

    async def _select(
        self,
        query: Query,
        terms: Terms,
        extra: tuple[str, list[object]] | None = None,
        offset: int = 0,
    ) -> tuple[list[tuple], list[tuple]]:
        """One page in the order of `terms`: (rows, their order values)."""
        d = self.reader.dialect
        parts, params = query.where(d)
        if extra is not None:
            parts.append(extra[0])
            params.extend(extra[1])
        anchors = [d.anchor(query, name) for name, _ in terms]
        shown = [d.shown(c) for c in query.columns]
        where = f" WHERE {' AND '.join(parts)}" if parts else ""
        order = ", ".join(d.order(query, name, descending) for name, descending in terms)
        sql = (
            f"SELECT {', '.join(anchors + shown)} FROM {d.source(query)}{where}"
            + (f" ORDER BY {order}" if order else "")
            + f" LIMIT {d.mark} OFFSET {d.mark}"
        )
        fetched = await self.reader.fetch(sql, [*params, self.page_rows, offset])
        width = len(terms)
        return [row[width:] for row in fetched], [row[:width] for row in fetched]

    async def _keyset_page(self, query: Query, move: Move, page: Page | None, total: int) -> Page:
        terms = query.terms()
        d = self.reader.dialect
        if move == "first":
            rows, order = await self._select(query, terms)
            return Page(rows, order, 0, total)
        if move == "last":
            rows, order = await self._select(query, _reversed(terms))
            rows.reverse()
            order.reverse()
            return Page(rows, order, max(total - len(rows), 0), total)
        assert page is not None and page.rows
        if move == "next":
            after = _after(d, query, terms, page.order[-1])
            rows, order = await self._select(query, terms, after)
            if not rows:
                return page
            return Page(rows, order, page.start + len(page.rows), total)
        if move == "previous":
            before = _after(d, query, _reversed(terms), page.order[0])
            rows, order = await self._select(query, _reversed(terms), before)
            if len(rows) < self.page_rows:
                return await self._keyset_page(query, "first", None, total)
            rows.reverse()
            order.reverse()
            return Page(rows, order, max(page.start - len(rows), 0), total)
        # reload: the same first row (or the next one, if it is gone), counted exactly
        here = _after(d, query, terms, page.order[0], inclusive=True)
        rows, order = await self._select(query, terms, here)
        if not rows:
            return await self._keyset_page(query, "last", None, total)
        start = await self._count(query, _after(d, query, _reversed(terms), order[0]))
        return Page(rows, order, start, total)

    async def _offset_page(self, query: Query, move: Move, page: Page | None, total: int) -> Page:
        terms = self.reader.dialect.offset_order(query)
        start = {
            "first": 0,
            "last": max(total - self.page_rows, 0),
            "next": page.start + len(page.rows) if page else 0,
            "previous": max(page.start - self.page_rows, 0) if page else 0,
            "reload": min(page.start, max(total - self.page_rows, 0)) if page else 0,
        }[move]
        rows, order = await self._select(query, terms, offset=start)
        if move == "next" and not rows and page is not None:
            return page
        return Page(rows, order, start, total)
