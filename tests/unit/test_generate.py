"""Tests of the synthetic data-set generator (tui_insert/core/generate.py).

The files are checked against a small, independent implementation of the validation rules
(docs/rules.md), written here from the documentation (not shared with the engine), so "the
share of invalid records" means records the rules say must be rejected. The tests at the end
read the files with the product's own readers and rules, to show that a seed gives the same
records, and the same outcome per record, in every format.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import dump, run_engine
from tui_insert.core import rules
from tui_insert.core.generate import (
    FIELDS,
    FORMATS,
    SPECIAL_NAMES,
    TABLES,
    generate_dataset,
    invalid_kinds,
)
from tui_insert.core.idset import IdSet
from tui_insert.core.sources import Source, iter_records, open_reader

MAX_ID = 2**63 - 1
BAD = object()  # a record that is not an object (or a line / row that cannot be one)


# ------------------------------------------------------------------------------------------
# Reading the files back


def read_records(path: Path, fmt: str, table: str) -> list[Any]:
    """Every record of a file, in order: a dict of the fields present, or BAD / a non-dict."""
    if fmt == "json":
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        assert isinstance(data, list)
        return data
    if fmt == "jsonl":
        records: list[Any] = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    records.append(BAD)
        return records
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(FIELDS[table])
    out: list[Any] = []
    for row in rows[1:]:
        if len(row) != len(FIELDS[table]):
            out.append(BAD)
        else:  # cells are text; an empty cell is a missing field
            out.append({k: v for k, v in zip(FIELDS[table], row, strict=True) if v != ""})
    return out


# ------------------------------------------------------------------------------------------
# The rules of SPEC.md section 4, independently


LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def email_ok(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 254 or value.count("@") != 1:
        return False
    if any(c.isspace() for c in value):
        return False
    local, domain = value.split("@")
    labels = domain.split(".")
    return 1 <= len(local) <= 64 and len(labels) >= 2 and all(LABEL.fullmatch(x) for x in labels)


def positive_int(value: Any, fmt: str) -> int | None:
    if fmt == "csv":
        if not re.fullmatch(r"[0-9]+", value):
            return None
        value = int(value)
    elif type(value) is not int:
        return None
    return value if 1 <= value <= MAX_ID else None


def price_ok(value: Any, fmt: str) -> bool:
    if fmt == "csv":
        try:
            value = float(value)
        except ValueError:
            return False
    elif type(value) not in (int, float):
        return False
    return math.isfinite(value) and value > 0


def name_ok(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


class Checker:
    """Decides every record of the three files in input order, as the spec says."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.stored: dict[str, set[int]] = {t: set() for t in TABLES}
        self.emails: set[str] = set()

    def check(self, table: str, rec: Any) -> list[str]:
        """The reason codes of one record (empty: inserted); stores an accepted record."""
        if not isinstance(rec, dict):
            return ["invalid_record"]
        fmt, reasons = self.fmt, []
        rec = {k: v for k, v in rec.items() if v is not None}  # null is a missing field
        ident = None
        if "id" not in rec:
            reasons.append("missing_field")
        elif (ident := positive_int(rec["id"], fmt)) is None:
            reasons.append("invalid_id")
        elif ident in self.stored[table]:
            reasons.append("duplicate_id")
        if table in ("users", "products"):
            if "name" not in rec:
                reasons.append("missing_field")
            elif not name_ok(rec["name"]):
                reasons.append("invalid_name")
        if table == "users":
            if "email" not in rec:
                reasons.append("missing_field")
            elif not email_ok(rec["email"]):
                reasons.append("invalid_email")
            elif rec["email"].lower() in self.emails:
                reasons.append("duplicate_email")
        if table == "products":
            if "price" not in rec:
                reasons.append("missing_field")
            elif not price_ok(rec["price"], fmt):
                reasons.append("invalid_price")
        if table == "orders":
            for field, target in (("user_id", "users"), ("product_id", "products")):
                if field not in rec:
                    reasons.append("missing_field")
                elif (ref := positive_int(rec[field], fmt)) is None:
                    reasons.append(f"invalid_{field}")
                elif ref not in self.stored[target]:
                    reasons.append(f"unknown_{target[:-1]}")
            if "quantity" not in rec:
                reasons.append("missing_field")
            elif positive_int(rec["quantity"], fmt) is None:
                reasons.append("invalid_quantity")
        if not reasons:
            assert ident is not None
            self.stored[table].add(ident)
            if table == "users":
                self.emails.add(rec["email"].lower())
        return reasons


