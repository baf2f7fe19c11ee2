"""The three SQLite databases (SPEC §2): creating, writing and reading them.

Tables are created with explicit SQL and hold no constraints besides the INTEGER PRIMARY KEY:
every rule lives in application code. Beside its table each file holds a one-row bookkeeping
table (`tables.STATE_TABLE`) that counts the resets which emptied it.

What a node keeps in memory about stored rows is a cache, proven current before each commit
(see `Store` and `ReferenceReader`):

- its own table's ids and emails: read again whenever `PRAGMA data_version`, taken under the
  commit's write lock, says another connection committed to the file since;
- the users and products that orders name: trusted only while the reset count of their store,
  read under that store's reference lock (`locks.py`), is the one they were seen in; the rest
  is looked up in the store itself under that lock.

Every connection also checks, under its lock, that the file it has open is still the file at
its path (`identity.py`). Every other SQLite failure (a damaged file, a full disk) is a
StoreError that names the file.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

from tui_insert.core.checks import check_databases, database_paths, read_only_uri
from tui_insert.core.errors import DatabaseError, StoreChanged, StoreError
from tui_insert.core.identity import FileId, Identity, close_connection, file_id, side_files
from tui_insert.core.idset import IdSet
from tui_insert.core.locks import ReferenceLock
from tui_insert.core.rules import email_key
from tui_insert.core.tables import STATE_COLUMNS, STATE_TABLE, TABLES, Table
from tui_insert.core.waiting import (
    POLL_SECONDS,
    OnWait,
    Stopped,
    T,
    is_locked,
    retry_while_locked,
)

# Rows per INSERT statement: one statement stores many rows while Python's GIL is released.
_ROWS_PER_INSERT = 500

_CREATE_STATE = (
    f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} ({', '.join(' '.join(c) for c in STATE_COLUMNS)})"
)
_FIRST_STATE = (
    f"INSERT INTO {STATE_TABLE} (resets) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM {STATE_TABLE})"
)
_READ_RESETS = f"SELECT coalesce(max(resets), 0) FROM {STATE_TABLE}"
_COUNT_RESET = f"UPDATE {STATE_TABLE} SET resets = resets + 1"


def count_reset(conn: sqlite3.Connection) -> None:
    """In a reset's transaction: one more reset emptied this file."""
    conn.execute(_CREATE_STATE)
    conn.execute(_FIRST_STATE)
    conn.execute(_COUNT_RESET)


def tables_in(conn: sqlite3.Connection, *names: str) -> set[str]:
    """Which of the tables `names` the file holds."""
    marks = ", ".join("?" * len(names))
    sql = f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({marks})"
    return {row[0] for row in conn.execute(sql, names)}


@contextlib.contextmanager
def named_errors(label: str) -> Iterator[None]:
    """A failure of SQLite (not a lock, which callers wait out) as a StoreError naming the
    file: what was committed stays, the run or reset cannot go on."""
    try:
        yield
    except sqlite3.Error as e:
        if isinstance(e, sqlite3.OperationalError) and is_locked(e):
            raise
        raise StoreError(f"{label}: {e}") from None


def connect(
    path: Path,
    *,
    create: bool = False,
    busy_seconds: float = POLL_SECONDS,
    on_wait: OnWait | None = None,
    stop: threading.Event | None = None,
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are begun explicitly) to the file at
    `path`, which must exist unless `create`. Commits are durable when they return
    (`synchronous=FULL`: in WAL mode NORMAL may lose the last commits on a power loss)."""
    mode = "rwc" if create else "rw"
    conn = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode={mode}",
        uri=True,
        isolation_level=None,
        timeout=busy_seconds,
        check_same_thread=False,
    )
    try:
        # Reads the schema: another program's exclusive lock is waited out here too.
        execute_waiting(conn, "PRAGMA synchronous=FULL", str(path), on_wait, stop)
    except BaseException:
        conn.close()
        raise
    return conn


def execute_waiting(
    conn: sqlite3.Connection,
    sql: str,
    label: str,
    on_wait: OnWait | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Execute `sql`, waiting out other connections' locks, with notices."""
    retry_while_locked(lambda: conn.execute(sql), label, on_wait, stop)


