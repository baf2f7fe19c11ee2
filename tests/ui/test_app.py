"""The app driven through Pilot, on small data: panels, summary, keys, text that looks like
markup."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from tests.helpers import count_rows, dump
from tests.ui.polling import until, workers_done
from tui_insert.core.engine import Run
from tui_insert.core.sources import find_sources
from tui_insert.core.storage import prepare_stores
from tui_insert.core.stores import store_targets
from tui_insert.ui.app import TuiInsertApp, make_app
from tui_insert.ui.confirm_screen import ConfirmScreen
from tui_insert.ui.database_panel import DatabasePanel
from tui_insert.ui.reason_list import ReasonList
from tui_insert.ui.recent_outcomes import RecentOutcomes
from tui_insert.ui.rejected_list import RejectedList
from tui_insert.ui.run_charts import RunCharts
from tui_insert.ui.run_settings import RunSettings
from tui_insert.ui.summary_screen import SummaryScreen


def sample_app(db_dir: Path, *, latency: float = 0.0, data: Path | None = None) -> TuiInsertApp:
    return make_app(RunSettings(find_sources(data), db_dir, latency=latency))


async def settle(pilot: Pilot[int]) -> None:
    """Wait until no worker runs (a rerun starts a new one) and their news is shown."""
    await workers_done(pilot)


async def started(pilot: Pilot[int]) -> Run:
    """The app's run, once it has stored its first users (with a latency, it goes on)."""
    run = pilot.app.run_in_progress
    assert run is not None
    # The run's own progress is what we wait for.
    await until(pilot, lambda: run.progress["users"].processed > 0, "stored a user")
    return run


