"""The 30 records of the exercise give exactly the known result, record by record."""

from __future__ import annotations

import time
from pathlib import Path

from tests.helpers import dump, run_engine, running, write_records
from tui_insert.core.engine import Run
from tui_insert.core.node import HeldBack

EXPECTED = {
    "users": {8: ("duplicate_email",), 10: ("invalid_name",)},
    "products": {10: ("invalid_price",)},
    "orders": {
        8: ("unknown_user", "invalid_quantity"),
        9: ("invalid_quantity",),
        10: ("unknown_user", "unknown_product"),
    },
}


def test_sample_run_on_empty_databases(db_dir: Path) -> None:
    run, seen = run_engine(db_dir)
    for table, rejected in EXPECTED.items():
        expected = {position: rejected.get(position) for position in range(1, 11)}
        assert seen.codes(table) == expected, table
        assert [r["position"] for r in seen.records[table]] == list(range(1, 11))
        assert [r["id"] for r in seen.records[table]] == list(range(1, 11))
    assert {n: (p.total, p.inserted, p.rejected) for n, p in run.progress.items()} == {
        "users": (10, 8, 2),
        "products": (10, 9, 1),
        "orders": (10, 7, 3),
    }
    assert seen.messages("users", 8) == ["alice@example.com is already used by user 1"]
    stored = dump(db_dir)
    assert [row[0] for row in stored["users"]] == [1, 2, 3, 4, 5, 6, 7, 9]
    assert stored["users"][0] == (1, "Alice", "alice@example.com")
    assert [row[0] for row in stored["products"]] == list(range(1, 10))
    assert stored["products"][6] == (7, "Laptop", 1000.0)
    assert stored["orders"] == [
        (1, 1, 1, 2),
        (2, 2, 2, 1),
        (3, 3, 3, 5),
        (4, 4, 4, 1),
        (5, 5, 5, 3),
        (6, 6, 6, 4),
        (7, 7, 7, 2),
    ]


def test_rerun_inserts_nothing_new(db_dir: Path) -> None:
    run_engine(db_dir)
    before = dump(db_dir)
    run, seen = run_engine(db_dir)
    assert dump(db_dir) == before
    assert all(p.inserted == 0 for p in run.progress.values())
    for table, rejected in EXPECTED.items():
        for position, codes in seen.codes(table).items():
            if position not in rejected:  # accepted the first time: now a duplicate
                expected = (
                    ("duplicate_id", "duplicate_email") if table == "users" else ("duplicate_id",)
                )
                assert codes == expected, (table, position)
    # What was rejected the first time is rejected for the same reasons (user 10's email
    # was never stored, so it is not a duplicate).
    assert seen.codes("users")[10] == ("invalid_name",)
    assert seen.codes("orders")[8] == ("unknown_user", "invalid_quantity")


def test_reset_flag_starts_from_empty_databases(db_dir: Path) -> None:
    run_engine(db_dir)
    run, _ = run_engine(db_dir, reset=True)
    assert {n: p.inserted for n, p in run.progress.items()} == {
        "users": 8,
        "products": 9,
        "orders": 7,
    }


def orders_held_back(run: Run) -> list[HeldBack]:
    """What the orders' node told of its records held back, each change, until the run ends
    (completed)."""
    seen: list[HeldBack] = []
    progress = run.progress["orders"]
    deadline = time.monotonic() + 60
    ended = False
    while not ended:
        ended = run.wait(0.01)  # then one more look: the last news came before the end
        assert time.monotonic() < deadline
        if progress.held is not None and (not seen or seen[-1] != progress.held):
            seen.append(progress.held)
    assert run.state == "completed", run.error
    return seen


def test_orders_say_what_they_wait_for_while_they_wait(db_dir: Path, tmp_path: Path) -> None:
    """Every order names the last user of the file: they wait for it, and the run says so
    (how many orders, for how many users and products, and how many ids have arrived)."""
    count = 30
    data = write_records(
        tmp_path / "data",
        users=[{"id": i, "name": f"u{i}", "email": f"u{i}@x.co"} for i in range(1, count + 1)],
        products=[{"id": 1, "name": "p", "price": 1.0}],
        orders=[{"id": i, "user_id": count, "product_id": 1, "quantity": 1} for i in range(1, 4)],
    )
    # A latency of 20 ms an insert: the users take about 0.6 s, and the orders wait for them.
    with running(db_dir, data, latency=0.02) as run:
        seen = orders_held_back(run)
    waiting = [held for held in seen if held.records]
    assert waiting, seen
    # With a latency, a chunk is one order: each worker's order waits for user 30.
    assert all(held.records == 1 and held.missing["users"] == 1 for held in waiting)
    assert all(held.arrived["users"] < count for held in waiting)
    assert seen[-1].records == 0
    assert seen[-1].arrived["users"] == count
    assert run.progress["orders"].inserted == 3


def test_orders_tell_the_ids_that_reach_them_also_while_nothing_waits(
    db_dir: Path, tmp_path: Path
) -> None:
    """Every order names user 1, which comes first: once it is in, no order waits, and still
    the orders' node says, as its chunks commit, how many users have reached it so far."""
    count = 100  # 2 s of users at 20 ms each
    data = write_records(
        tmp_path / "data",
        users=[{"id": i, "name": f"u{i}", "email": f"u{i}@x.co"} for i in range(1, count + 1)],
        products=[{"id": 1, "name": "p", "price": 1.0}],
        orders=[
            {"id": i, "user_id": 1, "product_id": 1, "quantity": 1} for i in range(1, count + 1)
        ],
    )
    with running(db_dir, data, latency=0.02) as run:
        seen = orders_held_back(run)
    users_in = [held.arrived["users"] for held in seen]
    # (The orders may be done before the last users arrive: they need user 1 only.)
    assert users_in == sorted(users_in) and users_in[-1] <= count
    # (Only the first order may wait, for user 1 to arrive at all.) Told while none waited
    # and users still came:
    told = {held.arrived["users"] for held in seen if held.records == 0}
    assert len({n for n in told if 1 <= n < count}) >= 2, seen


def test_each_table_keeps_when_it_decided_its_records(db_dir: Path) -> None:
    """The timeline the summary draws: points in time order from nothing decided at the start
    of the run, counts that only grow, the last one the table's total, no later than the
    table's end."""
    with running(db_dir, latency=0.01) as run:
        assert run.wait(60) and run.state == "completed", run.error
    for name, progress in run.progress.items():
        points = progress.timeline
        assert points, name
        times = [t for t, _ in points]
        counts = [c for _, c in points]
        assert times == sorted(times) and points[0] == (0.0, 0), name
        assert counts == sorted(counts) and counts[-1] == progress.processed == 10, name
        assert times[-1] <= progress.elapsed + 1e-6, name
