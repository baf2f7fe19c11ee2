"""A run's rejected records read back from its rejects spool (rejected.py), attacked.

The index finds each line and its reason codes with regular expressions, not a JSON parser,
trusting that `"reasons"` is the last key of a line and that a quote inside a JSON string is
always escaped. These tests write spool files through the real path (`dumps(reject_entry(...))`
and `SpoolWriter`), full of records and messages that look like the index's own patterns, and
compare every view with an oracle that parses each line with the standard library's `json`:
the records, their order, their positions, ids and reasons, whatever the block size.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import random
import shutil
import sys
import threading
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import Any, NamedTuple

import pytest

from tui_insert.core import rejected
from tui_insert.core.jsonio import MAX_DEPTH, MAX_DIGITS, BigInteger, dumps
from tui_insert.core.rejected import RejectedLine, RejectedRecords, RejectedView
from tui_insert.core.report import SpoolWriter, reject_entry, rejects_spool
from tui_insert.core.rules import BadRecord, Reason, given_id, show, visible

TABLES = ("users", "products", "orders")
# The codes the rules give.
CODES = (
    "duplicate_email",
    "duplicate_id",
    "invalid_email",
    "invalid_id",
    "invalid_name",
    "invalid_price",
    "invalid_product_id",
    "invalid_quantity",
    "invalid_record",
    "invalid_user_id",
    "missing_field",
)
# Codes written only inside records and messages, never as a reason's code: any view of one
# that is not empty has read a record or a message as if it were the line's reasons.
DECOYS = ("decoy", "fake_code", "reused_fd")

# Pieces of text that look like the index's patterns, or like JSON's structure and escapes.
PIECES = (
    '"reasons":[',
    '"reasons":[{"field":"id","code":"decoy","message":"m"}]}',
    '"code":"',
    '"code":"decoy"',
    '"code":"duplicate_id"',
    '"code":"fake_code"}]}',
    "]}",
    "]}\n",
    "}]}",
    '"},{"field":"f","code":"decoy","message":"',
    "\n",
    "\r\n",
    "\\",
    '\\"',
    '"',
    "'",
    "\\n",
    "\\u0022",
    "é",
    "日本語",
    "\u2028",
    "\u2029",
    "\x00",
    "\x1b[31m",
    "\x7f",
    "\u200f",
    "😀",
    "%s",
    "{",
    "[",
    ",",
    ":",
    " ",
    "\t",
    "reasons",
    "code",
)

# Lone surrogates (which only the exact, slower paths of dumps and loads take): now and then.
SURROGATES = ("\ud800", "\udfff", "\udbff", "\udbff\udc00")

Entry = tuple[int, Any, list[Reason]]  # position, the record as given, its reasons
OpenSpools = Callable[[dict[str, bytes]], RejectedRecords]  # the `open_spools` fixture


# --- hostile records ---------------------------------------------------------------------------


def hostile_text(rng: random.Random, long: int) -> str:
    """Text made of `PIECES` and random code points (lone surrogates included); now and then
    `long` to 3 * `long` characters."""
    kind = rng.random()
    if kind < 0.04:
        return ""
    if kind < 0.06:
        return rng.choice(PIECES) + rng.choice(SURROGATES) + rng.choice(PIECES)
    if kind < 0.1:  # a random run of pieces, repeated (quicker than drawing them all)
        run = "".join(rng.choices(PIECES, k=20)) + chr(rng.randint(0, 0x10FFFF))
        size = rng.randint(long, 3 * long)
        return (run * (size // len(run) + 1))[: size - 1] + hostile_text(rng, 1)
    return "".join(
        rng.choice(PIECES) if rng.random() < 0.7 else chr(rng.randint(0, 0xD7FF))
        for _ in range(rng.randint(1, 8))
    )


def deep(rng: random.Random, levels: int) -> Any:
    """A value nested `levels` deep (arrays and objects in turn) around hostile text."""
    value: Any = hostile_text(rng, 8)
    for level in range(levels):
        value = [value] if level % 2 else {'"reasons":[': value}
    return value


def hostile_value(rng: random.Random, long: int, level: int = 0) -> Any:
    """Any value a record read from JSON or CSV may hold."""
    kind = rng.randrange(12 if level < 3 else 8)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randint(-(10**6), 10**6)
    if kind == 2:
        return rng.choice([2**63, -(2**64) - 1, 10 ** rng.randint(19, 400) + 7])
    if kind == 3:
        if rng.random() < 0.05:
            return BigInteger("9" * rng.randint(MAX_DIGITS + 1, MAX_DIGITS + 50))
        return rng.choice([0.1, -0.0, 1e300, 5e-324, math.nan, math.inf, -math.inf])
    if kind < 8:
        return hostile_text(rng, long)
    if kind < 10:
        return [hostile_value(rng, long, level + 1) for _ in range(rng.randint(0, 4))]
    return {
        hostile_text(rng, long): hostile_value(rng, long, level + 1)
        for _ in range(rng.randint(0, 4))
    }


def hostile_given(rng: random.Random, long: int) -> Any:
    """A record as given: mostly objects with an id, some holding a "reasons" key of their
    own (last, like the entry's), some unparseable lines, scalars, deep nests."""
    kind = rng.random()
    if kind < 0.1:
        return BadRecord(hostile_text(rng, long), hostile_text(rng, long), rng.randint(0, 10**9))
    if kind < 0.15:
        return rng.choice([{}, [], None, 0, "", [{}], {"": {}}, "]}", [[]]])
    if kind < 0.16:
        return {"id": rng.randint(1, 9), "nest": deep(rng, rng.choice([254, 255, MAX_DEPTH - 1]))}
    if kind < 0.2:
        return [hostile_value(rng, long) for _ in range(rng.randint(1, 3))]
    record: dict[str, Any] = {}
    if rng.random() < 0.8:
        record["id"] = hostile_value(rng, long)
    for _ in range(rng.randint(0, 4)):
        record[hostile_text(rng, long)] = hostile_value(rng, long)
    if rng.random() < 0.3:  # the record's own "reasons", shaped like the entry's
        record["reasons"] = [
            {
                "field": "id",
                "code": rng.choice(DECOYS + CODES),
                "message": hostile_text(rng, long),
            }
            for _ in range(rng.randint(0, 3))
        ]
    return record


def hostile_message(rng: random.Random, long: int) -> str:
    """A reason's message: hostile text, or text shaped like the next reason or its code."""
    return rng.choice(
        [
            hostile_text(rng, long),
            hostile_text(rng, long),
            f'"code":"{rng.choice(DECOYS)}"',
            '"},{"field":"f","code":"decoy","message":"',
            '"reasons":[{"code":"fake_code"}]}',
            f"x\\{rng.choice(PIECES)}",
        ]
    )


def hostile_reasons(rng: random.Random, long: int) -> list[Reason]:
    """1 to 4 reasons, drawn from 3 codes so that a record often repeats one."""
    codes = rng.sample(CODES, 3)
    return [
        Reason(
            rng.choice(["id", "email", "code", "reasons", "", hostile_text(rng, 8)]),
            rng.choice(codes),
            hostile_message(rng, long),
        )
        for _ in range(rng.randint(1, 4))
    ]


def hostile_entries(rng: random.Random, count: int, long: int) -> list[Entry]:
    """`count` rejected records, at growing positions (with gaps: the inserted ones)."""
    entries: list[Entry] = []
    position = rng.randint(0, 3)
    for _ in range(count):
        entries.append((position, hostile_given(rng, long), hostile_reasons(rng, long)))
        position += rng.randint(1, 3)
    return entries


def spool_bytes(table: str, entries: list[Entry]) -> bytes:
    """The rejects spool of `table`, as `SpoolWriter.write_chunk` writes it."""
    return b"".join(dumps(reject_entry(table, p, given, why)) + b"\n" for p, given, why in entries)


# --- the oracle --------------------------------------------------------------------------------


def _oracle_int(digits: str) -> int | BigInteger:
    """As jsonio reads integers: too many digits for Python, kept as digits."""
    return BigInteger(digits) if len(digits) > MAX_DIGITS else int(digits)


def _refuse(token: str) -> Any:
    raise ValueError(f"dumps wrote a non-standard token: {token}")


def parse_line(line: bytes) -> dict[str, Any]:
    """A spool line, by the standard library's parser (strict JSON, any depth)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))
    try:
        entry = json.loads(line, parse_int=_oracle_int, parse_constant=_refuse)
    finally:
        sys.setrecursionlimit(limit)
    assert isinstance(entry, dict)
    assert list(entry)[-1] == "reasons"  # what the index relies on
    return entry


class Expected(NamedTuple):
    """What every view must list."""

    every: list[RejectedLine]  # every record, table by table
    codes: list[list[str]]  # per record of `every`: its codes, each once, in order
    by_table: dict[str, list[RejectedLine]]

    def of(self, table: str | None, code: str | None) -> list[RejectedLine]:
        return [
            line
            for line, codes in zip(self.every, self.codes, strict=True)
            if (table is None or line.table == table) and (code is None or code in codes)
        ]


def oracle(spools: dict[str, bytes]) -> Expected:
    """The records of `spools` (table -> file content), parsed line by line with `json`. A
    last line without its newline is cut (a write that did not complete): no record."""
    every: list[RejectedLine] = []
    codes: list[list[str]] = []
    by_table: dict[str, list[RejectedLine]] = {}
    for table, data in spools.items():
        lines = data.split(b"\n")[:-1]  # the rest after the last newline: cut
        by_table[table] = []
        for line in lines:
            entry = parse_line(line)
            reasons = [(r["code"], visible(r["message"])) for r in entry["reasons"]]
            shown_id = show(given_id(entry.get("record")), 30)
            item = RejectedLine(table, entry["position"], shown_id, reasons)
            every.append(item)
            by_table[table].append(item)
            codes.append(list(dict.fromkeys(r["code"] for r in entry["reasons"])))
    return Expected(every, codes, by_table)


# --- opening and checking ----------------------------------------------------------------------


@pytest.fixture
def open_spools(tmp_path: Path) -> Iterator[OpenSpools]:
    """Writes spool files (table -> content) and opens them as RejectedRecords, closed after
    the test."""
    opened: list[RejectedRecords] = []
    folders = iter(range(10**6))

    def open_them(spools: dict[str, bytes]) -> RejectedRecords:
        folder = tmp_path / f"spool{next(folders)}"
        folder.mkdir()
        files: dict[str, int] = {}
        for table, data in spools.items():
            path = rejects_spool(folder, table)
            path.write_bytes(data)
            files[table] = os.open(path, os.O_RDONLY)
        records = RejectedRecords(files)
        opened.append(records)
        return records

    yield open_them
    for records in opened:
        records.close()


def read_all(view: RejectedView) -> list[RejectedLine]:
    """Every item of `view` as it is now, read as the screen reads them: by index."""
    return [view[i] for i in range(len(view))]


def assert_view(view: RejectedView, expected: list[RejectedLine]) -> None:
    """`view` lists exactly `expected`, in order, and nothing past either end."""
    got = read_all(view)
    for i, (line, want) in enumerate(zip(got, expected, strict=False)):
        assert line == want, f"item {i} of view({view.table!r}, {view.code!r})"
    assert len(got) == len(expected), f"view({view.table!r}, {view.code!r})"
    with pytest.raises(IndexError):
        view[len(expected)]
    with pytest.raises(IndexError):
        view[-1]


def assert_views(records: RejectedRecords, expected: Expected, tables: tuple[str, ...]) -> None:
    """Every view of `records` (all, per table, per table and code, per code) is exact, and
    every view of a decoy code, or of a table not there, is empty."""
    assert_view(records.view(), expected.every)
    for table in (*tables, "nowhere"):
        assert_sampled(records.view(table), expected.of(table, None))
        for code in CODES + DECOYS:
            assert_view(records.view(table, code), expected.of(table, code))
    for code in CODES + DECOYS:
        assert_sampled(records.view(None, code), expected.of(None, code))


def assert_sampled(view: RejectedView, expected: list[RejectedLine]) -> None:
    """`view` has as many items as `expected`, and the same first, middle and last one."""
    assert len(view) == len(expected), f"view({view.table!r}, {view.code!r})"
    for i in sorted({0, len(expected) // 2, len(expected) - 1} if expected else ()):
        assert view[i] == expected[i], f"item {i} of view({view.table!r}, {view.code!r})"


def index_all(records: RejectedRecords) -> list[int]:
    """Index `records` to the end: the counts never go down, the last one (yielded once more,
    as every record is found) is every record, and `indexed` says so."""
    assert not records.indexed
    counts = list(records.index())
    assert counts == sorted(counts), "the counts never go down"
    assert len(counts) >= 2 or counts == [0]
    assert counts[-1] == len(records.view())
    assert records.indexed
    return counts


# --- the text of a line ------------------------------------------------------------------------


def test_text_of_lines(open_spools: OpenSpools) -> None:
    """A line's text as the summary shows it: table, position, id, every reason; controls and
    invisible characters of a message escaped, the id shortened."""
    message = "alice@example.com is already used by user 1"
    entries: list[Entry] = [
        (8, {"id": 8, "email": "alice@example.com"}, [Reason("email", "duplicate_email", message)]),
        (
            9,
            {"id": "x" * 40},
            [
                Reason("id", "invalid_id", 'id "x" bad\n"code":"decoy"'),
                Reason("name", "missing_field", "name\u2028is\tmissing"),
            ],
        ),
        (
            12,
            BadRecord("not JSON", '{"id": 3, "reasons":[', 4),
            [Reason("record", "invalid_record", "x")],
        ),
        (13, [1, 2], [Reason("record", "invalid_record", "the record is an array, not an object")]),
    ]
    records = open_spools({"users": spool_bytes("users", entries)})
    index_all(records)
    texts = [line.text for line in read_all(records.view())]
    assert texts == [
        f"users #8 id=8  duplicate_email: {message}",
        'users #9 id="xxxxxxxxxxxxxxxxxxxxxxxxxxxx…  invalid_id: id "x" bad\\n"code":"decoy"; '
        "missing_field: name\\u2028is\\tmissing",
        "users #12 id=null  invalid_record: x",
        "users #13 id=null  invalid_record: the record is an array, not an object",
    ]
    assert read_all(records.view("users", "decoy")) == []
    assert [line.position for line in read_all(records.view("users", "invalid_record"))] == [12, 13]


def test_a_record_once_per_code(open_spools: OpenSpools) -> None:
    """Two reasons of one record with the same code list it once under that code (and both
    reasons still show)."""
    why = [
        Reason("user_id", "invalid_user_id", "one"),
        Reason("quantity", "invalid_quantity", "two"),
        Reason("user_id", "invalid_user_id", "three"),
    ]
    records = open_spools(
        {"orders": spool_bytes("orders", [(1, {"id": 1}, why), (2, {}, why[:1])])}
    )
    index_all(records)
    assert [line.position for line in read_all(records.view("orders", "invalid_user_id"))] == [1, 2]
    assert [line.position for line in read_all(records.view("orders", "invalid_quantity"))] == [1]
    first = records.view("orders", "invalid_user_id")[0]
    assert first.reasons == [
        ("invalid_user_id", "one"),
        ("invalid_quantity", "two"),
        ("invalid_user_id", "three"),
    ]


# --- hostile spools against the oracle ---------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "block", "lines", "long"),
    [
        (1, None, 2500, 300),
        (3, 64, 2500, 100),
        (4, 64, 2500, 100),
        (5, 4096, 2500, 3000),
        (6, 7, 400, 40),
        (7, 7, 400, 40),
    ],
)
def test_hostile_spools_match_the_oracle(
    open_spools: OpenSpools,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    block: int | None,
    lines: int,
    long: int,
) -> None:
    """Records and messages holding `"reasons":[`, `"code":"…"`, `]}`, escapes, newlines,
    lone surrogates, long text (longer than a block: lines straddle every boundary), deep
    nests, big integers, unparseable lines, repeated codes: every view lists exactly what the
    standard library's parser finds, in order."""
    if block is not None:
        monkeypatch.setattr(rejected, "_BLOCK", block)
    rng = random.Random(seed)
    spools = {
        table: spool_bytes(table, hostile_entries(rng, rng.randint(lines // 2, lines), long))
        for table in TABLES
    }
    if block is not None:  # lines longer than a block, and lines across a block's end
        assert max(map(len, b"".join(spools.values()).split(b"\n"))) > 3 * block
    expected = oracle(spools)
    assert_hostile(spools, expected)
    records = open_spools(spools)
    counts = index_all(records)
    assert counts[-1] == len(expected.every)
    assert_views(records, expected, TABLES)


def assert_hostile(spools: dict[str, bytes], expected: Expected) -> None:
    """The generated spools hold what the index could be fooled by (the generator cannot
    become harmless unnoticed)."""
    lines = b"".join(spools.values()).split(b"\n")[:-1]
    many = len(expected.every) // 100
    assert sum(line.count(b'"reasons":[') > 1 for line in lines) > many  # a record's own
    assert sum(b'\\"code\\":\\"' in line for line in lines) > many  # escaped, in text
    assert sum(b'"line":' in line for line in lines) > many  # unparseable records
    assert sum(b"\\ud8" in line or b"\\udb" in line for line in lines) > many  # surrogates
    assert sum(b"\\n" in line for line in lines) > many
    repeated = sum(
        len(line.reasons) > len(codes)
        for line, codes in zip(expected.every, expected.codes, strict=True)
    )
    assert repeated > many  # a code twice in one record
    in_records = [line for line in lines if b'"code":"decoy"' in line.rsplit(b'"reasons":[', 1)[0]]
    assert len(in_records) > many  # a decoy code, unescaped, in a record's own "reasons"


@pytest.mark.parametrize("seed", [11, 12])
def test_every_block_boundary(
    open_spools: OpenSpools,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
) -> None:
    """A small hostile spool indexed with every block size from 1 byte up: each line ends,
    starts and is cut at every offset of a block; the index is the same every time."""
    rng = random.Random(seed)
    spools = {
        "users": spool_bytes("users", hostile_entries(rng, 12, 20)),
        "orders": spool_bytes("orders", hostile_entries(rng, 3, 20)),
    }
    expected = oracle(spools)
    longest = max(map(len, b"".join(spools.values()).split(b"\n")))
    for block in [*range(1, 48), longest - 1, longest, longest + 1]:
        monkeypatch.setattr(rejected, "_BLOCK", block)
        records = open_spools(spools)
        index_all(records)
        assert read_all(records.view()) == expected.every, block
        for table in spools:
            for code in CODES + DECOYS:
                got = [line.position for line in read_all(records.view(table, code))]
                assert got == [line.position for line in expected.of(table, code)], (block, code)


def test_a_line_longer_than_a_real_block(
    open_spools: OpenSpools,
) -> None:
    """A record of more than `_BLOCK` bytes (4 MiB), itself full of `"reasons":[` and
    `"code":"decoy"`, between ordinary lines, with the module's own block size."""
    filler = '"reasons":[{"field":"id","code":"decoy","message":"m"}]}\n' * (
        rejected._BLOCK // 50 + 1000
    )
    entries: list[Entry] = [
        (1, {"id": 1}, [Reason("id", "invalid_id", "a")]),
        (2, {"id": 2, "reasons": [filler]}, [Reason("id", "duplicate_id", filler[:100])]),
        (3, {"id": 3}, [Reason("name", "invalid_name", "c"), Reason("id", "invalid_id", "d")]),
    ]
    spools = {"users": spool_bytes("users", entries)}
    assert len(spools["users"]) > rejected._BLOCK + 100_000
    expected = oracle(spools)
    records = open_spools(spools)
    assert index_all(records)[-1] == 3
    assert_views(records, expected, ("users",))


# --- several tables, empty files, a cut line ---------------------------------------------------


def _cut(data: bytes, rng: random.Random) -> bytes:
    """`data` with a last line that did not complete: part of another line, no newline."""
    line = spool_bytes("x", hostile_entries(rng, 1, 30))
    return data + line[: rng.randint(1, len(line) - 1)]


@pytest.mark.parametrize("block", [None, 5, 64])
def test_tables_empty_files_and_a_cut_line(
    open_spools: OpenSpools,
    monkeypatch: pytest.MonkeyPatch,
    block: int | None,
) -> None:
    """Several tables in one RejectedRecords: empty files first, between and last, and files
    whose last line has no newline (a cut write: whole but for its newline, or a part of a
    line). A cut line is no record (it cannot be read back): it is not listed, and the others,
    of that table and of the next ones, are exactly as the oracle finds them."""
    if block is not None:
        monkeypatch.setattr(rejected, "_BLOCK", block)
    rng = random.Random(21)
    whole = spool_bytes("orders", hostile_entries(rng, 1, 10))
    spools = {
        "empty_first": b"",
        "users": _cut(spool_bytes("users", hostile_entries(rng, 150, 30)), rng),
        "products": b"",
        "orders": spool_bytes("orders", hostile_entries(rng, 150, 30)) + whole[:-1],
        "only_a_cut": _cut(b"", rng),
        "reviews": spool_bytes("reviews", hostile_entries(rng, 40, 30)),
        "empty_last": b"",
    }
    expected = oracle(spools)
    assert len(expected.by_table["users"]) == 150
    assert len(expected.by_table["orders"]) == 150
    records = open_spools(spools)
    counts = index_all(records)
    assert counts[-1] == len(expected.every) == 340
    assert_views(records, expected, tuple(spools))
    for table in ("empty_first", "products", "only_a_cut", "empty_last"):
        assert len(records.view(table)) == 0


def test_only_empty_files(open_spools: OpenSpools) -> None:
    """No rejected record at all: indexing yields only its final count (0) and every view is
    empty."""
    records = open_spools(dict.fromkeys(TABLES, b""))
    assert list(records.index()) == [0]  # the count once all are found
    assert records.indexed
    assert len(records.view()) == 0
    assert len(records.view("users", "invalid_id")) == 0
    with pytest.raises(IndexError):
        records.view()[0]


def test_through_spool_writer_after_the_folder_is_gone(tmp_path: Path) -> None:
    """Spools written by the real `SpoolWriter` (chunks with inserted and rejected records),
    opened by `RejectedRecords.of` and read once their folder is removed."""
    rng = random.Random(31)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    for table in TABLES:
        writer = SpoolWriter(table, spool_dir, as_json=True)
        start = 0
        for _ in range(20):
            size = rng.randint(0, 30)
            given: list[Any] = []
            why: list[list[Reason] | None] = []
            for i in range(size):
                if rng.random() < 0.3:
                    given.append({"id": start + i + 1, "name": "ok"})
                    why.append(None)
                else:
                    given.append(hostile_given(rng, 200))
                    why.append(hostile_reasons(rng, 200))
            writer.write_chunk(start, given, given, why)
            start += size
        writer.close()
    spools = {table: rejects_spool(spool_dir, table).read_bytes() for table in TABLES}
    expected = oracle(spools)
    run = SimpleNamespace(progress=dict.fromkeys(TABLES), spool_dir=spool_dir)
    records = RejectedRecords.of(run)  # type: ignore[arg-type]
    try:
        shutil.rmtree(spool_dir)
        index_all(records)
        assert_views(records, expected, TABLES)
    finally:
        records.close()


# --- indexing: growing, stopping, closing ------------------------------------------------------


def _spools_for_indexing(seed: int, lines: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {table: spool_bytes(table, hostile_entries(rng, lines, 50)) for table in TABLES}


def test_views_grow_while_indexing(
    open_spools: OpenSpools,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Views taken before indexing grow as it goes: after each yielded count n, every view
    lists exactly the records among the first n (table by table), and the counts grow to all
    of them, the last one yielded once more as `indexed` turns true."""
    monkeypatch.setattr(rejected, "_BLOCK", 256)
    spools = _spools_for_indexing(41, 400)
    expected = oracle(spools)
    records = open_spools(spools)
    views = {(t, c): records.view(t, c) for t in (None, *TABLES) for c in (None, *CODES)}
    assert all(len(view) == 0 for view in views.values())
    # Per view, where its records are among all of them.
    where = {
        key: [
            i
            for i, (line, codes) in enumerate(zip(expected.every, expected.codes, strict=True))
            if (key[0] is None or line.table == key[0]) and (key[1] is None or key[1] in codes)
        ]
        for key in views
    }
    counts: list[int] = []
    indexed: list[bool] = []
    for count in records.index():
        assert not counts or count >= counts[-1]
        counts.append(count)
        indexed.append(records.indexed)
        for key, view in views.items():
            assert len(view) == bisect.bisect_left(where[key], count), (count, key)
        if len(counts) % 97 == 1:  # now and then, what they list
            assert read_all(views[None, None]) == expected.every[:count]
            for table in TABLES:
                view = views[table, "invalid_id"]
                assert (
                    read_all(view)
                    == [expected.every[i] for i in where[table, "invalid_id"]][: len(view)]
                )
    assert len(counts) > 100
    assert counts[-1] == counts[-2] == len(expected.every)
    assert indexed == [False] * (len(counts) - 1) + [True]
    assert len(set(counts)) > 50  # it did grow, a block at a time
    for (table_or_all, code), view in views.items():
        assert read_all(view) == expected.of(table_or_all, code)


@pytest.mark.parametrize("after", [0, 1, 5, 60])
def test_stopped_stops_early(
    open_spools: OpenSpools,
    monkeypatch: pytest.MonkeyPatch,
    after: int,
) -> None:
    """`index(stopped=...)` ends at the first block after `stopped()` turns true; what was
    found by then stays listed, exactly."""
    monkeypatch.setattr(rejected, "_BLOCK", 512)
    spools = _spools_for_indexing(42, 200)
    expected = oracle(spools)
    records = open_spools(spools)
    counts: list[int] = []
    for count in records.index(stopped=lambda: len(counts) >= after):
        counts.append(count)
    assert len(counts) == after
    assert not records.indexed
    found = counts[-1] if counts else 0
    assert found < len(expected.every)
    assert len(records.view()) == found
    assert read_all(records.view()) == expected.every[:found]


class _Descriptors:
    """Stands for `os` in the module: remembers which descriptors it closed, and notes any
    read of one of those (whose number may be another file's by then)."""

    def __init__(self) -> None:
        self.closed: set[int] = set()
        self.bad_reads: list[int] = []
        self.on_pread: Callable[[], None] = lambda: None

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        if fd in self.closed:
            self.bad_reads.append(fd)
        self.on_pread()
        return os.pread(fd, size, offset)

    def close(self, fd: int) -> None:
        self.closed.add(fd)
        os.close(fd)

    def opened(self, records: RejectedRecords) -> RejectedRecords:
        """`records`, newly opened: their descriptors' numbers are theirs now."""
        self.closed -= {table.fd for table in records.tables}
        return records

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def _decoy_descriptors(tmp_path: Path, count: int) -> list[int]:
    """Files opened just after a close, so that they get the closed descriptors' numbers;
    their lines hold the code "reused_fd"."""
    path = tmp_path / "decoy.rejects"
    why = [Reason("id", "reused_fd", "read from a reused descriptor")]
    path.write_bytes(spool_bytes("users", [(i, {"id": i}, why) for i in range(50)]))
    return [os.open(path, os.O_RDONLY) for _ in range(count)]


def _assert_closed(records: RejectedRecords) -> None:
    """Every view is empty, however taken, and indexing yields nothing more."""
    for table in (None, *TABLES):
        for code in (None, *CODES, "reused_fd"):
            view = records.view(table, code)
            assert len(view) == 0
            assert read_all(view) == []
            with pytest.raises(IndexError):
                view[0]
    assert list(records.index()) == []


def test_close_then_nothing(open_spools: OpenSpools) -> None:
    """After `close()` (once or twice, before or after indexing), views taken before and
    after are empty and indexing yields nothing."""
    spools = _spools_for_indexing(43, 30)
    indexed = open_spools(spools)
    before = indexed.view("users")
    index_all(indexed)
    assert len(before) == 30
    indexed.close()
    assert len(before) == 0
    _assert_closed(indexed)
    indexed.close()
    _assert_closed(indexed)
    never_indexed = open_spools(spools)
    never_indexed.close()
    _assert_closed(never_indexed)


def _index_in_thread(
    records: RejectedRecords,
    counts: list[int],
    errors: list[BaseException],
    pause: Callable[[], None],
) -> threading.Thread:
    def run() -> None:
        try:
            for count in records.index():
                counts.append(count)
                pause()
        except BaseException as e:  # noqa: BLE001 - the test reports it
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("at", [1, 2, 30, 300])
def test_close_while_paused_between_blocks(
    open_spools: OpenSpools,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    at: int,
) -> None:
    """`close()` from another thread while `index()` runs in its thread (here: between two
    blocks, the descriptors then given to other files): the thread ends without an error and
    reads no closed descriptor; every view is empty."""
    fake_os = _Descriptors()
    monkeypatch.setattr(rejected, "os", fake_os)
    monkeypatch.setattr(rejected, "_BLOCK", 128)
    records = fake_os.opened(open_spools(_spools_for_indexing(44, 100)))
    paused, resume = threading.Event(), threading.Event()
    counts: list[int] = []
    errors: list[BaseException] = []

    def pause() -> None:
        if len(counts) == at:
            paused.set()
            assert resume.wait(10)

    thread = _index_in_thread(records, counts, errors, pause)
    assert paused.wait(10)
    records.close()
    decoys = _decoy_descriptors(tmp_path, 3)
    try:
        resume.set()
        thread.join(10)
        assert not thread.is_alive()
        assert errors == []
        assert fake_os.bad_reads == []
        assert len(counts) == at  # no count after the close: the thread just ended
        assert not records.indexed
        _assert_closed(records)
    finally:
        for fd in decoys:
            os.close(fd)


def test_close_waits_for_a_read_in_flight(
    open_spools: OpenSpools,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """`close()` called while the index thread is inside a read waits for that read to end
    before it lets go of the descriptor; then the thread stops, with no error."""
    fake_os = _Descriptors()
    monkeypatch.setattr(rejected, "os", fake_os)
    monkeypatch.setattr(rejected, "_BLOCK", 128)
    records = fake_os.opened(open_spools(_spools_for_indexing(45, 100)))
    reading, release = threading.Event(), threading.Event()
    reads = 0

    def hold_the_tenth_read() -> None:
        nonlocal reads
        reads += 1
        if reads == 10:
            reading.set()
            release.wait(10)

    fake_os.on_pread = hold_the_tenth_read
    counts: list[int] = []
    errors: list[BaseException] = []
    indexer = _index_in_thread(records, counts, errors, lambda: None)
    assert reading.wait(10)
    closer = threading.Thread(target=records.close, daemon=True)
    closer.start()
    closer.join(0.2)
    try:
        assert closer.is_alive(), "close() did not wait for the read in flight"
        assert fake_os.closed == set()
    finally:
        release.set()
    closer.join(10)
    indexer.join(10)
    decoys = _decoy_descriptors(tmp_path, 3)
    try:
        assert not closer.is_alive()
        assert not indexer.is_alive()
        assert errors == []
        assert fake_os.bad_reads == []
        assert reads >= 10  # (the lock is not fair: the index may read on before close gets it)
        _assert_closed(records)
    finally:
        for fd in decoys:
            os.close(fd)


@pytest.mark.parametrize("seed", range(6))
def test_close_at_any_moment(
    open_spools: OpenSpools,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    seed: int,
) -> None:
    """`close()` from another thread at a random moment of a free-running `index()` (the
    closed descriptors given to other files at once), with the main thread reading views as
    the screen does: the thread ends without an error and reads no closed descriptor."""
    fake_os = _Descriptors()
    monkeypatch.setattr(rejected, "os", fake_os)
    monkeypatch.setattr(rejected, "_BLOCK", 64)
    rng = random.Random(seed)
    spools = _spools_for_indexing(46, 150)
    expected = oracle(spools)
    records = fake_os.opened(open_spools(spools))
    all_of_them = records.view()
    counts: list[int] = []
    errors: list[BaseException] = []
    thread = _index_in_thread(records, counts, errors, lambda: None)
    limit = rng.randint(0, 2000)
    while len(counts) < limit and thread.is_alive():
        found = len(all_of_them)
        if found:
            # (The view of every record, not of a code: see test_code_view_never_ahead...)
            i = rng.randrange(found)
            assert all_of_them[i] == expected.every[i]
    records.close()
    decoys = _decoy_descriptors(tmp_path, 3)
    try:
        thread.join(10)
        assert not thread.is_alive()
        assert errors == []
        assert fake_os.bad_reads == []
        _assert_closed(records)
    finally:
        for fd in decoys:
            os.close(fd)


def test_code_view_never_ahead_of_the_line_ends(
    open_spools: OpenSpools,
) -> None:
    """The index thread may be paused between any two calls (the GIL is handed over there):
    a view read then (as the screen does, from the main thread: `len`, then the last items)
    must be able to read every record it counts. Here the index thread is paused right after
    each append to a code's list of records while another thread reads the view's last
    record."""
    why = [Reason("id", "duplicate_id", "m")]
    records = open_spools({"users": spool_bytes("users", [(i, {"id": i}, why) for i in range(5)])})
    view = records.view("users", "duplicate_id")
    failures: list[tuple[int, BaseException]] = []

    def read_the_last() -> None:
        count = len(view)
        try:
            view[count - 1]
        except IndexError as e:
            failures.append((count, e))

    def pause_after_a_code_append(frame: FrameType, event: str, arg: Any) -> None:
        owner = getattr(arg, "__self__", None)
        if event == "c_return" and isinstance(owner, array) and owner.typecode == "I":
            reader = threading.Thread(target=read_the_last)
            reader.start()
            reader.join()

    sys.setprofile(pause_after_a_code_append)
    try:
        counts = list(records.index())
    finally:
        sys.setprofile(None)
    assert counts[-1] == 5
    assert failures == []


def test_indexing_twice_is_refused(open_spools: OpenSpools) -> None:
    """A second `index()` would add every line again, after the first's: it is an error."""
    records = open_spools(_spools_for_indexing(44, 10))
    index_all(records)
    with pytest.raises(RuntimeError):
        next(records.index())
    assert len(records.view()) == 30  # ten lines a table, each once
