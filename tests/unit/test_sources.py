"""The input files of SPEC.md section 3: finding them, and reading .json, .jsonl and .csv.

Every test writes real files into tmp_path and reads them through `find_sources`,
`open_reader` and `iter_records`, as the engine does.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from tui_insert.core import jsonio
from tui_insert.core.errors import InputError, UserError
from tui_insert.core.idset import IdSet
from tui_insert.core.rules import (
    BadRecord,
    check_orders,
    check_products,
    check_users,
    decide_products,
)
from tui_insert.core.sources import (
    Source,
    find_sources,
    iter_records,
    open_reader,
    sample_data_dir,
)

CHECK = {"users": check_users, "products": check_products, "orders": check_orders}


# --- helpers -------------------------------------------------------------------------------------


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8"))
    return path


def read_all(path: Path, table: str = "users", size: int = 1000) -> list[Any]:
    reader = open_reader(Source(table, path))
    try:
        return list(iter_records(reader, size))
    finally:
        reader.close()


def reasons_of(table: str, records: list[Any]) -> list[list[tuple[str, str]] | None]:
    """(field, code) of the record-alone reasons of each record (None: none)."""
    out = []
    for checked in CHECK[table](records):
        reasons = checked[-1]
        out.append(None if reasons is None else [(r.field, r.code) for r in reasons])
    return out


def three_files(folder: Path, ext: str = ".json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("users", "products", "orders"):
        write(folder / f"{name}{ext}", "[]" if ext == ".json" else "")
    return folder


# --- finding the files ----------------------------------------------------------------------------


def test_sample_data_dir_holds_the_three_sample_files():
    folder = sample_data_dir()
    assert folder.is_dir()
    found = find_sources(folder)
    assert set(found) == {"users", "products", "orders"}
    for name, source in found.items():
        assert source.table == name
        assert source.path.parent == folder
        assert source.path.stem == name
        assert source.path.is_file()
        records = read_all(source.path, name)
        assert records, f"{source.path} is empty"
        assert all(type(r) is dict for r in records)


def test_find_sources_without_anything_uses_the_sample_data():
    found = find_sources()
    assert {s.path.parent for s in found.values()} == {sample_data_dir()}


@pytest.mark.parametrize("ext", [".json", ".jsonl", ".csv"])
def test_find_sources_in_a_folder(tmp_path, ext):
    folder = three_files(tmp_path / "data", ext)
    found = find_sources(folder)
    assert list(found) == ["users", "products", "orders"]
    assert {name: s.path for name, s in found.items()} == {
        name: folder / f"{name}{ext}" for name in ("users", "products", "orders")
    }
    assert {s.format for s in found.values()} == {ext}


def test_find_sources_in_a_folder_with_mixed_formats(tmp_path):
    write(tmp_path / "users.csv", "id,name,email\n")
    write(tmp_path / "products.jsonl", "")
    write(tmp_path / "orders.json", "[]")
    write(tmp_path / "notes.txt", "ignored")
    found = find_sources(tmp_path)
    assert [s.format for s in found.values()] == [".csv", ".jsonl", ".json"]


def test_files_named_one_by_one(tmp_path):
    files = {
        "users": write(tmp_path / "u.jsonl", ""),
        "products": write(tmp_path / "p.csv", "id,name,price\n"),
        "orders": write(tmp_path / "o.json", "[]"),
    }
    found = find_sources(None, files)
    assert {name: s.path for name, s in found.items()} == files


def test_one_named_file_with_a_data_folder_for_the_rest(tmp_path):
    folder = three_files(tmp_path / "data")
    mine = write(tmp_path / "mine.csv", "id,name,email\n")
    found = find_sources(folder, {"users": mine, "products": None, "orders": None})
    assert found["users"].path == mine
    assert found["products"].path == folder / "products.json"
    assert found["orders"].path == folder / "orders.json"


def test_only_users_named_and_no_data_folder_is_an_input_error(tmp_path):
    users = write(tmp_path / "users.json", "[]")
    with pytest.raises(InputError) as err:
        find_sources(None, {"users": users, "products": None, "orders": None})
    assert "--products" in str(err.value)
    assert "--orders" in str(err.value)


def test_a_folder_without_the_files_is_an_input_error_naming_it(tmp_path):
    write(tmp_path / "users.json", "[]")
    write(tmp_path / "products.txt", "[]")  # not a supported extension: not found
    write(tmp_path / "orders.json", "[]")
    with pytest.raises(InputError) as err:
        find_sources(tmp_path)
    assert str(tmp_path) in str(err.value)
    assert "products" in str(err.value)


def test_an_empty_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="users"):
        find_sources(tmp_path)


@pytest.mark.parametrize("kind", ["missing", "a file"])
def test_a_data_folder_that_is_not_a_folder_is_an_input_error(tmp_path, kind):
    target = tmp_path / "data"
    if kind == "a file":
        write(target, "[]")
    with pytest.raises(InputError) as err:
        find_sources(target)
    assert str(target) in str(err.value)


def test_two_users_files_in_one_folder_is_an_input_error(tmp_path):
    three_files(tmp_path)
    write(tmp_path / "users.jsonl", "")
    with pytest.raises(InputError) as err:
        find_sources(tmp_path)
    assert "users.json" in str(err.value)
    assert "users.jsonl" in str(err.value)


@pytest.mark.parametrize("name", ["users.txt", "users", "users.json.bak", "users.xml"])
def test_a_named_file_with_a_wrong_extension_is_an_input_error(tmp_path, name):
    folder = three_files(tmp_path / "data")
    wrong = write(tmp_path / name, "[]")
    with pytest.raises(InputError) as err:
        find_sources(folder, {"users": wrong})
    assert str(wrong) in str(err.value)


def test_input_error_is_a_user_error_with_exit_code_2():
    assert issubclass(InputError, UserError)
    assert InputError.exit_code == 2


@pytest.mark.parametrize("ext", [".json", ".jsonl", ".csv"])
def test_a_missing_file_is_an_input_error_naming_it(tmp_path, ext):
    path = tmp_path / f"nope{ext}"
    with pytest.raises(InputError) as err:
        open_reader(Source("users", path))
    assert str(path) in str(err.value)


def test_a_folder_given_as_a_file_is_an_input_error(tmp_path):
    path = tmp_path / "users.json"
    path.mkdir()
    with pytest.raises(InputError) as err:
        open_reader(Source("users", path))
    assert str(path) in str(err.value)


# --- .json --------------------------------------------------------------------------------------


def test_json_array_records_in_order(tmp_path):
    path = write(
        tmp_path / "users.json",
        '[{"id": 1, "name": "A", "email": "a@b.co", "extra": [1]},\n'
        ' {"id": 2, "name": null},\n [1, 2], "text", 3, null, true]',
    )
    assert read_all(path) == [
        {"id": 1, "name": "A", "email": "a@b.co", "extra": [1]},
        {"id": 2, "name": None},
        [1, 2],
        "text",
        3,
        None,
        True,
    ]


def test_json_total_is_known_at_once_and_chunks_keep_order(tmp_path):
    records = [{"id": i} for i in range(1, 11)]
    path = write(tmp_path / "users.json", json.dumps(records))
    reader = open_reader(Source("users", path))
    assert reader.total == 10
    chunks = []
    while True:
        given, checked = reader.read_chunk(3)
        if not checked:
            break
        assert given == checked
        chunks.append(checked)
    reader.close()
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert [r for c in chunks for r in c] == records
    assert reader.exhausted
    assert reader.total == 10


def test_json_with_a_bom_is_read(tmp_path):
    path = write(tmp_path / "users.json", b'\xef\xbb\xbf[{"id": 1}]')
    assert read_all(path) == [{"id": 1}]


def test_json_empty_array(tmp_path):
    path = write(tmp_path / "users.json", "[]")
    reader = open_reader(Source("users", path))
    assert reader.total == 0
    assert list(iter_records(reader)) == []


@pytest.mark.parametrize(
    ("content", "line", "column"),
    [
        ('[\n  {"id": 1},\n  {"id": 2,}\n]', 3, 12),
        ('[{"id": 1}', 1, 11),
        ("not json", 1, 1),
        ('[\n{"id": 1}\n{"id": 2}\n]', 3, 1),
    ],
)
def test_malformed_json_is_an_input_error_with_file_line_and_column(
    tmp_path, content, line, column
):
    path = write(tmp_path / "users.json", content)
    with pytest.raises(InputError) as err:
        open_reader(Source("users", path))
    message = str(err.value)
    assert str(path) in message
    assert f"line {line}, column {column}" in message


@pytest.mark.parametrize("content", ['{"id": 1}', '"users"', "42", "null"])
def test_json_that_is_not_an_array_is_an_input_error(tmp_path, content):
    path = write(tmp_path / "users.json", content)
    with pytest.raises(InputError) as err:
        open_reader(Source("users", path))
    assert str(path) in str(err.value)
    assert "array" in str(err.value)


def test_json_that_is_not_utf8_is_an_input_error(tmp_path):
    path = write(tmp_path / "users.json", b'[{"name": "\xff"}]')
    with pytest.raises(InputError) as err:
        open_reader(Source("users", path))
    assert str(path) in str(err.value)


def test_json_integer_beyond_64_bits_still_parses_and_is_invalid_id(tmp_path):
    path = write(tmp_path / "users.json", '[{"id": 18446744073709551616, "name": "A"}]')
    records = read_all(path)
    assert records == [{"id": 2**64, "name": "A"}]
    assert reasons_of("users", records)[0][0] == ("id", "invalid_id")


def test_json_nan_and_infinity_literals_parse_and_are_invalid_price(tmp_path):
    path = write(
        tmp_path / "products.json",
        '[{"id": 1, "name": "A", "price": NaN},'
        ' {"id": 2, "name": "B", "price": Infinity},'
        ' {"id": 3, "name": "C", "price": 2.5}]',
    )
    records = read_all(path, "products")
    assert math.isnan(records[0]["price"])
    assert records[1]["price"] == math.inf
    assert reasons_of("products", records) == [
        [("price", "invalid_price")],
        [("price", "invalid_price")],
        None,
    ]


@pytest.mark.parametrize("ext", [".json", ".jsonl"])
def test_a_lone_surrogate_in_an_ignored_field_does_not_matter(tmp_path, ext):
    record = '{"id": 1, "name": "a", "email": "a@b.co", "note": "\\ud800"}'
    path = write(tmp_path / f"users{ext}", f"[{record}]" if ext == ".json" else record + "\n")
    records = read_all(path)
    assert records == [{"id": 1, "name": "a", "email": "a@b.co", "note": "\ud800"}]
    assert reasons_of("users", records) == [None]


@pytest.mark.parametrize("ext", [".json", ".jsonl"])
def test_unstorable_text_in_name_and_email_is_that_fields_reason(tmp_path, ext):
    records = [
        '{"id": 18446744073709551616, "name": "\\ud800", "email": "a@b.co"}',
        '{"id": 2, "name": "a\\u0000", "email": "\\udfff@b.co"}',
        '{"id": 3, "name": "ok", "email": "a\\u0000@b.co"}',
        '{"id": 4, "name": "\\ud83d\\ude00", "email": "d@b.co"}',  # a pair is fine
    ]
    text = "[" + ",".join(records) + "]" if ext == ".json" else "\n".join(records) + "\n"
    path = write(tmp_path / f"users{ext}", text)
    read = read_all(path)
    assert read[0]["id"] == 2**64  # every digit, not a float
    assert reasons_of("users", read) == [
        [("id", "invalid_id"), ("name", "invalid_name")],
        [("name", "invalid_name"), ("email", "invalid_email")],
        [("email", "invalid_email")],
        None,
    ]
    (_, _, _, why), *_ = check_users(read[1:])
    assert "U+0000" in why[0].message
    assert "lone surrogate U+DFFF" in why[1].message
    assert "\\udfff" in why[1].message  # shown as an escape, never as the raw surrogate


def test_json_nested_deeper_than_the_parser_allows_is_a_file_error_with_its_position(tmp_path):
    path = write(tmp_path / "users.json", '[\n {"id": 1, "x": ' + "[" * 1100 + "]" * 1100 + "}]")
    with pytest.raises(InputError) as err:
        read_all(path)
    assert "nested deeper than 1024 levels at line 2, column 1039" in str(err.value)
    assert str(path) in str(err.value)


def test_json_nested_deep_but_within_the_limit_is_read(tmp_path):
    deep = "[" * 1020 + "]" * 1020
    path = write(
        tmp_path / "users.json",
        f'[{{"id": {deep}, "name": "a", "email": "a@b.co"}},'
        f' {{"id": 2, "name": "", "email": "b@b.co", "x": {deep}}},'
        # the exact parser, for the long integer, judges depth the same way
        f' {{"id": 18446744073709551616, "name": "a", "email": "c@b.co", "x": {deep}}}]',
    )
    records = read_all(path)
    assert reasons_of("users", records) == [
        [("id", "invalid_id")],
        [("name", "invalid_name")],
        [("id", "invalid_id")],
    ]


def test_jsonl_line_nested_too_deep_is_one_invalid_record(tmp_path):
    path = write(
        tmp_path / "users.jsonl",
        '{"id": 1}\n'
        + "[" * 1100
        + "]" * 1100
        + '\n{"id": 18446744073709551616, "x": '
        + "[" * 1030
        + "]" * 1030
        + '}\n{"id": 4}\n',
    )
    records = read_all(path)
    assert records[0] == {"id": 1}
    assert isinstance(records[1], BadRecord) and isinstance(records[2], BadRecord)
    assert (records[1].line, records[2].line) == (2, 3)
    assert "nested deeper than 1024 levels" in records[1].message
    assert records[3] == {"id": 4}


# Pieces of odd records: every edge of the two parsers (long and huge integers, NaN, lone
# surrogates, raw and escaped non-ASCII, nesting at and past the limit, long text).
_ODD_VALUES = [
    '"a"',
    '"\\u00e9"',
    '"é"',
    '"\\ud800"',
    '"\\ud83d\\ude00"',
    '"😀"',
    '"a\\"b\\\\"',
    "18446744073709551616",
    "-9223372036854775809",
    "9" * 4100,
    "1e400",
    "-0",
    "-0.0",
    "1.5e300",
    "NaN",
    "Infinity",
    "-Infinity",
    "null",
    "true",
    "[]",
    "{}",
    "[1, [2, {}]]",
    "[" * 1022 + "]" * 1022,
    "[" * 1023 + "]" * 1023,
    "[" * 1024 + "]" * 1024,
    '{"x": ' * 1023 + "1" + "}" * 1023,
    '"' + "x[{" * 700 + '"',
    "2.2250738585072011e-308",
    "4.9e-324",
    "1e-400",
    "0.1",
    "123456789.123456789e-5",
    "1.7976931348623157e308",
    "1.7976931348623159e308",
]
_EDITS = [
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b'"',
    b"\\",
    b"0",
    b"-",
    b"e",
    b".",
    b" ",
    b"\n",
    b"\xff",
    b"\xed\xa0\x80",
    b"\xc3",
    b"\x01",
    b"N",
    b"u",
    b"\\ud800",
]


def _odd_array(rnd: random.Random) -> bytes:
    records = []
    for i in range(rnd.randint(0, 6)):
        fields = [f'"id": {i + 1}', '"email": "a@b.co"']
        fields += [f'"f{k}": {rnd.choice(_ODD_VALUES)}' for k in range(rnd.randint(0, 2))]
        record = "{" + ", ".join(fields) + "}"
        records.append(record if rnd.random() < 0.9 else rnd.choice(_ODD_VALUES))
    data = bytearray(("[" + ",\n ".join(records) + "]").encode())
    for _ in range(rnd.choice([0, 0, 1, 1, 2, 3])):  # a broken file, often
        at = rnd.randrange(len(data) + 1)
        edit = rnd.choice(_EDITS)
        if rnd.random() < 0.3:
            del data[at : at + rnd.randint(1, 3)]
        else:
            data[at:at] = edit
    return bytes(data)


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 is not 1.0; NaN is NaN; -0.0 keeps
    its sign)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float):
        return (a == b or (math.isnan(a) and math.isnan(b))) and math.copysign(
            1, a
        ) == math.copysign(1, b)
    return bool(a == b)


def test_json_read_a_chunk_at_a_time_is_exactly_the_file_read_whole(tmp_path):
    """The reader parses a .json file a chunk at a time after checking it whole. Whatever the
    file, each record is the value it has in the file parsed whole, and a file that cannot be
    parsed whole fails at once, with the same message."""
    rnd = random.Random(12)
    path = tmp_path / "users.json"
    kinds = {"read": 0, "failed": 0}
    for case in range(2500):
        data = _odd_array(rnd)
        path.write_bytes(data)
        try:  # the file parsed whole, as the reader did before it read in chunks
            whole: Any = jsonio.loads(data)
            expected: Any = whole if isinstance(whole, list) else "expected a JSON array"
        except jsonio.JsonError as e:
            expected = f"{path}: {e}"
        if data.strip() == b"":
            expected = []
        try:
            reader = open_reader(Source("users", path))
        except InputError as e:
            assert isinstance(expected, str), (case, data, e)
            assert expected in str(e), (case, data)
            kinds["failed"] += 1
            continue
        assert isinstance(expected, list), (case, data, expected)
        assert reader.total == len(expected)
        records = []
        while chunk := reader.read_chunk(rnd.randint(1, 4))[1]:
            records += chunk
        assert _same(records, expected), (case, data)
        kinds["read"] += 1
    assert min(kinds.values()) > 500, kinds  # both kinds well tried


def test_json_integer_of_5000_digits_does_not_crash(tmp_path):
    path = write(
        tmp_path / "orders.json",
        '[{"id": ' + "1" * 5000 + ', "user_id": 1, "product_id": 1, "quantity": 1}]',
    )
    records = read_all(path, "orders")
    assert reasons_of("orders", records) == [[("id", "invalid_id")]]


# --- .jsonl -------------------------------------------------------------------------------------


def test_jsonl_records_blank_lines_and_values_that_are_not_objects(tmp_path):
    path = write(
        tmp_path / "users.jsonl",
        '{"id": 1}\n\n   \n[1, 2]\n"text"\n7\nnull\n{"id": 2}\r\n\t\n{"id": 3}',
    )
    assert read_all(path) == [{"id": 1}, [1, 2], "text", 7, None, {"id": 2}, {"id": 3}]


def test_jsonl_a_broken_line_is_one_bad_record_at_its_place(tmp_path):
    path = write(
        tmp_path / "users.jsonl",
        '{"id": 1}\n{"id": 2,\n\n{"id": 3}\n{oops}\n{"id": 4}\n',
    )
    records = read_all(path)
    assert len(records) == 5
    assert records[0] == {"id": 1}
    assert isinstance(records[1], BadRecord)
    assert records[1].line == 2
    assert "line 2" in records[1].message
    assert records[1].text == '{"id": 2,'
    assert records[2] == {"id": 3}
    assert isinstance(records[3], BadRecord)
    assert records[3].line == 5
    assert records[4] == {"id": 4}
    assert [r and r[0][1] for r in reasons_of("users", records)] == [
        "missing_field",
        "invalid_record",
        "missing_field",
        "invalid_record",
        "missing_field",
    ]
    assert reasons_of("users", records)[1] == [("record", "invalid_record")]


def test_jsonl_bad_lines_across_chunk_borders(tmp_path):
    lines = [("{bad" if i % 3 == 0 else json.dumps({"id": i})) for i in range(1, 31)]
    path = write(tmp_path / "users.jsonl", "\n".join(lines) + "\n")
    records = read_all(path, size=4)
    assert len(records) == 30
    for i, record in enumerate(records, start=1):
        if i % 3 == 0:
            assert isinstance(record, BadRecord)
            assert record.line == i
        else:
            assert record == {"id": i}


def test_jsonl_with_a_bom_at_the_start(tmp_path):
    path = write(tmp_path / "users.jsonl", b'\xef\xbb\xbf{"id": 1}\n{"id": 2}\n')
    assert read_all(path) == [{"id": 1}, {"id": 2}]


def test_jsonl_a_line_of_invalid_utf8_is_a_bad_record(tmp_path):
    path = write(tmp_path / "users.jsonl", b'{"id": 1}\n{"name": "\xff"}\n{"id": 3}\n')
    records = read_all(path)
    assert records[0] == {"id": 1}
    assert isinstance(records[1], BadRecord)
    assert records[1].line == 2
    assert records[2] == {"id": 3}


def test_jsonl_big_integers_and_nan_use_the_lenient_parser(tmp_path):
    path = write(
        tmp_path / "products.jsonl",
        '{"id": 18446744073709551616, "name": "A", "price": 1}\n'
        '{"id": 2, "name": "B", "price": NaN}\n',
    )
    records = read_all(path, "products")
    assert records[0]["id"] == 2**64
    assert math.isnan(records[1]["price"])
    assert reasons_of("products", records) == [
        [("id", "invalid_id")],
        [("price", "invalid_price")],
    ]


def test_jsonl_integer_of_5000_digits_is_a_record_with_invalid_id(tmp_path):
    path = write(
        tmp_path / "orders.jsonl",
        '{"id": ' + "1" * 5000 + ', "user_id": 1, "product_id": 1, "quantity": 1}\n',
    )
    records = read_all(path, "orders")
    assert reasons_of("orders", records) == [[("id", "invalid_id")]]


@pytest.mark.parametrize(
    ("content", "records"),
    [
        ('{"id": 1}\n{"id": 2}\n', 2),
        ('{"id": 1}\n{"id": 2}', 2),
        ('\n\n{"id": 1}\n\n\n{"id": 2}\n\n', 2),
        ('{"id": 1}\n{broken\n', 2),
        ("", 0),
        ("\n\n", 0),
    ],
)
def test_jsonl_total_is_exact_at_the_end(tmp_path, content, records):
    path = write(tmp_path / "users.jsonl", content)
    reader = open_reader(Source("users", path))
    assert reader.total >= records  # an estimate (line count) before the end
    got = list(iter_records(reader, 1))
    reader.close()
    assert len(got) == records
    assert reader.exhausted
    assert reader.total == records


# --- .csv ---------------------------------------------------------------------------------------


def test_csv_cells_become_values(tmp_path):
    path = write(
        tmp_path / "orders.csv",
        "id,user_id,product_id,quantity\n7,+2,007,\n7.0,x, 3,-1\n",
    )
    assert read_all(path, "orders") == [
        {"id": 7, "user_id": 2, "product_id": 7, "quantity": None},
        {"id": "7.0", "user_id": "x", "product_id": " 3", "quantity": -1},
    ]


def test_csv_integer_fields_are_whole_numbers_only(tmp_path):
    path = write(tmp_path / "orders.csv", "id,user_id,product_id,quantity\n7.0,1e3,0x10,1_000\n")
    records = read_all(path, "orders")
    assert records == [{"id": "7.0", "user_id": "1e3", "product_id": "0x10", "quantity": "1_000"}]
    assert reasons_of("orders", records) == [
        [
            ("id", "invalid_id"),
            ("user_id", "invalid_user_id"),
            ("product_id", "invalid_product_id"),
            ("quantity", "invalid_quantity"),
        ]
    ]


def test_csv_integer_cells_are_ascii_digits_with_an_optional_sign(tmp_path):
    # Digits of other scripts are digits to Python's int(), not to a CSV file of numbers.
    digits = "9" * 4000
    path = write(
        tmp_path / "orders.csv",
        "id,user_id,product_id,quantity\n"
        f"007,+5,-3,{digits}\n"
        "\uff11\uff12,\u0663,\u00b2, 1\n"
        f"1,2,3,{digits}9\n",
    )
    assert read_all(path, "orders") == [
        {"id": 7, "user_id": 5, "product_id": -3, "quantity": int(digits)},
        {"id": "\uff11\uff12", "user_id": "\u0663", "product_id": "\u00b2", "quantity": " 1"},
        {"id": 1, "user_id": 2, "product_id": 3, "quantity": digits + "9"},
    ]


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("5.5", 5.5),
        ("1e3", 1000.0),
        ("5", 5.0),
        (".5", 0.5),
        ("0", 0.0),
        ("-2.5", -2.5),
        ("abc", "abc"),
        ("nan", "nan"),
        ("inf", "inf"),
        ("5,0", "5,0"),
        ("", None),
    ],
)
def test_csv_price_cells(tmp_path, cell, value):
    quoted = '"' + cell + '"' if "," in cell else cell
    path = write(tmp_path / "products.csv", f"id,name,price\n1,Pen,{quoted}\n")
    (record,) = read_all(path, "products")
    assert record["price"] == value
    assert type(record["price"]) is type(value)


def test_csv_prices_through_the_rules(tmp_path):
    path = write(
        tmp_path / "products.csv",
        "id,name,price\n1,A,5.5\n2,B,1e3\n3,C,abc\n4,D,0\n5,E,\n6,F,1e999\n7,G,nan\n",
    )
    records = read_all(path, "products")
    decision = decide_products(check_products(records), IdSet())
    assert decision.rows == [(1, "A", 5.5), (2, "B", 1000.0)]
    assert [r and [(x.field, x.code) for x in r] for r in decision.reasons][2:] == [
        [("price", "invalid_price")],
        [("price", "invalid_price")],
        [("price", "missing_field")],
        [("price", "invalid_price")],
        [("price", "invalid_price")],
    ]


def test_csv_empty_cells_are_missing_fields(tmp_path):
    path = write(tmp_path / "users.csv", "id,name,email\n,,\n1, ,a@b.co\n")
    records = read_all(path)
    assert records == [
        {"id": None, "name": None, "email": None},
        {"id": 1, "name": " ", "email": "a@b.co"},
    ]
    assert reasons_of("users", records) == [
        [("id", "missing_field"), ("name", "missing_field"), ("email", "missing_field")],
        [("name", "invalid_name")],
    ]


def test_csv_quoted_cells_with_commas_quotes_and_newlines(tmp_path):
    path = write(
        tmp_path / "users.csv",
        'id,name,email\n1,"Smith, John",a@b.co\n2,"two\nlines",b@b.co\n'
        '3,"say ""hi""",c@b.co\r\n4,"  padded  ",d@b.co\n',
    )
    records = read_all(path)
    assert [r["name"] for r in records] == ["Smith, John", "two\nlines", 'say "hi"', "  padded  "]
    assert [r["id"] for r in records] == [1, 2, 3, 4]
    assert reasons_of("users", records) == [None] * 4


