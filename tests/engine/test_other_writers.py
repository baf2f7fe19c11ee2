"""The invariants against every other writer: a second run, a reset, a lock held for long, a
file made read-only, deleted or replaced, a disk that fills up. Real processes on real files;
each test tries to break one guarantee the way a user's machine would.

The slow variants (the issue's own sizes and a 40 s lock) are marked `slow`: `python -m pytest
-m slow` runs them, and so does CI.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    FAST_WAITS,
    count_rows,
    dump,
    duplicate_emails,
    files_in,
    finish,
    integrity,
    orphan_orders,
    racing_inputs,
    read_only,
    start_cli,
    wait_for_rows,
    write_records,
)
from tui_insert.core.checks import database_paths
from tui_insert.core.generate import generate_dataset
from tui_insert.core.storage import prepare_stores
from tui_insert.core.stores import store_targets
from tui_insert.core.stores.sqlite import connect

# --- what must hold at every moment -----------------------------------------------------------


def assert_invariants(db_dir: Path) -> None:
    assert integrity(db_dir) == {"users": "ok", "products": "ok", "orders": "ok"}
    assert orphan_orders(db_dir) == []
    assert duplicate_emails(db_dir) == []
    for name, path in database_paths(db_dir).items():
        conn = sqlite3.connect(path)
        rows, ids = conn.execute(f"SELECT count(*), count(DISTINCT id) FROM {name}").fetchone()
        conn.close()
        assert rows == ids, f"{name}: an id stored twice"


def assert_clean_exit(code: int, err: str) -> None:
    assert code == 0, err
    assert "Traceback" not in err and "IntegrityError" not in err, err


def rows(db_dir: Path, table: str) -> dict[int, tuple]:
    return {row[0]: row for row in dump(db_dir)[table]}


def run_args(data: Path, db_dir: Path, *more: str) -> list[str | Path]:
    return ["run", "--headless", "--json", "--data", data, "--db-dir", db_dir, *more]


# --- two runs at once --------------------------------------------------------------------------


def _prestored_users(db_dir: Path, count: int) -> None:
    """`count` users already stored by another program (ids 1,000,001…, emails pre{i}@p.co)."""
    prepare_stores(store_targets(db_dir))
    conn = sqlite3.connect(database_paths(db_dir)["users"])
    conn.executemany(
        "INSERT INTO users VALUES (?, ?, ?)",
        ((1_000_000 + i, f"p{i}", f"pre{i}@p.co") for i in range(1, count + 1)),
    )
    conn.commit()
    conn.close()


@pytest.fixture(scope="module")
def racing_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db_dir = tmp_path_factory.mktemp("race") / "db"
    _prestored_users(db_dir, 100_000)
    return db_dir


def _race(db_dir: Path, x: Path, w: Path, start_w: Any) -> list[dict]:
    """Run X, start W once `start_w()` returns, and check what must hold of both."""
    before = count_rows(database_paths(db_dir)["users"], "users")
    run_x = start_cli(*run_args(x, db_dir))
    start_w(run_x)
    run_w = start_cli(*run_args(w, db_dir))
    reports = []
    for proc in (run_x, run_w):
        code, out, err = finish(proc)
        assert_clean_exit(code, err)
        reports.append(json.loads(out))
    assert_invariants(db_dir)
    stored = count_rows(database_paths(db_dir)["users"], "users")
    assert sum(r["tables"]["users"]["inserted"] for r in reports) == stored - before
    return reports


@pytest.mark.parametrize("overlapping_ids", [False, True], ids=["other-ids", "same-ids"])
@pytest.mark.parametrize("start_at", [0, 1, 30_000])
def test_two_runs_racing_on_case_variant_emails(
    racing_template: Path, tmp_path: Path, start_at: int, overlapping_ids: bool
) -> None:
    """Run W starts at several moments of run X: at once, and once X has committed 1 or
    30,000 of its 100,000 users, so that X commits again while W is still reading the
    100,000 users stored before. W's emails differ from X's only in case: exactly one of
    each is stored, whichever run gets it."""
    db_dir = tmp_path / "db"
    shutil.copytree(racing_template, db_dir)
    x, w = racing_inputs(tmp_path, 100_000, 30_000, overlapping_ids)
    users_db = database_paths(db_dir)["users"]

    def start_w(run_x: subprocess.Popen[bytes]) -> None:
        if start_at:
            wait_for_rows(users_db, "users", run_x, at_least=100_000 + start_at)

    reports = _race(db_dir, x, w, start_w)
    assert sum(r["tables"]["users"]["inserted"] for r in reports) == 100_000


@pytest.mark.slow
def test_two_runs_racing_at_the_issues_sizes(tmp_path: Path) -> None:
    """300,000 stored users, two runs of 100,000, W started 0.2–0.9 s after X, 20 tries (the
    old engine stored 10,000–100,000 emails twice in 11 of 20)."""
    template = tmp_path / "template"
    _prestored_users(template, 300_000)
    rnd = random.Random(8)
    for overlapping_ids in (False, True):
        x, w = racing_inputs(tmp_path / f"in-{overlapping_ids}", 100_000, 100_000, overlapping_ids)
        for attempt in range(10):
            db_dir = tmp_path / f"db-{overlapping_ids}-{attempt}"
            shutil.copytree(template, db_dir)
            delay = rnd.uniform(0.2, 0.9)
            reports = _race(db_dir, x, w, lambda _run, delay=delay: time.sleep(delay))
            assert sum(r["tables"]["users"]["inserted"] for r in reports) == 100_000
            shutil.rmtree(db_dir)


# --- a reset during a run ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_60k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data60k")
    generate_dataset(out, 60_000, invalid_share=0.05, seed=7, fmt="jsonl")
    return out


def _parsed(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None  # one of the generator's broken lines: never inserted


def _inputs(data: Path) -> dict[str, list[Any]]:
    return {
        name: [_parsed(line) for line in (data / f"{name}.jsonl").read_text().splitlines()]
        for name in ("users", "products", "orders")
    }


def _row_of(table: str, record: dict[str, Any]) -> tuple:
    fields = {
        "users": ("id", "name", "email"),
        "products": ("id", "name", "price"),
        "orders": ("id", "user_id", "product_id", "quantity"),
    }[table]
    return tuple(record[f] for f in fields)


def assert_report_true_after_resets(
    db_dir: Path, report: dict, inputs: dict[str, list[Any]]
) -> None:
    """What a run that met resets reports is still true: the rows stored are exactly the
    records it reported inserted after the last reset (a tail of them, as commits follow
    input order), with exactly their values."""
    for table in ("users", "products", "orders"):
        inserted = [
            r["position"]
            for r in report["records"]
            if r["table"] == table and r["status"] == "inserted"
        ]
        stored = rows(db_dir, table)
        tail = inserted[len(inserted) - len(stored) :] if stored else []
        expected = {_row_of(table, inputs[table][p - 1]) for p in tail}
        assert set(stored.values()) == expected, table


def _reset_during(data: Path, db_dir: Path, ready: Any) -> tuple[dict, str]:
    run = start_cli(*run_args(data, db_dir))
    ready(run)
    reset = start_cli("reset", "--db-dir", db_dir)
    code, out, err = finish(reset)
    assert_clean_exit(code, err)
    code, report, err = finish(run)
    assert_clean_exit(code, err)
    assert_invariants(db_dir)
    return json.loads(report), out


@pytest.mark.parametrize("moment", ["users", "orders"])
def test_a_reset_during_a_run(data_60k: Path, tmp_path: Path, moment: str) -> None:
    """A reset while the run writes users (and products), and once it writes orders too: no
    stored order ever lacks its user or product, and the run's report stays true."""
    db_dir = tmp_path / "db"
    paths = database_paths(db_dir)

    def ready(run: subprocess.Popen[bytes]) -> None:
        if moment == "users":
            wait_for_rows(paths["users"], "users", run, at_least=20_000)
        else:
            wait_for_rows(paths["orders"], "orders", run, at_least=1)

    report, said = _reset_during(data_60k, db_dir, ready)
    inputs = _inputs(data_60k)
    assert_report_true_after_resets(db_dir, report, inputs)
    assert "rows removed" in said
    if moment == "users":
        # Orders decided after the reset were judged against what was stored then: some name
        # a user this very run inserted before the reset, and are `unknown_user`.
        before_reset = {
            inputs["users"][r["position"] - 1]["id"]
            for r in report["records"]
            if r["table"] == "users" and r["status"] == "inserted"
        } - set(rows(db_dir, "users"))
        gone = [
            r
            for r in report["records"]
            if r["table"] == "orders"
            and any(x["code"] == "unknown_user" for x in r.get("reasons", []))
            and inputs["orders"][r["position"] - 1]["user_id"] in before_reset
        ]
        assert gone


