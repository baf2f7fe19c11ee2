"""Which file a connection has open: a database deleted, moved or replaced under a run is found
out before the next commit, never written to in silence.

SQLite keeps a file open by its descriptor and finds its log (`-wal`) and index (`-shm`) by the
path. So once the path names another file, or none, a connection goes on writing the old file,
and the log left at the path would be read into whatever file comes to stand there.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from tui_insert.core.errors import StoreChanged

# (device, inode) of a file.
FileId = tuple[int, int]


def file_id(path: Path) -> FileId:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def side_files(path: Path) -> tuple[Path, ...]:
    """The files SQLite keeps beside a database while it is open."""
    return tuple(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))


class Identity:
    """The database file (and its -wal and -shm) a connection has open, by inode: `verify()`
    raises StoreChanged once the path names another file, or none."""

    def __init__(self, path: Path, label: str, expected: FileId | None) -> None:
        """`expected`: the file as the run prepared it, if known."""
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
            try:
                here = file_id(path)
            except FileNotFoundError:
                here = None
            if here == ident:
                continue
            if path == self.path:
                raise self._changed("deleted or moved" if here is None else "replaced")
            raise StoreChanged(
                f"{self.label}: its log {path.name} was {'deleted' if here is None else 'replaced'}"
                " while tui-insert was using it; the run stopped"
            )

    def holds(self) -> bool:
        try:
            self.verify()
        except StoreChanged:
            return False
        return True

    def database_moved(self) -> bool:
        """Whether the path names another file than the one open (or none)."""
        try:
            return file_id(self.path) != self._files[0][1]
        except (FileNotFoundError, IndexError):
            return True


# Connections left open on purpose; see close_connection.
_ABANDONED: list[sqlite3.Connection] = []


def close_connection(conn: sqlite3.Connection, identity: Identity) -> None:
    """Close `conn`, minding what SQLite does on closing the last connection of a WAL file:
    it copies the log into the file.

    - The database file was moved or replaced: what the log holds is copied into the file
      the connection has open (a moved file gets it all) and the log is emptied, so that
      the log left at the path is not read into a file that comes to stand there.
    - The file is still the one at the path but its log or index was replaced: copying our
      old log in would write over what others committed since. The connection is left open
      and the process must end without closing it (`abandoned()`, then `os._exit`)."""
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    if identity.holds():
        conn.close()
    elif identity.database_moved():
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA busy_timeout=2000")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    else:
        _ABANDONED.append(conn)


def abandoned() -> bool:
    """Whether a connection was left open on purpose: the process must then end with
    `os._exit`, which closes nothing."""
    return bool(_ABANDONED)