def decide(paths: dict[str, Path], fmt: str) -> dict[str, list[tuple[Any, list[str]]]]:
    """Each table's records with their reason codes, users and products before orders."""
    checker = Checker(fmt)
    out = {}
    for table in TABLES:
        records = read_records(paths[table], fmt, table)
        out[table] = [(rec, checker.check(table, rec)) for rec in records]
    return out


def as_int(value: Any, fmt: str) -> int | None:
    return positive_int(value, fmt) if value is not None else None


# ------------------------------------------------------------------------------------------
# Tests


def file_bytes(paths: dict[str, Path]) -> dict[str, bytes]:
    return {table: path.read_bytes() for table, path in paths.items()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_arguments_give_the_same_bytes(tmp_path: Path, fmt: str) -> None:
    first = file_bytes(generate_dataset(tmp_path / "a", 600, 0.1, seed=3, fmt=fmt))
    again = file_bytes(generate_dataset(tmp_path / "b", 600, 0.1, seed=3, fmt=fmt))
    other = file_bytes(generate_dataset(tmp_path / "c", 600, 0.1, seed=4, fmt=fmt))
    assert first == again
    for table in TABLES:
        assert first[table] != other[table]


def test_same_bytes_in_a_fresh_interpreter(tmp_path: Path) -> None:
    """No dependence on hash randomisation or on anything else of the process."""
    code = (
        "import sys; from pathlib import Path; "
        "from tui_insert.core.generate import generate_dataset; "
        "generate_dataset(Path(sys.argv[1]), 300, 0.2, seed=9, fmt='jsonl'); "
        "assert 'textual' not in sys.modules, 'the generator imports Textual'"
    )
    here = file_bytes(generate_dataset(tmp_path / "here", 300, 0.2, seed=9, fmt="jsonl"))
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "there")],
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        cwd=Path(__file__).resolve().parents[2],
    )
    there = {t: (tmp_path / "there" / f"{t}.jsonl").read_bytes() for t in TABLES}
    assert here == there


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("count", [0, 1, 2, 17, 1000])
def test_every_file_holds_exactly_count_records(tmp_path: Path, fmt: str, count: int) -> None:
    paths = generate_dataset(tmp_path / "out", count, 0.3, seed=1, fmt=fmt)
    assert set(paths) == set(TABLES)
    for table, path in paths.items():
        assert path == tmp_path / "out" / f"{table}.{fmt}"
        assert len(read_records(path, fmt, table)) == count
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{t}.{fmt}" for t in TABLES
    ), "no temporary file is left behind"


def test_count_zero_gives_empty_files(tmp_path: Path) -> None:
    for fmt in FORMATS:
        paths = generate_dataset(tmp_path / fmt, 0, 0.5, fmt=fmt)
        for table, path in paths.items():
            text = path.read_text(encoding="utf-8")
            if fmt == "json":
                assert json.loads(text) == []
            elif fmt == "jsonl":
                assert text.strip() == ""
            else:
                assert list(csv.reader(text.splitlines())) == [list(FIELDS[table])]