def table_rows(table: DataTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_sample_run_ends_on_the_summary_with_the_exact_counts(db_dir: Path) -> None:
    app = sample_app(db_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        rows = table_rows(app.screen.query_one("#databases", DataTable))
        assert [row[:6] for row in rows] == [
            ["users", "users.db", "10", "8", "2", "80.0%"],
            ["products", "products.db", "10", "9", "1", "90.0%"],
            ["orders", "orders.db", "10", "7", "3", "70.0%"],
        ]
        reasons = app.screen.query_one("#reasons", ReasonList)
        lines = [reasons.render_line(y).text.split() for y in range(7)]
        assert lines[0] == ["every", "rejected", "record", "6"]
        assert [(line[0], line[1], line[3]) for line in lines[1:]] == [
            ("users", "duplicate_email", "1"),
            ("users", "invalid_name", "1"),
            ("products", "invalid_price", "1"),
            ("orders", "unknown_user", "2"),
            ("orders", "invalid_quantity", "2"),
            ("orders", "unknown_product", "1"),
        ]
        # Bars as long as their counts, the longest count's as wide as there is room.
        bars = [len(line[2]) for line in lines[1:]]
        assert bars[3] == bars[4] >= 20 and all(abs(2 * n - bars[3]) <= 1 for n in bars[:3])
        rejected = listed(app)
        assert len(rejected) == 6
        assert rejected[0] == (
            "users #8 id=8  duplicate_email: alice@example.com is already used by user 1"
        )
        # s closes the summary and opens it again.
        await pilot.press("s")
        assert not isinstance(app.screen, SummaryScreen)
        panel = app.query_one("#panel-orders", DatabasePanel)
        assert panel.query_one(RecentOutcomes).lines[-1] == (
            "#10 id=10 rejected unknown_user, unknown_product"
        )
        await pilot.press("s")
        assert isinstance(app.screen, SummaryScreen)


async def test_r_reruns_and_every_accepted_record_is_now_a_duplicate(db_dir: Path) -> None:
    app = sample_app(db_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        summary = app.summary
        assert summary is not None
        assert [t.inserted for t in summary.tables] == [0, 0, 0]
        counts = {(table, code): n for table, code, n in summary.reasons}
        assert counts[("users", "duplicate_id")] == 8
        assert counts[("products", "duplicate_id")] == 9
        assert counts[("orders", "duplicate_id")] == 7
    assert [len(rows) for rows in dump(db_dir).values()] == [8, 9, 7]


async def test_x_resets_after_confirmation(db_dir: Path) -> None:
    app = sample_app(db_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert [len(rows) for rows in dump(db_dir).values()] == [8, 9, 7]
        await pilot.press("x", "y")
        await settle(pilot)
        assert dump(db_dir) == {"users": [], "products": [], "orders": []}
        assert "Databases emptied" in str(app.query_one("#status").render())


async def test_reset_during_a_run_stops_it_first(db_dir: Path) -> None:
    app = sample_app(db_dir, latency=0.3)
    async with app.run_test(size=(160, 40)) as pilot:
        run = await started(pilot)
        await pilot.press("x", "y")
        await settle(pilot)
        assert not any(p.is_alive() for p in run._processes.values())
        assert dump(db_dir) == {"users": [], "products": [], "orders": []}
        assert not isinstance(app.screen, SummaryScreen)


async def test_quit_during_a_run_ends_it_cleanly(db_dir: Path) -> None:
    app = sample_app(db_dir, latency=0.3)
    async with app.run_test(size=(160, 40)) as pilot:
        run = await started(pilot)
        await pilot.press("q")
        await settle(pilot)
    assert app.return_code == 0
    assert not any(p.is_alive() for p in run._processes.values())
    assert run.state == "stopped"
    stored = count_rows(db_dir / "users.db", "users")
    assert 0 < stored < 8


NAMES = ["[bold red]Mallory[/]", "[/]", "[@click=app.quit]x", "Eve\x1b[2J"]


async def test_markup_and_escapes_in_data_show_literally(tmp_path: Path, db_dir: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    users = [{"id": name, "name": name, "email": name} for name in NAMES]
    users.append({"id": 9, "name": NAMES[0], "email": "mallory@example.com"})
    (data / "users.json").write_text(json.dumps(users))
    (data / "products.json").write_text("[]")
    (data / "orders.json").write_text("[]")
    app = sample_app(db_dir, data=data)
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        lines = listed(app)
        assert '"[bold red]Mallory[/]"' in lines[0]
        assert '"[/]"' in lines[1]
        assert '"[@click=app.quit]x"' in lines[2]
        assert "Eve\\u001b[2J" in lines[3]  # the escape shown, not sent
        assert all("\x1b" not in line for line in lines)
        await pilot.press("s")
        panel_lines = app.query_one("#panel-users", DatabasePanel).query_one(RecentOutcomes).lines
        assert panel_lines[0] == '#1 id="[bold red]Mallory[/]" rejected invalid_id, invalid_email'
        assert panel_lines[3].startswith('#4 id="Eve\\u001b[2J" rejected')
        # The name with markup was stored exactly as given.
        assert dump(db_dir)["users"] == [(9, "[bold red]Mallory[/]", "mallory@example.com")]
        assert app.is_running


async def test_a_bad_input_file_is_a_message_not_a_traceback(tmp_path: Path, db_dir: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "users.json").write_text('[{"id": 1,\n "name": }]')
    (data / "products.json").write_text("[]")
    (data / "orders.json").write_text("[]")
    app = sample_app(db_dir, data=data)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        status = app.query_one("#status")
        assert "users.json: not valid JSON" in str(status.render())
        assert status.has_class("error")
        assert app.is_running
    assert not (db_dir / "users.db").exists()


def panel_rate(app: TuiInsertApp, table: str) -> str:
    return str(app.query_one(f"#panel-{table}", DatabasePanel)._rate.render())


async def wait_for_text(pilot: Pilot[int], read: Callable[[], str], words: str) -> str:
    await until(pilot, lambda: words in read(), f"showed {words!r} (showed {read()!r})")
    return read()


async def test_a_lock_held_by_another_program_is_shown_and_waited_out(
    db_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUI_INSERT_NOTICE_SECONDS", "0.3")  # read by the run's node processes
    prepare_stores(store_targets(db_dir))  # the databases, so that one can be locked
    blocker = sqlite3.connect(db_dir / "users.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    app = sample_app(db_dir)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            text = await wait_for_text(pilot, lambda: panel_rate(app, "users"), "waiting")
            assert "users.db locked by another program" in text
            blocker.execute("ROLLBACK")
            await settle(pilot)
            assert isinstance(app.screen, SummaryScreen)
            assert app.summary is not None
            assert [t.inserted for t in app.summary.tables] == [8, 9, 7]
    finally:
        blocker.close()


async def test_a_reset_that_waits_for_a_lock_says_so_and_quitting_ends_it(db_dir: Path) -> None:
    app = sample_app(db_dir)
    blocker = sqlite3.connect(db_dir / "orders.db", isolation_level=None)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            blocker.execute("BEGIN IMMEDIATE")
            await pilot.press("x", "y")
            status = app.query_one("#status")
            text = await wait_for_text(pilot, lambda: str(status.render()), "waiting")
            assert "Emptying the databases" in text
            assert "orders.db locked by another program" in text
            await pilot.press("q")
            await settle(pilot)
        assert app.return_code == 0
    finally:
        blocker.close()
    # Nothing was emptied: the reset gave up before its first deletion.
    assert [len(rows) for rows in dump(db_dir).values()] == [8, 9, 7]


async def test_the_status_line_says_which_latency_is_in_force(db_dir: Path) -> None:
    settings = RunSettings(find_sources(None), db_dir, latency=0.25, sample_latency=True)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        status = str(app.query_one("#status").render())
        assert "latency 250 ms (sample data)" in status
        await pilot.press("q")
    assert app.return_code == 0


async def test_a_run_prepared_before_the_app_opened_is_the_one_it_runs(db_dir: Path) -> None:
    settings = RunSettings(find_sources(None), db_dir, latency=0.0)
    first_run = settings.new_run()
    first_run.prepare()  # as the command does, before the app opens
    app = make_app(settings, first_run=first_run)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.summary is not None
        assert [t.inserted for t in app.summary.tables] == [8, 9, 7]
    assert first_run.state == "completed"


async def test_s_pressed_again_during_a_run_shows_one_notice(db_dir: Path) -> None:
    app = sample_app(db_dir, latency=0.3)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("s", "s", "s")
        assert [n.message for n in app._notifications] == [
            "The summary opens when a run has completed."
        ]
        await pilot.press("q")


def footer_keys(app: TuiInsertApp) -> dict[str, str]:
    """What the footer shows for each key now."""
    return {
        key: active.binding.description
        for key, active in app.screen.active_bindings.items()
        if active.binding.show and active.enabled
    }


def listed(app: TuiInsertApp) -> list[str]:
    """The records the summary's list shows (all of them, as lines)."""
    records = app.screen.query_one("#rejected", RejectedList).records
    return [records[i].text for i in range(len(records))]


def many_rejected(tmp_path: Path, count: int = 60) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    users = [{"id": i, "name": " ", "email": f"u{i}@example.com"} for i in range(1, count + 1)]
    (data / "users.json").write_text(json.dumps(users))
    (data / "products.json").write_text("[]")
    (data / "orders.json").write_text("[]")
    return data


async def test_the_summary_list_takes_end_and_page_down_at_once(
    tmp_path: Path, db_dir: Path
) -> None:
    app = sample_app(db_dir, data=many_rejected(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        shown = app.screen.query_one("#rejected", RejectedList)
        # The reasons have the keys (their left edge is marked), and these keys scroll the
        # records of the reason chosen.
        assert app.screen.focused is app.screen.query_one("#reasons", ReasonList)
        assert shown.max_scroll_y > 0
        await pilot.press("pagedown")
        assert shown.scroll_y > 0
        await pilot.press("end")
        await pilot.wait_for_scheduled_animations()
        assert shown.scroll_y == shown.max_scroll_y
        await pilot.press("home")
        await pilot.wait_for_scheduled_animations()
        assert shown.scroll_y == 0
        # Tab gives the list itself the keys.
        await pilot.press("tab", "down")
        assert app.screen.focused is shown and shown.scroll_y == 1


async def test_rejected_records_start_under_the_headings(db_dir: Path) -> None:
    app = sample_app(db_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        shown = app.screen.query_one("#rejected", RejectedList)
        for heading in app.screen.query(".heading"):
            assert shown.content_region.x == heading.content_region.x


async def test_while_the_question_is_open_only_quit_applies(db_dir: Path) -> None:
    app = sample_app(db_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s", "x")
        assert isinstance(app.screen, ConfirmScreen)
        number = app._number
        shown = {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}
        assert {"rerun", "reset", "summary", "browse"}.isdisjoint(shown)
        await pilot.press("r", "s", "b")
        assert isinstance(app.screen, ConfirmScreen)
        assert app._number == number  # no run started
        await pilot.press("n")
        assert app.check_action("rerun", ()) is True
        await pilot.press("q")
    assert app.return_code == 0


async def test_a_screen_shown_again_after_the_terminal_shrank_asks_for_a_larger_one(
    db_dir: Path,
) -> None:
    """The terminal shrinks while the browser is open over the summary over the panels:
    Textual tells only the top screen and the one below it, so the panels, shown again once
    both are closed, must look at the size themselves; and again once it has grown."""
    app = sample_app(db_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        main = app.screen_stack[0]
        for size, too_small in (((50, 15), True), ((100, 30), False)):
            await pilot.press("b")
            await until(pilot, lambda: len(app.screen_stack) == 3, "the browser")
            await pilot.resize_terminal(*size)
            await until(pilot, lambda t=too_small: app.screen.has_class("-too-narrow") == t, "top")
            await pilot.press("b")  # back to the summary
            await until(pilot, lambda: isinstance(app.screen, SummaryScreen), "the summary")
            await pilot.press("s")  # and to the panels
            await until(pilot, lambda: app.screen is main, "the panels")
            await until(
                pilot, lambda t=too_small: main.has_class("-too-narrow") == t, "panels follow"
            )
            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, SummaryScreen), "summary again")


async def test_an_app_that_does_not_start_shows_what_is_stored_and_r_starts_a_run(
    used_db_dir: Path, tmp_path: Path
) -> None:
    settings = RunSettings(find_sources(None), used_db_dir, latency=0.0, start_at_once=False)
    app = make_app(settings)
    async with app.run_test(size=(160, 40)) as pilot:
        await workers_done(pilot)
        assert app.run_in_progress is None  # nothing started by itself
        panels = {panel.table: panel for panel in app.query(DatabasePanel)}
        assert {t: str(p.border_subtitle) for t, p in panels.items()} == {
            "users": "8 rows stored",
            "products": "9 rows stored",
            "orders": "7 rows stored",
        }
        assert "r starts one" in app.main._status_text
        assert footer_keys(app)["r"] == "Run"  # not "Rerun": nothing has run yet
        before = dump(used_db_dir)
        await pilot.press("r")
        await settle(pilot)
        assert footer_keys(app)["r"] == "Rerun"
        assert isinstance(app.screen, SummaryScreen)  # a rerun: every record a duplicate
        rows = table_rows(app.screen.query_one("#databases", DataTable))
        assert [row[3:5] for row in rows] == [["0", "10"], ["0", "10"], ["0", "10"]]
        assert dump(used_db_dir) == before

    # On empty stores: there is nothing yet, and nothing is created by looking.
    empty = tmp_path / "empty"
    empty.mkdir()
    app = make_app(RunSettings(find_sources(None), empty, latency=0.0, start_at_once=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(pilot)
        subtitles = {str(p.border_subtitle) for p in app.query(DatabasePanel)}
        assert subtitles == {"no database yet"}
    assert list(empty.iterdir()) == []


async def test_choosing_a_reason_lists_only_its_records(db_dir: Path) -> None:
    app = sample_app(db_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        heading = app.screen.query_one("#rejected-heading", Static)
        assert str(heading.render()) == "Rejected records (6)"
        # The reasons are the summary's, most frequent first in each table: orders' first is
        # unknown_user (2 records), the fourth line.
        await pilot.press("down", "down", "down", "down")
        assert listed(app) == [
            "orders #8 id=8  unknown_user: no stored user has id 8; invalid_quantity: "
            "quantity must be a positive integer, got 0",
            "orders #10 id=10  unknown_user: no stored user has id 10; unknown_product: "
            "no stored product has id 11",
        ]
        assert str(heading.render()) == "Rejected records of orders with unknown_user (2)"
        await pilot.press("up", "up", "up", "up")
        assert len(listed(app)) == 6
        # A record with two reasons is listed under each of them.
        await pilot.press("down", "down", "down", "down", "down")
        assert [line.split()[1] for line in listed(app)] == ["#8", "#9"]


@pytest.mark.parametrize("size", [(60, 18), (60, 23), (80, 24)])
async def test_the_summary_fits_without_scrolling_down_to_the_smallest_size(
    db_dir: Path, size: tuple[int, int]
) -> None:
    """At 60×18 the title, the figures, the reasons and some records are all in sight: the
    headings that only name what is under them give way below 24 rows."""
    app = sample_app(db_dir)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        await pilot.pause()
        assert screen.max_scroll_y == 0
        assert screen.query_one("#summary-title").region.y == 0
        assert screen.query_one("#rejected", RejectedList).region.height >= 2
        headings = [screen.query_one(f"#{n}-heading").display for n in ("databases", "reasons")]
        assert headings == [size[1] >= 24] * 2


async def test_the_summary_reopens_on_the_reason_chosen_until_the_next_run(db_dir: Path) -> None:
    app = sample_app(db_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down", "down", "down")  # orders' unknown_user
        chosen = listed(app)
        assert len(chosen) == 2
        await pilot.press("s")  # closed, and opened again: the same records
        assert not isinstance(app.screen, SummaryScreen)
        await pilot.press("s")
        assert isinstance(app.screen, SummaryScreen)
        await pilot.pause()
        assert listed(app) == chosen
        heading = app.screen.query_one("#rejected-heading", Static)
        assert str(heading.render()) == "Rejected records of orders with unknown_user (2)"
        reasons = app.screen.query_one("#reasons", ReasonList)
        assert reasons.highlighted == 4
        # In sight: the list shows 4 lines at this size, so it is scrolled down to it.
        seen = reasons.scrollable_content_region.height
        assert seen < 5 and reasons.scroll_y <= 4 < reasons.scroll_y + seen
        # Up from there goes on from where it was.
        await pilot.press("up")
        assert str(heading.render()).startswith("Rejected records of products")
        # A new run's summary lists every record again.
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        heading = app.screen.query_one("#rejected-heading", Static)
        assert str(heading.render()).startswith("Rejected records (")
        assert app.screen.query_one("#reasons", ReasonList).highlighted == 0


async def test_the_time_axis_shows_the_orders_waiting_for_their_users(
    db_dir: Path, tmp_path: Path
) -> None:
    """Every order names the last user, so orders wait while the users (with a latency) go
    in: on the summary's time axis their line starts with dots (waiting), and ends last.
    Users and products show work from the first column (a table's first records are drawn
    over the time they took, not as a wait)."""
    data = tmp_path / "data"
    data.mkdir()
    users = [{"id": i, "name": f"u{i}", "email": f"u{i}@example.com"} for i in range(1, 11)]
    orders = [{"id": i, "user_id": 10, "product_id": 1, "quantity": 1} for i in range(1, 4)]
    (data / "users.json").write_text(json.dumps(users))
    (data / "products.json").write_text(json.dumps([{"id": 1, "name": "p", "price": 1.5}]))
    (data / "orders.json").write_text(json.dumps(orders))
    app = sample_app(db_dir, latency=0.05, data=data)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        assert app.summary is not None and [t.inserted for t in app.summary.tables] == [10, 1, 3]
        charts = app.screen.query_one(RunCharts)
        lines = [charts.render_line(y).text for y in range(4)]
        assert lines[0].split()[:4] == ["█", "inserted", "░", "rejected"]
        timelines = {line.split()[0]: line[line.index("%") + 3 :] for line in lines[1:]}
        orders_line = timelines["orders"]
        assert orders_line.startswith("·") and set(orders_line) & set("▁▂▃▄▅▆▇█"), timelines
        for table in ("users", "products"):
            assert len(orders_line.rstrip()) > len(timelines[table].rstrip()), timelines
            assert timelines[table][0] in "▁▂▃▄▅▆▇█", timelines
