"""The report's outcome lines, as the nodes write them: built from pieces for speed, and
byte for byte what the plain way (`dumps` of the line as a dict) gives, whatever the record
and its reasons hold."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from tests.helpers import strict_json
from tui_insert.core import rules
from tui_insert.core.jsonio import BigInteger, dumps
from tui_insert.core.report import _json_lines, reason_json
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