def test_one_record_per_line(tmp_path: Path) -> None:
    """json: `[`, one element per line, `]`; jsonl: one value per line."""
    paths = generate_dataset(tmp_path / "json", 500, 0.2, seed=2, fmt="json")
    for path in paths.values():
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0] == "[" and lines[-1] == "]" and len(lines) == 502
        assert all(line.endswith(",") for line in lines[1:-2])
        assert not lines[-2].endswith(",")
        for line in lines[1:-1]:
            json.loads(line.removesuffix(","))
    paths = generate_dataset(tmp_path / "jsonl", 500, 0.2, seed=2, fmt="jsonl")
    for path in paths.values():
        assert len(path.read_text(encoding="utf-8").splitlines()) == 500


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("share", [0.0, 0.1, 0.37])
def test_exactly_the_asked_share_is_rejected(tmp_path: Path, fmt: str, share: float) -> None:
    count = 1500
    decided = decide(generate_dataset(tmp_path, count, share, seed=5, fmt=fmt), fmt)
    for table in TABLES:
        rejected = [reasons for _, reasons in decided[table] if reasons]
        assert len(rejected) == round(share * count), table
        # one defect per invalid record, so every kind is exercised on its own
        assert all(len(reasons) == 1 for reasons in rejected), table


def test_invalid_records_are_spread_through_the_file(tmp_path: Path) -> None:
    fmt = "jsonl"  # the positions do not depend on the format
    decided = decide(generate_dataset(tmp_path, 4000, 0.1, seed=6, fmt=fmt), fmt)
    for table in TABLES:
        bad = [i for i, (_, reasons) in enumerate(decided[table]) if reasons]
        for quarter in range(4):  # about 100 in each quarter of the file
            inside = [i for i in bad if quarter * 1000 <= i < (quarter + 1) * 1000]
            assert 50 <= len(inside) <= 150, (table, quarter, len(inside))
        assert max(b - a for a, b in zip(bad, bad[1:], strict=False)) < 200


def test_everything_invalid(tmp_path: Path) -> None:
    decided = decide(generate_dataset(tmp_path, 300, 1.0, seed=1, fmt="jsonl"), "jsonl")
    for table in TABLES:
        assert all(reasons for _, reasons in decided[table])


EXPECTED_CODES = {
    "users": {
        "invalid_record", "missing_field", "invalid_id", "duplicate_id", "invalid_name",
        "invalid_email", "duplicate_email",
    },
    "products": {
        "invalid_record", "missing_field", "invalid_id", "duplicate_id", "invalid_name",
        "invalid_price",
    },
    "orders": {
        "invalid_record", "missing_field", "invalid_id", "duplicate_id", "invalid_user_id",
        "unknown_user", "invalid_product_id", "unknown_product", "invalid_quantity",
    },
}  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_reason_code_occurs(tmp_path: Path, fmt: str) -> None:
    decided = decide(generate_dataset(tmp_path, 1200, 0.1, seed=7, fmt=fmt), fmt)
    for table in TABLES:
        codes = {code for _, reasons in decided[table] for code in reasons}
        assert codes == EXPECTED_CODES[table], table


def test_kind_lists_cover_the_brief() -> None:
    for table in TABLES:
        kinds = invalid_kinds(table)
        assert len(kinds) == len(set(kinds))
        assert {"id_missing", "id_true", "id_float", "id_zero", "id_negative"} <= set(kinds)
        assert {"id_too_big", "id_duplicate", "id_text", "not_json_truncated"} <= set(kinds)
        for fmt in FORMATS:  # the same kinds in every format
            assert invalid_kinds(table, fmt) == kinds
    assert "price_overflow" in invalid_kinds("products")
    assert "price_nan" in invalid_kinds("products")
    assert "user_id_rejected" in invalid_kinds("orders")
    with pytest.raises(ValueError, match="table"):
        invalid_kinds("customers", "json")
    with pytest.raises(ValueError, match="format"):
        invalid_kinds("users", "xml")


