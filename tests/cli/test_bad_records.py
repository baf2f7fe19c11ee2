"""One bad record is one rejection, never a failed run; and every output file is strict JSON
that shows each value as given (SPEC §3, §6). Real processes, real files."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import strict_json, tui_insert

DEEP = 1020


def nest(depth: int) -> str:
    return "[" * depth + "]" * depth


BAD_USERS = [
    # (the line as written in the input, reason codes)
    ('{"id": 18446744073709551616, "name": "\\ud800", "email": "a@b.co"}', ["invalid_id", "invalid_name"]),  # noqa: E501
    ('{"id": 2, "name": "", "email": "b@b.co", "x": ' + nest(990) + "}", ["invalid_name"]),
    ('{"id": ' + nest(DEEP) + ', "name": "c", "email": "c@b.co"}', ["invalid_id"]),
    ('{"id": 4, "name": "d", "email": "d@b.co", "note": "\\ud800"}', None),
    ('{"id": 5, "name": "e\\u0000", "email": "\\udfff@b.co"}', ["invalid_name", "invalid_email"]),
    ('{"id": 6, "name": "f", "email": "f@b.co", "x": [18446744073709551616, NaN, -Infinity]}', None),  # noqa: E501
    ('{"id": -1, "name": "g", "email": "g@b.co", "x": [18446744073709551616, NaN, Infinity]}', ["invalid_id"]),  # noqa: E501
]  # fmt: skip


def write_users(folder: Path, ext: str, lines: list[str]) -> Path:
    folder.mkdir(exist_ok=True)
    if ext == ".json":
        (folder / "users.json").write_text("[\n" + ",\n".join(lines) + "\n]")
    else:
        (folder / "users.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "products.json").write_text("[]")
    (folder / "orders.json").write_text("[]")
    return folder


@pytest.mark.parametrize("ext", [".json", ".jsonl"])
def test_bad_records_are_rejections_and_the_output_is_strict_json(tmp_path: Path, ext: str) -> None:
    lines = [line for line, _ in BAD_USERS]
    if ext == ".jsonl":
        lines.append(nest(1100))  # too deep to read: this line alone is invalid
    data = write_users(tmp_path / "data", ext, lines)
    db_dir = tmp_path / "db"
    rejects = tmp_path / "rejects.jsonl"
    args = ("run", "--headless", "--json", "--data", data, "--db-dir", db_dir)
    for attempt in ("first", "rerun"):
        result = tui_insert(*args, "--rejects", rejects)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        report = strict_json(result.stdout)
        records = report["records"]
        assert len(records) == len(lines)
        expected = [codes for _, codes in BAD_USERS]
        if ext == ".jsonl":
            expected.append(["invalid_record"])
        got = [[r["code"] for r in rec["reasons"]] if "reasons" in rec else None for rec in records]
        if attempt == "first":
            assert got == expected
        else:  # the accepted ones are duplicates now; nothing else changes
            assert [g for g, e in zip(got, expected, strict=True) if e is not None] == [
                e for e in expected if e is not None
            ]
        assert records[0]["id"] == 2**64  # every digit, not 1.8446744073709552e+19
        assert '"id":18446744073709551616' in result.stdout.replace(" ", "")
        entries = [strict_json(line) for line in rejects.read_text().splitlines()]
        assert len(entries) == report["tables"]["users"]["rejected"]
    by_position = {e["position"]: e for e in entries}
    assert by_position[1]["record"]["name"] == "\ud800"  # as given, written as an escape
    assert by_position[7]["record"]["x"] == [2**64, "NaN", "Infinity"]
    with sqlite3.connect(db_dir / "users.db") as db:
        assert db.execute("SELECT id, name, email FROM users ORDER BY id").fetchall() == [
            (4, "d", "d@b.co"),
            (6, "f", "f@b.co"),
        ]


def test_plain_report_of_bad_records_is_one_line_each(tmp_path: Path) -> None:
    data = write_users(tmp_path / "data", ".json", [line for line, _ in BAD_USERS])
    result = tui_insert("run", "--headless", "--data", data, "--db-dir", tmp_path / "db")
    assert result.returncode == 0, result.stderr
    users = [line for line in result.stdout.splitlines() if line.startswith("users #")]
    assert len(users) == len(BAD_USERS)
    assert all(len(line) < 400 for line in users)  # deep values are shown shortened
    assert "\\ud800" in users[0]  # a lone surrogate is shown as an escape


def test_non_finite_numbers_are_strings_in_the_rejects_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "users.json").write_text("[]")
    (data / "products.json").write_text(
        '[{"id": 1, "name": "a", "price": NaN}, {"id": 2, "name": "b", "price": -Infinity},'
        ' {"id": 3, "name": "c", "price": 1e999}]'
    )
    (data / "orders.json").write_text("[]")
    rejects = tmp_path / "rejects.jsonl"
    result = tui_insert(
        "run", "--headless", "--json", "--data", data, "--db-dir", tmp_path / "db",
        "--rejects", rejects,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    strict_json(result.stdout)
    prices = [strict_json(line)["record"]["price"] for line in rejects.read_text().splitlines()]
    assert prices == ["NaN", "-Infinity", "Infinity"]
    assert not any(isinstance(p, float) and not math.isfinite(p) for p in prices)


def test_the_summary_reads_back_a_rejected_record_nested_as_deep_as_allowed(
    tmp_path: Path,
) -> None:
    from tests.helpers import running
    from tui_insert.core.rejected import RejectedRecords

    record = '{"id": 1, "name": "", "email": "a@b.co", "x": ' + nest(1023) + "}"  # 1,024 deep
    data = write_users(tmp_path / "data", ".jsonl", [record])
    with running(tmp_path / "db", data) as run:
        assert run.wait(120) and run.state == "completed", run.error
        rejected = RejectedRecords.of(run)
    try:
        assert list(rejected.index())[-1] == 1 and rejected.indexed
        assert [
            r.text for r in (rejected.view()[0], rejected.view("users", "invalid_name")[0])
        ] == ["users #1 id=1  invalid_name: name is empty"] * 2
    finally:
        rejected.close()
