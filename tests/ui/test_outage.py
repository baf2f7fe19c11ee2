"""The app while a store's server is away: its panel says so (reconnecting, the attempt, the
next try), the run goes on once the server is back and the summary counts the retries, and `q`
quits at once in the middle of the wait."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable

from tests.pgserver import Server
from tests.ui.polling import until
from tests.ui.test_app import settle, table_rows, wait_for_text
from tui_insert.core.generate import generate_dataset
from tui_insert.core.sources import find_sources
from tui_insert.core.stores import parse_target, store_targets
from tui_insert.ui.app import TuiInsertApp, make_app
from tui_insert.ui.database_panel import DatabasePanel
from tui_insert.ui.run_settings import RunSettings
from tui_insert.ui.summary_screen import SummaryScreen


@pytest.fixture
def users_uri(pg_own: Server) -> Iterator[str]:
    """A new database on a server this module may stop: the users store."""
    name = f"ui_outage_{os.getpid()}_{time.monotonic_ns()}"
    pg_own.execute(f"CREATE DATABASE {name}")
    yield pg_own.uri(name)
    pg_own.running()  # the test may have left it stopped
    pg_own.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _app(tmp_path: Path, users_uri: str) -> TuiInsertApp:
    """1,000 records a table, each its own commit 1 ms apart: the run lasts a few seconds.
    Users on the server, the others in SQLite files."""
    data = tmp_path / "data"
    generate_dataset(data, 1000, 0.05, seed=3, fmt="jsonl")
    stores = {
        **store_targets(tmp_path / "db"),
        "users": parse_target(users_uri, "--users-db"),
    }
    return make_app(RunSettings(find_sources(data), stores, latency=0.001))


def _panel(app: TuiInsertApp, table: str) -> DatabasePanel:
    return app.main.query_one(f"#panel-{table}", DatabasePanel)


def _rate(app: TuiInsertApp, table: str) -> str:
    return str(_panel(app, table).query_one("#rate").render())


async def test_a_panel_shows_its_server_reconnecting_and_the_summary_counts_the_retries(
    tmp_path: Path, users_uri: str, pg_own: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUI_INSERT_RETRY_SECONDS", "0.5")  # read by the run's node processes
    app = _app(tmp_path, users_uri)
    async with app.run_test(size=(80, 24)) as pilot:
        run = app.run_in_progress
        assert run is not None
        await until(pilot, lambda: run.progress["users"].inserted > 50, "stored users")
        panel = _panel(app, "users")
        await until(pilot, lambda: panel.border_subtitle == "running · connected", "connected")
        pg_own.stop("immediate")
        text = await wait_for_text(pilot, lambda: _rate(app, "users"), "try ")
        # (A stop that lands in the middle of a commit is "connection lost during a commit".)
        reasons = ("server unreachable", "connection lost", "connection lost during a commit")
        assert text.splitlines()[0] in reasons, text
        assert " · next in " in text or " · trying now" in text, text
        assert panel.border_subtitle == "reconnecting"
        pg_own.start()
        await settle(pilot)
        assert isinstance(app.screen, SummaryScreen)
        rows = table_rows(app.screen.query_one("#databases", DataTable))
        header = [
            str(c.label) for c in app.screen.query_one("#databases", DataTable).columns.values()
        ]
        assert header[-1] == "retries"
        users = next(row for row in rows if row[0] == "users")
        assert int(users[-1]) >= 1
        assert users[2:5] == ["1,000", "950", "50"]


async def test_q_quits_at_once_while_a_server_is_waited_for(
    tmp_path: Path, users_uri: str, pg_own: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long pause before each try: quitting must not wait for the next one.
    monkeypatch.setenv("TUI_INSERT_RETRY_SECONDS", "30")
    app = _app(tmp_path, users_uri)
    async with app.run_test(size=(80, 24)) as pilot:
        run = app.run_in_progress
        assert run is not None
        await until(pilot, lambda: run.progress["users"].inserted > 50, "stored users")
        pg_own.stop("immediate")
        await wait_for_text(pilot, lambda: _rate(app, "users"), "next in")
        started = time.monotonic()
        await pilot.press("q")
        await settle(pilot)
        quitting = time.monotonic() - started
    assert app.return_code == 0
    assert not any(p.is_alive() for p in run._processes.values())
    assert quitting < 5, quitting
