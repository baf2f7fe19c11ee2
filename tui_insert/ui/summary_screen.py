"""The summary of a finished run: per database figures and bars, when each database did its
work, the rejections by reason as bars, and the rejected records of the reason chosen."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tui_insert.core.rejected import RejectedRecords
from tui_insert.core.report import RunSummary
from tui_insert.ui.reason_list import ReasonList
from tui_insert.ui.rejected_list import RejectedList
from tui_insert.ui.run_charts import RunCharts
from tui_insert.ui.too_small import TooSmall

# Fewer rows than this (down to the smallest, 18): the screen fits without scrolling only
# without the headings "Databases" and "Rejections by reason".
CRAMPED_HEIGHT = 24


class SummaryScreen(Screen[None]):
    CSS_PATH = Path(__file__).with_name("summary_screen.tcss")
    BINDINGS = [
        Binding("s,escape", "app.pop_screen", "Close summary"),
        # With the reasons in focus, these scroll the records (the list's own keys when it is).
        Binding("pagedown", "records('page_down')", show=False),
        Binding("pageup", "records('page_up')", show=False),
        Binding("end", "records('scroll_end')", show=False),
        Binding("home", "records('scroll_home')", show=False),
    ]

    def __init__(
        self,
        summary: RunSummary,
        rejected: RejectedRecords,
        chosen: tuple[str | None, str | None] = (None, None),
    ) -> None:
        """`rejected`: the run's rejected records; they may still be being found (the app
        calls `show_rejected` as more are). `chosen`: the reason to list first, (table, code),
        as the summary was left when it was last open (every record: both None)."""
        super().__init__()
        self.summary = summary
        self.rejected = rejected
        self._chosen = chosen

    def compose(self) -> ComposeResult:
        summary = self.summary
        yield Static(
            f"Run {summary.state} in {summary.seconds:.2f} s", id="summary-title", markup=False
        )
        with Container(id="summary-figures"):  # side by side on wide screens
            with Vertical():
                yield Static("Databases", id="databases-heading", classes="heading", markup=False)
                yield DataTable(id="databases", cursor_type="none", zebra_stripes=True)
                yield RunCharts(summary, id="charts")
            with Vertical():
                yield Static(
                    "Rejections by reason (↑↓ lists a reason's records)",
                    id="reasons-heading",
                    classes="heading",
                    markup=False,
                )
                yield ReasonList(summary.reasons, summary.rejected, id="reasons")
        yield Static(id="rejected-heading", classes="heading", markup=False)
        yield RejectedList(id="rejected")
        yield Footer(show_command_palette=False)  # room for the keys at 80 columns
        yield TooSmall()

    def on_resize(self, event: events.Resize) -> None:
        # Below CRAMPED_HEIGHT rows, the headings that only name what is under them make room.
        self.set_class(event.size.height < CRAMPED_HEIGHT, "-cramped")

    def on_mount(self) -> None:
        databases = self.query_one("#databases", DataTable)
        columns = ["table", "database", "total", "inserted", "rejected", "success", "time"]
        # A store that failed and was tried again: how often (a column only then).
        retried = any(t.retries for t in self.summary.tables)
        databases.add_columns(*columns, *(["retries"] if retried else []))
        for t in self.summary.tables:
            cells = [
                Text(t.table),
                Text(t.database),
                Text(f"{t.total:,}", justify="right"),
                Text(f"{t.inserted:,}", justify="right"),
                Text(f"{t.rejected:,}", justify="right"),
                Text(f"{t.success_rate:.1%}", justify="right"),
                Text(f"{t.seconds:.2f} s", justify="right"),
            ]
            if retried:
                cells.append(Text(f"{t.retries:,}", justify="right"))
            databases.add_row(*cells)
        reasons = self.query_one("#reasons", ReasonList)
        if self._chosen not in reasons.choices:
            self._chosen = (None, None)
        self.query_one("#rejected", RejectedList).show(self.rejected.view(*self._chosen))
        self._show_heading()
        # Up and down choose the reason at once, page down and end scroll its records; tab
        # goes to the list, to read it a line at a time.
        reasons.focus()
        reasons.highlighted = reasons.choices.index(self._chosen)
        # In sight once the list has its size (it has none yet).
        self.call_after_refresh(reasons.scroll_to_highlight)

    def action_records(self, scroll: str) -> None:
        getattr(self.query_one("#rejected", RejectedList), f"action_{scroll}")()

    @on(ReasonList.Chosen)
    def _reason_chosen(self, event: ReasonList.Chosen) -> None:
        if (event.table, event.code) == self._chosen:
            return
        self._chosen = (event.table, event.code)
        self.query_one("#rejected", RejectedList).show(self.rejected.view(*self._chosen))
        self._show_heading()

    def show_rejected(self) -> None:
        """More of the rejected records have been found."""
        # Nothing to show before the screen is composed, or while the app shuts down.
        for shown in self.query("#rejected").results(RejectedList):
            shown.grow()
            self._show_heading()

    def _show_heading(self) -> None:
        table, code = self._chosen
        listed = len(self.query_one("#rejected", RejectedList).records)
        if code is None:
            text = f"Rejected records ({self.summary.rejected:,})"
        else:
            text = f"Rejected records of {table} with {code} ({listed:,})"
        if not self.rejected.indexed:
            text += f": {listed:,} found so far"
        self.query_one("#rejected-heading", Static).update(Text(text))
