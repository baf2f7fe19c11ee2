"""Descriptors of database files that a process opens for itself, and never closes.

Closing *any* descriptor of a file drops every POSIX lock the process holds on it, SQLite's
too: its WAL mode relies on them to know that a connection is not the last one, which would
otherwise empty and delete a log another connection of this process still reads. So a process
that opens a database file itself (for its reference lock) opens it once and keeps the
descriptor until it ends.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

_OPEN: dict[tuple[int, int], int] = {}
_GUARD = threading.Lock()


def descriptor(path: Path) -> int:
    """This process's descriptor of the file at `path` (opened for reading)."""
    st = os.stat(path)
    with _GUARD:
        fd = _OPEN.get((st.st_dev, st.st_ino))
        if fd is None:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            st = os.fstat(fd)
            # Another file may stand at the path by now: its descriptor is kept all the same.
            fd = _OPEN.setdefault((st.st_dev, st.st_ino), fd)
        return fd
