"""The read-only table browser: the stores (SQLite files, PostgreSQL databases) and their
tables on the left, a page of rows on the right. Every query runs off the screen's thread (on a
SQLite file's reader thread, or over PostgreSQL's asynchronous connection), so the screen stays
responsive while one runs, and escape interrupts it.

While anything writes to a store (a run, or another program), its reader's version changes; the
browser looks once a second and then shows the new counts and the current page again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static, Tree
from textual.widgets.tree import TreeNode

from tui_insert.core.browse import (
    Browsable,
    BrowseError,
    Filter,
    Move,
    Page,
    Query,
    QueryCancelled,
    Sort,
    TableInfo,
    TableView,
    Version,
    cell,
    parse_filter,
    position_text,
)
from tui_insert.core.rules import visible
from tui_insert.ui.too_small import TooSmall

CHECK_SECONDS = 1.0  # how often the browser looks for changes in the stores
BUSY_AFTER_SECONDS = 0.25  # a query that takes longer says so (and that escape cancels it)
_CELL_STYLES = {"null": "italic dim", "blob": "dim", "number": "", "text": ""}

Place = tuple[int, str | None, str]  # a table: (which database, its schema, its name)


def _filter_text(filter_: Filter | None) -> str:
    """What the user would type to get `filter_` again."""
    if filter_ is None:
        return ""
    value = "null" if filter_.value is None else str(filter_.value)
    op = "" if filter_.op == "contains" else f"{filter_.op} "
    typed = f"{op}{value}"
    if parse_filter(filter_.column, typed) == filter_:
        return typed
    return f'{op}"{value}"'  # text that would read as something else: "> 5", = "7"


class BrowserScreen(Screen[None]):
    CSS_PATH = Path(__file__).with_name("browser_screen.tcss")
    TITLE = "tui-insert browser"
    BINDINGS = [
        # The four page keys share one place in the footer, which has 80 columns for all.
        Binding("n", "page('next')", "Page", key_display="n/p/g/G"),
        Binding("p", "page('previous')", "Previous page", show=False),
        Binding("g", "page('first')", "First page", show=False),
        Binding("G", "page('last')", "Last page", show=False),
        Binding("o", "sort", "Sort"),
        Binding("f", "filter", "Filter"),
        Binding("f5", "refresh", "Refresh", show=False),  # it refreshes by itself anyway
        # Escape closes the filter field or cancels a query first; then, in the app, it
        # goes back to the panels (as b does). Only the one that applies shows.
        Binding("escape", "cancel", "Cancel"),
        Binding("escape,b", "back", "Back"),
    ]

    def __init__(self, stores: Sequence[Browsable], *, closable: bool = True) -> None:
        super().__init__()
        self.stores = list(stores)
        self.readers = [store.browser() for store in stores]
        self.closable = closable  # in the app, escape goes back to the panels
        self.view: TableView | None = None
        self.view_database: int | None = None  # which reader the view reads
        self._view_title = ""  # the table the view shows, as the list names it
        # Per database, its reader's version when last listed.
        self._versions: dict[int, Version] = {}
        self._listed: dict[int, list[TableInfo]] = {}
        self._tree: Tree[Place | None] = Tree("Databases", id="browser-databases")
        self._title = Static("", id="browser-title", markup=False)
        self._table: DataTable[Text] = DataTable(
            id="browser-rows", cursor_type="cell", zebra_stripes=True
        )
        self._filter = Input(id="browser-filter", classes="hidden")
        self._filter_column = ""
        self._position = Static("", id="browser-position", markup=False)
        self._status = Static("", id="browser-status", classes="status-line", markup=False)
        self._job = 0  # counts queries started; only the newest one reports
        self._query_running: int | None = None  # the query running now
        self._in_background = False  # it is the check for changes, not the user's

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="browser"):
            yield self._tree
            with Vertical(id="browser-table"):
                yield self._title
                yield self._table
                yield self._filter
                yield self._position
        yield self._status
        yield Footer(show_command_palette=False)  # room for the keys at 80 columns
        yield TooSmall()

    def on_mount(self) -> None:
        self._tree.show_root = False
        for index in range(len(self.readers)):
            self._tree.root.add(self._database_label(index), data=None, expand=True)
        self._start(self._list_databases, "reading the databases")
        self.set_interval(CHECK_SECONDS, self._check_for_changes)

    async def on_unmount(self) -> None:
        await self.release()

    async def release(self) -> None:
        """Close every connection (before the databases are emptied, and when leaving); the
        next check opens them again."""
        for reader in self.readers:
            await reader.interrupt()
            await reader.close()
        self._versions.clear()

    # -- running queries ----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A query is running."""
        return self._query_running is not None

    def _start(
        self, job: Callable[[], Awaitable[None]], what: str, *, background: bool = False
    ) -> None:
        """Run `job` as the screen's one query: a newer one interrupts it. A background job
        (the check for changes) leaves the status line alone unless it fails."""
        interrupt_first = self.busy
        self._job += 1
        number = self._job
        self._query_running = number
        self._in_background = background
        self.refresh_bindings()  # escape now cancels it (unless it is the background check)

        async def run() -> None:
            try:
                if interrupt_first:  # the query this one replaces
                    await self._interrupt()
                for reader in self.readers:
                    reader.resume()
                await job()
                if number == self._job and not background:
                    self.set_status("")
            except QueryCancelled:
                if number == self._job:
                    self.set_status("Cancelled.")
            except BrowseError as e:
                if number == self._job:
                    self.set_status(str(e), error=True)
            except Exception as e:  # noqa: BLE001 - shown; the browser stays usable
                self.set_status(f"Unexpected error: {type(e).__name__}: {e}", error=True)
            finally:
                if self._query_running == number:
                    self._query_running = None
                    self.refresh_bindings()

        def say_busy() -> None:
            if self._query_running == number:
                self.set_status(f"{what.capitalize()}… (escape cancels)")

        if not background:
            self.set_timer(BUSY_AFTER_SECONDS, say_busy)
        self.run_worker(
            run(), group="browse", exclusive=True, description=what, exit_on_error=False
        )

    async def _interrupt(self) -> None:
        for reader in self.readers:
            await reader.interrupt()

    def set_status(self, text: str, *, error: bool = False) -> None:
        self._status.update(visible(text))  # messages may quote names from the file
        self._status.set_class(error, "error")

    # -- the databases and their tables -------------------------------------------------------

    def _database_label(self, index: int) -> Text:
        label = visible(self.stores[index].label)
        if len(label) > 40:
            label = "…" + label[-39:]  # the end of a long path says more than its start
        return Text(label, style="bold")

    async def _list_databases(self, only_changed: bool = False) -> None:
        """Read which tables each database holds and their row counts (with `only_changed`,
        of the databases written since); if the table on show changed, show its page again."""
        view_changed = False
        failed: BrowseError | None = None  # opening the first table
        for index, reader in enumerate(self.readers):
            node = self._tree.root.children[index]
            try:
                version = await reader.version()  # opens the file, if need be
                if only_changed and self._versions.get(index) == version:
                    continue
                tables = await reader.tables()
                self._versions[index] = version
            except QueryCancelled:
                raise
            except BrowseError as e:
                self._versions.pop(index, None)
                await reader.close()
                self._show_listing(index, node, [], e.reason)
                continue
            self._show_listing(index, node, tables, None)
            view_changed = view_changed or self.view_database == index
            first = next((t for t in tables if t.readable), None)
            if self.view is None and first is not None:  # at the start: rows, then the rest
                try:
                    await self._open_table(index, first)
                except QueryCancelled:
                    raise
                except BrowseError as e:  # said once every store is listed
                    failed = failed or e
                view_changed = False
        if self.view is not None and view_changed:
            self._show_page(await self.view.go("reload"))
        if failed is not None:
            raise failed

    def _show_listing(
        self, index: int, node: TreeNode[Place | None], tables: list[TableInfo], error: str | None
    ) -> None:
        node.set_label(self._database_label(index))
        old = self._listed.get(index)
        self._listed[index] = tables
        if error is None and old and [_place(t) for t in old] == [_place(t) for t in tables]:
            for child, table in zip(node.children, tables, strict=True):
                child.set_label(self._table_label(table))
            return
        node.remove_children()
        for table in tables:
            node.add_leaf(self._table_label(table), data=(index, *_place(table)))
        if error is not None:  # on a line of its own: the whole reason, however long the path
            node.add_leaf(Text(visible(error, 200), style="bold red"), data=None)
        elif not tables:
            node.add_leaf(Text("no tables", style="dim italic"), data=None)

    @staticmethod
    def _table_label(table: TableInfo) -> Text:
        label = Text(visible(table.title, 24))
        if table.kind == "view":
            size = "view"
        elif not table.readable or table.rows is None:
            size = "not readable"  # this user may not read it
        else:
            size = f"{table.rows:,} row{'' if table.rows == 1 else 's'}"
        label.append(f"  {size}", style="dim")
        return label

    @on(Tree.NodeSelected)
    def _table_chosen(self, event: Tree.NodeSelected[Place | None]) -> None:
        place = event.node.data
        if place is None:
            return
        index, *where = place
        listed = self._listed.get(index, [])
        table = next((t for t in listed if list(_place(t)) == where), None)
        if table is not None:
            self._start(lambda: self._open_table(index, table), f"opening {table.title}")

    async def _open_table(self, index: int, table: TableInfo) -> None:
        view = await TableView.open(self.readers[index], table)
        page = await view.go("first")
        self.view, self.view_database, self._view_title = view, index, table.title
        self._show_page(page, row=0, column=0, columns=True)
        self._table.focus()  # the rows are what one came for; tab goes back to the list

    # -- the page of rows ---------------------------------------------------------------------

    def _show_page(
        self,
        page: Page,
        *,
        row: int | None = None,
        column: int | None = None,
        columns: bool = False,
    ) -> None:
        """Show `page` with the cursor on `row` (-1: the last; None: where it was) and
        `column` (None: where it was); with `columns`, set up the columns first."""
        assert self.view is not None and self.view_database is not None
        table, query = self._table, self.view.query
        row = table.cursor_row if row is None else row
        column = table.cursor_column if column is None else column
        with self.app.batch_update():
            if columns:
                self._show_columns()
            table.clear()
            table.add_rows([[_cell_text(value) for value in values] for values in page.rows])
            if page.rows:
                last_row = len(page.rows) - 1
                table.move_cursor(
                    row=last_row if row < 0 else min(row, last_row),
                    column=min(column, max(len(query.columns) - 1, 0)),
                    animate=False,
                )
            self._position.update(self._position_text(page))

    def _show_columns(self) -> None:
        assert self.view is not None and self.view_database is not None
        query = self.view.query
        database = self.stores[self.view_database].name
        self._title.update(
            f"{visible(database, 40)} › {visible(self._view_title, 60)}"
            f" · {len(query.columns)} column{'' if len(query.columns) == 1 else 's'}"
        )
        self._table.clear(columns=True)
        for column in query.columns:
            label = Text(visible(column.name, 30), style="bold")
            if query.sort is not None and query.sort.column == column.name:
                label.append(" ▼" if query.sort.descending else " ▲")
            if query.filter_for(column.name) is not None:
                label.append(" ≈")
            self._table.add_column(label)

    def _position_text(self, page: Page) -> str:
        assert self.view is not None
        query = self.view.query
        parts = [position_text(page, self.view.table_rows)]
        if query.sort is not None:
            order = "descending" if query.sort.descending else "ascending"
            parts.append(f"sorted by {visible(query.sort.column, 30)}, {order}")
        parts.extend(f"filter: {f.describe()}" for f in query.filters)
        return " · ".join(parts)

    def _current_column(self) -> str | None:
        if self.view is None or not self.view.query.columns:
            return None
        index = min(self._table.cursor_column, len(self.view.query.columns) - 1)
        return self.view.query.columns[index].name

    # -- keys -----------------------------------------------------------------------------------

    def action_page(self, move: Move) -> None:
        view = self.view
        if view is None:
            return
        row = -1 if move in ("previous", "last") else 0

        async def job() -> None:
            self._show_page(await view.go(move), row=row)

        self._start(job, f"{move} page")

    def action_sort(self) -> None:
        column = self._current_column()
        if column is not None:
            self._sort_by(column)

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        if self.view is not None:
            self._sort_by(self.view.query.columns[event.column_index].name)

    def _sort_by(self, column: str) -> None:
        """Ascending, then descending, then the table's own order again."""
        assert self.view is not None
        sort = self.view.query.sort
        if sort is None or sort.column != column:
            new: Sort | None = Sort(column)
        elif not sort.descending:
            new = Sort(column, descending=True)
        else:
            new = None
        self._change_query(self.view.query.sorted_by(new), f"sorting by {column}")

    def _change_query(self, query: Query, what: str) -> None:
        view = self.view
        assert view is not None

        async def job() -> None:
            page = await view.go("first", query)
            self._show_page(page, row=0, columns=True)

        self._start(job, what)

    def action_filter(self) -> None:
        column = self._current_column()
        if column is None or self.view is None:
            return
        self._filter_column = column
        self._filter.placeholder = (
            f"Filter {visible(column, 30)}: text it contains, or > 10, <= 2.5, = abc,"
            " != null. Empty: no filter. Enter applies, escape closes."
        )
        self._filter.value = _filter_text(self.view.query.filter_for(column))
        self._filter.remove_class("hidden")
        self._filter.focus()
        self.refresh_bindings()

    @on(Input.Submitted, "#browser-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if self.view is None:
            return
        try:
            new = parse_filter(self._filter_column, event.value)
        except ValueError as e:
            self.set_status(str(e), error=True)
            return
        refusal = self.view.refusal(new) if new is not None else None
        if refusal:  # a comparison with a number on a column of text, say
            self.set_status(refusal, error=True)
            return
        self._close_filter()
        query = self.view.query.filtered(self._filter_column, new)
        self._change_query(query, f"filtering {self._filter_column}")

    def _close_filter(self) -> None:
        self._filter.add_class("hidden")
        if self._status.has_class("error"):  # what was wrong with the filter typed
            self.set_status("")
        self._table.focus()
        self.refresh_bindings()

    def action_refresh(self) -> None:
        self.read_again()

    def read_again(self) -> None:
        """Read every database's list of tables and the page on show again."""
        self._start(self._list_databases, "refreshing")

    def _check_for_changes(self) -> None:
        """Once a second, unless a query is running: show what was written since."""
        if not self.busy:
            check = partial(self._list_databases, only_changed=True)
            self._start(check, "refreshing", background=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self._cancellable
        if action == "back":
            return self.closable and not self._cancellable
        return True

    @property
    def _cancellable(self) -> bool:
        """Escape has something to cancel: the filter field, or the user's query."""
        return not self._filter.has_class("hidden") or (self.busy and not self._in_background)

    async def action_cancel(self) -> None:
        if not self._filter.has_class("hidden"):
            self._close_filter()
        elif self.busy and not self._in_background:
            await self._interrupt()

    def action_back(self) -> None:
        self.dismiss()  # (a check for changes in progress ends with the screen)


def _place(table: TableInfo) -> tuple[str | None, str]:
    return (table.schema, table.name)


def _cell_text(value: object) -> Text:
    shown = cell(value)
    return Text(
        shown.text,
        style=_CELL_STYLES[shown.kind],
        justify="right" if shown.kind == "number" else "left",
        no_wrap=True,
    )
