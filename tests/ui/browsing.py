"""Reading the browser's screen in UI tests: what the list, the title, the rows and the
position line show, once its query is done."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import DataTable, Static, Tree

from tests.ui.polling import until, workers_done
from tui_insert.ui.browser_screen import BrowserScreen


async def quiet(pilot: Pilot[int]) -> BrowserScreen:
    """The browser, once its query (and the app's other work) is done and shown."""
    screen = pilot.app.screen
    assert isinstance(screen, BrowserScreen)
    await until(pilot, lambda: not screen.busy, "ended its query")
    await workers_done(pilot)
    return screen


def text_of(screen: BrowserScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def shown_rows(screen: BrowserScreen) -> list[list[str]]:
    table = screen.query_one("#browser-rows", DataTable)
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


def column_labels(screen: BrowserScreen) -> list[str]:
    table = screen.query_one("#browser-rows", DataTable)
    return [column.label.plain for column in table.columns.values()]


def tree_lines(screen: BrowserScreen) -> list[str]:
    tree: Tree = screen.query_one("#browser-databases", Tree)
    lines = []
    for database in tree.root.children:
        lines.append(database.label.plain)
        lines.extend("  " + table.label.plain for table in database.children)
    return lines
