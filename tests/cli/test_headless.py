"""The command line as a new user meets it: mistakes in one line, output that cannot be
written, interruptions, progress on a terminal, dry runs, confirmations, spool folders.
Real processes, real files, real signals, a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    FAST_WAITS,
    count_rows,
    dump,
    files_in,
    finish,
    in_terminal,
    start_cli,
    tui_insert,
    wait_for_rows,
)
from tui_insert.core.generate import generate_dataset
from tui_insert.core.spool import PREFIX, SpoolFolder


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and "usage:" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tui-insert: ")
    return lines[0]


# --- the command line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["runn"], "unknown command 'runn'; did you mean 'run'? (see tui-insert --help)"),
        (["rest", "--yes"], "did you mean 'reset'?"),
        (["run", "--headless", "--bogus"], "unrecognized argument: --bogus (see tui-insert run"),
        (["--latency", "80"], "'80' needs a unit: 80ms, 80s or 80m (see tui-insert run --help)"),
        (["--latency", "-5ms"], "a duration cannot be negative, got '-5ms'"),
        (["--latency", "11s"], "at most 10s, got '11s'"),
        (["--latency", "soon"], "expected a duration such as 80ms, 1s or 2m"),
        (["generate"], "the following arguments are required: --out (see tui-insert generate"),
        (["reset", "--now"], "unrecognized argument: --now (see tui-insert reset --help)"),
    ],
)
def test_a_mistake_on_the_command_line_is_one_line(
    tmp_path: Path, args: list[str], says: str
) -> None:
    result = tui_insert(*args, cwd=tmp_path)
    assert says in one_line_error(result)
    assert files_in(tmp_path) == {}


@pytest.mark.parametrize("command", ["run", "browse", "reset", "generate"])
def test_every_command_has_a_description_and_says_its_defaults(command: str) -> None:
    result = tui_insert(command, "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    description = text.split("options:")[0].split("]")[-1]
    assert len(description.strip()) > 30, text
    if command != "browse":
        assert text.count("(default:") >= {"run": 6, "reset": 2, "generate": 4}[command], text
    if command == "generate":
        assert "file format (default: json)" in text


def test_a_zero_latency_needs_no_unit(tmp_path: Path) -> None:
    result = tui_insert("run", "--headless", "--latency", "0", "--db-dir", tmp_path)
    assert result.returncode == 0, result.stderr


def test_a_folder_given_as_an_input_file_is_said_to_be_a_folder(tmp_path: Path) -> None:
    result = tui_insert(
        "run", "--headless", "--users", tmp_path, "--products", tmp_path, "--orders", tmp_path,
        "--db-dir", tmp_path / "db",
    )  # fmt: skip
    assert one_line_error(result) == f"tui-insert: {tmp_path}: is a folder, not a users file"


def test_a_csv_header_without_every_field_is_an_error_and_nothing_is_written(
    tmp_path: Path, used_db_dir: Path
) -> None:
    data = tmp_path / "data"
    generate_dataset(data, 20, 0.1, 1, "csv")
    users = data / "users.csv"
    users.write_text(users.read_text().replace("id,name,email", "id,nam,email", 1))
    before = files_in(used_db_dir)
    result = tui_insert("run", "--headless", "--data", data, "--db-dir", used_db_dir)
    line = one_line_error(result)
    assert "users.csv" in line and "lacks name" in line and '"nam"' in line
    assert files_in(used_db_dir) == before


def test_only_the_last_folder_of_the_database_folder_is_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "dir"
    for args in (["run", "--headless"], ["reset", "--yes"]):
        line = one_line_error(tui_insert(*args, "--db-dir", missing))
        assert f"{tmp_path / 'nope'} does not exist" in line
    assert not (tmp_path / "nope").exists()
    assert tui_insert("run", "--headless", "--db-dir", tmp_path / "new").returncode == 0
    assert count_rows(tmp_path / "new" / "users.db", "users") == 8


# --- output that cannot be written -----------------------------------------------------------


def _gave_up_on_a_full_disk(done: subprocess.CompletedProcess[str], name: str, then: str) -> None:
    """Waited for (a line a try), then exit 1 with one line naming what stayed full."""
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    *tries, last = done.stderr.strip().splitlines()
    assert tries, done.stderr
    for line in tries:
        assert line.startswith(f"tui-insert: {name}: disk full, retrying in"), line
    assert last == (
        f"tui-insert: {name}: disk full for 1 s, longer than --retry-for 1s"
        f" (No space left on device); {then}"
    )


@pytest.mark.parametrize("as_json", [True, False])
def test_the_report_is_the_same_to_a_pipe_a_file_and_a_file_appended_to(
    tmp_path: Path, as_json: bool
) -> None:
    # The outcome lines are copied by the kernel where it can (a file, a pipe) and a block at a
    # time where it cannot (a file opened to append): the same report every way.
    data = tmp_path / "data"
    generate_dataset(data, 3000, 0.2, 4, "jsonl")
    json_flag = ["--json"] if as_json else []

    def run(db: str, stdout: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tui_insert", "run", "--headless", *json_flag,
             "--data", str(data), "--db-dir", str(tmp_path / f"db-{db}")],
            stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip

    piped = run("piped", subprocess.PIPE)
    assert piped.returncode == 0, piped.stderr
    with open(tmp_path / "report", "w") as file:
        assert run("file", file).returncode == 0
    appended = tmp_path / "appended"
    appended.write_text("before\n")
    with open(appended, "a") as file:
        assert run("appended", file).returncode == 0
    reports = [piped.stdout, (tmp_path / "report").read_text(), appended.read_text()[7:]]
    if as_json:
        parsed = [json.loads(report) for report in reports]
        for report in parsed:
            del report["elapsed_seconds"]
        assert parsed[0] == parsed[1] == parsed[2]
        assert len(parsed[0]["records"]) == 9000
        assert all(line.endswith(("},", "}")) for line in reports[0].splitlines()[4:-3])
    else:
        assert [r.splitlines()[:-1] for r in reports[1:]] == [reports[0].splitlines()[:-1]] * 2
        assert reports[0].count(" inserted\n") + reports[0].count(" rejected ") == 9000


def test_a_report_to_a_full_disk_is_exit_1_and_the_databases_stay_committed(
    tmp_path: Path,
) -> None:
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "tui_insert", "run", "--headless", "--json",
             "--retry-for", "1s", "--db-dir", str(tmp_path)],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip
    _gave_up_on_a_full_disk(done, "standard output", "the report is incomplete")
    assert [len(rows) for rows in dump(tmp_path).values()] == [8, 9, 7]


def test_a_rejects_file_on_a_full_disk_is_exit_1(tmp_path: Path) -> None:
    result = tui_insert(
        "run", "--headless", "--retry-for", "1s", "--db-dir", tmp_path, "--rejects", "/dev/full"
    )
    _gave_up_on_a_full_disk(result, "/dev/full", "the file was left empty")
    assert [len(rows) for rows in dump(tmp_path).values()] == [8, 9, 7]


def test_a_closed_stdout_is_exit_1_before_anything_is_written(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tui_insert", "run", "--headless", "--db-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert one_line_error(done, 1) == (
        "tui-insert: cannot write the report: standard output is closed"
    )
    assert files_in(tmp_path) == {}


def test_a_reader_that_goes_away_is_quiet(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate_dataset(data, 20_000, 0.05, 1, "jsonl")
    done = subprocess.run(
        f"{sys.executable} -m tui_insert run --headless --data {data} --db-dir {tmp_path}"
        " | head -1",
        shell=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.stdout == "users #1 id=1 inserted\n"
    assert done.stderr == ""
    assert count_rows(tmp_path / "orders.db", "orders") > 0  # the run went on to its end


# --- interrupted runs -----------------------------------------------------------------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_json_run_prints_what_it_decided(
    tmp_path: Path, signum: int, code: int
) -> None:
    data = tmp_path / "data"
    generate_dataset(data, 3000, 0.1, 2, "jsonl")
    db_dir = tmp_path / "db"
    proc = start_cli(
        "run", "--headless", "--json", "--latency", "2ms", "--workers", "8",
        "--data", data, "--db-dir", db_dir, env={"TMPDIR": str(tmp_path)},
    )  # fmt: skip
    wait_for_rows(db_dir / "users.db", "users", proc, at_least=20)
    os.kill(proc.pid, signum)  # the parent alone, as `kill` or a terminal's Ctrl-C would
    returncode, out, err = finish(proc)
    assert returncode == code, err
    assert "Traceback" not in err
    assert "every record committed stays stored" in err
    assert "users.db:" in err and "inserted" in err
    report = json.loads(out)
    assert report["status"] == "interrupted"
    stored = dump(db_dir)
    for name, table in report["tables"].items():
        records = [r for r in report["records"] if r["table"] == name]
        assert len(records) == table["total"]
        inserted = [r["id"] for r in records if r["status"] == "inserted"]
        assert len(inserted) == table["inserted"]
        assert sorted(inserted) == [row[0] for row in stored[name]]  # reported = committed
    assert 0 < report["tables"]["users"]["total"] < 3000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(PREFIX) and p.is_dir()]


def test_a_failed_json_run_prints_its_status_and_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate_dataset(data, 3000, 0.1, 3, "jsonl")
    db_dir = tmp_path / "db"
    proc = start_cli(
        "run", "--headless", "--json", "--latency", "2ms", "--workers", "8",
        "--data", data, "--db-dir", db_dir,
    )  # fmt: skip
    wait_for_rows(db_dir / "products.db", "products", proc, at_least=5)
    (db_dir / "products.db").rename(db_dir / "moved.db")
    returncode, out, err = finish(proc)
    assert returncode == 1, err
    report = json.loads(out)
    assert report["status"] == "failed"
    assert "products.db" in report["error"]
    assert "products.db" in err and "Traceback" not in err


# --- progress on a terminal ------------------------------------------------------------------


def test_progress_is_shown_on_a_terminal_and_nowhere_else(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate_dataset(data, 400, 0.1, 4, "csv")
    args = ["run", "--headless", "--latency", "1ms", "--data", data, "--db-dir", tmp_path / "a"]
    code, screen = in_terminal([*args, "--json"])
    assert code == 0
    text = screen.decode()
    assert "users    [" in text and "of about 400" in text and "ETA" in text
    assert "\x1b[F" in text  # drawn in place
    report = text[text.index("{") :].replace("\r\n", "\n")
    assert json.loads(report[: report.rindex("}") + 1])["status"] == "completed"
    quiet = tui_insert(*args[:-1], tmp_path / "b", "--json")  # stderr is no terminal
    assert quiet.returncode == 0 and quiet.stderr == ""


# --- dry runs --------------------------------------------------------------------------------


def test_a_dry_run_decides_like_a_run_and_writes_nothing(tmp_path: Path, used_db_dir: Path) -> None:
    data = tmp_path / "data"
    generate_dataset(data, 500, 0.2, 5, "jsonl")
    before = files_in(used_db_dir)
    dry = tui_insert("run", "--dry-run", "--json", "--data", data, "--db-dir", used_db_dir)
    assert dry.returncode == 0, dry.stderr
    assert files_in(used_db_dir) == before
    real = tui_insert("run", "--headless", "--json", "--data", data, "--db-dir", used_db_dir)
    dry_report, real_report = json.loads(dry.stdout), json.loads(real.stdout)
    assert dry_report["dry_run"] is True
    assert dry_report["records"] == real_report["records"]
    assert dry_report["tables"] == real_report["tables"]
    # against nothing: as a run on fresh databases, and no folder is made
    fresh = tui_insert("run", "--dry-run", "--json", "--data", data, "--db-dir", tmp_path / "x")
    first = tui_insert("run", "--headless", "--json", "--data", data, "--db-dir", tmp_path / "y")
    assert json.loads(fresh.stdout)["records"] == json.loads(first.stdout)["records"]
    assert not (tmp_path / "x").exists()
    # a database file without its table yet (a run creates it): judged as empty
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "users.db").touch()
    sqlite3.connect(odd / "products.db").execute("CREATE TABLE other (x)").connection.close()
    odd_before = files_in(odd)
    dry_odd = tui_insert("run", "--dry-run", "--json", "--data", data, "--db-dir", odd)
    assert dry_odd.returncode == 0, dry_odd.stderr
    assert json.loads(dry_odd.stdout)["records"] == json.loads(first.stdout)["records"]
    assert files_in(odd) == odd_before
    # with --reset: as if emptied first
    again = tui_insert(
        "run", "--dry-run", "--reset", "--json", "--data", data, "--db-dir", tmp_path / "y"
    )
    assert json.loads(again.stdout)["records"] == json.loads(first.stdout)["records"]


# --- reset asks first -------------------------------------------------------------------------


def test_reset_on_a_terminal_asks_naming_each_database(tmp_path: Path, used_db_dir: Path) -> None:
    before = files_in(used_db_dir)
    code, screen = in_terminal(["reset", "--db-dir", used_db_dir], answer=b"n\n")
    assert code == 1
    for name in ("users.db", "products.db", "orders.db"):
        assert str(used_db_dir / name).encode() in screen
    assert b"nothing was emptied" in screen
    assert files_in(used_db_dir) == before
    code, screen = in_terminal(["reset", "--db-dir", used_db_dir], answer=b"y\n")
    assert code == 0, screen
    assert b"emptied users in users.db (8 rows removed)" in screen
    tui_insert("run", "--headless", "--db-dir", used_db_dir)
    code, screen = in_terminal(["reset", "--yes", "--db-dir", used_db_dir])
    assert code == 0 and b"[y/N]" not in screen
    assert dump(used_db_dir) == {"users": [], "products": [], "orders": []}


def test_reset_without_a_terminal_does_not_ask(used_db_dir: Path) -> None:
    result = tui_insert("reset", "--db-dir", used_db_dir)  # stdin is no terminal
    assert result.returncode == 0, result.stderr
    assert dump(used_db_dir) == {"users": [], "products": [], "orders": []}


# --- spool folders ---------------------------------------------------------------------------


def test_spool_folders_of_dead_runs_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from tui_insert.core.spool import SpoolFolder;"
         f"s = SpoolFolder(Path({str(tmp_path)!r})); print(s.path, flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdin is not None
    live = Path(holder.stdout.readline().strip())
    stale = tmp_path / f"{PREFIX}dead"
    stale.mkdir()
    (stale / "users.outcomes").write_text("x" * 1000)
    other = tmp_path / "not-ours"
    other.mkdir()
    legacy_old, legacy_new = tmp_path / "tui-insert-old", tmp_path / "tui-insert-abc"
    project = tmp_path / "tui-insert-0.9"  # someone's folder of that name, not a spool
    empty = tmp_path / "tui-insert-cache"  # and an empty one
    empty.mkdir()
    for legacy in (legacy_old, legacy_new, project):  # an older version's held no lock
        legacy.mkdir()
        (legacy / "users.outcomes").write_text("x")
    (project / "notes.txt").write_text("mine")
    day_ago = time.time() - 25 * 3600
    for path in (*legacy_old.iterdir(), legacy_old, *project.iterdir(), project, empty):
        os.utime(path, (day_ago, day_ago))
    try:
        mine = SpoolFolder(tmp_path)
        assert not stale.exists() and not legacy_old.exists()
        assert live.is_dir() and other.is_dir() and mine.path.is_dir() and legacy_new.is_dir()
        assert (project / "notes.txt").read_text() == "mine" and empty.is_dir()
        mine.cleanup()
        assert not mine.path.exists()
    finally:
        holder.stdin.close()
        holder.wait(30)
    SpoolFolder(tmp_path).cleanup()  # the holder has ended: its folder is stale now
    assert not live.exists()


def test_a_killed_run_leaves_a_spool_folder_that_the_next_run_removes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate_dataset(data, 2000, 0.1, 6, "jsonl")
    env = {"TMPDIR": str(tmp_path)}

    def spools() -> list[Path]:
        return [p for p in tmp_path.iterdir() if p.name.startswith(PREFIX) and p.is_dir()]

    proc = start_cli(
        "run", "--headless", "--latency", "2ms", "--data", data, "--db-dir", tmp_path / "db",
        env=env,
    )  # fmt: skip
    wait_for_rows(tmp_path / "db" / "users.db", "users", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    finish(proc)
    assert len(spools()) == 1
    done = subprocess.run(
        [sys.executable, "-m", "tui_insert", "run", "--headless", "--db-dir", str(tmp_path / "e")],
        capture_output=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 0
    assert spools() == []


def test_without_rejects_no_rejected_record_is_spooled(tmp_path: Path) -> None:
    from tests.helpers import running
    from tui_insert.core.report import rejects_spool

    with running(tmp_path, spool_rejects=False) as run:
        assert run.wait(120)
        assert run.progress["users"].rejected == 2
        assert not rejects_spool(run.spool_dir, "users").exists()


def test_the_apps_runs_spool_no_outcome_lines_but_every_rejected_record(tmp_path: Path) -> None:
    """The app writes no report: its runs keep no outcome line a record (the cost of the
    report), and still every rejected record, for the summary's list."""
    from tui_insert.core.report import outcome_spool, rejects_spool
    from tui_insert.core.sources import find_sources
    from tui_insert.ui.run_settings import RunSettings

    settings = RunSettings(find_sources(None), tmp_path, latency=0.0)
    run = settings.new_run()
    try:
        run.prepare()
        run.start()
        assert run.wait(120) and run.state == "completed", run.error
        for name, progress in run.progress.items():
            assert not outcome_spool(run.spool_dir, name).exists()
            lines = rejects_spool(run.spool_dir, name).read_bytes().splitlines()
            assert len(lines) == progress.rejected > 0
    finally:
        run.close()