ID_SHAPES = {
    # every id shape of an invalid record, as read back: (type name, value)
    "json": {("bool", True), ("float", 2.0), ("str", "7.5"), ("str", "abc"), ("int", 0),
             ("int", -5), ("int", 2**63), ("NoneType", None)},
    "csv": {("str", "true"), ("str", "2.0"), ("str", "7.5"), ("str", "abc"), ("str", "0"),
            ("str", "-5"), ("str", "9223372036854775808")},
}  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_literal_shapes_of_invalid_ids(tmp_path: Path, fmt: str) -> None:
    paths = generate_dataset(tmp_path, 1200, 0.1, seed=8, fmt=fmt)
    for table in TABLES:
        records = read_records(paths[table], fmt, table)
        shapes = {(type(r["id"]).__name__, r["id"]) for r in records if isinstance(r, dict)
                  and "id" in r}  # fmt: skip
        assert ID_SHAPES["csv" if fmt == "csv" else "json"] <= shapes, table
        assert any(isinstance(r, dict) and "id" not in r for r in records)  # id missing
        not_objects = [r for r in records if not isinstance(r, dict)]
        if fmt == "json":
            assert {type(r).__name__ for r in not_objects} == {"list", "str", "int", "NoneType"}
        elif fmt == "jsonl":
            assert any(r is BAD for r in not_objects)  # lines that are not JSON
        else:
            assert not_objects and all(r is BAD for r in not_objects)  # wrong cell count


@pytest.mark.parametrize("fmt", FORMATS)
def test_email_syntax_kinds(tmp_path: Path, fmt: str) -> None:
    paths = generate_dataset(tmp_path, 2000, 0.1, seed=10, fmt=fmt)
    records = [r for r in read_records(paths["users"], fmt, "users") if isinstance(r, dict)]
    emails = [r["email"] for r in records if isinstance(r.get("email"), str)]
    bad = {e for e in emails if not email_ok(e)}
    for expected in ("a@localhost", "@example.com", "a" * 65 + "@example.com",
                     "a@-mail.example.com", "a@" + "b" * 64 + ".com", "a@exämple.com"):  # fmt: skip
        assert expected in bad
    assert any(len(e) > 254 and e.count("@") == 1 for e in bad)
    assert any(e.count("@") == 2 for e in bad)
    assert any(" " in e for e in bad)
    assert any("@" not in e for e in bad)
    # valid edge cases: a local part of exactly 64 characters, non-ASCII local part
    good = [e for e in emails if email_ok(e)]
    assert any(len(e.split("@")[0]) == 64 for e in good)
    assert any(not e.isascii() for e in good)


@pytest.mark.parametrize("fmt", FORMATS)
def test_tricky_but_valid_cases(tmp_path: Path, fmt: str) -> None:
    """Reused ids and emails of rejected records, references to rejected and later users."""
    paths = generate_dataset(tmp_path, 3000, 0.1, seed=11, fmt=fmt)
    decided = decide(paths, fmt)

    rejected_ids: dict[str, set[int]] = {}
    reused: dict[str, set[int]] = {}
    position: dict[int, int] = {}
    reused_email = 0
    for table in TABLES:
        rejected_ids[table], reused[table] = set(), set()
        rejected_emails: set[str] = set()
        for pos, (rec, reasons) in enumerate(decided[table], start=1):
            if not isinstance(rec, dict):
                continue
            ident = as_int(rec.get("id"), fmt)
            email = rec.get("email")
            if reasons:
                if ident is not None and "duplicate_id" not in reasons:
                    rejected_ids[table].add(ident)
                if isinstance(email, str):
                    rejected_emails.add(email.lower())
                continue
            if ident in rejected_ids[table]:
                reused[table].add(ident)  # first rejected, then accepted
            if table == "users":
                position[ident] = pos
                reused_email += email.lower() in rejected_emails
    assert reused["users"] and reused["products"] and reused["orders"]
    assert reused_email > 0

    # ids that only ever appear on rejected records
    only_rejected = {
        t: rejected_ids[t] - {as_int(r.get("id"), fmt) for r, why in decided[t] if not why}
        for t in ("users", "products")
    }
    later = to_rejected_user = to_rejected_product = to_reused = 0
    for pos, (rec, reasons) in enumerate(decided["orders"], start=1):
        if not isinstance(rec, dict):
            continue
        user_id = as_int(rec.get("user_id"), fmt)
        product_id = as_int(rec.get("product_id"), fmt)
        if reasons == ["unknown_user"] and user_id in only_rejected["users"]:
            to_rejected_user += 1
        if reasons == ["unknown_product"] and product_id in only_rejected["products"]:
            to_rejected_product += 1
        if not reasons:
            later += position[user_id] > pos
            to_reused += user_id in reused["users"] or product_id in reused["products"]
    assert to_rejected_user and to_rejected_product and later and to_reused