def test_csv_rows_with_too_many_or_too_few_cells_are_bad_records(tmp_path):
    path = write(
        tmp_path / "users.csv",
        "id,name,email\n1,A,a@b.co\n2,B,b@b.co,extra\n3,C\n4,D,d@b.co\n",
    )
    reader = open_reader(Source("users", path))
    given, records = reader.read_chunk(100)
    reader.close()
    assert len(records) == 4
    assert records[0] == {"id": 1, "name": "A", "email": "a@b.co"}
    assert isinstance(records[1], BadRecord)
    assert records[1].line == 3
    assert "4" in records[1].message and "3" in records[1].message
    assert isinstance(records[2], BadRecord)
    assert records[2].line == 4
    assert records[3] == {"id": 4, "name": "D", "email": "d@b.co"}
    assert given[1] is records[1]
    assert reasons_of("users", records) == [
        None,
        [("record", "invalid_record")],
        [("record", "invalid_record")],
        None,
    ]


def test_csv_given_records_are_the_cells_as_text(tmp_path):
    path = write(tmp_path / "orders.csv", "id,user_id,product_id,quantity\n1,2,,4\n")
    reader = open_reader(Source("orders", path))
    given, records = reader.read_chunk(10)
    reader.close()
    assert list(given) == [{"id": "1", "user_id": "2", "product_id": "", "quantity": "4"}]
    assert records == [{"id": 1, "user_id": 2, "product_id": None, "quantity": 4}]


