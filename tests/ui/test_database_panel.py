"""A database panel on its own: the total while it is an estimate, outcomes that wrap."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.geometry import Region

from tui_insert.core.engine import TableProgress
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
