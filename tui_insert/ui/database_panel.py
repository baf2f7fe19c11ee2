"""One database's live panel: progress, counts, rate and the most recent outcomes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import ProgressBar, Sparkline, Static

from tui_insert.core.engine import TableProgress
from tui_insert.core.node import HeldBack
from tui_insert.core.rules import visible
from tui_insert.ui.outcome_text import (
    held_line,
    ids_line,
    outage_line,
    outcome_line,
    rate,
    time_left,
    wait_line,
)
from tui_insert.ui.recent_outcomes import RecentOutcomes

_NOTHING_SHOWN = object()
# The sparkline: a bar for each of the run's last seconds (at most this many), its records.
RATE_SECONDS = 60


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
        self._subtitle = "waiting"
        self.border_subtitle = self._subtitle
        self._last_position = 0
        self._bar = ProgressBar(total=None, show_eta=False, id="progress")
        self._counts = Static("waiting", id="counts", markup=False)
        self._rate = Static("", id="rate", markup=False)
        self._rates = Sparkline([], id="rates")
        # The processed count at the end of each whole second of the run so far.
        self._seconds: list[int] = []
        # What its records wait for, and what has reached it of the tables they refer to.
        self._held = Static("", id="held", markup=False)
        self._flow = Static("", id="flow", markup=False)
        self._held_shown: object = _NOTHING_SHOWN  # the news those two lines show
        self._done_shown = False
        self._recent = RecentOutcomes(id="recent")

    def compose(self) -> ComposeResult:
        yield self._bar
        yield self._counts
        yield self._rate
        yield self._rates
        yield self._held
        yield self._flow
        yield self._recent

    def clear(self, message: str = "waiting") -> None:
        self._last_position = 0
        self._seconds = []
        self._set_subtitle(message)
        self._set_state("")
        self._bar.update(total=1, progress=0)
        self._counts.update(message)
        self._rate.update("")
        self._show_rates()
        self._held_shown = _NOTHING_SHOWN
        self._show_held(None, done=True)
        self._recent.clear()

    def show(self, progress: TableProgress, seconds: float) -> None:
        """Bring the panel up to date; `seconds` is the time the table has been running."""
        self._bar.update(total=progress.shown_total or None, progress=progress.processed)
        outage = progress.outage
        self._set_subtitle(_state(progress, self.server))
        self._set_state(_standing(progress))
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
            per_second = rate(progress.processed, seconds)
            line = f"{per_second} records/s"
            left = (
                ""
                if progress.done
                else time_left(progress.processed, progress.shown_total, self._recent_rate())
            )
            if left:
                line = f"{line} · {left}"
                if len(line) > self._rate.content_size.width:  # a narrow panel
                    line = f"{per_second}/s · {left}"
            self._rate.update(line)
        self._note_second(progress.processed, seconds)
        self._show_held(progress.held, done=progress.done)
        fresh = [entry for entry in list(progress.recent) if entry[0] > self._last_position]
        if fresh:
            self._last_position = fresh[-1][0]
            self._recent.add(outcome_line(*entry) for entry in fresh)

    def _note_second(self, processed: int, seconds: float) -> None:
        """The sparkline: records in each whole second of the run, the last RATE_SECONDS."""
        marks = self._seconds
        whole = int(seconds)
        if whole > len(marks):
            # Seconds that passed between two refreshes share out what they processed.
            last = marks[-1] if marks else 0
            steps = whole - len(marks)
            marks.extend(last + (processed - last) * (i + 1) // steps for i in range(steps))
            self._show_rates()

    def _show_rates(self) -> None:
        """A bar a second, the latest at the right; the seconds before the run are 0."""
        marks = self._seconds
        counts = [b - a for a, b in zip([0, *marks], marks, strict=False)]
        bars = min(self._rates.content_size.width or RATE_SECONDS, RATE_SECONDS)
        self._rates.data = [0] * (bars - len(counts)) + counts[-bars:]

    def _recent_rate(self) -> float:
        """Records a second over the last few whole seconds (0 before the first one)."""
        seconds = self._seconds
        marks = seconds[-4:] if len(seconds) > 1 else [0, *seconds]
        return (marks[-1] - marks[0]) / (len(marks) - 1) if len(marks) > 1 else 0.0

    def _show_held(self, held: HeldBack | None, *, done: bool) -> None:
        if held is self._held_shown and done == self._done_shown:
            return  # nothing new: no text to lay out again
        self._held_shown, self._done_shown = held, done
        text = held_line(self.table, held) if held is not None and not done else ""
        self._held.update(text)
        self._held.display = bool(text)
        flow = ids_line(held.arrived) if held is not None else ""
        self._flow.update(flow)
        self._flow.display = bool(flow)

    def _set_subtitle(self, text: str) -> None:
        """Setting a border title repaints the whole panel, even to the same text: only a new
        one is set (the panel's other lines are drawn again only when they change)."""
        if text != self._subtitle:
            self._subtitle = text
            self.border_subtitle = Content(visible(text))

    def _set_state(self, state: str) -> None:
        """A class per state for its colour: -running, -held, -done, -failed."""
        for name in ("running", "held", "done", "failed"):
            self.set_class(name == state, f"-{name}")


def _standing(progress: TableProgress) -> str:
    """The state the panel's colour shows: failed, done, held (waiting for a store or for the
    records of another table) or running."""
    if progress.error:
        return "failed"
    if progress.done:
        return "done"
    if progress.outage or progress.waiting or (progress.held and progress.held.records):
        return "held"
    return "running"


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
