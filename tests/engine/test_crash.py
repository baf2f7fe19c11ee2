"""A process killed mid-run leaves consistent databases, and running again completes the job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import dump, integrity, orphan_orders, run_engine, wait_for_rows
from tui_insert.core.engine import Run, plan_run
from tui_insert.core.generate import generate_dataset
from tui_insert.core.sources import find_sources


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
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


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


def _stop_when(run: Run, ready: Callable[[], bool]) -> float:
    """Wait for `ready` on the run's own progress, stop, and return how long ending took."""
    while not ready():
        assert not run.wait(0.01), "the run ended before it could be stopped"
    asked = time.monotonic()
    run.stop()
    assert run.wait(5), "the workers did not end"
    return time.monotonic() - asked


def test_stop_ends_every_thread_quickly_and_leaves_nothing_half_written(
    big_data: Path, tmp_path: Path
) -> None:
    run_engine(tmp_path / "whole", big_data)
    db_dir = tmp_path / "stopped"
    run = Run(plan_run(find_sources(big_data), db_dir), workers=8)
    run.start()
    took = _stop_when(run, lambda: run.progress["orders"].processed > 0)
    assert took < 0.5
    assert run.state == "stopped"
    assert not [t for t in threading.enumerate() if t.name.startswith(("users-", "orders-"))]
    _assert_consistent(db_dir)
    # What was reported is exactly what is stored.
    stored = dump(db_dir)
    assert {n: p.inserted for n, p in run.progress.items()} == {
        n: len(rows) for n, rows in stored.items()
    }
    run_engine(db_dir, big_data)
    assert dump(db_dir) == dump(tmp_path / "whole")


def test_stop_during_a_simulated_latency(db_dir: Path) -> None:
    run = Run(plan_run(find_sources(None), db_dir), workers=2, latency=0.2)
    run.start()
    took = _stop_when(run, lambda: run.progress["users"].processed > 0)
    assert took < 0.5
    assert run.state == "stopped"
    _assert_consistent(db_dir)