def test_resets_during_two_runs(data_60k: Path, tmp_path: Path) -> None:
    """Three resets while two runs write the same databases, one of them with many short
    commits (a latency makes each record its own chunk)."""
    db_dir = tmp_path / "db"
    small = write_records(
        tmp_path / "small",
        **{k: v[:3000] for k, v in _inputs(data_60k).items()},
    )
    first = start_cli(*run_args(data_60k, db_dir))
    wait_for_rows(database_paths(db_dir)["users"], "users", first, at_least=10_000)
    second = start_cli(*run_args(small, db_dir, "--latency", "1ms", "--workers", "4"))
    users_db = database_paths(db_dir)["users"]
    resets = 0
    while resets < 3 and second.poll() is None:
        if count_rows(users_db, "users") == 0:  # just emptied: let the runs write again
            time.sleep(0.01)
            continue
        code, _, err = finish(start_cli("reset", "--db-dir", db_dir))
        assert_clean_exit(code, err)
        assert_invariants(db_dir)
        resets += 1
    assert resets >= 1, "the runs ended before a reset"
    for proc in (first, second):
        code, _, err = finish(proc)
        assert_clean_exit(code, err)
    assert_invariants(db_dir)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [1.0, 1.5, 2.5])
def test_a_reset_during_a_run_at_the_issues_sizes(tmp_path: Path, delay: float) -> None:
    """The issue's reproduction: 300,000 records a table as .json, a reset after `delay` s
    (the old engine left 255,117 orders naming no stored user)."""
    data = tmp_path / "j300"
    generate_dataset(data, 300_000, invalid_share=0.05, seed=7, fmt="json")
    db_dir = tmp_path / "R"
    report, _ = _reset_during(data, db_dir, lambda _run: time.sleep(delay))
    inputs = {n: json.loads((data / f"{n}.json").read_text()) for n in database_paths(db_dir)}
    assert_report_true_after_resets(db_dir, report, inputs)


