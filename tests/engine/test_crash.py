"""A process killed mid-run leaves consistent databases, and running again completes the job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import dump, integrity, orphan_orders, run_engine, running, wait_for_rows
from tui_insert.core.engine import Run
from tui_insert.core.generate import generate_dataset


@pytest.fixture(scope="module")
def big_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("big")
    generate_dataset(out, 100_000, invalid_share=0.05, seed=11, fmt="jsonl")
    return out


def _start(data: Path, db_dir: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "tui_insert", "run", "--headless", "--json",
        "--data", str(data), "--db-dir", str(db_dir),
    ]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL to tui-insert and its node processes at once, as `kill -9 -PGID` does."""
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _assert_consistent(db_dir: Path) -> None:
    assert integrity(db_dir) == {"users": "ok", "products": "ok", "orders": "ok"}
    assert orphan_orders(db_dir) == []


def test_sigkill_mid_run_then_run_again(big_data: Path, tmp_path: Path) -> None:
    run_engine(tmp_path / "whole", big_data)
    expected = dump(tmp_path / "whole")

    db_dir = tmp_path / "killed"
    # First kill: while users and products are being written.
    proc = _start(big_data, db_dir)
    wait_for_rows(db_dir / "users.db", "users", proc, at_least=10_000)
    _kill(proc)
    _assert_consistent(db_dir)
    # Second kill, on the next attempt: once orders are being written too.
    proc = _start(big_data, db_dir)
    stored = wait_for_rows(db_dir / "orders.db", "orders", proc, at_least=1)
    _kill(proc)
    _assert_consistent(db_dir)
    assert dump(db_dir)["orders"], stored
    assert len(dump(db_dir)["orders"]) < len(expected["orders"]), "killed too late"

    run_engine(db_dir, big_data)
    _assert_consistent(db_dir)
    assert dump(db_dir) == expected


def test_nodes_end_when_only_the_main_process_is_killed(big_data: Path, tmp_path: Path) -> None:
    db_dir = tmp_path / "orphans"
    proc = _start(big_data, db_dir)
    wait_for_rows(db_dir / "users.db", "users", proc, at_least=10_000)
    nodes = _children(proc.pid)
    assert len(nodes) >= 3
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in nodes):
        assert time.monotonic() < deadline, "node processes outlived the killed run"
        time.sleep(0.01)
    _assert_consistent(db_dir)


def _stop_when(run: Run, ready: Callable[[], bool]) -> float:
    """Wait for `ready` on the run's own progress, stop, and return how long ending took."""
    while not ready():
        assert not run.wait(0.01), "the run ended before it could be stopped"
    asked = time.monotonic()
    run.stop()
    assert run.wait(5), "the nodes did not end"
    return time.monotonic() - asked


def test_stop_ends_every_node_quickly_and_leaves_nothing_half_written(
    big_data: Path, tmp_path: Path
) -> None:
    run_engine(tmp_path / "whole", big_data)
    db_dir = tmp_path / "stopped"
    with running(db_dir, big_data, workers=8, chunk_size=2000) as run:
        took = _stop_when(run, lambda: run.progress["orders"].processed > 0)
        assert took < 0.5
        assert run.state == "stopped"
        _assert_consistent(db_dir)
        # What was reported is exactly what is stored.
        stored = dump(db_dir)
        assert {n: p.inserted for n, p in run.progress.items()} == {
            n: len(rows) for n, rows in stored.items()
        }
    run_engine(db_dir, big_data)
    assert dump(db_dir) == dump(tmp_path / "whole")


def test_stop_during_a_simulated_latency(db_dir: Path) -> None:
    with running(db_dir, workers=2, latency=0.2) as run:
        took = _stop_when(run, lambda: run.progress["users"].processed > 0)
        assert took < 0.5
        assert run.state == "stopped"
        _assert_consistent(db_dir)
