"""Waiting in UI tests for what the app shows, never for a fixed time, and never for ever:
every wait has a deadline that fails the test with what it waited for."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot

DEADLINE_SECONDS = 30.0


async def until(
    pilot: Pilot[int],
    done: Callable[[], bool],
    what: str,
    *,
    seconds: float = DEADLINE_SECONDS,
    step: float = 0.05,
) -> None:
    """Let the app run until `done()`; fail after `seconds`, saying `what` never happened."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"after {seconds:.0f} s: never {what}"
        await pilot.pause(step)


async def workers_done(pilot: Pilot[int], *, seconds: float = DEADLINE_SECONDS) -> None:
    """Wait until no worker of the app runs (one may start another) and their news is shown."""
    app = pilot.app
    deadline = time.monotonic() + seconds
    while any(worker.is_running for worker in app.workers):
        running = [w.description for w in app.workers if w.is_running]
        assert time.monotonic() < deadline, f"after {seconds:.0f} s, workers still run: {running}"
        await app.workers.wait_for_complete()
        await pilot.pause()
    await pilot.pause()
