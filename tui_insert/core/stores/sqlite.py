"""A dataset's store in a SQLite file: the embedded default (SPEC §2).

The table is created with explicit SQL and holds no constraint besides the INTEGER PRIMARY KEY.
Beside it the file holds a one-row bookkeeping table (`tables.STATE_TABLE`) that counts the
resets which emptied it. The protocol of `base.py`, here:

- write lock: `BEGIN IMMEDIATE` (SQLite's one writer per file), with WAL so that readers (the
  browser, the orders' look-ups) go on beside it;
- version: `PRAGMA data_version`, which changes whenever another connection committed;
- reference lock: a `flock` on the database file itself (`locks.py`);
- identity: the inodes of the file and of its `-wal` and `-shm` (`identity.py`).

Every SQLite failure that is not a lock is a StoreError naming the file; locks are waited out
(`waiting.retry_while_locked`), and a full disk is tried again for as long as --retry-for allows
(StoreUnavailable), all told apart by SQLite's error names.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import threading
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from tui_insert.core.checks import (
    STATE_COLUMNS,
    check_database,
    check_writable,
    columns_sql,
    is_full,
    read_only_uri,
)
from tui_insert.core.errors import DatabaseError, StoreChanged, StoreError, StoreUnavailable
from tui_insert.core.identity import FileId, Identity, close_connection, file_id, side_files
from tui_insert.core.locks import ReferenceLock
from tui_insert.core.stores.base import (
    Emptying,
    Loaded,
    ReferenceSource,
    Target,
    Writer,
    read_unique,
)
from tui_insert.core.tables import STATE_TABLE, Table
from tui_insert.core.waiting import (
    POLL_SECONDS,
    OnWait,
    Stopped,
    T,
    is_locked,
    retry_while_locked,
)

if TYPE_CHECKING:
    from tui_insert.core.browse import DatabaseReader

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


def create_sql(table: Table) -> str:
    return f"CREATE TABLE IF NOT EXISTS {table.name} ({columns_sql(table)})"


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
        if is_full(e, label):
            raise StoreUnavailable(label, "disk full", str(e)) from None
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


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _open_existing(path: Path, label: str, busy_seconds: float) -> sqlite3.Connection:
    try:
        return connect(path, busy_seconds=busy_seconds)
    except sqlite3.OperationalError as e:
        if not path.exists():
            raise StoreChanged(
                f"{label}: the database file was deleted or moved before tui-insert could write it"
            ) from None
        if is_full(e, label):
            raise StoreUnavailable(label, "disk full", str(e)) from None
        raise StoreError(f"{label}: cannot open: {e}") from None


def _load(conn: sqlite3.Connection, table: Table, *, counted: bool = True) -> Loaded:
    """What the file holds, inside the caller's transaction (`counted`: with its bookkeeping
    table; a file made by hand without one was never reset)."""
    name, unique = table.name, table.folded_unique
    if unique is not None:
        ids, holders = read_unique(conn.execute(f"SELECT id, {unique} FROM {name} ORDER BY id"))
    else:
        holders = {}
        ids = [rid for (rid,) in conn.execute(f"SELECT id FROM {name}")]
    return Loaded(ids, holders, conn.execute(_READ_RESETS).fetchone()[0] if counted else 0)


@dataclass(frozen=True)
class SqliteTarget(Target):
    path: Path

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.path, *side_files(self.path))

    def clashes_with(self, other: Target) -> bool:
        if not isinstance(other, SqliteTarget):
            return False
        if self.path.absolute() == other.path.absolute():
            return True
        try:
            return os.path.samefile(self.path, other.path)
        except OSError:
            return False

    def exists(self) -> bool:
        return self.path.is_file()

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
        folder = self.path.parent
        if folder.exists() and not folder.is_dir():
            raise DatabaseError(f"database folder {folder} is not a folder")
        if not folder.exists():
            # A run creates the database folder, but not the folders above it: a mistyped
            # path should be said so, not quietly made.
            parent = folder.absolute().parent
            if not parent.is_dir():
                what = "is not a folder" if parent.exists() else "does not exist"
                raise DatabaseError(
                    f"database folder {folder}: {parent} {what} (only the last folder is created)"
                )
        # First: reading a WAL database in a read-only folder fails obscurely.
        if writable and (creating or self.path.exists()):
            check_writable(self.path)
        check_database(self.path, table, on_wait, stop)

    def create(
        self, table: Table, on_wait: OnWait | None = None, stop: threading.Event | None = None
    ) -> FileId:
        if stop is not None and stop.is_set():
            raise Stopped
        folder = self.path.parent
        try:
            folder.mkdir(exist_ok=True)
        except OSError as e:
            raise DatabaseError(f"cannot create database folder {folder}: {e.strerror}") from None
        path, label = self.path, self.label
        before = file_id(path) if path.exists() else None
        with named_errors(label):
            conn = connect(path, create=True, on_wait=on_wait, stop=stop)
            try:
                # WAL lets readers (the browser, the orders' checks) run beside a writer.
                execute_waiting(conn, "PRAGMA journal_mode=WAL", label, on_wait, stop)
                prepared = retry_while_locked(
                    lambda: _is_prepared(conn, table.name), label, on_wait, stop
                )
                if not prepared:
                    # A write lock only when there is work to do.
                    execute_waiting(conn, "BEGIN IMMEDIATE", label, on_wait, stop)
                    conn.execute(create_sql(table))
                    conn.execute(_CREATE_STATE)
                    conn.execute(_FIRST_STATE)
                    execute_waiting(conn, "COMMIT", label, on_wait)
                ident = file_id(path)
            finally:
                conn.close()
        if before is not None and ident != before:
            raise StoreChanged(
                f"{label}: the database file was replaced while tui-insert opened it"
            )
        return ident

    # -- a run ----------------------------------------------------------------------------

    def writer(
        self,
        table: Table,
        *,
        expected: Hashable | None,
        on_wait: OnWait | None,
        wait_for_lock: bool = True,
    ) -> SqliteWriter:
        return SqliteWriter(
            self.path,
            table,
            expected,  # type: ignore[arg-type]
            on_wait,
            POLL_SECONDS if wait_for_lock else 0,
        )

    def reference(self, table: Table, *, expected: Hashable | None) -> SqliteReference:
        return SqliteReference(self.path, table, expected)  # type: ignore[arg-type]

    def snapshot(self, table: Table, on_wait: OnWait | None = None) -> Loaded | None:
        path = self.path
        if not path.exists():
            return None
        # No log beside the file: nothing half-written, read it as it is on disk (and leave
        # no log behind).
        wal, _, journal = side_files(path)
        immutable = not wal.exists() and not journal.exists()
        with named_errors(self.label):
            conn = sqlite3.connect(
                read_only_uri(path, immutable=immutable), uri=True, isolation_level=None
            )
            try:

                def read() -> Loaded | None:
                    present = tables_in(conn, table.name, STATE_TABLE)
                    if table.name not in present:
                        return None  # a run would create it: nothing stored yet
                    return _load(conn, table, counted=STATE_TABLE in present)

                return retry_while_locked(lambda: in_snapshot(conn, read), self.label, on_wait)
            finally:
                conn.close()

    def emptying(
        self, table: Table, on_wait: OnWait | None, stop: threading.Event | None
    ) -> SqliteEmptying | None:
        if not self.path.is_file():
            return None
        return SqliteEmptying(self.path, table, on_wait, stop)

    def browser(self) -> DatabaseReader:
        from tui_insert.core.browse import DatabaseReader  # asyncio and aiosqlite: the browser's

        return DatabaseReader(self.path)


def _is_prepared(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the file holds the table and its bookkeeping row already."""
    return tables_in(conn, name, STATE_TABLE) == {name, STATE_TABLE} and bool(
        conn.execute(f"SELECT count(*) FROM {STATE_TABLE}").fetchone()[0]
    )


