"""`tui-insert browse`: the table browser on its own, for any SQLite files and PostgreSQL
databases."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import App
from textual.binding import Binding

from tui_insert.core.browse import Browsable
from tui_insert.ui import too_small
from tui_insert.ui.browser_screen import BrowserScreen


class BrowserApp(App[int]):
    TITLE = "tui-insert browse"
    # The app's first screen does not load its own CSS_PATH (Textual 8.2), so the app does.
    CSS_PATH = [too_small.SCREENS_CSS, BrowserScreen.CSS_PATH]
    HORIZONTAL_BREAKPOINTS = too_small.HORIZONTAL_BREAKPOINTS
    VERTICAL_BREAKPOINTS = too_small.VERTICAL_BREAKPOINTS
    BINDINGS = [Binding("q", "quit", "Quit")]

    def __init__(self, stores: Sequence[Browsable]) -> None:
        super().__init__()
        self.stores = stores

    def get_default_screen(self) -> BrowserScreen:
        return BrowserScreen(self.stores, closable=False)


def make_browser_app(stores: Sequence[Browsable]) -> BrowserApp:
    """The browser app, as the command line and the tests build it: one store a target
    (`stores.SqliteTarget`, `stores.postgres.PostgresTarget`)."""
    return BrowserApp(stores)