def test_csv_extra_header_columns_are_ignored_and_not_kept(tmp_path):
    path = write(
        tmp_path / "users.csv",
        "note,id,name,email,age\nhello,1,Ann,ann@b.co,\n,2,Bob,bob@b.co,\xff\n",
    )
    records = read_all(path)
    assert records == [
        {"id": 1, "name": "Ann", "email": "ann@b.co"},
        {"id": 2, "name": "Bob", "email": "bob@b.co"},  # the bad byte was in an ignored cell
    ]
    assert reasons_of("users", records) == [None, None]


def test_csv_header_may_have_a_bom(tmp_path):
    path = write(tmp_path / "users.csv", b"\xef\xbb\xbfid,name,email\r\n1,Ann,a@b.co\r\n")
    assert read_all(path) == [{"id": 1, "name": "Ann", "email": "a@b.co"}]


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("id,nam,email", 'it lacks name; unknown columns: "nam"'),
        ("id,name", "it lacks email"),
        (" id , name ,email", 'it lacks id, name; unknown columns: " id ", " name "'),
        ("ID,Name,Email", 'it lacks id, name, email; unknown columns: "ID", "Name", "Email"'),
        ("id,name,email,name", "it names name more than once"),
    ],
)
def test_csv_header_that_does_not_name_every_field_is_an_error(tmp_path, header, problem):
    path = write(tmp_path / "users.csv", f"{header}\n1,Ann,a@b.co\n")
    with pytest.raises(InputError) as err:
        read_all(path)
    assert str(err.value) == (
        f"{path}: the CSV header must name every field of users (id, name, email): {problem}"
    )


