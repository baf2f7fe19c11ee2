"""Emptying the three databases (files and tables stay), safely beside running writers.

A reset must never leave a stored order without its stored user and product, even while runs
in other processes insert (SPEC §5). In this order:

1. Check every file (usable and writable) before anything is written: DatabaseError, exit 2.
2. Store by store, in the one order in which every writer takes its locks (users, products,
   orders): the reference lock exclusive, where other tables refer to this one (every orders
   commit that relies on its rows is through, and no new one starts; `locks.py`), then its
   write lock. Every lock is waited out, with notices; none is ever turned into a partial
   reset.
3. Delete in all three (a file that cannot be written fails here, with nothing written), then
   commit orders first, then products, then users. Each commit also counts the reset in the
   file's bookkeeping, which tells the orders nodes of every run that what they saw there
   may be gone.

SQLite has no atomic commit across files: a reset that fails (an I/O error) or is interrupted
between its commits names the stores emptied so far (ResetIncomplete), and running it again
completes it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

from tui_insert.core.checks import check_databases, check_writable, database_paths
from tui_insert.core.errors import DatabaseError, ResetIncomplete
from tui_insert.core.locks import ReferenceLock
from tui_insert.core.storage import (
    connect,
    count_reset,
    execute_waiting,
    rollback,
    tables_in,
)
from tui_insert.core.tables import REFERENCED, TABLES
from tui_insert.core.waiting import OnWait, Stopped


def reset_databases(
    db_dir: Path, on_wait: OnWait | None = None, stop: threading.Event | None = None
) -> dict[str, int]:
    """Check the databases in `db_dir` (usable and writable; a DatabaseError writes nothing),
    then empty their tables (`empty_databases`)."""
    for path in database_paths(db_dir).values():
        if path.is_file():
            check_writable(path)
    check_databases(db_dir, on_wait=on_wait, stop=stop)
    return empty_databases(db_dir, on_wait, stop)


def empty_databases(
    db_dir: Path, on_wait: OnWait | None = None, stop: threading.Event | None = None
) -> dict[str, int]:
    """Empty the tables of the databases in `db_dir`, which the caller has just checked;
    returns the rows removed per table (tables that are not there are left out)."""
    paths = {name: path for name, path in database_paths(db_dir).items() if path.is_file()}
    if not paths:
        return {}
    with contextlib.ExitStack() as held:
        conns: dict[str, sqlite3.Connection] = {}
        locks: list[ReferenceLock] = []
        for name, path in paths.items():
            label = str(path)
            if name in REFERENCED:
                lock = ReferenceLock(path, label)
                held.enter_context(lock.exclusive(on_wait, stop))
                locks.append(lock)
            try:
                conn = connect(path, on_wait=on_wait, stop=stop)
            except sqlite3.Error as e:
                raise DatabaseError(f"{path}: cannot open: {e}") from None
            held.callback(conn.close)
            execute_waiting(conn, "BEGIN IMMEDIATE", label, on_wait, stop)
            held.callback(_quietly_rollback, conn)
            if tables_in(conn, name):
                conns[name] = conn
        if stop is not None and stop.is_set():
            raise Stopped
        # Every deletion is made before the first commit: a file that cannot be written
        # fails here, with nothing written anywhere.
        counts: dict[str, int] = {}
        for name in reversed(TABLES):
            if name in conns:
                try:
                    counts[name] = conns[name].execute(f"DELETE FROM {name}").rowcount
                    count_reset(conns[name])
                except sqlite3.Error as e:
                    raise DatabaseError(f"{paths[name]}: cannot empty: {e}") from None
        removed: dict[str, int] = {}
        try:
            for name, count in counts.items():  # orders first
                if name in REFERENCED and not all(lock.held() for lock in locks):
                    # A database was moved or replaced: its lock no longer keeps orders out,
                    # and orders may have been added since that name these rows. Leave them.
                    raise ResetIncomplete(
                        f"{paths[name]}: not emptied: a database file was moved or replaced"
                        " during the reset." + _emptied_so_far(paths, removed)
                    )
                execute_waiting(conns[name], "COMMIT", str(paths[name]), on_wait)
                removed[name] = count
        except sqlite3.Error as e:
            raise ResetIncomplete(
                f"{paths[name]}: cannot empty: {e}." + _emptied_so_far(paths, removed)
            ) from None
        except KeyboardInterrupt:
            if not removed:
                raise
            raise ResetIncomplete(
                "interrupted." + _emptied_so_far(paths, removed), exit_code=130
            ) from None
    for name in removed:
        _shrink_log(paths[name])
    return {name: removed[name] for name in TABLES if name in removed}


def _emptied_so_far(paths: dict[str, Path], removed: dict[str, int]) -> str:
    emptied = ", ".join(str(paths[name]) for name in removed) or "nothing"
    return f" Emptied so far: {emptied}. Run the reset again to finish it."


def _quietly_rollback(conn: sqlite3.Connection) -> None:
    """On the way out: the error that brought us here is the one to report."""
    with contextlib.suppress(sqlite3.Error):
        rollback(conn)


def _shrink_log(path: Path) -> None:
    """Give the emptied pages' log back to the disk; only if no one else is using the file."""
    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=0)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
