"""A database panel on its own: the total while it is an estimate, outcomes that wrap."""

from __future__ import annotations

from pathlib import Path

from rich.style import Style
from textual.app import App, ComposeResult
from textual.color import Color
from textual.geometry import Region
from textual.widgets import Sparkline

from tui_insert.core.engine import TableProgress
from tui_insert.core.node import HeldBack
from tui_insert.core.rules import Reason
from tui_insert.ui.database_panel import DatabasePanel
from tui_insert.ui.recent_outcomes import RecentOutcomes


class OnePanel(App[None]):
    CSS_PATH = Path(__file__).parents[2] / "tui_insert" / "ui" / "main_screen.tcss"

    def compose(self) -> ComposeResult:
        yield DatabasePanel("users", "users.db")


def counts(app: App[None]) -> str:
    return str(app.query_one("#counts").render())


async def test_the_total_is_about_while_it_is_an_estimate_and_never_below_processed() -> None:
    app = OnePanel()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(DatabasePanel)
        progress = TableProgress("users", Path("users.db"), total=200_000, estimated=True)
        progress.processed, progress.inserted = 1_234, 1_200
        panel.show(progress, 1.0)
        await pilot.pause()
        assert counts(app).splitlines()[0] == "1,234 of about 200,000"
        # More processed than the estimate said: the total shown follows.
        progress.processed = progress.inserted = 250_000
        panel.show(progress, 2.0)
        await pilot.pause()
        assert counts(app).splitlines()[0] == "250,000 of about 250,000"
        progress.estimated, progress.total = False, 250_000
        panel.show(progress, 2.0)
        await pilot.pause()
        assert counts(app).splitlines()[0] == "250,000 of 250,000"


async def test_a_narrow_panel_says_about_with_a_sign() -> None:
    app = OnePanel()
    async with app.run_test(size=(24, 24)) as pilot:
        panel = app.query_one(DatabasePanel)
        progress = TableProgress("users", Path("users.db"), total=2_000_000, estimated=True)
        progress.processed = 1_000_000
        panel.show(progress, 1.0)
        await pilot.pause()
        assert counts(app).splitlines()[0] == "1,000,000 of ≈2,000,000"


async def test_outcome_lines_wrap_and_keep_every_reason() -> None:
    app = OnePanel()
    async with app.run_test(size=(26, 24)) as pilot:
        panel = app.query_one(DatabasePanel)
        progress = TableProgress("users", Path("users.db"), total=10)
        reasons = [
            Reason("user_id", "unknown_user", ""),
            Reason("product_id", "unknown_product", ""),
        ]
        progress.recent.extend([(9, 9, None), (10, 10, reasons)])
        progress.processed = 10
        panel.show(progress, 1.0)
        await pilot.pause()
        recent = panel.query_one(RecentOutcomes)
        width, height = recent.size
        strips = recent.render_lines(Region(0, 0, width, height))
        shown = [strip.text.rstrip() for strip in strips if strip.text.strip()]
        assert shown == [
            "#9 id=9 inserted",
            "#10 id=10 rejected",
            "unknown_user,",
            "unknown_product",
        ]


class OrdersPanel(App[None]):
    CSS_PATH = OnePanel.CSS_PATH

    def compose(self) -> ComposeResult:
        yield DatabasePanel("orders", "orders.db")


def text_of(app: App[None], selector: str) -> str:
    return str(app.query_one(selector).render())


async def test_the_rate_the_time_left_and_a_bar_a_second() -> None:
    app = OnePanel()
    async with app.run_test(size=(120, 24)) as pilot:
        panel = app.query_one(DatabasePanel)
        progress = TableProgress("users", Path("users.db"), total=1_000)
        for seconds, processed in ((1.0, 100), (2.0, 300), (3.0, 600)):
            progress.processed = processed
            panel.show(progress, seconds)
        await pilot.pause()
        rates = app.query_one("#rates", Sparkline)
        assert list(rates.data or [])[-3:] == [100, 200, 300]
        assert set(list(rates.data or [])[:-3]) == {0}  # the seconds before the run
        # 200 a second over the run; 250 over its last seconds: 400 left take 2 s.
        assert text_of(app, "#rate") == "200 records/s · 2 s left"
        # Seconds that passed between two refreshes share what was processed in them.
        progress.processed = 1_000
        progress.done = True
        panel.show(progress, 5.0)
        await pilot.pause()
        assert list(rates.data or [])[-5:] == [100, 200, 300, 200, 200]
        assert text_of(app, "#rate") == "200 records/s"  # done: no time left to tell
        assert panel.has_class("-done")


async def test_orders_say_what_they_wait_for_and_what_has_reached_them() -> None:
    app = OrdersPanel()
    async with app.run_test(size=(160, 24)) as pilot:
        panel = app.query_one(DatabasePanel)
        progress = TableProgress("orders", Path("orders.db"), total=1_000_000)
        progress.held = HeldBack(1_204, {"users": 311, "products": 2}, {"users": 412_000})
        panel.show(progress, 1.0)
        await pilot.pause()
        assert text_of(app, "#held") == "1,204 orders wait for 311 users, 2 products"
        assert text_of(app, "#flow") == "ids in: 412,000 users"
        assert panel.has_class("-held") and not panel.has_class("-running")
        progress.held = HeldBack(1, {"users": 1, "products": 0}, {"users": 999_999})
        panel.show(progress, 2.0)
        await pilot.pause()
        assert text_of(app, "#held") == "1 order waits for 1 user"
        progress.held = HeldBack(0, {"users": 0, "products": 0}, {"users": 1_000_000})
        progress.processed = 10_000
        panel.show(progress, 3.0)
        await pilot.pause()
        assert not app.query_one("#held").display
        assert text_of(app, "#flow") == "ids in: 1,000,000 users"
        assert panel.has_class("-running") and not panel.has_class("-held")


async def test_outcomes_take_their_colours_from_the_theme() -> None:
    app = OnePanel()
    async with app.run_test(size=(80, 24)) as pilot:
        recent = app.query_one(RecentOutcomes)
        recent.add(["#1 id=1 inserted", "#2 id=2 rejected duplicate_id, invalid_name"])
        await pilot.pause()
        for theme in ("textual-dark", "textual-light"):
            app.theme = theme
            await pilot.pause()
            colours = app.theme_variables
            width, height = recent.size
            strips = recent.render_lines(Region(0, 0, width, height))
            spans = {seg.text.strip(): seg.style for strip in strips for seg in strip}
            expected = {
                "inserted": colours["text-success"],
                "rejected": colours["text-error"],
                "duplicate_id, invalid_name": colours["text-warning"],
            }
            for words, colour in expected.items():
                style = spans[words]
                assert isinstance(style, Style) and style.color is not None, words
                assert style.color.triplet is not None
                assert style.color.triplet.hex == Color.parse(colour).hex.lower()[:7], words