def _insert_sql(table: Table, rows: int) -> str:
    marks = "(" + ", ".join("?" * len(table.columns)) + ")"
    return f"INSERT INTO {table.name} ({', '.join(table.fields)}) VALUES " + ", ".join(
        [marks] * rows
    )


class SqliteWriter(Writer):
    def __init__(
        self,
        path: Path,
        table: Table,
        expected: FileId | None,
        on_wait: OnWait | None,
        busy_seconds: float,
    ) -> None:
        self.path = path
        self.label = str(path)
        self.table = table
        self._on_wait = on_wait
        self._conn = _open_existing(path, self.label, busy_seconds)
        self._insert_full = _insert_sql(table, _ROWS_PER_INSERT)
        self.identity = Identity(path, self.label, expected)
        self._data_version = -1
        self._recorded = False

    def load(self) -> Loaded:
        conn = self._conn

        def read() -> Loaded:
            loaded = _load(conn, self.table)
            # The rows and their data_version in one snapshot: a row committed between
            # reading the two would otherwise never be seen.
            self._data_version = conn.execute("PRAGMA data_version").fetchone()[0]
            return loaded

        with named_errors(self.label):
            if conn.in_transaction:
                return read()
            loaded = retry_while_locked(lambda: in_snapshot(conn, read), self.label, self._on_wait)
        if not self._recorded:  # the connection has read the file: its side files are open
            self.identity.record()
            self._recorded = True
        return loaded

    def changed(self) -> bool:
        with named_errors(self.label):
            return self._conn.execute("PRAGMA data_version").fetchone()[0] != self._data_version

    def begin(self, stop: threading.Event) -> None:
        with named_errors(self.label):
            execute_waiting(self._conn, "BEGIN IMMEDIATE", self.label, self._on_wait, stop)
        self._verified_or_rollback()

    def try_begin(self) -> bool:
        try:
            with named_errors(self.label):
                self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # a lock: named_errors lets those through
            return False
        self._verified_or_rollback()
        return True

    def _verified_or_rollback(self) -> None:
        try:
            self.identity.verify()
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
        with named_errors(self.label):
            rollback(self._conn)

    def verify(self) -> None:
        self.identity.verify()

    def close(self) -> None:
        close_connection(self._conn, self.identity)