def test_csv_header_of_many_unknown_columns_names_a_few(tmp_path):
    header = ",".join(f"c{i}" for i in range(5000)) + ",id,name"
    path = write(tmp_path / "users.csv", header + "\n")
    with pytest.raises(InputError) as err:
        read_all(path)
    assert str(err.value).endswith('"c8", "c9" and 4,990 more')


@pytest.mark.parametrize("ext", [".json", ".jsonl", ".csv"])
@pytest.mark.parametrize("content", [b"", b"\n", b"  \r\n\t\n", b"\xef\xbb\xbf"])
def test_an_empty_file_is_zero_records_in_every_format(tmp_path, ext, content):
    path = write(tmp_path / f"users{ext}", content)
    reader = open_reader(Source("users", path))
    assert (reader.total, reader.estimated) == (0, False)
    assert list(iter_records(reader)) == []


@pytest.mark.parametrize(
    "text",
    [
        'id,name,email\n1,"two\nlines",a@b.co\n2,"""quoted""\n\nstill",b@b.co\n\n3,c,c@b.co',
        'id,name,email\r\n1,"a\r\nb",a@b.co\r\n\r\n2,b,b@b.co\r\n',
    ],
)
def test_csv_total_is_never_more_than_the_records(tmp_path, text):
    path = write(tmp_path / "users.csv", text)
    reader = open_reader(Source("users", path))
    assert reader.estimated
    estimate = reader.total
    records = list(iter_records(reader))
    assert estimate == len(records)
    assert (reader.total, reader.estimated) == (len(records), False)