# --- all or nothing before writing ------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["reset"],
        ["run", "--headless"],
        ["run", "--headless", "--reset"],
    ],
)
@pytest.mark.parametrize("emptied", [False, True], ids=["filled", "empty"])
def test_a_read_only_users_db_writes_nothing_anywhere(
    used_db_dir: Path, command: list[str], emptied: bool
) -> None:
    if emptied:
        assert finish(start_cli("reset", "--db-dir", used_db_dir))[0] == 0
    before = files_in(used_db_dir)
    with read_only(database_paths(used_db_dir)["users"]):
        code, out, err = finish(start_cli(*command, "--db-dir", used_db_dir))
    assert code == 2, err
    assert err.count("\n") == 1 and "users.db" in err and "read-only" in err, err
    assert files_in(used_db_dir) == before


@pytest.mark.parametrize("table", ["users", "orders"])
def test_an_append_only_database_writes_nothing_anywhere(used_db_dir: Path, table: str) -> None:
    """`chattr +a`: even root may only append, which SQLite cannot do with its pages."""
    path = database_paths(used_db_dir)[table]
    if subprocess.run(["chattr", "+a", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +a is not possible here")
    try:
        before = files_in(used_db_dir)
        code, _, err = finish(start_cli("run", "--headless", "--reset", "--db-dir", used_db_dir))
    finally:
        subprocess.run(["chattr", "-a", str(path)], check=True)
    assert code == 2 and f"{table}.db" in err and "append-only" in err, err
    assert files_in(used_db_dir) == before


def test_a_read_only_folder_writes_nothing(used_db_dir: Path) -> None:
    before = files_in(used_db_dir)
    with read_only(used_db_dir):
        code, _, err = finish(start_cli("reset", "--db-dir", used_db_dir))
    assert code == 2 and "read-only" in err, err
    assert files_in(used_db_dir) == before


# --- a lock held for long ---------------------------------------------------------------------


def _read_stderr_until(proc: subprocess.Popen[bytes], words: str, timeout: float = 30) -> str:
    """Read the process's stderr until a line holds `words`; fails after `timeout` s."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while not any(words in line and line.endswith("\n") for line in seen.decode().splitlines(True)):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0))
        if not ready:
            raise AssertionError(f"no line with {words!r} after {timeout} s: {seen.decode()}")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise AssertionError(f"no line with {words!r}; stderr: {seen.decode()}")
        seen += chunk
    return seen.decode()


@pytest.mark.parametrize("locked", ["users", "orders"])
def test_reset_waits_out_a_lock_and_then_empties_everything(used_db_dir: Path, locked: str) -> None:
    """Another program holds the write lock of one file: the reset says it waits, empties
    nothing meanwhile, and empties all three once the lock is gone."""
    paths = database_paths(used_db_dir)
    blocker = sqlite3.connect(paths[locked], isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    reset = start_cli("reset", "--db-dir", used_db_dir, env=FAST_WAITS)
    said = _read_stderr_until(reset, "waiting (")
    assert f"{paths[locked]}: locked by another program" in said
    _read_stderr_until(reset, "waiting (")  # a second notice, and still nothing emptied
    assert {n: count_rows(p, n) for n, p in paths.items()} == {
        "users": 8,
        "products": 9,
        "orders": 7,
    }
    blocker.execute("ROLLBACK")
    blocker.close()
    code, out, err = finish(reset)
    assert code == 0, err
    assert "going on" in err
    assert {n: count_rows(p, n) for n, p in paths.items()} == {n: 0 for n in paths}


def test_an_exclusive_lock_on_a_rollback_journal_database_is_waited_out(tmp_path: Path) -> None:
    """Another program made users.db itself (no WAL) and holds it exclusive: even reading
    it must wait, and does, with notices."""
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    users_db = database_paths(db_dir)["users"]
    blocker = sqlite3.connect(users_db, isolation_level=None)
    blocker.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
    blocker.execute("BEGIN EXCLUSIVE")
    blocker.execute("INSERT INTO users VALUES (100, 'Mine', 'mine@example.com')")
    run = start_cli("run", "--headless", "--json", "--db-dir", db_dir, env=FAST_WAITS)
    assert f"{users_db}: locked by another program" in _read_stderr_until(run, "waiting (")
    blocker.execute("COMMIT")
    code, _, err = finish(run)
    assert code == 0, err
    # The run stored the sample next to the other program's user.
    assert 100 in rows(db_dir, "users") and len(rows(db_dir, "users")) == 9
    blocker.execute("BEGIN EXCLUSIVE")
    reset = start_cli("reset", "--db-dir", db_dir, env=FAST_WAITS)
    assert f"{users_db}: locked by another program" in _read_stderr_until(reset, "waiting (")
    blocker.execute("ROLLBACK")
    blocker.close()
    code, _, err = finish(reset)
    assert code == 0, err
    assert rows(db_dir, "users") == {}


def test_a_run_waits_out_a_lock_and_says_so(used_db_dir: Path, tmp_path: Path) -> None:
    paths = database_paths(used_db_dir)
    assert finish(start_cli("reset", "--db-dir", used_db_dir))[0] == 0
    blocker = sqlite3.connect(paths["products"], isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    run = start_cli("run", "--headless", "--json", "--db-dir", used_db_dir, env=FAST_WAITS)
    said = _read_stderr_until(run, "waiting (")
    assert f"{paths['products']}: locked by another program" in said
    blocker.execute("ROLLBACK")
    blocker.close()
    code, out, err = finish(run)
    assert code == 0, err
    assert json.loads(out)["tables"]["products"]["inserted"] == 9


@contextlib.contextmanager
def reference_lock(db_dir: Path, table: str, how: int) -> Iterator[int]:
    """Hold `table`'s reference lock as tui-insert's other processes would: shared as an
    orders commit under way, exclusive as a reset."""
    fd = os.open(database_paths(db_dir)[table], os.O_RDONLY)  # the lock is on the file itself
    try:
        fcntl.flock(fd, how)
        yield fd
    finally:
        os.close(fd)


def test_a_reset_waits_for_an_orders_commit_under_way(used_db_dir: Path) -> None:
    """An orders commit relies on users.db's rows: the reset empties nothing until it is
    through, and then everything."""
    paths = database_paths(used_db_dir)
    with reference_lock(used_db_dir, "users", fcntl.LOCK_SH):
        reset = start_cli("reset", "--db-dir", used_db_dir, env=FAST_WAITS)
        said = _read_stderr_until(reset, "waiting (")
        assert f"{paths['users']}: in use by a running tui-insert" in said
        assert [count_rows(p, n) for n, p in paths.items()] == [8, 9, 7]
    code, _, err = finish(reset)
    assert code == 0, err
    assert [count_rows(p, n) for n, p in paths.items()] == [0, 0, 0]


def test_orders_wait_while_a_reset_removes_users(used_db_dir: Path) -> None:
    """While a reset holds users.db's reference lock, users and products go in, but not one
    order: it could name a user the reset is about to remove."""
    paths = database_paths(used_db_dir)
    assert finish(start_cli("reset", "--db-dir", used_db_dir))[0] == 0
    with reference_lock(used_db_dir, "users", fcntl.LOCK_EX):
        run = start_cli("run", "--headless", "--json", "--db-dir", used_db_dir, env=FAST_WAITS)
        said = _read_stderr_until(run, "being emptied by a reset")
        assert str(paths["users"]) in said
        wait_for_rows(paths["users"], "users", run, at_least=8)
        wait_for_rows(paths["products"], "products", run, at_least=9)
        assert count_rows(paths["orders"], "orders") == 0
    code, out, err = finish(run)
    assert code == 0, err
    assert json.loads(out)["tables"]["orders"]["inserted"] == 7


def test_orders_let_go_of_the_reference_locks_while_their_write_lock_is_taken(
    used_db_dir: Path,
) -> None:
    """Another program holds orders.db's write lock: the orders node waits for it without
    keeping users.db's and products.db's reference locks, so a reset is never kept out by
    orders queueing for their own lock."""
    paths = database_paths(used_db_dir)
    assert finish(start_cli("reset", "--db-dir", used_db_dir))[0] == 0
    blocker = sqlite3.connect(paths["orders"], isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    run = start_cli("run", "--headless", "--json", "--db-dir", used_db_dir, env=FAST_WAITS)
    _read_stderr_until(run, f"{paths['orders']}: locked by another program")
    for table in ("users", "products"):
        for _ in range(10):  # as a reset would take it, at moments spread over a second
            time.sleep(0.05)
            deadline = time.monotonic() + 2
            with reference_lock(used_db_dir, table, fcntl.LOCK_SH) as fd:
                fcntl.flock(fd, fcntl.LOCK_UN)
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        assert time.monotonic() < deadline, f"{table}: kept shared"
                        time.sleep(0.001)
    blocker.execute("ROLLBACK")
    blocker.close()
    code, out, err = finish(run)
    assert code == 0, err
    assert json.loads(out)["tables"]["orders"]["inserted"] == 7


@pytest.mark.slow
def test_a_lock_held_for_40_seconds_during_reset(used_db_dir: Path) -> None:
    """With the default notice interval (a line every 5 s)."""
    paths = database_paths(used_db_dir)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
            " c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(40)",
            str(paths["users"]),
        ],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
    started = time.monotonic()
    code, out, err = finish(start_cli("reset", "--db-dir", used_db_dir), timeout=120)
    assert code == 0, err
    assert time.monotonic() - started > 35
    assert 6 <= err.count("locked by another program; waiting") <= 9, err
    assert {n: count_rows(p, n) for n, p in paths.items()} == {n: 0 for n in paths}
    holder.wait(timeout=30)


# --- a file that changes identity ------------------------------------------------------------


def _fresh_users_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
    conn.execute("INSERT INTO users VALUES (7, 'someone else', 'else@example.com')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("change", ["delete", "move", "replace"])
def test_a_users_db_that_changes_identity_mid_run_fails_the_run(
    data_60k: Path, tmp_path: Path, change: str
) -> None:
    db_dir = tmp_path / "db"
    users_db = database_paths(db_dir)["users"]
    run = start_cli(*run_args(data_60k, db_dir))
    wait_for_rows(users_db, "users", run, at_least=10_000)
    side = [users_db.with_name(users_db.name + s) for s in ("-wal", "-shm")]
    if change == "delete":
        for path in (users_db, *side):
            path.unlink()
    elif change == "move":
        users_db.rename(tmp_path / "moved.db")
    else:
        _fresh_users_db(tmp_path / "fresh.db")
        os.replace(tmp_path / "fresh.db", users_db)
    code, out, err = finish(run)
    assert code == 1, err
    assert str(users_db) in err and "Traceback" not in err, err
    assert ("replaced" if change == "replace" else "deleted or moved") in err
    if change == "replace":
        # The replacement is left as it was: the old file's log was not read into it.
        assert rows(db_dir, "users") == {7: (7, "someone else", "else@example.com")}
        assert integrity(db_dir)["users"] == "ok"
    if change == "move":
        # What the run committed is in the moved file, complete.
        conn = sqlite3.connect(tmp_path / "moved.db")
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] >= 10_000
        conn.close()


@pytest.mark.parametrize("table", ["users", "orders"])
def test_a_log_deleted_under_a_paused_run_never_overwrites_another_runs_rows(
    tmp_path: Path, table: str
) -> None:
    """Run A is paused (Ctrl-Z, say) while `table`'s log and index are deleted; run B then
    completes on a fresh log. When A goes on it finds out and stops, and what B reported
    stays stored: A's old log is never copied over the file. (A writes only `table`, so that
    no lock it holds while paused keeps B waiting.)"""
    db_dir = tmp_path / "db"
    setup = write_records(
        tmp_path / "setup",
        users=[{"id": i, "name": f"s{i}", "email": f"s{i}@x.co"} for i in range(1, 301)],
        products=[{"id": 1, "name": "P", "price": 1.0}],
    )
    assert finish(start_cli(*run_args(setup, db_dir)))[0] == 0
    if table == "users":
        mine = {
            "users": [{"id": 1000 + i, "name": f"a{i}", "email": f"a{i}@x.co"} for i in range(300)]
        }
    else:
        mine = {
            "orders": [
                {"id": i, "user_id": i, "product_id": 1, "quantity": 1} for i in range(1, 301)
            ]
        }
    data_a = write_records(tmp_path / "a", **mine)
    data_b = write_records(
        tmp_path / "b",
        users=[{"id": 2000 + i, "name": f"b{i}", "email": f"b{i}@x.co"} for i in range(300)],
        orders=[
            {"id": 5000 + i, "user_id": 2000 + i, "product_id": 1, "quantity": 2}
            for i in range(300)
        ],
    )
    path = database_paths(db_dir)[table]
    before = count_rows(path, table)
    run_a = start_cli(*run_args(data_a, db_dir, "--latency", "1ms"))
    wait_for_rows(path, table, run_a, at_least=before + 20)
    os.killpg(run_a.pid, signal.SIGSTOP)
    try:
        for side in ("-wal", "-shm"):
            path.with_name(path.name + side).unlink()
        code, out, err = finish(start_cli(*run_args(data_b, db_dir)))
        assert code == 0, err
        report_b = json.loads(out)
    finally:
        os.killpg(run_a.pid, signal.SIGCONT)
    code, _, err = finish(run_a)
    assert code == 1 and str(path) in err and "log" in err, err
    assert_invariants(db_dir)
    assert {n: report_b["tables"][n]["inserted"] for n in ("users", "orders")} == {
        "users": 300,
        "orders": 300,
    }
    assert {2000 + i for i in range(300)} <= set(rows(db_dir, "users"))
    assert {5000 + i for i in range(300)} <= set(rows(db_dir, "orders"))


def test_a_reset_through_symbolic_links_keeps_out_orders_of_the_real_files(tmp_path: Path) -> None:
    """A reset reached the databases through links in another folder while a run writes the
    files themselves: the reference locks are the files', whatever the path."""
    db_dir = tmp_path / "db"
    linked = tmp_path / "linked"
    linked.mkdir()
    data = write_records(
        tmp_path / "data",
        users=[{"id": i, "name": f"U{i}", "email": f"u{i}@x.co"} for i in range(1, 201)],
        products=[{"id": i, "name": f"P{i}", "price": 1.0} for i in range(1, 201)],
        orders=[
            {"id": i, "user_id": 1 + i % 200, "product_id": 1 + i % 200, "quantity": 1}
            for i in range(1, 3001)
        ],
    )
    run = start_cli(*run_args(data, db_dir, "--latency", "1ms"))
    wait_for_rows(database_paths(db_dir)["orders"], "orders", run, at_least=20)
    for path in database_paths(db_dir).values():
        (linked / path.name).symlink_to(path)
    for _ in range(3):
        code, _, err = finish(start_cli("reset", "--db-dir", linked))
        assert_clean_exit(code, err)
        assert_invariants(db_dir)
    code, _, err = finish(run)
    assert_clean_exit(code, err)
    assert_invariants(db_dir)


def test_a_users_db_replaced_while_only_orders_still_run(tmp_path: Path) -> None:
    """The users node is done; the orders node still relies on users.db and finds out."""
    data = write_records(
        tmp_path / "data",
        users=[{"id": 1, "name": "A", "email": "a@example.com"}],
        products=[{"id": 1, "name": "P", "price": 2.5}],
        orders=[{"id": i, "user_id": 1, "product_id": 1, "quantity": 1} for i in range(1, 3001)],
    )
    db_dir = tmp_path / "db"
    run = start_cli(*run_args(data, db_dir, "--latency", "1ms"))
    wait_for_rows(database_paths(db_dir)["orders"], "orders", run, at_least=50)
    users_db = database_paths(db_dir)["users"]
    _fresh_users_db(tmp_path / "fresh.db")
    os.replace(tmp_path / "fresh.db", users_db)
    code, _, err = finish(run)
    assert code == 1 and str(users_db) in err and "replaced" in err, err


# --- a reset that fails midway --------------------------------------------------------------


@contextlib.contextmanager
def small_disk(folder: Path) -> Iterator[Path]:
    """A 2 MB file system of its own at `folder` (skips where mounting is not possible)."""
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def test_a_reset_that_fails_midway_names_what_it_emptied_and_completes_when_run_again(
    tmp_path: Path,
) -> None:
    """products.db lives on a disk that is full by the time the reset commits: orders.db is
    emptied first, the message says so, and the invariants hold; once there is room, the
    reset run again completes."""
    db_dir = tmp_path / "db"
    products = [{"id": i, "name": f"P{i}", "price": 1.5} for i in range(1, 3001)]
    data = write_records(
        tmp_path / "data",
        users=[{"id": 1, "name": "A", "email": "a@example.com"}],
        products=products,
        orders=[{"id": i, "user_id": 1, "product_id": i, "quantity": 1} for i in range(1, 3001)],
    )
    with small_disk(tmp_path / "disk") as disk:
        db_dir.mkdir()
        (disk / "products.db").touch()
        (db_dir / "products.db").symlink_to(disk / "products.db")
        code, _, err = finish(start_cli("run", "--headless", "--data", data, "--db-dir", db_dir))
        assert code == 0, err
        # Keep the log and its index allocated (an open connection), then fill the disk.
        holder = sqlite3.connect(disk / "products.db")
        holder.execute("SELECT count(*) FROM products").fetchone()
        filler = disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, bytes(4096))
        os.close(fd)
        code, out, err = finish(start_cli("reset", "--db-dir", db_dir))
        assert code == 1, err
        assert "Traceback" not in err
        assert "products.db: disk full" in err, err
        assert f"Emptied so far: {db_dir / 'orders.db'}." in err, err
        assert_invariants(db_dir)
        assert count_rows(db_dir / "orders.db", "orders") == 0
        assert count_rows(db_dir / "products.db", "products") == 3000
        filler.unlink()
        holder.close()
        code, out, err = finish(start_cli("reset", "--db-dir", db_dir))
        assert code == 0, err
        assert {n: count_rows(p, n) for n, p in database_paths(db_dir).items()} == {
            "users": 0,
            "products": 0,
            "orders": 0,
        }


# --- durable when reported ------------------------------------------------------------------


def test_commits_sync_the_log_every_time(tmp_path: Path) -> None:
    """In WAL mode only synchronous=FULL syncs the log at every commit."""
    conn = connect(tmp_path / "x.db", create=True)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    conn.close()
