"""The command line as a user meets it: real processes, real files, exit codes and messages."""

from __future__ import annotations

import json
import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import dump, files_in, tui_insert
from tui_insert.core.generate import generate_dataset
from tui_insert.core.sources import sample_data_dir


def assert_clear_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tui-insert: ")
    for word in words:
        assert word in lines[0]
    assert result.stdout == ""


def sample_copy(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("users", "products", "orders"):
        (data / f"{name}.json").write_bytes((sample_data_dir() / f"{name}.json").read_bytes())
    return data


# --- user mistakes: a one-line message, exit 2, nothing written --------------------------------


def test_malformed_json_file(tmp_path: Path, used_db_dir: Path) -> None:
    data = sample_copy(tmp_path)
    (data / "orders.json").write_text('[{"id": 1, "user_id": 1,\n  "quantity": }]')
    before = files_in(used_db_dir)
    result = tui_insert("run", "--headless", "--data", data, "--db-dir", used_db_dir)
    assert_clear_error(result, "orders.json", "line 2", "column")
    assert files_in(used_db_dir) == before


def test_missing_file(tmp_path: Path) -> None:
    data = sample_copy(tmp_path)
    db_dir = tmp_path / "db"
    result = tui_insert(
        "run", "--headless", "--db-dir", db_dir,
        "--users", data / "users.json", "--products", data / "nope.json",
        "--orders", data / "orders.json",
    )  # fmt: skip
    assert_clear_error(result, "nope.json", "no such file")
    assert not db_dir.exists()


def test_data_folder_without_the_files(tmp_path: Path, used_db_dir: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    before = files_in(used_db_dir)
    result = tui_insert("run", "--headless", "--data", empty, "--db-dir", used_db_dir)
    assert_clear_error(result, str(empty), "users")
    assert files_in(used_db_dir) == before


def test_users_db_that_is_not_sqlite(used_db_dir: Path) -> None:
    (used_db_dir / "users.db").write_text("these are my notes, not a database\n" * 100)
    before = files_in(used_db_dir)
    result = tui_insert("run", "--headless", "--db-dir", used_db_dir)
    assert_clear_error(result, "users.db", "not an SQLite database")
    assert files_in(used_db_dir) == before


def test_orders_table_with_other_columns(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    conn = sqlite3.connect(db_dir / "orders.db")
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total REAL)")
    conn.execute("INSERT INTO orders VALUES (1, 'x', 2.5)")
    conn.commit()
    conn.close()
    before = files_in(db_dir)
    result = tui_insert("run", "--headless", "--db-dir", db_dir)
    assert_clear_error(result, "orders.db", "customer")
    assert files_in(db_dir) == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--workers", "0"], ["--workers", "1 to 64"]),
        (["--workers", "many"], ["--workers", "whole number"]),
        (["--latency", "soon"], ["--latency", "duration"]),
        (["--users", "x.txt"], ["--products", "--orders"]),
        (["--no-start"], ["--no-start goes with the app"]),
    ],
)
def test_bad_flags(tmp_path: Path, args: list[str], words: list[str]) -> None:
    result = tui_insert("run", "--headless", "--db-dir", tmp_path / "db", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr
    assert not (tmp_path / "db").exists()


def test_wrong_extension(tmp_path: Path) -> None:
    data = sample_copy(tmp_path)
    (data / "users.json").rename(data / "users.txt")
    result = tui_insert(
        "run", "--headless", "--db-dir", tmp_path / "db",
        "--users", data / "users.txt", "--products", data / "products.json",
        "--orders", data / "orders.json",
    )  # fmt: skip
    assert_clear_error(result, "users.txt", ".json, .jsonl or .csv")


# --- what a run prints and writes -------------------------------------------------------------


def test_json_report_is_one_document_with_every_record(tmp_path: Path) -> None:
    result = tui_insert("run", "--headless", "--json", "--db-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    calm = {"retries": 0, "waited_seconds": 0.0}  # no store failed, no lock was waited for
    assert report["tables"] == {
        "users": {"database": "users.db", "total": 10, "inserted": 8, "rejected": 2, **calm},
        "products": {"database": "products.db", "total": 10, "inserted": 9, "rejected": 1, **calm},
        "orders": {"database": "orders.db", "total": 10, "inserted": 7, "rejected": 3, **calm},
    }
    assert len(report["records"]) == 30
    assert report["records"][7] == {
        "table": "users",
        "position": 8,
        "id": 8,
        "status": "rejected",
        "reasons": [
            {
                "field": "email",
                "code": "duplicate_email",
                "message": "alice@example.com is already used by user 1",
            }
        ],
    }
    assert isinstance(report["elapsed_seconds"], float)


def test_plain_report_lines_then_summary(tmp_path: Path) -> None:
    result = tui_insert("run", "--headless", "--db-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "users #1 id=1 inserted"
    assert lines[9].startswith("users #10 id=10 rejected  invalid_name:")
    assert lines[27].startswith("orders #8 id=8 rejected  unknown_user:")
    assert "invalid_quantity" in lines[27]
    assert lines[-4].split() == ["users", "users.db", "10", "8", "2"]
    assert lines[-1].startswith("completed in")


def test_rejects_file_holds_every_record_not_stored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate_dataset(data, 3000, invalid_share=0.3, seed=5, fmt="jsonl")
    rejects = tmp_path / "rejects.jsonl"
    result = tui_insert(
        "run", "--headless", "--json", "--data", data, "--db-dir", tmp_path / "db",
        "--rejects", rejects,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    entries = [json.loads(line) for line in rejects.read_text().splitlines()]
    stored = dump(tmp_path / "db")
    for table in ("users", "products", "orders"):
        lines = (data / f"{table}.jsonl").read_text().splitlines()
        mine = [e for e in entries if e["table"] == table]
        assert len(mine) + len(stored[table]) == len(lines) == report["tables"][table]["total"]
        for entry in mine:
            given = lines[entry["position"] - 1]
            if "record" in entry:
                assert entry["record"] == json.loads(given)
            else:  # a line that is not JSON at all is kept as its text
                assert entry["text"] == given
            assert entry["reasons"]


def test_rerun_and_reset(tmp_path: Path) -> None:
    assert tui_insert("run", "--headless", "--db-dir", tmp_path).returncode == 0
    again = json.loads(tui_insert("run", "--headless", "--json", "--db-dir", tmp_path).stdout)
    assert [t["inserted"] for t in again["tables"].values()] == [0, 0, 0]

    result = tui_insert("reset", "--db-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "emptied users in users.db (8 rows removed)" in result.stdout
    assert dump(tmp_path) == {"users": [], "products": [], "orders": []}

    assert tui_insert("run", "--headless", "--db-dir", tmp_path).returncode == 0
    fresh = tui_insert("run", "--headless", "--json", "--reset", "--db-dir", tmp_path)
    assert [t["inserted"] for t in json.loads(fresh.stdout)["tables"].values()] == [8, 9, 7]


def test_reset_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "users.db").write_text("not a database")
    result = tui_insert("reset", "--db-dir", tmp_path)
    assert_clear_error(result, "users.db")
    assert (tmp_path / "users.db").read_text() == "not a database"


def test_generate_writes_the_three_files(tmp_path: Path) -> None:
    result = tui_insert(
        "generate", "--out", tmp_path / "g", "--count", "50", "--format", "csv", "--seed", "3"
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == [
        "orders.csv",
        "products.csv",
        "users.csv",
    ]
    assert tui_insert("generate", "--out", tmp_path, "--count", "-5").returncode == 2


def test_installed_command_runs_from_any_folder(tmp_path: Path) -> None:
    """The sample data is found without being in the current folder."""
    result = tui_insert("run", "--headless", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "users.db").exists()


def test_the_engine_imports_no_textual() -> None:
    code = (
        "import sys, tui_insert.cli, tui_insert.core.engine, tui_insert.core.node, "
        "tui_insert.core.generate, tui_insert.core.browse; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')); "
        "sys.exit(str(bad) if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_browse_help() -> None:
    result = tui_insert("browse", "--help")
    assert result.returncode == 0
    assert "read-only" in result.stdout and "FILE" in result.stdout


def _wait_or_kill(pid: int, seconds: float) -> int:
    """The child's wait status; killed (and failing the test) if it has not ended in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, 9)
    return os.waitpid(pid, 0)[1]


def test_browse_in_a_terminal_names_bad_files_and_quits_with_q(tmp_path: Path) -> None:
    """The real command in a pseudo-terminal: the screen names what is wrong with each file,
    q quits with 0, and no file is created or changed."""
    (tmp_path / "notes.txt").write_text("not a database\n")
    before = files_in(tmp_path)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, in a terminal of 150 x 40
        os.chdir(tmp_path)
        os.environ.update(COLUMNS="150", LINES="40", TERM="xterm-256color")
        os.execv(
            sys.executable,
            [sys.executable, "-m", "tui_insert", "browse", "missing.db", "notes.txt"],
        )
    screen = b""
    deadline = time.monotonic() + 60
    try:
        while b"not an SQLite database" not in screen or b"no such file" not in screen:
            assert time.monotonic() < deadline, screen[-2000:]
            if select.select([fd], [], [], 0.5)[0]:
                screen += os.read(fd, 65536)
        os.write(fd, b"q")
        while True:  # read until the app has left the terminal
            try:
                if not select.select([fd], [], [], 30)[0] or not os.read(fd, 65536):
                    break
            except OSError:  # the terminal closed
                break
    finally:
        status = _wait_or_kill(pid, 30)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"Traceback" not in screen
    assert files_in(tmp_path) == before


def test_no_start_with_reset_says_what_to_do_instead(tmp_path: Path) -> None:
    result = tui_insert("run", "--no-start", "--reset", "--db-dir", tmp_path / "db")
    assert_clear_error(result, "--reset", "leave out --no-start", "press x")
    assert not (tmp_path / "db").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--port", "0"], ["--port", "1 to 65535"]),
        (["--port", "web"], ["--port", "whole number"]),
        (["--host", "192.0.2.1"], ["--host 192.0.2.1", "--public"]),
        (["--data", "nowhere"], ["nowhere"]),
        (["--headless"], ["unrecognized argument", "--headless"]),
    ],
)
def test_serve_mistakes(tmp_path: Path, args: list[str], words: list[str]) -> None:
    result = tui_insert("serve", "--db-dir", tmp_path / "db", *args)
    assert_clear_error(result, *words)
    assert not (tmp_path / "db").exists()