def test_a_folder_named_as_a_file_is_said_to_be_a_folder(tmp_path):
    with pytest.raises(InputError) as err:
        find_sources(None, {"users": tmp_path, "products": tmp_path, "orders": tmp_path})
    assert str(err.value) == f"{tmp_path}: is a folder, not a users file"


def test_csv_blank_lines_are_skipped(tmp_path):
    path = write(tmp_path / "users.csv", "id,name,email\n\n1,A,a@b.co\n\n\n2,B,b@b.co\n\n")
    assert [r["id"] for r in read_all(path)] == [1, 2]


def test_csv_non_utf8_row_is_a_bad_record_and_the_rest_is_read(tmp_path):
    path = write(tmp_path / "users.csv", b"id,name,email\n1,\xff,a@b.co\n2,B,b@b.co\n")
    records = read_all(path)
    assert isinstance(records[0], BadRecord)
    assert records[0].line == 2
    assert records[1] == {"id": 2, "name": "B", "email": "b@b.co"}


def test_csv_bad_quoting_is_a_bad_record_and_the_rest_is_read(tmp_path):
    path = write(tmp_path / "users.csv", 'id,name,email\n1,"A"x,a@b.co\n2,B,b@b.co\n')
    records = read_all(path)
    assert isinstance(records[0], BadRecord)
    assert records[0].line == 2
    assert records[-1] == {"id": 2, "name": "B", "email": "b@b.co"}


