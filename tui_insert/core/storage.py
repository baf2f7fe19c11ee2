"""The three SQLite databases (SPEC §2): checking, creating, writing and emptying them.

Tables are created with explicit SQL and hold no constraints besides the INTEGER PRIMARY KEY:
every rule lives in application code. Each table has one writer connection, used by one worker
at a time; it keeps in memory what the rules need to know of the stored rows (ids, and users'
email keys) and reloads that whenever another process has written the file in between.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from tui_insert.core.errors import DatabaseError
from tui_insert.core.idset import IdSet
from tui_insert.core.tables import TABLES, Table

# Rows per INSERT statement: one statement stores many rows while Python's GIL is released.
_ROWS_PER_INSERT = 500

# How long one attempt waits for a lock inside SQLite; the engine retries until it gets it.
_BUSY_MS = 100
# Setting up and emptying wait longer for a lock before giving up with a clear message.
_SETUP_TIMEOUT_S = 30.0


def database_paths(db_dir: Path) -> dict[str, Path]:
    return {name: db_dir / table.database for name, table in TABLES.items()}


def read_only_uri(path: Path) -> str:
    """A read-only URI built from the resolved path, so `#`, `?`, `%` and spaces are safe."""
    return path.resolve().as_uri() + "?mode=ro"


def _is_locked(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def check_database(path: Path, table: Table) -> None:
    """Raise DatabaseError if `path` exists but cannot hold `table`. Writes nothing."""
    if not path.exists():
        return
    if not path.is_file():
        raise DatabaseError(f"{path}: not a file")
    try:
        conn = sqlite3.connect(read_only_uri(path), uri=True, timeout=_SETUP_TIMEOUT_S)
    except sqlite3.Error as e:
        raise DatabaseError(f"{path}: cannot open: {e}") from None
    try:
        columns = conn.execute(f"PRAGMA table_info({table.name})").fetchall()
    except sqlite3.DatabaseError as e:
        if "not a database" in str(e) or "malformed" in str(e):
            raise DatabaseError(f"{path}: not an SQLite database") from None
        raise DatabaseError(f"{path}: cannot read: {e}") from None
    finally:
        conn.close()
    if not columns:
        return
    found = [(name, type_.upper(), bool(pk)) for _, name, type_, _, _, pk in columns]
    wanted = [(name, type_, name == "id") for name, type_ in table.columns]
    if found != wanted:
        have = ", ".join(f"{n} {t}{' PRIMARY KEY' if pk else ''}" for n, t, pk in found)
        need = table.create_sql.split("(", 1)[1].rstrip(")")
        raise DatabaseError(
            f"{path}: table {table.name} has columns ({have}), tui-insert needs ({need})"
        )


def check_databases(db_dir: Path) -> None:
    """Check all three files before anything is written to any of them."""
    if db_dir.exists() and not db_dir.is_dir():
        raise DatabaseError(f"database folder {db_dir} is not a folder")
    for name, path in database_paths(db_dir).items():
        check_database(path, TABLES[name])


def connect(path: Path, timeout: float = _SETUP_TIMEOUT_S) -> sqlite3.Connection:
    """A connection in autocommit mode: transactions are begun explicitly (BEGIN IMMEDIATE)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=timeout, check_same_thread=False)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def prepare_databases(db_dir: Path) -> None:
    """Create the folder, files and tables that are missing, and switch the files to WAL."""
    check_databases(db_dir)
    try:
        db_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatabaseError(f"cannot create database folder {db_dir}: {e.strerror}") from None
    for name, path in database_paths(db_dir).items():
        try:
            conn = connect(path)
        except sqlite3.Error as e:
            raise DatabaseError(f"{path}: cannot open: {e}") from None
        try:
            # WAL lets readers (the browser, the orders' reference checks) run beside the writer.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(TABLES[name].create_sql)
        except sqlite3.OperationalError as e:
            raise DatabaseError(f"{path}: cannot write: {e}") from None
        finally:
            conn.close()


def reset_databases(db_dir: Path) -> dict[str, int]:
    """Empty the three tables (files and tables stay). Orders go first, so that at no moment
    a stored order lacks its user or product. Returns the rows removed per table."""
    check_databases(db_dir)
    removed = {}
    for name in reversed(TABLES):
        path = database_paths(db_dir)[name]
        if not path.exists():
            continue
        conn = connect(path)
        try:
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
            ).fetchone()
            if not exists:
                continue
            conn.execute("BEGIN IMMEDIATE")
            removed[name] = conn.execute(f"DELETE FROM {name}").rowcount
            conn.execute("COMMIT")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as e:
            raise DatabaseError(f"{path}: cannot empty: {e}") from None
        finally:
            conn.close()
    return removed


def _insert_sql(table: Table, rows: int) -> str:
    marks = "(" + ", ".join("?" * len(table.columns)) + ")"
    return f"INSERT INTO {table.name} ({', '.join(table.fields)}) VALUES " + ", ".join(
        [marks] * rows
    )


class Stopped(Exception):
    """A stop was requested while waiting for a database lock."""


class Store:
    """The writer of one table, and what the rules need to know of its stored rows.

    Used by one thread at a time (a node's workers take turns). `ids` holds only committed
    rows; `on_load` and the node pass them on to the orders node, which judges references.
    """

    def __init__(
        self, path: Path, table: Table, on_load: Callable[[IdSet], None] | None = None
    ) -> None:
        """`on_load` hears of every id read from the file (at start, and after another
        process wrote to it)."""
        self.path = path
        self.table = table
        self._on_load = on_load
        self._conn = connect(path, timeout=_BUSY_MS / 1000)
        self._insert_full = _insert_sql(table, _ROWS_PER_INSERT)
        self.ids = IdSet()
        self.email_holders: dict[str, int] = {}
        self._data_version = -1
        self._reload()

    def _reload(self) -> None:
        """Read what is stored (at start, and after another process wrote the file)."""
        holders: dict[str, int] = {}
        if self.table.name == "users":
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
        self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if self._on_load is not None:
            self._on_load(ids)

    def _execute_waiting(self, sql: str, stop: threading.Event | None = None) -> None:
        """Execute `sql`, waiting out other processes' locks (each try waits _BUSY_MS inside
        SQLite); with `stop`, give up with Stopped once it is set."""
        while True:
            try:
                self._conn.execute(sql)
                return
            except sqlite3.OperationalError as e:
                if not _is_locked(e):
                    raise
                if stop is not None and stop.is_set():
                    raise Stopped from None

    def begin(self, stop: threading.Event) -> None:
        """BEGIN IMMEDIATE, waiting out other writers; then catch up with their changes."""
        self._execute_waiting("BEGIN IMMEDIATE", stop)
        # data_version changes only when another connection committed to the file.
        if self._conn.execute("PRAGMA data_version").fetchone()[0] != self._data_version:
            self._reload()

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
        # No giving up here: the chunk is decided and must be stored.
        self._execute_waiting("COMMIT")

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
        self.rollback()
        self._conn.close()