def in_snapshot(conn: sqlite3.Connection, read: Callable[[], T]) -> T:
    """`read()` inside one read transaction: everything it reads is of one instant."""
    conn.execute("BEGIN")
    try:
        return read()
    finally:
        rollback(conn)


def prepare_databases(
    db_dir: Path, on_wait: OnWait | None = None, stop: threading.Event | None = None
) -> dict[str, FileId]:
    """Check the three files (usable and writable; a DatabaseError writes nothing), then
    create what is missing (`create_databases`)."""
    check_databases(db_dir, writable=True, on_wait=on_wait, stop=stop)
    return create_databases(db_dir, on_wait, stop)


def create_databases(
    db_dir: Path, on_wait: OnWait | None = None, stop: threading.Event | None = None
) -> dict[str, FileId]:
    """Create the folder, files and tables that are missing, and switch the files to WAL;
    the caller has just checked them (`check_databases(writable=True)`). Returns the
    identity of each file, which the run's nodes then hold on to."""
    if stop is not None and stop.is_set():
        raise Stopped
    try:
        db_dir.mkdir(exist_ok=True)
    except OSError as e:
        raise DatabaseError(f"cannot create database folder {db_dir}: {e.strerror}") from None
    return {
        name: _prepare_file(path, name, on_wait, stop)
        for name, path in database_paths(db_dir).items()
    }


def _prepare_file(
    path: Path, name: str, on_wait: OnWait | None, stop: threading.Event | None
) -> FileId:
    label = str(path)
    before = file_id(path) if path.exists() else None
    with named_errors(label):
        conn = connect(path, create=True, on_wait=on_wait, stop=stop)
        try:
            # WAL lets readers (the browser, the orders' checks) run beside a writer.
            execute_waiting(conn, "PRAGMA journal_mode=WAL", label, on_wait, stop)
            if not retry_while_locked(lambda: _is_prepared(conn, name), label, on_wait, stop):
                # A write lock only when there is work to do.
                execute_waiting(conn, "BEGIN IMMEDIATE", label, on_wait, stop)
                conn.execute(TABLES[name].create_sql)
                conn.execute(_CREATE_STATE)
                conn.execute(_FIRST_STATE)
                execute_waiting(conn, "COMMIT", label, on_wait)
            ident = file_id(path)
        finally:
            conn.close()
    if before is not None and ident != before:
        raise StoreChanged(f"{label}: the database file was replaced while tui-insert opened it")
    return ident