def test_csv_bad_quoting_keeps_the_row_text(tmp_path):
    path = write(tmp_path / "users.csv", 'id,name,email\n1,"A"x,a@b.co\n2,B,b@b.co\n')
    bad = read_all(path)[0]
    assert isinstance(bad, BadRecord)
    assert bad.text == '1,"A"x,a@b.co'


def test_csv_integer_cell_of_5000_digits_does_not_crash(tmp_path):
    path = write(
        tmp_path / "orders.csv",
        "id,user_id,product_id,quantity\n" + "1" * 5000 + ",1,1,1\n2,1,1,1\n",
    )
    records = read_all(path, "orders")
    assert reasons_of("orders", records) == [[("id", "invalid_id")], None]


def test_csv_integer_beyond_64_bits_is_invalid_id(tmp_path):
    path = write(tmp_path / "users.csv", f"id,name,email\n{2**64},A,a@b.co\n{2**63 - 1},B,b@b.co\n")
    records = read_all(path)
    assert records[0]["id"] == 2**64
    assert reasons_of("users", records) == [[("id", "invalid_id")], None]


@pytest.mark.parametrize(
    ("content", "records"),
    [
        ("id,name,email\n1,A,a@b.co\n2,B,b@b.co\n", 2),
        ("id,name,email\n1,A,a@b.co\n2,B,b@b.co", 2),
        ('id,name,email\n1,"x\ny\nz",a@b.co\n2,B,b@b.co\n', 2),
        ("id,name,email\n\n\n1,A,a@b.co\n\n", 1),
        ("id,name,email\n1,A\n", 1),
        ("id,name,email\n", 0),
        ("", 0),
    ],
)
def test_csv_total_is_exact_at_the_end(tmp_path, content, records):
    path = write(tmp_path / "users.csv", content)
    reader = open_reader(Source("users", path))
    got = list(iter_records(reader, 1))
    reader.close()
    assert len(got) == records
    assert reader.exhausted
    assert reader.total == records


