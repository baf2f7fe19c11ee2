"""Waiting for another writer: how often to try again, and when to say so.

Contention is waited out, never turned into a failed record or a partial reset; a wait that
lasts gets a notice (a line on stderr headless, a line in the app) after a second, then every
few seconds, and one more when it ends. Two environment variables set the pace (the tests
shorten them; spawned node processes inherit them):

- `TUI_INSERT_NOTICE_SECONDS`: seconds between two notices of one wait (default 5).
- `TUI_INSERT_POLL_SECONDS`: seconds between two tries for a lock (default 0.1).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import NamedTuple, TypeVar

T = TypeVar("T")


def _seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


NOTICE_SECONDS = _seconds("TUI_INSERT_NOTICE_SECONDS", 5.0)
POLL_SECONDS = _seconds("TUI_INSERT_POLL_SECONDS", 0.1)
# A wait shorter than this is ordinary contention between writers: no notice.
FIRST_NOTICE_SECONDS = min(1.0, NOTICE_SECONDS)
# Between two tries of a statement that met a lock (besides SQLite's own busy timeout).
_RETRY_PAUSE = min(POLL_SECONDS, 0.005)


class Wait(NamedTuple):
    """A notice of a wait: `database` (as the user named it) is `reason`, for `seconds`;
    `over` once the wait has ended."""

    database: str
    reason: str
    seconds: float
    over: bool = False

    def __str__(self) -> str:
        if self.over:
            return f"{self.database}: waited {self.seconds:.0f} s ({self.reason}); going on"
        return f"{self.database}: {self.reason}; waiting ({self.seconds:.0f} s so far)"


OnWait = Callable[[Wait], None]


class Stopped(Exception):
    """A stop was requested while waiting."""


class Patience:
    """One wait: call `tick()` after every failed try and `done()` once it succeeded."""

    def __init__(
        self,
        database: str,
        reason: str,
        on_wait: OnWait | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.database = database
        self.reason = reason
        self._on_wait = on_wait
        self._stop = stop
        self._started = time.monotonic()
        self._next_notice = self._started + FIRST_NOTICE_SECONDS
        self._noticed = False

    def tick(self, pause: float = 0.0) -> None:
        """After a failed try: give up with Stopped if asked to, say so if the wait lasts,
        then pause (cut short by a stop)."""
        if self._stop is not None and self._stop.is_set():
            raise Stopped
        now = time.monotonic()
        if now >= self._next_notice:
            self._noticed = True
            self._next_notice = now + NOTICE_SECONDS
            if self._on_wait is not None:
                self._on_wait(Wait(self.database, self.reason, now - self._started))
        if pause > 0:
            if self._stop is not None:
                if self._stop.wait(pause):
                    raise Stopped
            else:
                time.sleep(pause)

    def done(self) -> None:
        if self._noticed and self._on_wait is not None:
            self._on_wait(
                Wait(self.database, self.reason, time.monotonic() - self._started, over=True)
            )


def is_locked(error: sqlite3.Error) -> bool:
    """Whether `error` says another connection is in the way right now (busy, locked, or a
    lock protocol race SQLite asks to retry): waited out, never a failure."""
    name = getattr(error, "sqlite_errorname", "")
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or name == "SQLITE_PROTOCOL"


def retry_while_locked(
    attempt: Callable[[], T],
    database: str,
    on_wait: OnWait | None = None,
    stop: threading.Event | None = None,
) -> T:
    """`attempt()` until it gets past other connections' locks. Each try waits inside SQLite
    for the connection's busy timeout; between tries a short pause, a stop check, and a
    notice once the wait lasts. `attempt` must leave no transaction open when it fails."""
    patience: Patience | None = None
    while True:
        try:
            result = attempt()
            break
        except sqlite3.OperationalError as e:
            if not is_locked(e):
                raise
            patience = patience or Patience(database, "locked by another program", on_wait, stop)
            patience.tick(_RETRY_PAUSE)
    if patience is not None:
        patience.done()
    return result
