"""The app's main screen: one live panel per database side by side, and the status line."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tui_insert.core.engine import Run
from tui_insert.core.tables import TABLES
from tui_insert.core.waiting import Wait
from tui_insert.ui.database_panel import DatabasePanel
from tui_insert.ui.outcome_text import wait_line
from tui_insert.ui.too_small import TooSmall


class MainScreen(Screen[None]):
    CSS_PATH = Path(__file__).with_name("main_screen.tcss")

    def __init__(self, stores: dict[str, str], servers: frozenset[str] = frozenset()) -> None:
        """`stores`: each table's store, as panels name it; `servers`: the tables whose store
        is a database server (not a file)."""
        super().__init__()
        # Kept, not queried: a run's news may arrive while the app shuts down.
        self._panels = [
            DatabasePanel(name, stores[name], server=name in servers) for name in TABLES
        ]
        self._status = Static("", id="status", classes="status-line", markup=False)
        self._status_text = ""

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panels"):
            yield from self._panels
        yield self._status
        yield Footer(show_command_palette=False)  # room for the keys at 80 columns
        yield TooSmall()

    def on_resize(self, event: events.Resize) -> None:
        # Three equal panels: the columns a third cannot hold are left as margins.
        width = event.size.width // len(self._panels)
        for panel in self._panels:
            panel.styles.width = width

    def show_run(self, run: Run) -> None:
        with self.app.batch_update():
            for panel in self._panels:
                progress = run.progress[panel.table]
                panel.show(progress, progress.elapsed)

    def clear_panels(self, message: str = "waiting") -> None:
        for panel in self._panels:
            panel.clear(message)

    def show_stored(self, table: str, text: str) -> None:
        """Before any run: what the table's store holds."""
        for panel in self._panels:
            if panel.table == table:
                panel.clear(text)

    def set_status(self, text: str, *, error: bool = False) -> None:
        self._status_text = text
        self._status.update(text)
        self._status.set_class(error, "error")

    def show_wait(self, wait: Wait) -> None:
        """A wait for a lock while preparing or resetting, after the status it holds up."""
        text = self._status_text
        if not wait.over:
            text = f"{text} — {wait_line(wait)}"
        self._status.update(text)