def _random_csv(rnd: random.Random) -> bytes:
    """A well-formed CSV file: cells of quotes, commas, line ends of every kind, NUL and bytes
    that are not UTF-8, each quoted where it must be (and sometimes where it need not);
    rows ended by \\n, \\r\\n or \\r, with blank lines between."""
    chars = ["a", "1", " ", '"', ",", "\n", "\r", "\r\n", "\x00", "é"]

    def cell() -> bytes:
        text = "".join(rnd.choice(chars) for _ in range(rnd.randint(0, 6)))
        raw = text.encode().replace("é".encode(), b"\xff" if rnd.random() < 0.2 else "é".encode())
        must = any(c in text for c in '",\r\n') and not (
            text and text[0] != '"' and not any(c in text for c in ",\r\n")  # a"b stays bare
        )
        if must or rnd.random() < 0.2:
            return b'"' + raw.replace(b'"', b'""') + b'"'
        return raw

    out = [b"id,name,email"]
    for _ in range(rnd.randint(0, 12)):
        if rnd.random() < 0.15:
            out.append(b"")  # a blank line
        out.append(b",".join(cell() for _ in range(rnd.choice((3, 3, 3, 2, 4)))))
    end = rnd.choice((b"\n", b"\r\n", b"\r"))
    return end.join(out) + (end if rnd.random() < 0.5 else b"")


def test_csv_estimate_is_exact_on_random_well_formed_files(tmp_path):
    """Seeded random well-formed CSV files: the estimate made before reading is the number
    of records the reader then gives (the csv module, an independent count, agrees)."""
    rnd = random.Random(9)
    path = tmp_path / "users.csv"
    for _ in range(1500):
        data = _random_csv(rnd)
        path.write_bytes(data)
        reader = open_reader(Source("users", path))
        estimate = reader.total
        records = list(iter_records(reader))
        rows = list(csv.reader(io.StringIO(data.decode("utf-8", "surrogateescape"), newline="")))
        assert estimate == len(records) == len([r for r in rows if r]) - 1, repr(data)


def test_csv_estimate_on_random_junk_is_never_more_than_the_records(tmp_path):
    """Random pieces, most of them broken quoting: wherever the csv module can read the
    quoting, the estimate never exceeds the records read."""
    rnd = random.Random(10)
    pieces = ['1', 'a', '"', '""', '"x\ny"', '\n', '\r\n', '\r', ',', ' ', '\n\n', 'a"b',
              '"q"', '\x00', '\xff']  # fmt: skip
    path = tmp_path / "users.csv"
    for _ in range(1500):
        body = "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 30)))
        path.write_bytes(("id,name,email\n" + body).encode().replace(b"\xc3\xbf", b"\xff"))
        reader = open_reader(Source("users", path))
        estimate = reader.total
        records = list(iter_records(reader))
        # Quoting the csv module cannot read ends rows where it can: no count foresees that.
        broken = any(isinstance(r, BadRecord) and "not valid CSV" in r.message for r in records)
        assert broken or estimate <= len(records), repr(path.read_bytes())
        assert reader.total == len(records)


