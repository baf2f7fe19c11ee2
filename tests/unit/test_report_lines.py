"""The report's outcome lines, as the nodes write them: built from pieces for speed, and
byte for byte what the plain way (`dumps` of the line as a dict) gives, whatever the record
and its reasons hold."""

from __future__ import annotations

import math
import os
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.helpers import strict_json
from tui_insert.core import rules
from tui_insert.core.jsonio import BigInteger, dumps, loads
from tui_insert.core.report import _json_lines, outcome_spool, reason_json, write_report
from tui_insert.core.rules import BadRecord, Reason, given_id


def _plainly(table: str, start: int, records: list[Any], reasons: list) -> bytes:
    lines = []
    for i, (record, why) in enumerate(zip(records, reasons, strict=True)):
        if why is None:
            lines.append(
                f'{{"table": "{table}", "position": {start + i}, "id": {record["id"]},'
                ' "status": "inserted"},\n'.encode()
            )
            continue
        line = {
            "table": table,
            "position": start + i,
            "id": given_id(record),
            "status": "rejected",
            "reasons": [r.as_dict() for r in why],
        }
        lines.append(dumps(line) + b",\n")
    return b"".join(lines)


ODD_IDS: list[Any] = [
    7,
    -3,
    0,
    2**63,
    2**70,
    BigInteger("5" * 5000),
    1.5,
    math.nan,
    math.inf,
    -math.inf,
    True,
    False,
    None,
    "",
    "abc",
    "\ud800",
    "tab\tand\nnewline\x1b[31m",
    "\u202eoops",
    "%d %s %%",
    [1, [2, {"a": None}]],
    {"nested": {"deep": [math.nan]}},
    [[[[[[[[[[]]]]]]]]]],
]

MESSAGES = [
    "id 3 is already stored",
    "%s %d %%",
    'quote " and \\ backslash',
    "\ud800",
    "é ✓",
    "controls \t\n\x01\x1f\x7f and \u2028",
]


def _records(rng: random.Random, count: int) -> tuple[list[Any], list]:
    records: list[Any] = []
    reasons: list = []
    for i in range(count):
        kind = rng.random()
        if kind < 0.4:
            records.append({"id": rng.randrange(1, 2**63), "name": "x"})
            reasons.append(None)
            continue
        if kind < 0.5:
            records.append(rng.choice([[1, 2], "text", None, 3.5, BadRecord("bad", "x{", i)]))
        else:
            records.append({"id": rng.choice(ODD_IDS), "email": "a@b.co"})
        reasons.append(
            [
                Reason(rng.choice(["id", "email", "record"]), rng.choice(["a", "b_c", "odd%d"]), m)
                for m in rng.sample(MESSAGES, rng.randrange(1, 4))
            ]
        )
    return records, reasons


@pytest.mark.parametrize("seed", range(5))
def test_outcome_lines_are_those_of_the_plain_way(seed: int) -> None:
    rng = random.Random(seed)
    records, reasons = _records(rng, 400)
    for table in ("users", "products", "orders"):
        built = _json_lines(table, 11, records, reasons)
        assert built == _plainly(table, 11, records, reasons)
        for line in built.splitlines():
            # One record a line, with the comma that separates it from the next.
            strict_json(line.removesuffix(b",").replace(b"5" * 5000, b"5"))


def test_the_rules_reasons_as_json() -> None:
    checked = rules.check_users([{"id": 1, "name": "", "email": "no"}, {"id": 1.0}])
    for *_, why in checked:
        for reason in why:
            assert reason_json(reason) == dumps(reason.as_dict())


class _Output:
    """An output without `copy_from`: the report's lines come a block at a time."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)


class _FileOutput(_Output):
    """An output that copies a file's bytes itself, as the CLI's does (by sendfile)."""

    def copy_from(self, fd: int, count: int) -> None:
        self.data += os.pread(fd, count, 0)


def _spooled_run(tmp_path: Path, lines: dict[str, list[bytes]], tails: dict[str, bytes]) -> Any:
    """A finished run as `write_report` reads it, with these spooled lines per table and,
    after them, what a node killed mid-write left (half a line)."""
    for table, table_lines in lines.items():
        if table_lines or tails.get(table):
            outcome_spool(tmp_path, table).write_bytes(
                b"".join(table_lines) + tails.get(table, b"")
            )
    progress = {
        table: SimpleNamespace(
            table=table, database=f"{table}.db", processed=len(table_lines), inserted=0,
            rejected=0, retries=0, waited=0.0,
        )
        for table, table_lines in lines.items()
    }  # fmt: skip
    return SimpleNamespace(
        progress=progress, spool_dir=tmp_path, state="interrupted", error=None, dry_run=False,
        elapsed=1.0,
    )  # fmt: skip


@pytest.mark.parametrize("output", [_Output, _FileOutput])
@pytest.mark.parametrize("seed", range(6))
def test_the_report_holds_every_whole_spooled_line_and_nothing_else(
    tmp_path: Path, output: type[_Output], seed: int
) -> None:
    # The report copies each table's spool up to its last whole line, and drops the comma
    # after the very last line of all: whichever tables are empty or missing, however long a
    # line (longer than the block read back from the end), whatever half line a kill left.
    rng = random.Random(seed)
    expected: list[dict[str, Any]] = []
    lines: dict[str, list[bytes]] = {}
    tails: dict[str, bytes] = {}
    for table in ("users", "products", "orders"):
        records, reasons = _records(rng, rng.choice([0, 0, 1, 3, 50]))
        if rng.random() < 0.3 and records:
            records[-1] = {"id": 1, "email": "x" * 70_000}  # a line longer than 64 KiB
            reasons[-1] = [Reason("email", "invalid_email", "y" * 70_000)]
        built = _json_lines(table, 1, records, reasons)
        lines[table] = built.splitlines(keepends=True)
        expected += [loads(line.removesuffix(b",\n"), 100) for line in lines[table]]
        if rng.random() < 0.4:
            tails[table] = rng.choice([b'{"table": "', b"{" + b"z" * 70_000])
    if seed % 2 == 0:  # a half line longer than the block read back, after whole lines
        tails[next((t for t in lines if lines[t]), "users")] = b"{" + b"z" * 70_000
    run = _spooled_run(tmp_path, lines, tails)
    out = output()
    write_report(run, out, as_json=True)
    assert loads(bytes(out.data), 100)["records"] == expected
    plain = output()
    write_report(run, plain, as_json=False)  # (the same spools, read as plain lines)
    assert bytes(plain.data).startswith(b"".join(b"".join(ls) for ls in lines.values()))
