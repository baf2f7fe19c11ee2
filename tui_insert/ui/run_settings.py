"""What a run in the app is made of: the inputs, the stores, workers and latency."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tui_insert.core.engine import DEFAULT_WORKERS, Run
from tui_insert.core.sources import Source
from tui_insert.core.stores import store_targets
from tui_insert.core.stores.base import Target
from tui_insert.core.waiting import DEFAULT_RETRY_FOR, OnWait

# The UI's simulated latency per insert for the bundled sample unless --latency says
# otherwise: the sample run then fills the panels over a few seconds.
DEFAULT_LATENCY = 0.25


@dataclass(frozen=True)
class RunSettings:
    sources: dict[str, Source]
    # Each table's store, or a folder holding the three SQLite files.
    stores: Mapping[str, Target] | Path
    workers: int = DEFAULT_WORKERS
    latency: float = DEFAULT_LATENCY
    reset_first: bool = False
    # The latency is the bundled sample's default (not asked for), which the app says.
    sample_latency: bool = False
    retry_for: float = DEFAULT_RETRY_FOR
    # Start a run as the app opens; else the app shows what is stored and r starts one.
    start_at_once: bool = True

    @property
    def targets(self) -> dict[str, Target]:
        stores = self.stores
        return store_targets(stores) if isinstance(stores, Path) else dict(stores)

    @property
    def latency_text(self) -> str:
        """'latency 250 ms (sample data)', 'latency 80 ms' or 'no latency'."""
        if not self.latency:
            return "no latency"
        note = " (sample data)" if self.sample_latency else ""
        return f"latency {self.latency * 1000:.0f} ms{note}"

    def new_run(
        self,
        *,
        reset: bool = False,
        clock: Callable[[], float] = time.monotonic,
        on_wait: OnWait | None = None,
    ) -> Run:
        """A run of these settings, not yet prepared."""
        return Run(
            self.sources,
            self.targets,
            workers=self.workers,
            latency=self.latency,
            reset=reset,
            clock=clock,
            on_wait=on_wait,
            retry_for=self.retry_for,
            spool_outcomes=False,  # the app writes no report: its summary and list need none
        )
