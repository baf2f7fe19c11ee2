"""One database's live panel: progress, counts, rate and the most recent outcomes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Log, ProgressBar, Static

from tui_insert.core.engine import TableProgress
from tui_insert.ui.outcome_text import outcome_line, rate, wait_line

RECENT_LINES = 200


class DatabasePanel(Vertical):
    """Shows a table's `TableProgress`; `show()` is called a few times a second.

    The panel keeps its widgets rather than querying for them: the app's timer may call it
    before they are mounted or while the app shuts down, and a query would then fail."""

    def __init__(self, table: str, database: str) -> None:
        super().__init__(id=f"panel-{table}", classes="database-panel")
        self.table = table
        self.border_title = database
        self._last_position = 0
        self._bar = ProgressBar(total=None, show_eta=False, id="progress")
        self._counts = Static("waiting", id="counts", markup=False)
        self._rate = Static("", id="rate", markup=False)
        self._recent = Log(max_lines=RECENT_LINES, id="recent")

    def compose(self) -> ComposeResult:
        yield self._bar
        yield self._counts
        yield self._rate
        yield self._recent

    def clear(self, message: str = "waiting") -> None:
        self._last_position = 0
        self._bar.update(total=1, progress=0)
        self._counts.update(message)
        self._rate.update("")
        self._recent.clear()

    def show(self, progress: TableProgress, seconds: float) -> None:
        """Bring the panel up to date; `seconds` is the time the table has been running."""
        total = max(progress.total, progress.processed)
        self._bar.update(total=total or None, progress=progress.processed)
        # Orders wait for the users and products they name; nothing moves until then.
        state = "done" if progress.done else "running" if progress.processed else "waiting"
        self._counts.update(
            f"{progress.processed:,} of {total:,} {state}\n"
            f"inserted {progress.inserted:,}   rejected {progress.rejected:,}"
        )
        # A wait for another writer's lock is said where the rate stands still.
        waiting = progress.waiting
        self._rate.update(
            wait_line(*waiting)
            if waiting is not None
            else f"{rate(progress.processed, seconds)} records/s"
        )
        fresh = [entry for entry in list(progress.recent) if entry[0] > self._last_position]
        if fresh:
            self._last_position = fresh[-1][0]
            log = self._recent
            log.write_lines((outcome_line(*entry) for entry in fresh), scroll_end=False)
            # Always show the newest, and repaint: Log neither follows once its scroll
            # position drifted, nor repaints the lines that moved up when it dropped its oldest.
            log.scroll_end(animate=False, immediate=True, x_axis=False)
            log.refresh()