@pytest.mark.parametrize("fmt", FORMATS)
def test_markup_and_escape_names_round_trip(tmp_path: Path, fmt: str) -> None:
    decided = decide(generate_dataset(tmp_path, 3000, 0.05, seed=12, fmt=fmt), fmt)
    for table in ("users", "products"):
        names = {rec["name"] for rec, reasons in decided[table] if not reasons}
        assert set(SPECIAL_NAMES) <= names, table
        assert "Eve\x1b[2J" in names and "[bold red]Mallory[/]" in names
    users = {rec["name"] for rec, reasons in decided["users"] if not reasons}
    assert {"Zoë", "李雷", "Ødegård"} <= users


def test_escape_characters_are_escaped_in_json(tmp_path: Path) -> None:
    path = generate_dataset(tmp_path, 3000, 0.05, seed=12, fmt="json")["users"]
    raw = path.read_bytes()
    assert b"\x1b" not in raw and b"\\u001b" in raw


def test_prices_and_quantities_of_valid_records(tmp_path: Path) -> None:
    decided = decide(generate_dataset(tmp_path, 2000, 0.0, seed=13, fmt="json"), "json")
    prices = [rec["price"] for rec, _ in decided["products"]]
    assert all(p > 0 and round(p, 2) == p for p in prices)
    assert any(type(p) is int for p in prices) and any(type(p) is float for p in prices)
    assert {rec["quantity"] for rec, _ in decided["orders"]} == set(range(1, 11))
    users = [rec for rec, _ in decided["users"]]
    assert [u["id"] for u in users[:50]] == list(range(1, 51))  # sequential in file order
    assert len({u["email"].lower() for u in users}) == len(users)


