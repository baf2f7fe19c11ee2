"""Checking a SQLite database file before anything is written to any store (SPEC §2).

A file that is not SQLite, holds a table of that name with other columns, or cannot be written
(read-only file, side file or folder; `chattr +i` too) is a DatabaseError naming it: exit 2,
and every file is left as it was. The checks write nothing and create no file: a WAL database
whose log is absent is read as an immutable file, so that reading it leaves no `-wal` and
`-shm` behind.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from tui_insert.core.errors import DatabaseError, StoreUnavailable
from tui_insert.core.identity import side_files
from tui_insert.core.tables import STATE_TABLE, TABLES, Table
from tui_insert.core.waiting import POLL_SECONDS, OnWait, retry_while_locked

# The declared kinds of column (tables.py) as SQLite types.
SQL_TYPES = {"integer": "INTEGER", "text": "TEXT", "real": "REAL"}
# The bookkeeping table of a SQLite file: one row.
STATE_COLUMNS = (("resets", "INTEGER"),)


def columns_sql(table: Table) -> str:
    """The columns of `table` as SQLite's CREATE TABLE spells them."""
    return ", ".join(
        f"{name} {SQL_TYPES[kind]}{' PRIMARY KEY' if name == table.key else ''}"
        for name, kind in table.columns
    )


def database_paths(db_dir: Path) -> dict[str, Path]:
    return {name: db_dir / table.database for name, table in TABLES.items()}


def read_only_uri(path: Path, *, immutable: bool = False) -> str:
    """A read-only URI built from the resolved path, so `#`, `?`, `%` and spaces are safe."""
    return path.resolve().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")


def _columns(conn: sqlite3.Connection, name: str) -> list[tuple[str, str, bool]]:
    """(name, TYPE, is primary key) of table `name`'s columns; [] if it is not there."""
    rows = conn.execute(f"PRAGMA table_info({name})").fetchall()
    return [(n, t.upper(), bool(pk)) for _, n, t, _, _, pk in rows]


def _read_schema(path: Path, table: Table, immutable: bool) -> tuple[list, list]:
    conn = sqlite3.connect(read_only_uri(path, immutable=immutable), uri=True, timeout=POLL_SECONDS)
    try:
        return _columns(conn, table.name), _columns(conn, STATE_TABLE)
    finally:
        conn.close()


# Free space below which an I/O error is taken for a full disk (SQLite says only "disk I/O
# error" when it cannot grow the -shm file it maps, for one). Generous: by the time the error
# is seen, other writers on that disk (the other stores, a rollback of their own) can have
# given space back, and an I/O error on a disk this full is the disk's fullness anyway.
_NEARLY_FULL = 1 << 20


def is_full(error: sqlite3.Error, path: str) -> bool:
    """A full disk under the file at `path`: SQLite has rolled the transaction back, and the
    same work may succeed once space is freed."""
    name = getattr(error, "sqlite_errorname", "")
    if name == "SQLITE_FULL":
        return True
    if not name.startswith("SQLITE_IOERR"):
        return False
    try:
        found = os.statvfs(Path(path).parent)
    except OSError:
        return False
    return found.f_bavail * found.f_frsize < _NEARLY_FULL


def check_database(
    path: Path,
    table: Table,
    on_wait: OnWait | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Raise DatabaseError if `path` exists but cannot hold `table`. Writes nothing."""
    if not path.exists():
        return
    if not path.is_file():
        raise DatabaseError(f"{path}: not a file")
    # No log or journal beside it: nothing half-written, so it can be read as it is on disk
    # (and reading it creates no side files). Should that fail, the file was written
    # meanwhile: then it is read as SQLite reads a file in use.
    wal, _, journal = side_files(path)
    views = (True, False) if not wal.exists() and not journal.exists() else (False,)
    for immutable in views:
        try:
            found, state = retry_while_locked(
                functools.partial(_read_schema, path, table, immutable), str(path), on_wait, stop
            )
            break
        except sqlite3.DatabaseError as e:
            if immutable:
                continue
            if getattr(e, "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
                raise DatabaseError(f"{path}: not an SQLite database, or a damaged one") from None
            if is_full(e, str(path)):
                raise StoreUnavailable(str(path), "disk full", str(e)) from None
            raise DatabaseError(f"{path}: cannot read: {e}") from None
    wanted = [(name, SQL_TYPES[kind], name == table.key) for name, kind in table.columns]
    if found and found != wanted:
        have = ", ".join(
            " ".join(filter(None, (n, t, "PRIMARY KEY" if pk else ""))) for n, t, pk in found
        )
        need = columns_sql(table)
        raise DatabaseError(
            f"{path}: table {table.name} has columns ({have}), tui-insert needs ({need})"
        )
    if state and state != [(n, t, False) for n, t in STATE_COLUMNS]:
        raise DatabaseError(
            f"{path}: table {STATE_TABLE} has other columns than tui-insert's bookkeeping (resets)"
        )


def _existing_folder(folder: Path) -> Path:
    """`folder`, or its parent if it does not exist yet (where it would be created)."""
    return folder if folder.exists() else folder.absolute().parent


# statx(2) attributes that forbid rewriting a file even to root (chattr +i, chattr +a), which
# os.access cannot see: Linux only; elsewhere nothing is known of them.
_STATX_ATTR_IMMUTABLE = 0x10
_STATX_ATTR_APPEND = 0x20
_AT_FDCWD = -100


@functools.cache
def _statx() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).statx  # type: ignore[no-any-return]
    except (AttributeError, OSError):
        return None


def _unwritable_attribute(path: Path) -> str | None:
    """What forbids rewriting the file, if one of those attributes does; else None."""
    statx = _statx()
    if statx is None:
        return None
    buf = ctypes.create_string_buffer(256)  # struct statx
    if statx(_AT_FDCWD, os.fsencode(path), 0, 0, buf) != 0:
        return None
    attributes = int.from_bytes(buf.raw[8:16], sys.byteorder)  # stx_attributes
    if attributes & _STATX_ATTR_IMMUTABLE:
        return "read-only (immutable, even for root)"
    if attributes & _STATX_ATTR_APPEND:
        return "append-only (SQLite rewrites pages in place)"
    return None


def check_writable(path: Path) -> None:
    """Raise DatabaseError unless the database at `path` (its file, its side files and its
    folder) can be written. Writes nothing."""
    folder = _existing_folder(path.parent)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DatabaseError(f"{path}: cannot write: the folder {folder} is read-only")
    for file in (path, *side_files(path)):
        if not file.exists():
            continue
        which = "the file" if file == path else file.name
        attribute = _unwritable_attribute(file)
        if attribute is not None:
            raise DatabaseError(f"{path}: cannot write: {which} is {attribute}")
        # A side file may go between the two looks (the last connection to close removes
        # it): only one that is still there counts.
        if not os.access(file, os.W_OK) and file.exists():
            raise DatabaseError(f"{path}: cannot write: {which} is read-only")
