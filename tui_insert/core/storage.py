"""The three SQLite databases (SPEC §2): checking, creating, writing and reading them.

Tables are created with explicit SQL and hold no constraints besides the INTEGER PRIMARY KEY:
every rule lives in application code. Beside its table each file holds a one-row bookkeeping
table, `tui_insert_state(resets)`, that counts the resets which emptied it; it holds no
validation.

What a node keeps in memory about stored rows is a cache, proven current before each commit
(see `Store` and `ReferenceReader`):

- its own table's ids and emails: read again whenever `PRAGMA data_version`, taken under the
  commit's write lock, says another connection committed to the file since;
- the users and products that orders name: trusted only while the reset count of their store,
  read under that store's reference lock (`locks.py`), is the one they were seen in; the rest
  is looked up in the store itself under that lock.

Every connection also checks, under its lock, that the file it has open is still the file at
its path: a database deleted, moved or replaced under a run ends it (StoreChanged).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import orjson

from tui_insert.core.errors import DatabaseError, StoreChanged
from tui_insert.core.idset import IdSet
from tui_insert.core.locks import ReferenceLock, lock_path
from tui_insert.core.tables import REFERENCED, TABLES, Table
from tui_insert.core.waiting import POLL_SECONDS, OnWait, Patience

# Rows per INSERT statement: one statement stores many rows while Python's GIL is released.
_ROWS_PER_INSERT = 500

STATE_TABLE = "tui_insert_state"
_STATE_COLUMNS = [("resets", "INTEGER")]
_CREATE_STATE = f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (resets INTEGER)"
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


_T = TypeVar("_T")

# (device, inode) of a file.
FileId = tuple[int, int]


def database_paths(db_dir: Path) -> dict[str, Path]:
    return {name: db_dir / table.database for name, table in TABLES.items()}


def read_only_uri(path: Path) -> str:
    """A read-only URI built from the resolved path, so `#`, `?`, `%` and spaces are safe."""
    return path.resolve().as_uri() + "?mode=ro"


def is_locked(error: sqlite3.Error) -> bool:
    """Whether `error` is another connection's lock (SQLITE_BUSY or SQLITE_LOCKED, with any
    extended code): waited out, never a failure."""
    return getattr(error, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))


def side_files(path: Path) -> tuple[Path, ...]:
    """The files SQLite keeps beside a database while it is open."""
    return tuple(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))


def file_id(path: Path) -> FileId:
    st = os.stat(path)
    return st.st_dev, st.st_ino


# --- checking, before anything is written -------------------------------------------------------


def _columns_problem(conn: sqlite3.Connection, name: str, wanted: list) -> list | None:
    """The columns of table `name` as (name, TYPE, is primary key) if they differ from
    `wanted`; None if they match or the table is not there."""
    columns = conn.execute(f"PRAGMA table_info({name})").fetchall()
    found = [(n, t.upper(), bool(pk)) for _, n, t, _, _, pk in columns]
    return found if found and found != wanted else None


def check_database(path: Path, table: Table) -> None:
    """Raise DatabaseError if `path` exists but cannot hold `table`. Writes nothing."""
    if not path.exists():
        return
    if not path.is_file():
        raise DatabaseError(f"{path}: not a file")
    try:
        conn = sqlite3.connect(read_only_uri(path), uri=True, timeout=60)
    except sqlite3.Error as e:
        raise DatabaseError(f"{path}: cannot open: {e}") from None
    try:
        wanted = [(name, type_, name == "id") for name, type_ in table.columns]
        found = _columns_problem(conn, table.name, wanted)
        state = _columns_problem(conn, STATE_TABLE, [(n, t, False) for n, t in _STATE_COLUMNS])
    except sqlite3.DatabaseError as e:
        if getattr(e, "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            raise DatabaseError(f"{path}: not an SQLite database") from None
        raise DatabaseError(f"{path}: cannot read: {e}") from None
    finally:
        conn.close()
    if found is not None:
        have = ", ".join(f"{n} {t}{' PRIMARY KEY' if pk else ''}" for n, t, pk in found)
        need = table.create_sql.split("(", 1)[1].rstrip(")")
        raise DatabaseError(
            f"{path}: table {table.name} has columns ({have}), tui-insert needs ({need})"
        )
    if state is not None:
        raise DatabaseError(
            f"{path}: table {STATE_TABLE} has other columns than tui-insert's bookkeeping (resets)"
        )


def _existing_folder(folder: Path) -> Path:
    """`folder`, or its nearest ancestor that exists (where it would be created)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_writable(path: Path) -> None:
    """Raise DatabaseError unless the database at `path` (its file, its side files and its
    folder) can be written. Writes nothing."""
    folder = _existing_folder(path.parent)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DatabaseError(f"{path}: cannot write: the folder {folder} is read-only")
    for file in (path, *side_files(path), lock_path(path)):
        if file.exists() and not os.access(file, os.W_OK):
            which = "the file" if file == path else file.name
            raise DatabaseError(f"{path}: cannot write: {which} is read-only")


