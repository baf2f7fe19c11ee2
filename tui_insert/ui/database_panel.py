"""One database's live panel: progress, counts, rate and the most recent outcomes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import ProgressBar, Static

from tui_insert.core.engine import TableProgress
from tui_insert.core.rules import visible
from tui_insert.ui.outcome_text import outage_line, outcome_line, rate, wait_line
from tui_insert.ui.recent_outcomes import RecentOutcomes


def counts_text(progress: TableProgress, width: int) -> str:
    """'1,234 of about 200,000' (≈ where 'about' does not fit in `width`), then the inserted
    and rejected counts, one a line. The total shown is never below the processed count."""
    processed, total = progress.processed, progress.shown_total
    of = f"{total:,}"
    if progress.total_is_estimate:
        of = f"about {total:,}"
        if width and len(f"{processed:,} of {of}") > width:
            of = f"≈{total:,}"
    return f"{processed:,} of {of}\ninserted {progress.inserted:,}\nrejected {progress.rejected:,}"


class DatabasePanel(Vertical):
    """Shows a table's `TableProgress`; `show()` is called a few times a second.

    The panel keeps its widgets rather than querying for them: the app's timer may call it
    before they are mounted or while the app shuts down, and a query would then fail."""

    def __init__(self, table: str, database: str, *, server: bool = False) -> None:
        """`server`: the store is a database server (its panel says whether it is connected),
        not a file."""
        super().__init__(id=f"panel-{table}", classes="database-panel")
        self.table = table
        self.server = server
        # "users.db" says which table it holds; a server's "host:5432/shop" does not. Content,
        # not a string: a path is text, never markup.
        title = database if database.startswith(table) else f"{table} · {database}"
        self.border_title = Content(visible(title))
        self.border_subtitle = "waiting"
        self._last_position = 0
        self._bar = ProgressBar(total=None, show_eta=False, id="progress")
        self._counts = Static("waiting", id="counts", markup=False)
        self._rate = Static("", id="rate", markup=False)
        self._recent = RecentOutcomes(id="recent")

    def compose(self) -> ComposeResult:
        yield self._bar
        yield self._counts
        yield self._rate
        yield self._recent

    def clear(self, message: str = "waiting") -> None:
        self._last_position = 0
        self.border_subtitle = message
        self._bar.update(total=1, progress=0)
        self._counts.update(message)
        self._rate.update("")
        self._recent.clear()

    def show(self, progress: TableProgress, seconds: float) -> None:
        """Bring the panel up to date; `seconds` is the time the table has been running."""
        self._bar.update(total=progress.shown_total or None, progress=progress.processed)
        outage = progress.outage
        self.border_subtitle = _state(progress, self.server)
        self._counts.update(counts_text(progress, self._counts.content_size.width))
        # A store failing, or a wait for another writer's lock, is said where the rate stands
        # still.
        waiting = progress.waiting
        if outage is not None:
            wait, noticed = outage
            self._rate.update(outage_line(wait, progress.clock() - noticed, progress.database))
        elif waiting is not None:
            self._rate.update(wait_line(*waiting))
        else:
            self._rate.update(f"{rate(progress.processed, seconds)} records/s")
        fresh = [entry for entry in list(progress.recent) if entry[0] > self._last_position]
        if fresh:
            self._last_position = fresh[-1][0]
            self._recent.add(outcome_line(*entry) for entry in fresh)


# Reasons of an outage that mean a connection to open again (postgres.py's words).
_CONNECTION = ("connection lost", "server", "session ended", "the lost session")


def _state(progress: TableProgress, server: bool) -> str:
    """The panel's subtitle: how the table's work stands, and its server's connection."""
    if progress.error is not None:
        return "failed"
    if progress.outage is not None:
        reason = progress.outage[0].reason
        if "disk full" in reason:
            return "disk full"
        return "reconnecting" if reason.startswith(_CONNECTION) else "retrying"
    # Orders wait for the users and products they name; nothing moves until then.
    state = "done" if progress.done else "running" if progress.processed else "waiting"
    return f"{state} · connected" if server and not progress.done else state