def test_csv_estimate_across_block_borders(tmp_path):
    row = "1,abcdefgh,a@b.co\n"
    rows = (1 << 20) // len(row) + 1
    lines = (
        ["id,name,email\n"] + [row] * rows + ["\n", "\r\n", '2,"x\r\ny",b@b.co\r\n'] + [row] * 10
    )
    path = tmp_path / "users.csv"
    path.write_text("".join(lines), newline="")
    reader = open_reader(Source("users", path))
    assert reader.total == rows + 11 == len(list(iter_records(reader)))


def test_a_byte_order_mark_before_a_blank_first_line_is_no_record(tmp_path):
    path = write(tmp_path / "users.jsonl", b'\xef\xbb\xbf\n{"id": 1}\n')
    reader = open_reader(Source("users", path))
    assert reader.total == 1
    assert list(iter_records(reader)) == [{"id": 1}]


def test_csv_empty_lines_before_the_header_are_skipped(tmp_path):
    path = write(tmp_path / "users.csv", "\n\r\nid,name,email\n1,a,a@b.co\n")
    reader = open_reader(Source("users", path))
    assert reader.total == 1
    assert list(iter_records(reader)) == [{"id": 1, "name": "a", "email": "a@b.co"}]


def test_a_ragged_csv_row_is_kept_whole_as_its_text(tmp_path):
    path = write(tmp_path / "users.csv", b"id,name,email\n6,rag\xfeged,e@b.cc,1,2,3,4,LAST\n")
    (bad,) = read_all(path)
    assert isinstance(bad, BadRecord)
    assert bad.text == "6,rag\\xfeged,e@b.cc,1,2,3,4,LAST"


@pytest.mark.parametrize("body", ["a\n\r\r\na", "\r\r\n,\r\n", "1,2,3\r\r\n4,5,6\n\r7,8,9"])
def test_csv_estimate_with_mixed_line_ends(tmp_path, body):
    path = write(tmp_path / "users.csv", "id,name,email\r" + body)
    reader = open_reader(Source("users", path))
    estimate = reader.total
    assert estimate == len(list(iter_records(reader)))


# The CSV reader as it was written first: every line the csv module takes passes through a
# tap, which keeps the lines of the row at hand. An independent reading to compare with.
def _tapped_csv(path: Path) -> list[tuple[Any, Any]]:
    taken: list[str] = []

    def tap(lines: Any) -> Any:
        for line in lines:
            taken.append(line)
            yield line

    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        rows = csv.reader(tap(f), strict=True)
        header = next((row for row in rows if row), [])
        width = len(header)
        out: list[tuple[Any, Any]] = []
        while True:
            line = rows.line_num + 1
            taken.clear()
            try:
                row = next(rows, None)
            except csv.Error as e:
                problem = f"is not valid CSV: {e}"
            else:
                if row is None:
                    return out
                if not row:
                    continue
                if len(row) == width:
                    try:
                        "".join(row).encode("utf-8")
                    except UnicodeEncodeError:
                        problem = "is not UTF-8 text"
                    else:
                        out.append((dict(zip(header, row, strict=True)), None))
                        continue
                else:
                    problem = f"has {len(row)} cells, the header has {width}"
            text = "".join(taken).rstrip("\r\n")
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            out.append((None, (f"line {line} {problem}", text, line)))


_CSV_PIECES = ["1", "a", "", '"q"', '"a,b"', '"x\ny"', '"r\r\ns"', 'b"c', '"open', '"d""e"',
               "é", "\xff", ",", "\n", "\r\n", "\r", "\n\n", " ", '"', "\t"]  # fmt: skip


def test_csv_read_straight_from_the_file_is_the_tapped_reading(tmp_path):
    """Rows are read by the csv module straight from the file, and a row that is no record
    is read again for its text: each record, and each bad row's message, text and line, is
    what the reading through a tap of every line gave."""
    rnd = random.Random(7)
    path = tmp_path / "users.csv"
    bad_rows = 0
    for case in range(400):
        rows = []
        for i in range(rnd.randint(0, 30)):
            if rnd.random() < 0.8:
                cells = [str(i + 1), rnd.choice(["A", '"B, b"', "é"]), f"u{i}@x.co"]
            else:
                cells = ["".join(rnd.choice(_CSV_PIECES) for _ in range(rnd.randint(0, 4)))]
            rows.append(",".join(cells))
        text = "id,name,email\n" + "".join(row + rnd.choice(["\n", "\r\n", "\r"]) for row in rows)
        path.write_bytes(text.encode("utf-8", "surrogateescape").replace(b"\xc3\xbf", b"\xff"))
        expected = _tapped_csv(path)
        reader = open_reader(Source("users", path))
        got = []
        while given := reader.read_chunk(rnd.randint(1, 7))[0]:
            for record in given:
                if isinstance(record, BadRecord):
                    got.append((None, (record.message, record.text, record.line)))
                else:
                    got.append((record, None))
        reader.close()
        assert got == expected, (case, text)
        bad_rows += sum(bad is not None for _, bad in expected)
    assert bad_rows > 500