def check_databases(db_dir: Path, *, writable: bool = False) -> None:
    """Check all three files before anything is written to any of them."""
    if db_dir.exists() and not db_dir.is_dir():
        raise DatabaseError(f"database folder {db_dir} is not a folder")
    if writable:  # first: reading a WAL database in a read-only folder fails obscurely
        for path in database_paths(db_dir).values():
            check_writable(path)
    for name, path in database_paths(db_dir).items():
        check_database(path, TABLES[name])


# --- connections -----------------------------------------------------------------------------


def connect(path: Path, *, create: bool = False, busy_seconds: float = 60) -> sqlite3.Connection:
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
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def execute_waiting(
    conn: sqlite3.Connection,
    sql: str,
    label: str,
    on_wait: OnWait | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Execute `sql`, waiting out other connections' locks (each try waits inside SQLite for
    the connection's busy timeout); a long wait is announced through `on_wait`."""
    patience: Patience | None = None
    while True:
        try:
            conn.execute(sql)
            break
        except sqlite3.OperationalError as e:
            if not is_locked(e):
                raise
            if patience is None:
                patience = Patience(label, "locked by another program", on_wait, stop)
            patience.tick()
    if patience is not None:
        patience.done()


def prepare_databases(
    db_dir: Path, on_wait: OnWait | None = None, stop: threading.Event | None = None
) -> dict[str, FileId]:
    """Create the folder, files and tables that are missing, and switch the files to WAL.
    Every file is checked first (usable and writable), so a DatabaseError writes nothing.
    Returns the identity of each file, which the run's nodes then hold on to."""
    check_databases(db_dir, writable=True)
    try:
        db_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatabaseError(f"cannot create database folder {db_dir}: {e.strerror}") from None
    identities = {}
    for name, path in database_paths(db_dir).items():
        label = str(path)
        try:
            conn = connect(path, create=True, busy_seconds=POLL_SECONDS)
        except sqlite3.Error as e:
            raise DatabaseError(f"{path}: cannot open: {e}") from None
        try:
            # WAL lets readers (the browser, the orders' reference checks) run beside a writer.
            execute_waiting(conn, "PRAGMA journal_mode=WAL", label, on_wait, stop)
            if not _is_prepared(conn, name):  # a write lock only when there is work to do
                execute_waiting(conn, "BEGIN IMMEDIATE", label, on_wait, stop)
                conn.execute(TABLES[name].create_sql)
                conn.execute(_CREATE_STATE)
                conn.execute(_FIRST_STATE)
                execute_waiting(conn, "COMMIT", label, on_wait)
            if name in REFERENCED:
                os.close(os.open(lock_path(path), os.O_WRONLY | os.O_CREAT, 0o644))
            identities[name] = file_id(path)
        except (sqlite3.Error, OSError) as e:
            raise DatabaseError(f"{path}: cannot write: {e}") from None
        finally:
            conn.close()
    return identities


def _is_prepared(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the file holds the table and its bookkeeping row already."""
    tables = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
            (name, STATE_TABLE),
        )
    }
    return tables == {name, STATE_TABLE} and bool(
        conn.execute(f"SELECT count(*) FROM {STATE_TABLE}").fetchone()[0]
    )


# --- what a connection has open ------------------------------------------------------------------


class Identity:
    """The database file (and its -wal and -shm) a connection has open, by inode: `verify()`
    raises StoreChanged once the path names another file, or none."""

    def __init__(self, path: Path, label: str, expected: FileId | None) -> None:
        self.path = path
        self.label = label
        self._files: list[tuple[Path, FileId]] = []
        self._expected = expected

    def record(self) -> None:
        """Called once the connection has read the file (and so opened its side files)."""
        self._files = []
        ident = self._current(self.path)
        if self._expected is not None and ident != self._expected:
            raise self._changed("replaced")
        self._files.append((self.path, ident))
        for side in side_files(self.path)[:2]:
            # Present while any connection has a WAL database open; SQLite removes them
            # only when the last one closes.
            with contextlib.suppress(FileNotFoundError):
                self._files.append((side, file_id(side)))

    def _current(self, path: Path) -> FileId:
        try:
            return file_id(path)
        except FileNotFoundError:
            raise self._changed("deleted or moved") from None

    def _changed(self, what: str) -> StoreChanged:
        return StoreChanged(
            f"{self.label}: the database file was {what} while tui-insert was using it;"
            " the run stopped"
        )

    def verify(self) -> None:
        for path, ident in self._files:
            if self._current(path) != ident:
                what = "replaced" if path == self.path else f"changed ({path.name} replaced)"
                raise self._changed(what)

    def holds(self) -> bool:
        try:
            self.verify()
        except StoreChanged:
            return False
        return True


def close_connection(conn: sqlite3.Connection, identity: Identity) -> None:
    """Close `conn`; if its file was moved or replaced meanwhile, first move what its log
    holds into the file it has open and empty the log. SQLite finds a database's log by its
    path: the log left beside a replacement would otherwise be read as that file's."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    if not identity.holds():
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA busy_timeout=2000")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _open_existing(path: Path, label: str, busy_seconds: float) -> sqlite3.Connection:
    try:
        return connect(path, busy_seconds=busy_seconds)
    except sqlite3.OperationalError as e:
        if not path.exists():
            raise StoreChanged(
                f"{label}: the database file was deleted or moved before tui-insert could write it"
            ) from None
        raise DatabaseError(f"{label}: cannot open: {e}") from None


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
        self.path = path
        self.label = str(path)
        self.table = table
        self._on_load = on_load
        self._on_wait = on_wait
        self._conn = _open_existing(path, self.label, busy_seconds)
        self._insert_full = _insert_sql(table, _ROWS_PER_INSERT)
        self.identity = Identity(path, self.label, expected)
        self.ids = IdSet()
        self.email_holders: dict[str, int] = {}
        self.resets = 0
        self._data_version = -1
        # The rows and their data_version in one snapshot: a row committed between reading
        # the two would otherwise never be seen.
        execute_waiting(self._conn, "BEGIN", self.label, on_wait)
        try:
            self._reload()
        finally:
            self._conn.execute("COMMIT")
        self.identity.record()

    def _reload(self) -> None:
        """Read what is stored, inside the caller's transaction."""
        holders: dict[str, int] = {}
        if "email" in self.table.fields:
            rows = self._conn.execute("SELECT id, email FROM users ORDER BY id").fetchall()
            stored = [rid for rid, _ in rows]
            for rid, email in rows:
                if isinstance(email, str):
                    holders.setdefault(email.casefold(), rid)
        else:
            stored = [rid for (rid,) in self._conn.execute(f"SELECT id FROM {self.table.name}")]
        ids = IdSet(stored)  # in one go: a million ids take a fraction of a second
        self.ids = ids
        self.email_holders = holders
        self.resets = self._conn.execute(_READ_RESETS).fetchone()[0]
        self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if self._on_load is not None:
            self._on_load(self.resets, ids)

    def _catch_up(self) -> None:
        """Holding the write lock: make sure the file is still ours, and read it again if
        another connection committed to it since we last looked."""
        self.identity.verify()
        if self._conn.execute("PRAGMA data_version").fetchone()[0] != self._data_version:
            self._reload()

    def begin(self, stop: threading.Event) -> None:
        """BEGIN IMMEDIATE, waiting out other writers; then catch up with their changes."""
        execute_waiting(self._conn, "BEGIN IMMEDIATE", self.label, self._on_wait, stop)
        self._caught_up_or_rollback()

    def try_begin(self) -> bool:
        """BEGIN IMMEDIATE if the write lock is free within the busy timeout (False if not)."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if is_locked(e):
                return False
            raise
        self._caught_up_or_rollback()
        return True

    def _caught_up_or_rollback(self) -> None:
        try:
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
        execute_waiting(self._conn, "COMMIT", self.label, self._on_wait)

    def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def remember(self, ids: list[int]) -> None:
        """After a commit: the rows with these ids are stored."""
        self.ids.update(ids)

    def forget_email_keys(self, keys: list[str]) -> None:
        """After a rollback: these users' emails were not stored after all."""
        for key in keys:
            self.email_holders.pop(key, None)

    def close(self) -> None:
        close_connection(self._conn, self.identity)


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
        self._conn.execute("PRAGMA query_only=1")
        self.identity = Identity(path, self.label, expected)
        self._sql = f"SELECT id FROM {table.name} WHERE id IN (SELECT value FROM json_each(?))"
        self.resets()
        self.identity.record()

    def _read(
        self, fn: Callable[[], _T], on_wait: OnWait | None, stop: threading.Event | None
    ) -> _T:
        patience: Patience | None = None
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as e:
                if not is_locked(e):
                    raise
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if patience is None:
                    patience = Patience(self.label, "locked by another program", on_wait, stop)
                patience.tick()

    def resets(self) -> int:
        return self._conn.execute(_READ_RESETS).fetchone()[0]

    def look_up(
        self,
        ids: list[int],
        on_wait: OnWait | None = None,
        stop: threading.Event | None = None,
    ) -> tuple[int, set[int]]:
        """The store's reset count, and which of `ids` it holds, read in one snapshot."""
        self.identity.verify()

        def read() -> tuple[int, set[int]]:
            self._conn.execute("BEGIN")
            try:
                resets = self.resets()
                found = (
                    {rid for (rid,) in self._conn.execute(self._sql, (orjson.dumps(ids),))}
                    if ids
                    else set()
                )
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("COMMIT")
            return resets, found

        return self._read(read, on_wait, stop)

    def verify(self) -> None:
        self.identity.verify()

    def close(self) -> None:
        close_connection(self._conn, self.identity)
        self.lock.close()
