"""The reference lock of a store: what keeps a reset from removing rows that an orders commit
relies on.

Orders name users and products stored in other databases. An orders commit holds this lock
*shared* in the users store and in the products store, from checking the rows it names until
its commit is through; a reset holds it *exclusive* while it removes rows. So a user or product
disappears only while no order that names it can be added. Inserting users or products never
takes it: only resets conflict with it, and the users' and products' own commits pay nothing.

For a SQLite file it is a `flock` on a side file beside the database (`users.db-lock`), never
on the database file itself: SQLite's own POSIX locks on that file are dropped when any other
descriptor of it in the process is closed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from tui_insert.core.waiting import POLL_SECONDS, OnWait, Patience

# A shared lock is only ever kept waiting by a reset, which is quick: look again soon.
_SHARED_POLL = min(POLL_SECONDS, 0.01)


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + "-lock")


class ReferenceLock:
    """Shared or exclusive, across processes; one holder at a time per instance."""

    def __init__(self, database: Path, label: str) -> None:
        self.path = lock_path(database)
        self.label = label
        self._fd: int | None = None

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def _is_current(self, fd: int) -> bool:
        """Whether `fd` is still the file at `self.path` (a lock on a deleted or replaced
        lock file would exclude no one)."""
        try:
            here = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = self._open()
        return self._fd

    def _drop(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @contextlib.contextmanager
    def shared(
        self, on_wait: OnWait | None = None, stop: threading.Event | None = None
    ) -> Iterator[None]:
        """Hold the lock shared; waits while a reset holds it (raises Stopped on `stop`)."""
        patience: Patience | None = None
        while True:
            fd = self._descriptor()
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                if patience is None:
                    patience = Patience(self.label, "being emptied by a reset", on_wait, stop)
                patience.tick(_SHARED_POLL)
                continue
            if self._is_current(fd):
                break
            fcntl.flock(fd, fcntl.LOCK_UN)
            self._drop()
        if patience is not None:
            patience.done()
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def exclusive(
        self, on_wait: OnWait | None = None, stop: threading.Event | None = None
    ) -> Iterator[None]:
        """Hold the lock exclusive, once every shared holder has let go.

        The wait itself is a blocking `flock` in a helper thread: the kernel hands the lock
        over the moment the last shared holder lets go, so a stream of orders commits, each
        holding it shared for a moment, cannot keep a reset waiting for ever."""
        patience: Patience | None = None
        while True:
            fd = self._take_exclusive(patience, on_wait, stop)
            if fd is None:
                patience = patience or Patience(
                    self.label, "in use by a running tui-insert", on_wait, stop
                )
                continue
            if self._is_current(fd):
                break
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        if patience is not None:
            patience.done()
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _take_exclusive(
        self, patience: Patience | None, on_wait: OnWait | None, stop: threading.Event | None
    ) -> int | None:
        """A descriptor holding the lock exclusive, or None at once if it is taken (then the
        caller comes back with a Patience, and this waits)."""
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if patience is None:
                os.close(fd)
                return None
        except BaseException:
            os.close(fd)
            raise
        got = threading.Event()
        guard = threading.Lock()
        abandoned = False

        def take() -> None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with guard:
                if abandoned:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
                else:
                    got.set()

        threading.Thread(target=take, name=f"lock {self.path.name}", daemon=True).start()
        try:
            while not got.wait(POLL_SECONDS):
                patience.tick()
        except BaseException:
            with guard:
                if got.is_set():
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
                else:
                    abandoned = True  # the helper lets go as soon as it gets it
            raise
        return fd

    def close(self) -> None:
        self._drop()
