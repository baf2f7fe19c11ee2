"""A run's spool folder: where its nodes write their outcomes as chunks commit (report.py).

It lives in the temporary directory, and its run holds a lock on it (a `flock` on the folder
itself) for as long as the run's process lives. A run removes its own folder on every way out
that lets it; a run that was killed cannot, so each new run first removes the folders that no
live run holds. The lock also keeps that sweep away from folders being made: a folder is made
and locked, and the sweep done, under one shared lock of all the runs of the machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PREFIX = "tui-insert-run-"
_SWEEP_LOCK = "tui-insert-spools.lock"
# Folders of versions before the lock: swept only if they hold nothing but spool files, and
# nothing in them has changed for a day.
_UNLOCKED_PREFIX = "tui-insert-"
_UNLOCKED_AGE = 24 * 3600
_SPOOL_FILES = {
    f"{t}.{k}" for t in ("users", "products", "orders") for k in ("outcomes", "rejects")
}


@contextlib.contextmanager
def _all_runs_held(folder: Path) -> Iterator[bool]:
    """The lock every run takes while it makes its folder or sweeps: True if it is held (a
    temporary directory that cannot hold the lock file is not swept)."""
    path = folder / _SWEEP_LOCK
    try:
        # Read-only is enough for a flock, so every user's runs share the file. Opened without
        # O_CREAT when it is there: Linux refuses O_CREAT on another user's file in /tmp.
        fd = os.open(path, os.O_RDONLY if path.exists() else os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)  # lets go of the flock


def _lock(path: Path) -> int | None:
    """The folder's descriptor, locked; None if another live run holds it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def sweep(folder: Path) -> list[Path]:
    """Remove the spool folders in `folder` that no live run holds (the caller holds the
    sweep lock); returns them."""
    removed = []
    with os.scandir(folder) as entries:
        candidates = [
            Path(e.path)
            for e in entries
            if e.name.startswith(_UNLOCKED_PREFIX) and e.is_dir(follow_symlinks=False)
        ]
    for path in candidates:
        if not path.name.startswith(PREFIX) and not _old_spool(path):
            continue
        try:
            fd = _lock(path)
        except OSError:  # gone meanwhile, or not ours to open
            continue
        if fd is None:
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                removed.append(path)
        finally:
            os.close(fd)
    return removed


def _old_spool(path: Path) -> bool:
    """An older version's spool folder, untouched for a day: only its files, no folders."""
    try:
        entries = list(os.scandir(path))
        if not entries or any(
            e.name not in _SPOOL_FILES or not e.is_file(follow_symlinks=False) for e in entries
        ):
            return False
        times = [path.stat().st_mtime, *(e.stat().st_mtime for e in entries)]
    except OSError:
        return False
    return time.time() - max(times) > _UNLOCKED_AGE


class SpoolFolder:
    """This run's folder, locked until `cleanup()` (or until the process ends)."""

    def __init__(self, folder: Path | None = None) -> None:
        folder = Path(folder or tempfile.gettempdir())
        with _all_runs_held(folder) as held:
            if held:
                sweep(folder)
            self.path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=folder))
            fd = _lock(self.path)
        assert fd is not None  # nobody else knows the folder yet
        self._fd: int | None = fd

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
