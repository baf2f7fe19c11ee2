"""`tui-insert` / `tui-insert run` as a user meets it before the app opens: the latency in
force, and inputs and databases checked first (a mistake is one line on stderr and exit 2, as
headless, with no app and every file as it was)."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from tests.helpers import files_in, read_only
from tui_insert import cli
from tui_insert.core.sources import sample_data_dir
from tui_insert.ui.app import RunSettings, TuiInsertApp


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[TuiInsertApp]:
    """The apps the command would have opened (they are not run: their first run is closed)."""
    apps: list[TuiInsertApp] = []

    def instead_of_running(self: TuiInsertApp) -> None:
        apps.append(self)
        if self._first_run is not None:
            self._first_run.close()

    monkeypatch.setattr(TuiInsertApp, "run", instead_of_running)
    return apps


def own_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("users", "products", "orders"):
        (data / f"{name}.json").write_bytes((sample_data_dir() / f"{name}.json").read_bytes())
    return data


def settings_of(apps: list[TuiInsertApp]) -> RunSettings:
    (app,) = apps
    assert app._first_run is not None  # prepared before the app opens
    return app.settings


def test_the_sample_runs_with_the_default_latency(db_dir: Path, opened: list[TuiInsertApp]) -> None:
    assert cli.main(["--db-dir", str(db_dir)]) == 0
    settings = settings_of(opened)
    assert settings.latency == 0.25
    assert settings.latency_text == "latency 250 ms (sample data)"


def test_own_data_runs_without_latency(
    tmp_path: Path, db_dir: Path, opened: list[TuiInsertApp]
) -> None:
    data = own_data(tmp_path)
    assert cli.main(["run", "--data", str(data), "--db-dir", str(db_dir)]) == 0
    files = [f"--{name}={data / f'{name}.json'}" for name in ("users", "products", "orders")]
    assert cli.main(["run", *files, "--db-dir", str(db_dir)]) == 0
    for settings in (app.settings for app in opened):
        assert settings.latency == 0
        assert settings.latency_text == "no latency"


def test_a_latency_given_always_wins(
    tmp_path: Path, db_dir: Path, opened: list[TuiInsertApp]
) -> None:
    data = own_data(tmp_path)
    assert cli.main(["run", "--data", str(data), "--latency", "80ms", "--db-dir", str(db_dir)]) == 0
    assert cli.main(["run", "--latency", "0", "--db-dir", str(db_dir)]) == 0
    assert [(a.settings.latency, a.settings.latency_text) for a in opened] == [
        (0.08, "latency 80 ms"),
        (0.0, "no latency"),
    ]


def assert_one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> None:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("tui-insert: ")
    assert "Traceback" not in captured.err
    for word in words:
        assert word in lines[0]
    assert captured.out == ""


def test_a_json_object_instead_of_an_array_stops_before_the_app(
    tmp_path: Path,
    used_db_dir: Path,
    opened: list[TuiInsertApp],
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = own_data(tmp_path)
    (data / "users.json").write_text(json.dumps({"id": 1, "name": "Ann", "email": "a@b.cd"}))
    before = files_in(used_db_dir)
    code = cli.main(["run", "--data", str(data), "--db-dir", str(used_db_dir)])
    assert code == 2
    assert opened == []
    assert_one_line_error(capsys, "users.json")
    assert files_in(used_db_dir) == before


def test_a_db_dir_that_is_a_file_stops_before_the_app(
    tmp_path: Path, opened: list[TuiInsertApp], capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_folder = tmp_path / "db"
    not_a_folder.write_text("a file")
    assert cli.main(["--db-dir", str(not_a_folder)]) == 2
    assert opened == []
    assert_one_line_error(capsys, str(not_a_folder))
    assert not_a_folder.read_text() == "a file"


def test_an_unwritable_db_dir_stops_before_the_app(
    used_db_dir: Path, opened: list[TuiInsertApp], capsys: pytest.CaptureFixture[str]
) -> None:
    before = files_in(used_db_dir)
    with read_only(used_db_dir):
        assert cli.main(["--db-dir", str(used_db_dir)]) == 2
    assert opened == []
    assert_one_line_error(capsys, "read-only")
    assert files_in(used_db_dir) == before


def test_ctrl_c_while_checking_is_exit_130_without_a_traceback(
    db_dir: Path,
    opened: list[TuiInsertApp],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("tui_insert.core.engine.check_stores", interrupted)
    assert cli.main(["--db-dir", str(db_dir)]) == 130
    assert opened == []
    captured = capsys.readouterr()
    assert captured.err == "tui-insert: interrupted\n"
    assert files_in(db_dir) == {}


def test_a_wait_for_a_lock_before_the_app_opens_is_told_on_stderr(
    used_db_dir: Path,
    opened: list[TuiInsertApp],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TUI_INSERT_NOTICE_SECONDS", "0.3")
    # Emptying the databases first (--reset) waits for every writer's lock.
    blocker = sqlite3.connect(
        used_db_dir / "orders.db", isolation_level=None, check_same_thread=False
    )
    blocker.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(2.0, blocker.execute, ["ROLLBACK"])
    timer.start()
    try:
        assert cli.main(["--reset", "--db-dir", str(used_db_dir)]) == 0
    finally:
        timer.join()
        blocker.close()
    assert len(opened) == 1  # once the lock went, the app opened
    err = capsys.readouterr().err
    assert "orders.db: locked by another program; waiting" in err, err
