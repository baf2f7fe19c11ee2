"""Messages shared app-wide: how a run ends, its rejected records as they are read, and waits
for another writer's lock. They are sent from the run's and the reset's threads (only
`post_message` is thread-safe); `number` tells a stopped run's late news from the current."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from tui_insert.core.rejected import RejectedRecords
from tui_insert.core.report import RunSummary
from tui_insert.core.waiting import Wait


@dataclass
class RunEnded(Message):
    number: int
    summary: RunSummary | None  # the figures of a completed run
    error: str | None  # why it could not complete (None: completed or stopped)
    rejected: RejectedRecords | None = None  # a completed run's, found as RejectedRead says


@dataclass
class RejectedRead(Message):
    """More of the finished run's rejected records have been found in its spool."""

    number: int


@dataclass
class Waiting(Message):
    """A run or a reset waits for another writer's lock."""

    wait: Wait