def _is_prepared(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the file holds the table and its bookkeeping row already."""
    return tables_in(conn, name, STATE_TABLE) == {name, STATE_TABLE} and bool(
        conn.execute(f"SELECT count(*) FROM {STATE_TABLE}").fetchone()[0]
    )


def _open_existing(path: Path, label: str, busy_seconds: float) -> sqlite3.Connection:
    try:
        return connect(path, busy_seconds=busy_seconds)
    except sqlite3.OperationalError as e:
        if not path.exists():
            raise StoreChanged(
                f"{label}: the database file was deleted or moved before tui-insert could write it"
            ) from None
        raise StoreError(f"{label}: cannot open: {e}") from None


# --- a table's writer ---------------------------------------------------------------------------


def _insert_sql(table: Table, rows: int) -> str:
    marks = "(" + ", ".join("?" * len(table.columns)) + ")"
    return f"INSERT INTO {table.name} ({', '.join(table.fields)}) VALUES " + ", ".join(
        [marks] * rows
    )


class Store:
    """The writer of one table, and what the rules need to know of its stored rows.

    Used by one thread at a time (a node's workers take turns). `ids` holds only committed
    rows; `on_load(resets, ids)` hears of every id read from the file (at start, and after
    another process wrote to it) with the reset count they were read under.
    """

    def __init__(
        self,
        path: Path,
        table: Table,
        *,
        expected: FileId | None = None,
        on_load: Callable[[int, IdSet], None] | None = None,
        on_wait: OnWait | None = None,
        busy_seconds: float = POLL_SECONDS,
    ) -> None:
        self._know_nothing_yet(path, table, on_load, on_wait)
        self._conn = _open_existing(path, self.label, busy_seconds)
        self._insert_full = _insert_sql(table, _ROWS_PER_INSERT)
        self.identity = Identity(path, self.label, expected)
        self._data_version = -1
        # The rows and their data_version in one snapshot: a row committed between reading
        # the two would otherwise never be seen.
        with named_errors(self.label):
            retry_while_locked(lambda: in_snapshot(self._conn, self._reload), self.label, on_wait)
        self.identity.record()

    def _know_nothing_yet(
        self,
        path: Path,
        table: Table,
        on_load: Callable[[int, IdSet], None] | None,
        on_wait: OnWait | None,
    ) -> None:
        self.path = path
        self.label = str(path)
        self.table = table
        self._on_load = on_load
        self._on_wait = on_wait
        self.ids = IdSet()
        self.email_holders: dict[str, int] = {}
        self.resets = 0

    def _reload(self) -> None:
        """Read what is stored, inside the caller's transaction."""
        holders: dict[str, int] = {}
        name, unique = self.table.name, self.table.folded_unique
        if unique is not None:
            rows = self._conn.execute(f"SELECT id, {unique} FROM {name} ORDER BY id").fetchall()
            stored = [rid for rid, _ in rows]
            for rid, value in rows:
                if isinstance(value, str):
                    holders.setdefault(email_key(value), rid)
        else:
            stored = [rid for (rid,) in self._conn.execute(f"SELECT id FROM {name}")]
        ids = IdSet(stored)  # in one go: a million ids take a fraction of a second
        self.ids = ids
        self.email_holders = holders
        self.resets = self._stored_resets()
        self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if self._on_load is not None:
            self._on_load(self.resets, ids)

    def _stored_resets(self) -> int:
        return self._conn.execute(_READ_RESETS).fetchone()[0]

    def _catch_up(self) -> None:
        """Holding the write lock: make sure the file is still ours, and read it again if
        another connection committed to it since we last looked."""
        self.identity.verify()
        if self._conn.execute("PRAGMA data_version").fetchone()[0] != self._data_version:
            self._reload()

    def begin(self, stop: threading.Event) -> None:
        """BEGIN IMMEDIATE, waiting out other writers; then catch up with their changes."""
        with named_errors(self.label):
            execute_waiting(self._conn, "BEGIN IMMEDIATE", self.label, self._on_wait, stop)
        self._caught_up_or_rollback()

    def try_begin(self) -> bool:
        """BEGIN IMMEDIATE if the write lock is free within the busy timeout (False if not)."""
        try:
            with named_errors(self.label):
                self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # a lock: named_errors lets those through
            return False
        self._caught_up_or_rollback()
        return True

    def _caught_up_or_rollback(self) -> None:
        try:
            with named_errors(self.label):
                self._catch_up()
        except BaseException:
            self.rollback()
            raise

    def insert(self, rows: list[tuple]) -> None:
        # Many rows per statement: SQLite stores them all in one step without Python's GIL,
        # while the other workers go on. (executemany gives up and retakes the GIL for every
        # row, which stalls all threads under load.) The statement for a full group is built
        # once; the last, smaller group gets its own.
        flat = itertools.chain.from_iterable
        full = len(rows) - len(rows) % _ROWS_PER_INSERT
        with named_errors(self.label):
            for start in range(0, full, _ROWS_PER_INSERT):
                group = rows[start : start + _ROWS_PER_INSERT]
                self._conn.execute(self._insert_full, list(flat(group)))
            if full < len(rows):
                rest = rows[full:]
                self._conn.execute(_insert_sql(self.table, len(rest)), list(flat(rest)))

    def commit(self) -> None:
        # The last look before the rows become durable: not into a file that is gone.
        self.identity.verify()
        # No giving up here: the chunk is decided and must be stored.
        with named_errors(self.label):
            execute_waiting(self._conn, "COMMIT", self.label, self._on_wait)

    def rollback(self) -> None:
        rollback(self._conn)

    def remember(self, ids: list[int]) -> None:
        """After a commit: the rows with these ids are stored."""
        self.ids.update(ids)

    def forget_email_keys(self, keys: list[str]) -> None:
        """After a rollback: these users' emails were not stored after all."""
        for key in keys:
            self.email_holders.pop(key, None)

    def close(self) -> None:
        close_connection(self._conn, self.identity)


class DryStore(Store):
    """A dry run's view of one table: what is stored when the run starts (nothing if the file
    is not there, or with `empty`, as after a reset), and what this run would have stored
    since. It writes nothing, not even a log beside the file, and takes no lock."""

    def __init__(
        self,
        path: Path,
        table: Table,
        *,
        empty: bool = False,
        on_load: Callable[[int, IdSet], None] | None = None,
        on_wait: OnWait | None = None,
    ) -> None:
        self._know_nothing_yet(path, table, on_load, on_wait)
        self._conn = None  # type: ignore[assignment]
        if empty or not path.exists():
            return
        # No log beside the file: nothing half-written, read it as it is on disk.
        wal, _, journal = side_files(path)
        immutable = not wal.exists() and not journal.exists()
        with named_errors(self.label):
            self._conn = sqlite3.connect(
                read_only_uri(path, immutable=immutable), uri=True, isolation_level=None
            )
            retry_while_locked(lambda: in_snapshot(self._conn, self._load), self.label, on_wait)

    def _load(self) -> None:
        # A file without the table (a run would create it) holds nothing yet.
        if self.table.name in tables_in(self._conn, self.table.name):
            self._reload()

    def _stored_resets(self) -> int:
        if STATE_TABLE not in tables_in(self._conn, STATE_TABLE):
            return 0
        return super()._stored_resets()

    def begin(self, stop: threading.Event) -> None:
        pass

    def try_begin(self) -> bool:
        return True

    def insert(self, rows: list[tuple]) -> None:
        pass

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


# --- what orders read of the stores they refer to -------------------------------------------------


class ReferenceReader:
    """An orders node's read-only view of a store its orders name (users or products).

    `look_up()` is called holding the store's reference lock shared (`lock`), so the rows it
    finds stay stored until the orders commit that relies on them is through."""

    def __init__(self, path: Path, table: Table, *, expected: FileId | None = None) -> None:
        self.label = str(path)
        self.table = table
        self.lock = ReferenceLock(path, self.label)
        self._conn = _open_existing(path, self.label, POLL_SECONDS)
        self.identity = Identity(path, self.label, expected)
        self._sql = f"SELECT id FROM {table.name} WHERE id IN (SELECT value FROM json_each(?))"
        with named_errors(self.label):
            self._conn.execute("PRAGMA query_only=1")
            retry_while_locked(lambda: self._conn.execute(_READ_RESETS).fetchone(), self.label)
        self.identity.record()

    def look_up(
        self,
        ids: list[int],
        on_wait: OnWait | None = None,
        stop: threading.Event | None = None,
    ) -> tuple[int, set[int]]:
        """The store's reset count, and which of `ids` it holds, read in one snapshot."""
        self.identity.verify()

        def read() -> tuple[int, set[int]]:
            resets = self._conn.execute(_READ_RESETS).fetchone()[0]
            if not ids:
                return resets, set()
            return resets, {rid for (rid,) in self._conn.execute(self._sql, (orjson.dumps(ids),))}

        with named_errors(self.label):
            return retry_while_locked(
                lambda: in_snapshot(self._conn, read), self.label, on_wait, stop
            )

    def close(self) -> None:
        close_connection(self._conn, self.identity)


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")
