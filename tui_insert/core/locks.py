"""The reference lock of a store: what keeps a reset from removing rows that an orders commit
relies on.

Orders name users and products stored in other databases. An orders commit holds this lock
*shared* in the users store and in the products store, from checking the rows it names until
its commit is through; a reset holds it *exclusive* while it removes rows. So a user or product
disappears only while no order that names it can be added. Inserting users or products never
takes it: only resets conflict with it, and the users' and products' own commits pay nothing.

For a SQLite file it is a `flock` on the database file itself (independent of SQLite's own
POSIX locks on it, on Linux), so it cannot be lost with a side file, and every path that leads
to the file (a symbolic link, say) leads to the same lock. Its descriptor is never closed
(`descriptors.py`). Threads of one process share that descriptor's `flock`, so they take
turns at a lock of their own besides.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from tui_insert.core.descriptors import descriptor
from tui_insert.core.errors import DatabaseError, StoreChanged
from tui_insert.core.identity import file_id
from tui_insert.core.waiting import POLL_SECONDS, OnWait, Patience

# A shared lock is only ever kept waiting by a reset, which is quick: look again soon.
_SHARED_POLL = min(POLL_SECONDS, 0.01)


class _LockedFile:
    """A database file's lock in this process: its descriptor, and the turn of this process's
    threads at it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.turn = threading.Lock()
        # Set while a helper thread that was given up on still waits for the flock: it ends
        # this process's turn once it has let go (see _wait_exclusive).
        self.handed_over = False


_FILES: dict[int, _LockedFile] = {}
_FILES_GUARD = threading.Lock()


def _locked_file(path: Path, label: str) -> _LockedFile:
    """This process's lock of the file at `path`."""
    try:
        fd = descriptor(path)
    except FileNotFoundError:
        raise StoreChanged(f"{label}: the database file was deleted or moved") from None
    except OSError as e:
        raise DatabaseError(f"{label}: cannot open: {e.strerror}") from None
    with _FILES_GUARD:
        return _FILES.setdefault(fd, _LockedFile(fd))


class ReferenceLock:
    """Shared or exclusive, across processes and threads."""

    def __init__(self, database: Path, label: str) -> None:
        self.path = database
        self.label = label
        self._file: _LockedFile | None = None  # while held

    def held(self) -> bool:
        """Whether the file locked is still the file at the path (a database moved or
        replaced meanwhile is another file, and its lock excludes no one)."""
        if self._file is None:
            return False
        mine = os.fstat(self._file.fd)
        try:
            return file_id(self.path) == (mine.st_dev, mine.st_ino)
        except FileNotFoundError:
            return False

    def shared(
        self, on_wait: OnWait | None = None, stop: threading.Event | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """Hold the lock shared; waits while a reset holds it (raises Stopped on `stop`)."""

        def take(file: _LockedFile) -> None:
            patience: Patience | None = None
            while True:
                try:
                    fcntl.flock(file.fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    patience = patience or Patience(
                        self.label, "being emptied by a reset", on_wait, stop
                    )
                    patience.tick(_SHARED_POLL)
            if patience is not None:
                patience.done()

        return self._holding(take, on_wait, stop)

    def exclusive(
        self, on_wait: OnWait | None = None, stop: threading.Event | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """Hold the lock exclusive, once every shared holder has let go.

        The wait itself is a blocking `flock` in a helper thread, so the kernel hands the lock
        over the moment the last shared holder lets go; orders commits hold it shared only
        while they hold their own write lock too (see node.py), so there is such a moment
        right after the orders commit in hand."""

        def take(file: _LockedFile) -> None:
            try:
                fcntl.flock(file.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                patience = Patience(self.label, "in use by a running tui-insert", on_wait, stop)
                _wait_exclusive(file, patience)
                patience.done()

        return self._holding(take, on_wait, stop)

    @contextlib.contextmanager
    def _holding(
        self,
        take: Callable[[_LockedFile], None],
        on_wait: OnWait | None,
        stop: threading.Event | None,
    ) -> Iterator[None]:
        """This process's turn at the file's lock (its threads take turns), then the lock
        itself by `take`, held until the block is through."""
        file = _locked_file(self.path, self.label)
        patience: Patience | None = None
        while not file.turn.acquire(timeout=_SHARED_POLL):
            patience = patience or Patience(self.label, "in use by this tui-insert", on_wait, stop)
            patience.tick()
        try:
            take(file)
            self._file = file
            try:
                yield
            finally:
                self._file = None
                fcntl.flock(file.fd, fcntl.LOCK_UN)
        finally:
            if not file.handed_over:
                file.turn.release()


def _wait_exclusive(file: _LockedFile, patience: Patience) -> None:
    """Block until `file` is locked exclusive; on Stopped, the helper thread lets go of it as
    soon as it gets it, and only then ends this process's turn."""
    fd = file.fd
    got = threading.Event()
    guard = threading.Lock()
    abandoned = False

    def take() -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with guard:
            if abandoned:
                fcntl.flock(fd, fcntl.LOCK_UN)
                file.handed_over = False
                file.turn.release()
            else:
                got.set()

    threading.Thread(target=take, name="reference lock", daemon=True).start()
    try:
        while not got.wait(POLL_SECONDS):
            patience.tick()
    except BaseException:
        with guard:
            if got.is_set():
                fcntl.flock(fd, fcntl.LOCK_UN)
            else:
                abandoned = True
                file.handed_over = True
        raise
