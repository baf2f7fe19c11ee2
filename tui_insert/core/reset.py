"""Emptying the three databases (files and tables stay), safely beside running writers.

A reset must never leave a stored order without its stored user and product, even while runs
in other processes insert (SPEC §5). In this order:

1. Check every file (usable and writable) before anything is written: DatabaseError, exit 2.
2. Take the reference locks of users and products exclusive: every orders commit that relies
   on their rows is through, and no new one starts (`locks.py`).
3. Take the write lock of users, products and orders, in that order (the one order in which
   every writer takes its locks, so none waits in a circle). Every lock is waited out, with
   notices; none is ever turned into a partial reset.
4. Delete in all three (a file that cannot be written fails here, with nothing written), then
   commit orders first, then products, then users; each commit also counts the reset in the
   file's bookkeeping, which tells the orders nodes of every run that the rows they saw there
   may be gone.

SQLite has no atomic commit across files: if a commit fails on an I/O error, the stores
emptied so far are named (ResetIncomplete, exit 1), and running the reset again completes it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

from tui_insert.core.errors import DatabaseError, ResetIncomplete
from tui_insert.core.locks import ReferenceLock
from tui_insert.core.storage import (
    check_databases,
    check_writable,
    connect,
    count_reset,
    database_paths,
    execute_waiting,
)
from tui_insert.core.tables import REFERENCED, TABLES
from tui_insert.core.waiting import POLL_SECONDS, OnWait


def reset_databases(
    db_dir: Path, on_wait: OnWait | None = None, stop: threading.Event | None = None
) -> dict[str, int]:
    """Empty the tables of the databases in `db_dir`; returns the rows removed per table
    (tables that are not there are left out)."""
    paths = {name: path for name, path in database_paths(db_dir).items() if path.is_file()}
    for path in paths.values():
        check_writable(path)
    check_databases(db_dir)
    if not paths:
        return {}
    with contextlib.ExitStack() as held:
        for name in REFERENCED:
            path = database_paths(db_dir)[name]
            lock = ReferenceLock(path, str(path))
            held.callback(lock.close)
            held.enter_context(lock.exclusive(on_wait, stop))
        conns: dict[str, sqlite3.Connection] = {}
        for name, path in paths.items():
            try:
                conn = connect(path, busy_seconds=POLL_SECONDS)
            except sqlite3.Error as e:
                raise DatabaseError(f"{path}: cannot open: {e}") from None
            held.callback(conn.close)
            execute_waiting(conn, "BEGIN IMMEDIATE", str(path), on_wait, stop)
            held.callback(_rollback, conn)
            if _has_table(conn, name):
                conns[name] = conn
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
        for name, count in counts.items():  # orders first
            try:
                execute_waiting(conns[name], "COMMIT", str(paths[name]), on_wait)
            except sqlite3.Error as e:
                emptied = ", ".join(str(paths[n]) for n in removed) or "nothing"
                raise ResetIncomplete(
                    f"{paths[name]}: cannot empty: {e}. Emptied so far: {emptied}."
                    " Run the reset again to finish it."
                ) from None
            removed[name] = count
    for name in removed:
        _shrink_log(paths[name])
    return {name: removed[name] for name in TABLES if name in removed}


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        is not None
    )


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _shrink_log(path: Path) -> None:
    """Give the emptied pages' log back to the disk; only if no one else is using the file."""
    with contextlib.suppress(sqlite3.Error):
        conn = connect(path, busy_seconds=0)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
