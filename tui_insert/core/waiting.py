"""Waiting for another writer, or for a store to come back: how often to try again, and when
to say so.

Contention is waited out, never turned into a failed record or a partial reset, however long
it lasts; a wait that lasts gets a notice (a line on stderr headless, a line in the app) after
a second, then every few seconds, and one more when it ends.

A store that fails in a way that may pass (`errors.StoreUnavailable`: a server down or
restarting, a dropped connection, a full disk) is an *outage*: the work in hand is rolled back
and tried again after 1, 2, 4, then every 8 seconds, each failed try a notice, for as long as
`--retry-for` allows (`Outage`); then the run ends with a message naming the store.

Environment variables set the pace (the tests shorten them; spawned node processes inherit
them):

- `TUI_INSERT_NOTICE_SECONDS`: seconds between two notices of one wait (default 5).
- `TUI_INSERT_POLL_SECONDS`: seconds between two tries for a lock (default 0.1).
- `TUI_INSERT_RETRY_SECONDS`: the first pause before trying a failed store again (default 1);
  the pauses double up to eight times that.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from tui_insert.core.durations import format_duration
from tui_insert.core.errors import StoreError, StoreUnavailable

T = TypeVar("T")


def _seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


NOTICE_SECONDS = _seconds("TUI_INSERT_NOTICE_SECONDS", 5.0)
POLL_SECONDS = _seconds("TUI_INSERT_POLL_SECONDS", 0.1)
RETRY_SECONDS = _seconds("TUI_INSERT_RETRY_SECONDS", 1.0)
# How long a failing store is tried again by default (--retry-for).
DEFAULT_RETRY_FOR = 120.0
# A wait shorter than this is ordinary contention between writers: no notice.
FIRST_NOTICE_SECONDS = min(1.0, NOTICE_SECONDS)
# Between two tries of a statement that met a lock (besides SQLite's own busy timeout).
_RETRY_PAUSE = min(POLL_SECONDS, 0.005)


class Wait(NamedTuple):
    """A notice of a wait: `database` (as the user named it) is `reason`, for `seconds`;
    `over` once the wait has ended. An outage's notices (`attempt` > 0) come after each failed
    try, saying when the next one is (`retry_in` seconds); its last one (`over`) how many tries
    failed."""

    database: str
    reason: str
    seconds: float
    over: bool = False
    attempt: int = 0
    retry_in: float = 0.0

    @property
    def outage(self) -> bool:
        return self.attempt > 0

    def __str__(self) -> str:
        if self.outage:
            if self.over:
                tries = "1 retry" if self.attempt == 1 else f"{self.attempt} retries"
                return f"{self.database}: back after {self.seconds:.0f} s ({tries}); going on"
            return (
                f"{self.database}: {self.reason}, retrying in {_whole(self.retry_in)} s"
                f" (attempt {self.attempt})"
            )
        if self.over:
            return f"{self.database}: waited {self.seconds:.0f} s ({self.reason}); going on"
        return f"{self.database}: {self.reason}; waiting ({self.seconds:.0f} s so far)"


def _whole(seconds: float) -> str:
    """Seconds as a person reads them: 4, 0.5."""
    return f"{seconds:.0f}" if seconds >= 1 else f"{seconds:.1g}"


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


class Outage:
    """A store that keeps failing in a way that may pass, while its work is tried again: call
    `failed(error)` after every failed try (it pauses before the next one) and `over()` once a
    try succeeded. One per worker of a node, or per step of preparing a run."""

    def __init__(
        self,
        retry_for: float,
        on_wait: OnWait | None = None,
        stop: threading.Event | None = None,
        *,
        gives_up: type[Exception] = StoreError,
        then: str = "what was committed stays, and running the same input again completes it",
    ) -> None:
        """`retry_for`: seconds from the first failure after which a failure is final, raised
        as `gives_up` naming the store, and saying `then` what it means."""
        self.retry_for = retry_for
        self._on_wait = on_wait
        self._stop = stop
        self._gives_up = gives_up
        self._then = then
        self._started: float | None = None
        self._attempt = 0
        self._last: StoreUnavailable | None = None

    def failed(self, error: StoreUnavailable) -> None:
        """After a failed try: give up (`gives_up`) once the store has failed for longer than
        `retry_for`; else say so and pause before the next try (Stopped if asked to stop)."""
        now = time.monotonic()
        if self._started is None:
            self._started = now
        self._attempt += 1
        self._last = error
        failing = now - self._started
        left = self.retry_for - failing
        if left <= 0:
            raise self._gives_up(
                f"{error.database}: {error.reason} for {failing:.0f} s, longer than --retry-for"
                f" {format_duration(self.retry_for)}"
                + (f" ({error.detail})" if error.detail else "")
                + f"; {self._then}"
            ) from None
        pause = min(RETRY_SECONDS * 2 ** min(self._attempt - 1, 3), left)
        if self._on_wait is not None:
            self._on_wait(
                Wait(error.database, error.reason, failing, attempt=self._attempt, retry_in=pause)
            )
        if self._stop is not None:
            if self._stop.wait(pause):
                raise Stopped
        else:
            time.sleep(pause)

    def over(self) -> None:
        """A try succeeded: the outage (if there was one) is over."""
        if self._started is None:
            return
        assert self._last is not None
        if self._on_wait is not None:
            self._on_wait(
                Wait(
                    self._last.database,
                    self._last.reason,
                    time.monotonic() - self._started,
                    over=True,
                    attempt=self._attempt,
                )
            )
        self._started, self._attempt, self._last = None, 0, None

    def retrying(self, attempt: Callable[[], T]) -> T:
        """`attempt()` until it does not fail with StoreUnavailable."""
        while True:
            try:
                result = attempt()
            except StoreUnavailable as e:
                self.failed(e)
                continue
            self.over()
            return result


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