# --- found by an adversarial review ------------------------------------------------------------


@pytest.mark.parametrize("target", ["users.db", "users.db-wal", "data/users.jsonl", "link.db"])
def test_a_rejects_file_that_is_a_file_of_the_run_is_refused(tmp_path: Path, target: str) -> None:
    data, db_dir = tmp_path / "data", tmp_path / "db"
    generate_dataset(data, 50, 0.2, 7, "jsonl")
    tui_insert("run", "--headless", "--data", data, "--db-dir", db_dir)
    os.link(db_dir / "orders.db", db_dir / "link.db")  # the same file by another name
    before = files_in(db_dir), files_in(data)
    rejects = tmp_path / target if target.startswith("data") else db_dir / target
    result = tui_insert(
        "run", "--headless", "--data", data, "--db-dir", db_dir, "--rejects", rejects
    )
    line = one_line_error(result)
    assert "--rejects" in line and "which the run reads or writes" in line
    assert (files_in(db_dir), files_in(data)) == before


def test_a_signal_while_the_report_is_written_waits_for_the_whole_report(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate_dataset(data, 20_000, 0.05, 8, "jsonl")
    proc = start_cli("run", "--headless", "--json", "--data", data, "--db-dir", tmp_path / "db")
    assert proc.stdout is not None
    first = proc.stdout.read(1000)  # the report has begun: the run is over
    # The writer now fills the pipe and waits for it to be read: signal it there, twice.
    wait_for_rows(tmp_path / "db" / "orders.db", "orders", proc)
    os.kill(proc.pid, signal.SIGINT)
    os.kill(proc.pid, signal.SIGTERM)
    rest = proc.stdout.read()  # what the pipe's reader (buffered) holds, and the rest
    returncode, _, err = finish(proc)
    report = json.loads(first + rest)
    assert report["status"] == "completed"
    assert len(report["records"]) == 60_000
    assert returncode == 0, err  # the run had completed: the signals came too late to matter


def test_an_interrupt_before_the_run_starts_still_prints_a_document(tmp_path: Path) -> None:
    """Ctrl-C while the run waits for a database another program has locked: nothing was
    decided, nothing written, and the document says so."""
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    holder = sqlite3.connect(db_dir / "users.db", isolation_level=None)
    holder.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
    # Read before the lock is taken: closing any descriptor of the file would drop it.
    before = files_in(db_dir)
    holder.execute("BEGIN EXCLUSIVE")  # a rollback-journal database: no reader gets in
    proc = start_cli("run", "--headless", "--json", "--db-dir", db_dir, env=FAST_WAITS)
    assert proc.stderr is not None
    assert b"locked by another program" in proc.stderr.readline()
    os.kill(proc.pid, signal.SIGINT)
    returncode, out, err = finish(proc)
    holder.close()
    assert returncode == 130, err
    report = json.loads(out)
    assert report["status"] == "interrupted" and report["records"] == []
    assert [t["total"] for t in report["tables"].values()] == [0, 0, 0]
    assert files_in(db_dir) == before


def test_progress_lines_fit_the_terminal_when_stdout_is_a_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate_dataset(data, 300, 0.1, 9, "csv")
    code, screen = in_terminal(
        ["run", "--headless", "--latency", "1ms", "--data", data, "--db-dir", tmp_path / "db"],
        columns=40,
        stdout=tmp_path / "report.txt",
    )
    assert code == 0
    lines = [line for line in re.split(r"\r?\n|\x1b\[F|\x1b\[2K|\x1b\[K", screen.decode()) if line]
    assert lines and all(len(line) < 40 for line in lines), lines
    assert (tmp_path / "report.txt").read_text().startswith("users #1 ")


def test_the_entry_point_imports_nothing_heavy() -> None:
    """So that a Ctrl-C while the program starts is said in one line, as later."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys, tui_insert.entry;"
         "print(sorted(m for m in sys.modules if m.startswith(('textual', 'tui_insert.'))))"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.strip() == "['tui_insert.entry']"
