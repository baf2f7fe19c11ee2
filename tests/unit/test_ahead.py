"""Orders read ahead (ahead.py): what waits packed is handed out exactly as it was read."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from tui_insert.core import ahead
from tui_insert.core.ahead import ReadAhead, pack, unpack
from tui_insert.core.rules import BadRecord, check_orders
from tui_insert.core.sources import Source, open_reader
from tui_insert.core.tables import TABLES
from tui_insert.core.waiting import Stopped

FIELDS = TABLES["orders"].fields


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (True is not 1), keys in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, BadRecord):
        return (a.message, a.text, a.line) == (b.message, b.text, b.line)
    return bool(a == b)


def _odd_order(rnd: random.Random, i: int) -> Any:
    values = [i + 1, rnd.randint(1, 50), rnd.randint(1, 50), rnd.randint(1, 9)]
    kind = rnd.random()
    if kind < 0.5:
        return dict(zip(FIELDS, values, strict=True))  # plain
    record: dict[str, Any] = dict(zip(FIELDS, values, strict=True))
    if kind < 0.6:
        record["note"] = "extra"
    elif kind < 0.7:
        record = dict(reversed(record.items()))
    elif kind < 0.8:
        record[rnd.choice(FIELDS)] = rnd.choice([True, 1.0, "7", None, -1, 2**63, 0])
    elif kind < 0.85:
        del record[rnd.choice(FIELDS)]
    elif kind < 0.9:
        return rnd.choice([[1, 2], "text", None, 3, BadRecord("line 3 is broken", "{", 3)])
    return record


def _expect_round_trip(given: Any, records: list[Any]) -> None:
    checked = check_orders(records)
    got_given, got_records, got_checked = unpack(FIELDS, pack(FIELDS, given, records, checked))
    assert _same(list(got_given), list(given))
    assert _same(list(got_records), records)
    assert _same(got_checked, checked)
    assert len(got_given) == len(got_records) == len(records)
    if records:  # each, and from the end, as the progress report reads them
        assert _same(got_records[-1], records[-1]) and _same(got_given[-1], given[-1])


@pytest.mark.parametrize("seed", range(5))
def test_a_chunk_of_json_orders_packed_is_given_back_exactly(seed: int) -> None:
    rnd = random.Random(seed)
    records = [_odd_order(rnd, i) for i in range(rnd.randint(0, 400))]
    _expect_round_trip(records, records)


def test_a_chunk_of_csv_orders_packed_is_given_back_exactly(tmp_path: Path) -> None:
    """Cells as given stay text as given: 007, +7, 7.0 and extra columns are kept whole."""
    rnd = random.Random(3)
    cells = ["7", "007", "+7", "7.0", " 7", "", "x", "9223372036854775807", "9223372036854775808"]
    lines = ["id,user_id,product_id,quantity,note"]
    for i in range(500):
        row = [str(i + 1), str(rnd.randint(1, 9)), str(rnd.randint(1, 9)), "2", "n"]
        if rnd.random() < 0.4:
            row[rnd.randrange(4)] = rnd.choice(cells)
        if rnd.random() < 0.05:
            row.append("one too many")
        lines.append(",".join(row))
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(lines) + "\n")
    reader = open_reader(Source("orders", path))
    try:
        while True:
            given, records = reader.read_chunk(rnd.randint(1, 60))
            if not records:
                break
            _expect_round_trip(given, records)
    finally:
        reader.close()


def _orders_file(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "orders.jsonl"
    with open(path, "w") as f:
        for i in range(count):
            f.write(json.dumps({"id": i + 1, "user_id": 1, "product_id": 1, "quantity": 1}))
            f.write("\n" if i % 7 else "\n{broken\n")
    return path


def test_read_ahead_hands_out_every_chunk_in_order_as_read(tmp_path: Path) -> None:
    path = _orders_file(tmp_path, 2000)
    direct = open_reader(Source("orders", path))
    expected = []
    while records := direct.read_chunk(64)[1]:
        expected.append((records, check_orders(records)))
    direct.close()
    reader = open_reader(Source("orders", path))
    read_ahead = ReadAhead(reader, check_orders, FIELDS, 64, threading.Event())
    got = []
    while (chunk := read_ahead.take()) is not None:
        _, records, checked = chunk
        got.append((list(records), checked))
    read_ahead.close()
    reader.close()
    assert _same(got, expected)


def test_read_ahead_stops_at_its_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ahead, "MAX_AHEAD", 100)
    reader = open_reader(Source("orders", _orders_file(tmp_path, 2000)))
    read_ahead = ReadAhead(reader, check_orders, FIELDS, 30, threading.Event())
    first = read_ahead.take()
    assert first is not None and len(first[2]) == 30
    with read_ahead._changed:  # the thread waits once it holds the limit (4 chunks of 30)
        assert read_ahead._changed.wait_for(lambda: read_ahead._ahead >= 100, timeout=10)
    assert read_ahead._ahead < 100 + 30
    assert not read_ahead._ended
    read_ahead.close()  # and ends when closed, without reading the rest
    assert not read_ahead._thread.is_alive()
    reader.close()


def test_a_failing_reader_fails_the_take_and_a_stop_stops_it(tmp_path: Path) -> None:
    class Failing:
        def read_chunk(self, size: int) -> tuple[list[Any], list[Any]]:
            raise OSError(5, "Input/output error")

    read_ahead = ReadAhead(Failing(), check_orders, FIELDS, 10, threading.Event())  # type: ignore[arg-type]
    with pytest.raises(OSError, match="Input/output error"):
        read_ahead.take()
    read_ahead.close()

    stop = threading.Event()
    reader = open_reader(Source("orders", _orders_file(tmp_path, 10)))
    read_ahead = ReadAhead(reader, check_orders, FIELDS, 5, stop)
    stop.set()
    with pytest.raises(Stopped):
        read_ahead.take()
    read_ahead.close()
    reader.close()