class SqliteReference(ReferenceSource):
    """Read-only (`query_only`); its reference lock is the file's flock (`locks.py`)."""

    def __init__(self, path: Path, table: Table, expected: FileId | None) -> None:
        self.label = str(path)
        self.table = table
        self._lock = ReferenceLock(path, self.label)
        self._conn = _open_existing(path, self.label, POLL_SECONDS)
        self.identity = Identity(path, self.label, expected)
        self._sql = f"SELECT id FROM {table.name} WHERE id IN (SELECT value FROM json_each(?))"
        with named_errors(self.label):
            self._conn.execute("PRAGMA query_only=1")
            retry_while_locked(lambda: self._conn.execute(_READ_RESETS).fetchone(), self.label)
        self.identity.record()

    def shared(
        self, on_wait: OnWait | None, stop: threading.Event | None
    ) -> contextlib.AbstractContextManager[None]:
        return self._lock.shared(on_wait, stop)

    def held(self) -> bool:
        return self._lock.held()

    def look_up(
        self, ids: list[int], on_wait: OnWait | None, stop: threading.Event | None
    ) -> tuple[int, set[int]]:
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

    def verify(self) -> None:
        self.identity.verify()

    def close(self) -> None:
        close_connection(self._conn, self.identity)


class SqliteEmptying(Emptying):
    def __init__(
        self, path: Path, table: Table, on_wait: OnWait | None, stop: threading.Event | None
    ) -> None:
        self.path = path
        self.label = str(path)
        self.table = table
        self._on_wait = on_wait
        self._stop = stop
        self._held = contextlib.ExitStack()
        self._lock: ReferenceLock | None = None
        self._conn: sqlite3.Connection | None = None

    def lock(self, referenced: bool) -> bool:
        on_wait, stop = self._on_wait, self._stop
        if referenced:
            self._lock = ReferenceLock(self.path, self.label)
            self._held.enter_context(self._lock.exclusive(on_wait, stop))
        try:
            conn = connect(self.path, on_wait=on_wait, stop=stop)
        except sqlite3.Error as e:
            raise DatabaseError(f"{self.path}: cannot open: {e}") from None
        self._conn = conn
        self._held.callback(conn.close)
        execute_waiting(conn, "BEGIN IMMEDIATE", self.label, on_wait, stop)
        self._held.callback(_quietly_rollback, conn)
        return bool(tables_in(conn, self.table.name))

    def delete(self) -> int:
        conn = self._conn
        assert conn is not None
        try:
            count = conn.execute(f"DELETE FROM {self.table.name}").rowcount
            conn.execute(_CREATE_STATE)
            conn.execute(_FIRST_STATE)
            conn.execute(_COUNT_RESET)
        except sqlite3.Error as e:
            if is_full(e, self.label):
                raise StoreUnavailable(self.label, "disk full", str(e)) from None
            raise DatabaseError(f"{self.path}: cannot empty: {e}") from None
        return count

    def still_held(self) -> bool:
        return self._lock is None or self._lock.held()

    def commit(self) -> None:
        assert self._conn is not None
        try:
            execute_waiting(self._conn, "COMMIT", self.label, self._on_wait)
        except sqlite3.Error as e:
            if is_full(e, self.label):
                raise StoreUnavailable(self.label, "disk full", str(e)) from None
            raise StoreError(f"{self.path}: cannot empty: {e}") from None

    def close(self) -> None:
        self._held.close()

    def after(self) -> None:
        """Give the emptied pages' log back to the disk; only if no one else uses the file."""
        with contextlib.suppress(sqlite3.Error):
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=rw", uri=True, timeout=0)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()


def _quietly_rollback(conn: sqlite3.Connection) -> None:
    """On the way out: the error that brought us here is the one to report."""
    with contextlib.suppress(sqlite3.Error):
        rollback(conn)
