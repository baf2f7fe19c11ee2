"""Check-then-insert races: many workers, and two processes, on data full of duplicates."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import dump, duplicate_emails, orphan_orders, run_engine, wait_for_rows
from tui_insert.core.engine import Run
from tui_insert.core.sources import find_sources


@pytest.fixture(scope="module")
def clashing_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4,000 users drawing from 300 emails in random case, ids that repeat, and orders
    naming users and products that may or may not make it."""
    out = tmp_path_factory.mktemp("clash")
    rnd = random.Random(3)
    pool = [f"person{i}@example.com" for i in range(300)]

    def variant(email: str) -> str:
        return "".join(c.upper() if rnd.random() < 0.5 else c for c in email)

    users = [
        {"id": rnd.randint(1, 3000), "name": f"U{i}", "email": variant(rnd.choice(pool))}
        for i in range(4000)
    ]
    products = [
        {"id": rnd.randint(1, 1500), "name": f"P{i}", "price": rnd.choice([9.5, 0, 12])}
        for i in range(2000)
    ]
    orders = [
        {
            "id": rnd.randint(1, 5000),
            "user_id": rnd.randint(1, 3200),
            "product_id": rnd.randint(1, 1600),
            "quantity": rnd.randint(1, 3),
        }
        for i in range(6000)
    ]
    for name, records in (("users", users), ("products", products), ("orders", orders)):
        (out / f"{name}.json").write_text(json.dumps(records))
    return out


def test_32_workers_store_no_duplicate_and_no_orphan(clashing_data: Path, tmp_path: Path) -> None:
    run_engine(tmp_path / "one", clashing_data, workers=1)
    # Chunks of 50 records: dozens of chunks per table, so the 32 workers really contend.
    run, _ = run_engine(tmp_path / "many", clashing_data, workers=32, chunk_size=50)
    assert duplicate_emails(tmp_path / "many") == []
    assert orphan_orders(tmp_path / "many") == []
    assert dump(tmp_path / "many") == dump(tmp_path / "one")
    # The data really clashes: most users are turned away.
    assert run.progress["users"].inserted <= 300
    assert run.progress["users"].reason_counts["duplicate_email"] > 3000


def _clashing_set(out: Path, seed: int, emails: range, ids: range) -> Path:
    rnd = random.Random(seed)
    users = [
        {
            "id": rnd.choice(ids),
            "name": f"U{i}",
            "email": "".join(
                c.upper() if rnd.random() < 0.5 else c
                for c in f"person{rnd.choice(emails)}@example.com"
            ),
        }
        for i in range(1500)
    ]
    orders = [
        {"id": rnd.choice(ids), "user_id": rnd.choice(ids), "product_id": 1, "quantity": 1}
        for i in range(1500)
    ]
    out.mkdir()
    (out / "users.json").write_text(json.dumps(users))
    (out / "products.json").write_text(json.dumps([{"id": 1, "name": "P", "price": 1.0}]))
    (out / "orders.json").write_text(json.dumps(orders))
    return out


def test_two_processes_writing_the_same_databases(tmp_path: Path) -> None:
    """Two processes with overlapping emails and ids, in single-record transactions (a
    simulated latency), the second started once the first has stored something."""
    first = _clashing_set(tmp_path / "a", 1, range(0, 400), range(1, 3000))
    second = _clashing_set(tmp_path / "b", 2, range(200, 600), range(1500, 4500))
    shared = tmp_path / "shared"

    def start(data: Path) -> subprocess.Popen[bytes]:
        command = [
            sys.executable, "-m", "tui_insert", "run", "--headless", "--json",
            "--data", str(data), "--db-dir", str(shared), "--workers", "4", "--latency", "1ms",
        ]  # fmt: skip
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    procs = [start(first)]
    wait_for_rows(shared / "users.db", "users", procs[0])
    procs.append(start(second))
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        reports.append(json.loads(out))
    assert reports[0]["tables"]["users"]["total"] == 1500
    assert duplicate_emails(shared) == []
    assert orphan_orders(shared) == []
    # Each stored record was reported inserted by exactly one of the two processes.
    for table, rows in dump(shared).items():
        assert sum(r["tables"][table]["inserted"] for r in reports) == len(rows), table
    # The second process met the first one's users (the race was real).
    codes = [
        reason["code"]
        for record in reports[1]["records"]
        if record["table"] == "users" and record["status"] == "rejected"
        for reason in record["reasons"]
    ]
    assert "duplicate_email" in codes


def test_a_locked_database_is_waited_out_not_a_failed_record(db_dir: Path) -> None:
    """Another process holds the write lock of users.db while the run starts."""
    run = Run(find_sources(None), db_dir)
    try:
        run.prepare()
        blocker = sqlite3.connect(db_dir / "users.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        run.start()
        while run.progress["orders"].processed == 0 and not run.progress["products"].done:
            assert not run.wait(0.01)
        assert run.progress["users"].processed == 0  # still waiting for the lock
        blocker.execute("ROLLBACK")
        blocker.close()
        assert run.wait(60)
        assert run.state == "completed", run.error
        assert {n: p.inserted for n, p in run.progress.items()} == {
            "users": 8,
            "products": 9,
            "orders": 7,
        }
    finally:
        run.close()
