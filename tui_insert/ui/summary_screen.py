"""The summary of a finished run: per database figures, reasons by code, every rejected record."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Log, Static

from tui_insert.core.report import RunSummary
from tui_insert.ui.too_small import TooSmall


class SummaryScreen(Screen[None]):
    CSS_PATH = Path(__file__).with_name("summary_screen.tcss")
    BINDINGS = [Binding("s,escape", "app.pop_screen", "Close summary")]

    def __init__(self, summary: RunSummary, rejected: list[str]) -> None:
        """`rejected`: the run's rejected records as lines; the app may still be adding to it
        (see `show_rejected`)."""
        super().__init__()
        self.summary = summary
        self.rejected = rejected
        self._shown = 0

    def compose(self) -> ComposeResult:
        summary = self.summary
        yield Static(
            f"Run {summary.state} in {summary.seconds:.2f} s", id="summary-title", markup=False
        )
        with Container(id="summary-figures"):  # side by side on wide screens
            with Vertical():
                yield Static("Databases", classes="heading", markup=False)
                yield DataTable(id="databases", cursor_type="row", zebra_stripes=True)
            with Vertical():
                yield Static("Rejections by reason", classes="heading", markup=False)
                yield DataTable(id="reasons", cursor_type="row", zebra_stripes=True)
        yield Static(f"Rejected records ({summary.rejected:,})", classes="heading", markup=False)
        yield Log(id="rejected")
        yield Footer(show_command_palette=False)  # room for the keys at 80 columns
        yield TooSmall()

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
        reasons = self.query_one("#reasons", DataTable)
        reasons.add_columns("table", "reason", "records")
        for table, code, count in self.summary.reasons:
            reasons.add_row(Text(table), Text(code), Text(f"{count:,}", justify="right"))
        self.show_rejected()
        # The list takes the keys (end, page down...) at once; tab goes to the tables.
        self.query_one("#rejected", Log).focus()

    def show_rejected(self) -> None:
        """Show the rejected records added since the last call."""
        # Nothing to write to before the screen is composed, or while the app shuts down.
        for log in self.query("#rejected").results(Log):
            log.write_lines(self.rejected[self._shown :], scroll_end=False)
            self._shown = len(self.rejected)
