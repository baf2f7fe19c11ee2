"""SVG snapshots of every screen after the sample run, with the clock frozen (rates and times
show as — and 0.00 s) so that they are the same on every run: at 80×24, the most common
terminal, and at 200×50; and the message below the smallest usable size. Update them only
after looking: `pytest tests/ui/test_snapshots.py --snapshot-update`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.app import App
from textual.pilot import Pilot

from tests.ui.browsing import quiet
from tests.ui.test_app import settle
from tests.ui.test_browser import odd_db
from tui_insert.core.engine import TableProgress
from tui_insert.core.jsonio import dumps
from tui_insert.core.node import HeldBack
from tui_insert.core.rejected import RejectedRecords
from tui_insert.core.report import RunSummary, TableSummary, reject_entry
from tui_insert.core.rules import Reason
from tui_insert.core.sources import find_sources
from tui_insert.core.stores.sqlite import SqliteTarget
from tui_insert.ui import too_small
from tui_insert.ui.app import TuiInsertApp, make_app
from tui_insert.ui.browser_app import make_browser_app
from tui_insert.ui.database_panel import DatabasePanel
from tui_insert.ui.main_screen import MainScreen
from tui_insert.ui.run_settings import RunSettings
from tui_insert.ui.summary_screen import SummaryScreen

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((200, 50), id="200x50")]


@pytest.fixture
def frozen_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TuiInsertApp:
    monkeypatch.chdir(tmp_path)  # the header names the database folder as given: "db"
    settings = RunSettings(find_sources(None), Path("db"), latency=0.0)
    return make_app(settings, clock=lambda: 0.0)


async def close_summary(pilot: Pilot[int]) -> None:
    await settle(pilot)
    await pilot.press("s")


@pytest.mark.parametrize("size", SIZES)
class TestSnapshots:
    def test_summary_after_the_sample_run(
        self, snap_compare, frozen_app: TuiInsertApp, size: tuple[int, int]
    ) -> None:
        assert snap_compare(frozen_app, terminal_size=size, run_before=settle)

    def test_panels_after_the_sample_run(
        self, snap_compare, frozen_app: TuiInsertApp, size: tuple[int, int]
    ) -> None:
        assert snap_compare(frozen_app, terminal_size=size, run_before=close_summary)

    def test_reset_question(
        self, snap_compare, frozen_app: TuiInsertApp, size: tuple[int, int]
    ) -> None:
        async def ask(pilot: Pilot[int]) -> None:
            await close_summary(pilot)
            await pilot.press("x")
            await pilot.wait_for_scheduled_animations()
            await pilot.pause()

        assert snap_compare(frozen_app, terminal_size=size, run_before=ask)

    def test_browser_in_the_app(
        self, snap_compare, frozen_app: TuiInsertApp, size: tuple[int, int]
    ) -> None:
        async def browse(pilot: Pilot[int]) -> None:
            await close_summary(pilot)
            await pilot.press("b")
            await quiet(pilot)

        assert snap_compare(frozen_app, terminal_size=size, run_before=browse)


@pytest.mark.parametrize("size", SIZES)
class TestBrowserSnapshots:
    def test_odd_names_and_values(
        self,
        snap_compare,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        size: tuple[int, int],
    ) -> None:
        """Markup-like and escape-holding names and values, NULLs, BLOBs and floats."""
        monkeypatch.chdir(tmp_path)  # the list names the file as given
        path = odd_db(tmp_path)
        app = make_browser_app([SqliteTarget(Path(path.name)), SqliteTarget(Path("missing.db"))])

        async def sorted_by_the_second_column(pilot: Pilot[int]) -> None:
            await quiet(pilot)
            await pilot.press("right", "o")
            await quiet(pilot)

        assert snap_compare(app, terminal_size=size, run_before=sorted_by_the_second_column)


def mid_run() -> dict[str, TableProgress]:
    """The three tables as a 1M run stands after 6 s: users running, products done, orders
    waiting for users (the figures of a real run's, fixed)."""
    users = TableProgress("users", "users.db", total=1_000_000, clock=lambda: 6.0)
    users.processed, users.inserted, users.rejected = 600_000, 570_018, 29_982
    users.recent.extend(
        [(599_998, 562_061, None), (599_999, 562_062, [Reason("email", "invalid_email", "x")])]
    )
    products = TableProgress("products", "products.db", total=1_000_000, done=True)
    products.processed, products.inserted, products.rejected = 1_000_000, 950_000, 50_000
    orders = TableProgress("orders", "orders.db", total=1_000_000)
    orders.held = HeldBack(
        4_917, {"users": 3_956, "products": 0}, {"users": 570_018, "products": 950_000}
    )
    return {"users": users, "products": products, "orders": orders}


class PanelsApp(App[None]):
    """The main screen alone, showing the given figures: a state of a run, exactly."""

    CSS_PATH = TuiInsertApp.CSS_PATH
    TITLE = "tui-insert"

    def __init__(self, theme: str) -> None:
        super().__init__()
        self.theme = theme
        self.main = MainScreen({name: f"{name}.db" for name in ("users", "products", "orders")})

    def get_default_screen(self) -> MainScreen:
        return self.main


async def show_mid_run(pilot: Pilot[None]) -> None:
    progress = mid_run()
    # Six seconds of a run: the rate of each whole second, as the panels sample it.
    per_second = {"users": 100_000, "products": 170_000, "orders": 0}
    app = pilot.app
    assert isinstance(app, PanelsApp)
    await pilot.pause()  # the screen composed
    for panel in app.main.query(DatabasePanel):
        figures = progress[panel.table]
        done = figures.processed
        for second in range(1, 7):
            figures.processed = min(per_second[panel.table] * second, done) if done else 0
            panel.show(figures, float(second))
        figures.processed = done
        panel.show(figures, 6.0)
    app.main.set_status("Running: 1 worker per database, no latency")
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
class TestPanelsMidRun:
    def test_users_running_products_done_orders_waiting(
        self, snap_compare, size: tuple[int, int], theme: str
    ) -> None:
        assert snap_compare(PanelsApp(theme), terminal_size=size, run_before=show_mid_run)


def twenty_thousand_records_a_table() -> RunSummary:
    """A run's figures as a real one had them, fixed: products done first, users next, and
    orders waiting for their users for 4 s, then deciding their records until the end."""

    def steady(start: float, end: float, total: int) -> tuple[tuple[float, int], ...]:
        steps = int((end - start) / 0.05)
        return ((0.0, 0),) + tuple((start + i * 0.05, total * i // steps) for i in range(steps + 1))

    n = 20_000
    tables = [
        TableSummary("users", "users.db", n, 18_999, 1_001, 4.21, timeline=steady(0.75, 4.2, n)),
        TableSummary("products", "products.db", n, 19_000, 1_000, 3.02, timeline=steady(0.7, 3, n)),
        TableSummary("orders", "orders.db", n, 18_006, 1_994, 7.04, timeline=steady(4.3, 7.0, n)),
    ]
    reasons = [
        ("users", "invalid_email", 400),
        ("users", "invalid_id", 175),
        ("users", "missing_field", 150),
        ("users", "invalid_record", 150),
        ("users", "duplicate_email", 76),
        ("users", "invalid_name", 50),
        ("products", "invalid_price", 313),
        ("products", "invalid_id", 250),
        ("products", "invalid_record", 188),
        ("products", "missing_field", 187),
        ("products", "invalid_name", 62),
        ("orders", "unknown_user", 1_001),
        ("orders", "unknown_product", 844),
        ("orders", "invalid_quantity", 149),
    ]
    return RunSummary("completed", 7.04, tables, reasons)


def spooled_rejects(folder: Path, summary: RunSummary) -> RejectedRecords:
    """The rejected records of the summary's reasons, as a run's spool holds them, indexed."""
    files = {}
    for table in ("users", "products", "orders"):
        path = folder / f"{table}.rejects"
        # Each code's records spread over the table, as many as the summary says.
        left = {code: count for name, code, count in summary.reasons if name == table}
        lines = []
        while left:
            for code in list(left):
                lines.append((code, 19 * len(lines) + 3))
                left[code] -= 1
                if not left[code]:
                    del left[code]
        with path.open("wb") as f:
            for code, position in lines:
                record = {"id": position, "name": f"[b]{code}[/b]", "email": "a@b.co"}
                why = [Reason("field", code, f"why {code} of record {position}")]
                f.write(dumps(reject_entry(table, position, record, why)) + b"\n")
        files[table] = os.open(path, os.O_RDONLY)
    records = RejectedRecords(files)
    for _ in records.index():
        pass
    return records


class SummaryApp(App[None]):
    """The summary screen alone, of the given figures and rejected records."""

    CSS_PATH = too_small.SCREENS_CSS
    HORIZONTAL_BREAKPOINTS = too_small.HORIZONTAL_BREAKPOINTS
    VERTICAL_BREAKPOINTS = too_small.VERTICAL_BREAKPOINTS

    def __init__(self, theme: str, summary: RunSummary, rejected: RejectedRecords) -> None:
        super().__init__()
        self.theme = theme
        self.summary, self.rejected = summary, rejected

    def on_mount(self) -> None:
        self.push_screen(SummaryScreen(self.summary, self.rejected))


@pytest.fixture
def summary_app(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SummaryApp]:
    summary = twenty_thousand_records_a_table()
    rejected = spooled_rejects(tmp_path, summary)
    yield SummaryApp(request.getfixturevalue("theme"), summary, rejected)
    rejected.close()


async def composed(pilot: Pilot[None]) -> None:
    await pilot.pause()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
class TestSummary:
    def test_twenty_thousand_records_a_table(
        self, snap_compare, summary_app: SummaryApp, size: tuple[int, int], theme: str
    ) -> None:
        assert snap_compare(summary_app, terminal_size=size, run_before=composed)

    def test_a_reason_chosen_lists_its_records(
        self, snap_compare, summary_app: SummaryApp, size: tuple[int, int], theme: str
    ) -> None:
        async def choose(pilot: Pilot[None]) -> None:
            await composed(pilot)
            await pilot.press("down", "down")  # users' invalid_id
            await pilot.pause()

        assert snap_compare(summary_app, terminal_size=size, run_before=choose)


class TestTooSmall:
    def test_the_panels_ask_for_a_larger_terminal(
        self, snap_compare, frozen_app: TuiInsertApp
    ) -> None:
        assert snap_compare(frozen_app, terminal_size=(59, 24), run_before=close_summary)

    def test_the_summary_asks_for_a_larger_terminal(
        self, snap_compare, frozen_app: TuiInsertApp
    ) -> None:
        assert snap_compare(frozen_app, terminal_size=(80, 17), run_before=settle)

    def test_the_browser_asks_for_a_larger_terminal(self, snap_compare, tmp_path: Path) -> None:
        app = make_browser_app([SqliteTarget(odd_db(tmp_path))])
        assert snap_compare(app, terminal_size=(40, 10), run_before=quiet)