def test_creates_the_folder_and_replaces_old_files(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    generate_dataset(out, 100, 0.5, seed=1, fmt="csv")
    paths = generate_dataset(out, 10, 0.0, seed=1, fmt="csv")
    assert len(read_records(paths["orders"], "csv", "orders")) == 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": -1}, "count"),
        ({"count": 2.5}, "count"),
        ({"count": True}, "count"),
        ({"invalid_share": -0.01}, "share"),
        ({"invalid_share": 1.01}, "share"),
        ({"invalid_share": float("nan")}, "share"),
        ({"invalid_share": "0.1"}, "share"),
        ({"fmt": "xml"}, "format"),
        ({"fmt": "JSON"}, "format"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"out_dir": tmp_path / "out", "count": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate_dataset(**args)
    assert not (tmp_path / "out").exists(), "nothing is written for bad arguments"


def test_memory_does_not_grow_with_count(tmp_path: Path) -> None:
    def peak(count: int) -> int:
        tracemalloc.start()
        try:
            generate_dataset(tmp_path / str(count), count, 0.2, seed=1, fmt="jsonl")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # a list of all 5,000 records of a table would take about 2 MB
    small, large = peak(500), peak(5_000)
    assert large < small + 1_000_000, (small, large)


# ------------------------------------------------------------------------------------------
# The same seed gives the same records in every format. Read back with the product's own
# readers and judged with the product's own rules (unlike the tests above, which check the
# files against the spec independently).

INTEGER_FIELDS = {"id", "user_id", "product_id", "quantity"}
DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def read_back(paths: dict[str, Path]) -> dict[str, list[Any]]:
    """Every record of each file as the product reads it (CSV cells already converted)."""
    out = {}
    for table, path in paths.items():
        reader = open_reader(Source(table, path))
        try:
            out[table] = list(iter_records(reader))
        finally:
            reader.close()
    return out


def csv_form(field: str, value: Any) -> Any:
    """What a CSV cell says of a JSON value, as the reader turns it back into a value: a
    string is its own text, any other value its JSON text; digits in an integer field are an
    integer, a decimal number in `price` a float."""
    text = value if isinstance(value, str) else json.dumps(value)
    if field in INTEGER_FIELDS and re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    if field == "price" and DECIMAL.fullmatch(text):
        return float(text)
    return text


def present(record: dict[str, Any]) -> dict[str, Any]:
    """The fields that are there: `null` (or an empty CSV cell) is a missing field."""
    return {k: v for k, v in record.items() if v is not None}


def product_outcomes(records: dict[str, list[Any]]) -> dict[str, list[tuple[str, ...] | None]]:
    """Per table and position, the reason codes the product's rules give (None: inserted),
    on empty databases: users and products first, then orders against what they stored."""
    stored: dict[str, set[int]] = {}
    out = {}
    for table in TABLES:
        checked = rules.CHECKS[table](records[table])
        if table == "users":
            decision = rules.decide_users(checked, IdSet(), {})
        elif table == "products":
            decision = rules.decide_products(checked, IdSet())
        else:
            decision = rules.decide_orders(checked, IdSet(), stored["users"], stored["products"])
        stored[table] = set(decision.ids)
        out[table] = [
            None if reasons is None else tuple(r.code for r in reasons)
            for reasons in decision.reasons
        ]
    return out


@pytest.mark.parametrize(
    ("seed", "count", "share"), [(1, 2000, 0.1), (2, 2000, 0.5), (3, 300, 1.0), (4, 17, 0.3)]
)
def test_the_same_seed_gives_the_same_records_in_every_format(
    tmp_path: Path, seed: int, count: int, share: float
) -> None:
    read = {
        fmt: read_back(generate_dataset(tmp_path / fmt, count, share, seed=seed, fmt=fmt))
        for fmt in FORMATS
    }
    for table in TABLES:
        assert [len(read[fmt][table]) for fmt in FORMATS] == [count] * 3, table
        rows = zip(read["json"][table], read["jsonl"][table], read["csv"][table], strict=True)
        for position, (in_json, in_jsonl, in_csv) in enumerate(rows, start=1):
            where = (table, position, in_json, in_jsonl, in_csv)
            if type(in_json) is dict:
                assert in_jsonl == in_json, where
                expected = {k: csv_form(k, v) for k, v in present(in_json).items()}
                assert type(in_csv) is dict and present(in_csv) == expected, where
            else:  # not an object: in CSV a row whose cells do not match the header
                assert isinstance(in_csv, rules.BadRecord), where
                if isinstance(in_jsonl, rules.BadRecord):  # a .jsonl line that is not JSON
                    assert in_jsonl.text == in_json, where  # in .json: a string of its text
                else:
                    assert type(in_jsonl) is not dict and in_jsonl == in_json, where

    outcomes = {fmt: product_outcomes(read[fmt]) for fmt in FORMATS}
    for table in TABLES:
        assert outcomes["jsonl"][table] == outcomes["json"][table], table
        assert outcomes["csv"][table] == outcomes["json"][table], table
        rejected = sum(codes is not None for codes in outcomes["json"][table])
        assert rejected == round(share * count), table


def test_the_same_seed_gives_the_same_run_in_every_format(tmp_path: Path) -> None:
    """End to end: the engine stores the same rows and reports the same outcome, record by
    record, whichever format the same seed was written in."""
    seen = {}
    for fmt in FORMATS:
        data = tmp_path / f"data-{fmt}"
        generate_dataset(data, 2000, 0.2, seed=5, fmt=fmt)
        db_dir = tmp_path / f"db-{fmt}"
        _, outcomes = run_engine(db_dir, data)
        seen[fmt] = ({t: outcomes.codes(t) for t in TABLES}, dump(db_dir))
    assert seen["jsonl"] == seen["json"]
    assert seen["csv"] == seen["json"]
    codes, stored = seen["json"]
    assert all(len(codes[t]) == 2000 for t in TABLES)
    assert all(len(stored[t]) == 1600 for t in TABLES)  # exactly the asked share is rejected
