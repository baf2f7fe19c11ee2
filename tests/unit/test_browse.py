"""The table browser's reader (SPEC §7) on real SQLite files: keyset paging checked against a
Python model of SQLite's order, reload after another program writes, filters, odd names, cells,
read-only access byte for byte, errors in the user's words, and cancelling a slow query.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
import time
import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

import pytest

from tests.paging import check_paging, rows_of
from tui_insert.core.browse import (
    BrowseError,
    Cell,
    DatabaseReader,
    Filter,
    Page,
    QueryCancelled,
    Sort,
    TableView,
    cell,
    parse_filter,
    position_text,
    quote,
)
from tui_insert.core.rules import visible

# --- helpers -------------------------------------------------------------------------------------


def make_db(path: Path, *sql: str, rows: dict[str, list[tuple]] | None = None) -> Path:
    """Run the `sql` scripts, insert `rows`, and commit, on a connection of its own."""
    with closing(sqlite3.connect(path)) as db:
        for script in sql:
            db.executescript(script)
        for table, values in (rows or {}).items():
            marks = ", ".join("?" * len(values[0]))
            db.executemany(f"INSERT INTO {quote(table)} VALUES ({marks})", values)
        db.commit()
    return path


@asynccontextmanager
async def opened(path: Path, **options: float) -> AsyncIterator[DatabaseReader]:
    reader = DatabaseReader(path, **options)
    try:
        await reader.open()
        yield reader
    finally:
        await reader.close()


async def view_of(reader: DatabaseReader, name: str, page_rows: int = 7) -> TableView:
    table = next(t for t in await reader.tables() if t.name == name)
    view = await TableView.open(reader, table)
    view.page_rows = page_rows
    return view


def rank(value: object) -> tuple:
    """SQLite's order of stored values: NULL, numbers, text (by UTF-8 bytes), BLOBs."""
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value.encode())
    assert isinstance(value, bytes)
    return (3, value)


# --- keyset paging against a model of SQLite's order ------------------------------------------

MIXED = [None, None, 0, 1, 2, 2.0, 2.5, -3, -0.5, 1e10, 7, 7, "", " ", "a", "A", "ab", "b"]
MIXED += ["é", "10", "a", b"", b"\x00", b"a", b"ab", b"a"]


@pytest.fixture
def mixed_db(tmp_path: Path) -> tuple[Path, list[tuple]]:
    """500 rows of (v, w): v of every storage class with many duplicates, w a small integer."""
    rnd = random.Random(20240501)
    values = [(rnd.choice(MIXED), rnd.randrange(20)) for _ in range(500)]
    path = make_db(tmp_path / "mixed.db", "CREATE TABLE t(v, w INTEGER)", rows={"t": values})
    return path, [(rowid, v, w) for rowid, (v, w) in enumerate(values, 1)]


CASES = {
    "unsorted": (None, {}, lambda r: True),
    "ascending": (Sort("v"), {}, lambda r: True),
    "descending": (Sort("v", True), {}, lambda r: True),
    "ascending w >= 10": (Sort("v"), {"w": ">= 10"}, lambda r: r[2] >= 10),
    "descending v != 2, w < 15": (
        Sort("v", True),
        {"v": "!= 2", "w": "< 15"},
        lambda r: not (isinstance(r[1], int | float) and r[1] == 2) and r[2] < 15,
    ),
    "unsorted v < 1": (None, {"v": "<1"}, lambda r: isinstance(r[1], int | float) and r[1] < 1),
    "sorted by w": (Sort("w", True), {"v": "= null"}, lambda r: r[1] is None),
}


@pytest.mark.parametrize("case", CASES)
async def test_keyset_pages_follow_sqlite_order_both_ways(mixed_db, case):
    path, table = mixed_db
    sort, filters, keep = CASES[case]
    if sort is None:
        expected = sorted(table)
    else:
        column = 1 if sort.column == "v" else 2
        expected = sorted(table, key=lambda r: (rank(r[column]), r[0]), reverse=sort.descending)
    expected = [r for r in expected if keep(r)]
    async with opened(path) as reader:
        view = await view_of(reader, "t")
        assert view.query.key == ("rowid",)
        query = view.query.sorted_by(sort)
        for column, text in filters.items():
            query = query.filtered(column, parse_filter(column, text))
        await check_paging(view, query, expected)


async def test_a_column_named_rowid_leaves_the_key_to_the_real_rowid(tmp_path):
    values = [(f"r{500 - i}", i % 4) for i in range(60)]  # the column runs against the rowid
    path = make_db(tmp_path / "r.db", 'CREATE TABLE t("rowid" TEXT, v)', rows={"t": values})
    table = [(i, *row) for i, row in enumerate(values, 1)]
    async with opened(path) as reader:
        view = await view_of(reader, "t")
        assert view.query.key == ("_rowid_",)
        await check_paging(view, view.query, table)
        by_v = sorted(table, key=lambda r: (r[2], r[0]), reverse=True)
        await check_paging(view, view.query.sorted_by(Sort("v", True)), by_v)
        by_column = sorted(table, key=lambda r: (r[1], r[0]))
        await check_paging(view, view.query.sorted_by(Sort("rowid")), by_column)


async def test_an_integer_primary_key_is_the_key_under_its_own_name(tmp_path):
    ids = random.Random(5).sample(range(-1000, 1000), 80)
    values = [(i, ["x", None, 3][i % 3]) for i in ids]
    path = make_db(
        tmp_path / "k.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, v)", rows={"t": values}
    )
    async with opened(path) as reader:
        view = await view_of(reader, "t")
        assert view.query.key == ("id",)
        await check_paging(view, view.query, sorted(values), rows_of)
        by_v = sorted(values, key=lambda r: (rank(r[1]), r[0]))
        await check_paging(view, view.query.sorted_by(Sort("v")), by_v, rows_of)


@pytest.mark.parametrize(
    "schema, key",
    [
        ("CREATE TABLE t(a, b)", ("rowid",)),
        ("CREATE TABLE t(id INTEGER PRIMARY KEY, b)", ("id",)),
        ("CREATE TABLE t(Id integer primary key, b)", ("Id",)),
        ("CREATE TABLE t(id INTEGER, b, PRIMARY KEY(id))", ("id",)),
        ("CREATE TABLE t(id INT PRIMARY KEY, b)", ("rowid",)),
        ("CREATE TABLE t(id INTEGER PRIMARY KEY DESC, b)", ("rowid",)),
        ("CREATE TABLE t(a, b, PRIMARY KEY(a, b))", ("rowid",)),
        ("CREATE TABLE t(rowid, b)", ("_rowid_",)),
        ("CREATE TABLE t(ROWID, _rowid_, b)", ("oid",)),
        ("CREATE TABLE t(rowid, _rowid_, oid)", None),
    ],
)
async def test_the_key_of_a_table(tmp_path, schema, key):
    async with opened(make_db(tmp_path / "k.db", schema)) as reader:
        assert (await view_of(reader, "t")).query.key == key


async def test_a_view_is_paged_with_offset_completely_and_in_order(tmp_path):
    rnd = random.Random(9)
    values = [(i, rnd.choice(MIXED)) for i in range(1, 201)]
    schema = "CREATE TABLE t(id INTEGER PRIMARY KEY, v);"
    schema += "CREATE VIEW odd_v AS SELECT id, v FROM t WHERE id % 3 != 0"
    path = make_db(tmp_path / "v.db", schema, rows={"t": values})
    kept = [r for r in values if r[0] % 3 != 0]
    async with opened(path) as reader:
        view = await view_of(reader, "odd_v")
        assert view.query.key is None
        await check_paging(view, view.query, kept, rows_of)  # no ORDER BY: the table's order
        for descending in (False, True):
            page = await view.go("first", view.query.sorted_by(Sort("v", descending)))
            seen = list(page.rows)
            while page.start + len(page.rows) < page.total:
                page = await view.go("next")
                assert page.start == len(seen)
                seen += page.rows
            assert sorted(r[0] for r in seen) == [r[0] for r in kept]  # each row once
            ranks = [rank(r[1]) for r in seen]
            assert ranks == sorted(ranks, reverse=descending)


# --- reload after another program writes ----------------------------------------------------


async def test_reload_keeps_the_first_row_and_counts_again_after_other_commits(tmp_path):
    rows = {"t": [(i, i * 10) for i in range(1, 101)]}
    path = make_db(
        tmp_path / "r.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER)", rows=rows
    )
    async with opened(path) as reader:
        view = await view_of(reader, "t", page_rows=10)
        await view.go("first", view.query.sorted_by(Sort("v")))
        page = await view.go("next")
        page = await view.go("next")
        assert (page.start, page.rows[0]) == (20, (21, 210))
        version = await reader.version()
        make_db(
            path,
            "DELETE FROM t WHERE id IN (1, 2, 3, 99)",
            rows={"t": [(101, 5), (102, 15), (103, 999)]},
        )
        assert await reader.version() != version
        page = await view.go("reload")
        assert (page.start, page.total) == (20 - 3 + 2, 100 - 4 + 3)
        assert page.rows == [(i, i * 10) for i in range(21, 31)]
        make_db(path, "DELETE FROM t WHERE id IN (21, 22, 5)")  # its first row is gone
        page = await view.go("reload")
        assert (page.start, page.total) == (19 - 1, 99 - 3)
        assert page.rows[0] == (23, 230)
        make_db(path, "DELETE FROM t WHERE v >= 100")  # nothing from there on
        page = await view.go("reload")
        assert (page.start, page.total) == (0, 7)
        assert [r[0] for r in page.rows] == [101, 102, 4, 6, 7, 8, 9]
        assert await view.go("previous") == page


async def test_reload_with_a_filter_counts_the_table_too(tmp_path):
    path = make_db(tmp_path / "f.db", "CREATE TABLE t(v)", rows={"t": [(i,) for i in range(50)]})
    async with opened(path) as reader:
        view = await view_of(reader, "t", page_rows=5)
        page = await view.go("first", view.query.filtered("v", parse_filter("v", ">= 40")))
        assert position_text(page, view.table_rows) == "rows 1–5 of 10 matching (50 in the table)"
        make_db(path, "DELETE FROM t WHERE v IN (1, 2, 41)")
        page = await view.go("reload")
        assert position_text(page, view.table_rows) == "rows 1–5 of 9 matching (47 in the table)"
        assert page.rows == [(40,), (42,), (43,), (44,), (45,)]


# --- filters ------------------------------------------------------------------------------------


PARSED = {
    "": None,
    "   ": None,
    " a b ": ("contains", " a b "),
    '"> 5"': ("contains", "> 5"),
    "> 5": (">", 5),
    ">=-2": (">=", -2),
    "< 2.5": ("<", 2.5),
    "<= 1e3": ("<=", 1000.0),
    "= .5": ("=", 0.5),
    "<> 7": ("!=", 7),
    "= null": ("=", None),
    "!= NULL": ("!=", None),
    "=abc": ("=", "abc"),
    '!= "null"': ("!=", "null"),
}


@pytest.mark.parametrize("text", PARSED)
def test_parse_filter(text):
    parsed = parse_filter("c", text)
    expected = PARSED[text]
    assert parsed == (expected and Filter("c", *expected))
    assert type(parsed and parsed.value) is type(expected and expected[1])


def test_parse_filter_errors():
    with pytest.raises(ValueError, match="^> compares with a number, not 'abc'$"):
        parse_filter("c", "> abc")
    with pytest.raises(ValueError, match="^> needs a number after it, e.g. > 10$"):
        parse_filter("c", ">")
    with pytest.raises(ValueError, match="^<= compares with a number, not '1,5'$"):
        parse_filter("c", "<= 1,5")


STORED = [1, 5, 10, 2.5, -4, "abc", "7", "ABC", "", None, b"\x01"]
STORED += ["500", "50%", "5_0", "5x0", "x50%y", "a\\b", "ab"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("50%", ["50%", "x50%y"]),
        ("5_0", ["5_0"]),
        ("a\\b", ["a\\b"]),
        ("AB", ["abc", "ABC", "ab"]),
        ("> 4", [5, 10]),
        ("<= 2.5", [1, 2.5, -4]),
        ("= 5.0", [5]),
        ("!= 5", [x for x in STORED if x != 5]),
        ("= null", [None]),
        ("!= null", [x for x in STORED if x is not None]),
        ("!= abc", [x for x in STORED if x != "abc"]),
        ("> 1e3", []),
    ],
)
async def test_filter_rows(tmp_path, text, expected):
    path = make_db(tmp_path / "f.db", "CREATE TABLE t(x)", rows={"t": [(x,) for x in STORED]})
    async with opened(path) as reader:
        view = await view_of(reader, "t", page_rows=100)
        page = await view.go("first", view.query.filtered("x", parse_filter("x", text)))
        assert [r[0] for r in page.rows] == expected
        assert page.total == len(expected)


async def test_filters_on_two_columns_and_together_and_replace_per_column(tmp_path):
    values = [(a, b) for a in range(10) for b in "xyz"]
    path = make_db(tmp_path / "f.db", "CREATE TABLE t(a, b)", rows={"t": values})
    async with opened(path) as reader:
        view = await view_of(reader, "t", page_rows=100)
        query = view.query.filtered("a", parse_filter("a", "> 6"))
        query = query.filtered("b", parse_filter("b", "Y"))
        assert (await view.go("first", query)).rows == [(7, "y"), (8, "y"), (9, "y")]
        query = query.filtered("a", parse_filter("a", "< 2"))
        assert (await view.go("first", query)).rows == [(0, "y"), (1, "y")]
        query = query.filtered("b", None)
        assert query.filter_for("b") is None
        page = await view.go("first", query)
        assert len(page.rows) == 6
        assert position_text(page, view.table_rows) == "rows 1–6 of 6 matching (30 in the table)"
        page = await view.go("first", query.filtered("a", parse_filter("a", "> 100")))
        assert position_text(page, view.table_rows) == "no rows match (30 in the table)"
    assert position_text(Page([(1,)] * 100, [], 400, 10**6)) == "rows 401–500 of 1,000,000"
    assert position_text(Page([], [], 0, 0)) == "no rows"


# --- odd names ------------------------------------------------------------------------------------

ODD_TABLE = "tab \"q\" [bold]x[/] ü; 'it'"
ODD_COLUMNS = ['col "q"', "[br] ]", "sp ace;", "ü'", "[bold]x[/]"]


async def test_odd_names_list_page_sort_and_filter(tmp_path):
    values = [(i, f"v{i % 5}", f"'{i % 3};", f"ü{i % 7}", None if i % 4 else i) for i in range(25)]
    columns = ", ".join(quote(c) for c in ODD_COLUMNS)
    path = make_db(
        tmp_path / "odd.db",
        f"CREATE TABLE {quote(ODD_TABLE)}({columns})",
        f'CREATE VIEW "v ""w"" [x]" AS SELECT * FROM {quote(ODD_TABLE)}',
        rows={ODD_TABLE: values},
    )
    async with opened(path) as reader:
        tables = await reader.tables()
        assert [(t.name, t.kind, t.rows) for t in tables] == [
            (ODD_TABLE, "table", 25),
            ('v "w" [x]', "view", None),
        ]
        assert [c.name for c in await reader.columns(ODD_TABLE)] == ODD_COLUMNS
        view = await view_of(reader, ODD_TABLE, page_rows=4)
        table = [(i + 1, *row) for i, row in enumerate(values)]
        await check_paging(view, view.query, table)
        for index, column in enumerate(ODD_COLUMNS, 1):
            for descending in (False, True):
                expected = sorted(table, key=lambda r: (rank(r[index]), r[0]), reverse=descending)
                await check_paging(view, view.query.sorted_by(Sort(column, descending)), expected)
        query = view.query.sorted_by(None)
        query = query.filtered(ODD_COLUMNS[2], parse_filter(ODD_COLUMNS[2], "'1;"))
        query = query.filtered(ODD_COLUMNS[4], parse_filter(ODD_COLUMNS[4], "!= null"))
        await check_paging(view, query, [r for r in table if r[3] == "'1;" and r[5] is not None])
        view = await view_of(reader, 'v "w" [x]', page_rows=4)
        query = view.query.sorted_by(Sort(ODD_COLUMNS[0], True))
        await check_paging(view, query, values[::-1], rows_of)


# --- cells --------------------------------------------------------------------------------------


def test_cells_of_each_kind():
    assert cell(None) == Cell("NULL", "null")
    assert cell("NULL") == Cell("NULL", "text")
    assert cell(None) != cell("NULL")
    assert cell(0.1 + 0.2) == Cell("0.30000000000000004", "number")
    assert cell(1e300).text == "1e+300"
    assert cell(-0.0).text == "-0.0"
    assert cell(2**63 - 1) == Cell("9223372036854775807", "number")
    assert cell(-(2**63)).text == "-9223372036854775808"
    assert cell(b"abc") == Cell("BLOB, 3 bytes", "blob")
    assert cell(b"a").text == "BLOB, 1 byte"
    assert cell(b"").text == "BLOB, 0 bytes"
    assert cell(bytes(12345)).text == "BLOB, 12,345 bytes"
    assert cell("") == Cell("", "text")


def test_long_text_is_cut_with_an_ellipsis():
    assert cell("x" * 48).text == "x" * 48
    assert cell("x" * 49).text == "x" * 47 + "…"
    assert cell("abcdef", limit=4).text == "abc…"
    assert len(cell("\x1b" * 1000).text) == 48


def test_control_characters_are_shown_as_escapes():
    text = cell("a\x1b[31mb\nc\td\x00e\x9bf\u202eg\u200bh\x7fi").text
    assert text == "a\\x1b[31mb\\nc\\td\\x00e\\x9bf\\u202eg\\u200bh\\x7fi"
    assert not [ch for ch in text if unicodedata.category(ch) in ("Cc", "Cf")]
    assert visible("ü [bold]x[/] 'q'") == "ü [bold]x[/] 'q'"


async def test_values_come_back_exactly_from_the_file(tmp_path):
    values = [None, "NULL", 0.1 + 0.2, 1e300, 2**63 - 1, -(2**63), b"abc", "é\u202e\n"]
    path = make_db(tmp_path / "c.db", "CREATE TABLE t(x)", rows={"t": [(v,) for v in values]})
    make_db(path, "INSERT INTO t VALUES (CAST(x'61ff62' AS TEXT))")  # not UTF-8
    async with opened(path) as reader:
        page = await (await view_of(reader, "t", page_rows=20)).go("first")
    texts = ["NULL", "NULL", "0.30000000000000004", "1e+300", "9223372036854775807"]
    texts += ["-9223372036854775808", "BLOB, 3 bytes", "é\\u202e\\n", "a\\xffb"]
    assert [cell(r[0]).text for r in page.rows] == texts
    assert [cell(r[0]).kind for r in page.rows[:2]] == ["null", "text"]


# --- read-only, byte for byte ---------------------------------------------------------------------


async def browse_everything(reader: DatabaseReader) -> None:
    for table in await reader.tables():
        view = await TableView.open(reader, table)
        view.page_rows = 3
        column = view.query.columns[0].name
        await view.go("first")
        await view.go("next")
        await view.go("last")
        await view.go("previous", view.query.sorted_by(Sort(column, True)))
        await view.go("first", view.query.filtered(column, parse_filter(column, "> 1")))
        await view.go("reload")
    await reader.version()


@pytest.mark.parametrize("name", ["a b#c.db", "data #1?mode=rw&x=%41 ü.db", "%2e%2e?#.db"])
async def test_a_path_with_url_characters_opens_that_very_file(tmp_path, name):
    path = make_db(tmp_path / name, "CREATE TABLE real(a)", rows={"real": [(1,)]})
    decoy = make_db(tmp_path / "a b", "CREATE TABLE decoy(a)")
    before = {p.name for p in tmp_path.iterdir()}
    async with opened(path) as reader:
        assert [t.name for t in await reader.tables()] == ["real"]
    assert {p.name for p in tmp_path.iterdir()} == before
    assert decoy.exists()


async def test_writes_fail_and_change_nothing(tmp_path):
    path = make_db(tmp_path / "w.db", "CREATE TABLE t(a)", rows={"t": [(1,), (2,)]})
    before = path.read_bytes()
    async with opened(path) as reader:
        for sql in ["INSERT INTO t VALUES (3)", "DELETE FROM t", "CREATE TABLE u(a)"]:
            with pytest.raises(BrowseError, match="^w.db: .*attempt to write a readonly"):
                await reader.fetch(sql)
        assert await reader.fetch("SELECT a FROM t") == [(1,), (2,)]
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.db"]


async def test_browsing_a_rollback_journal_database_leaves_its_bytes_alone(tmp_path):
    schema = "CREATE TABLE t(a, b); CREATE VIEW v AS SELECT b, a FROM t;"
    schema += "CREATE TABLE s(id INTEGER PRIMARY KEY AUTOINCREMENT, x); INSERT INTO s(x) VALUES (1)"
    path = make_db(tmp_path / "j.db", schema, rows={"t": [(i, str(i)) for i in range(40)]})
    make_db(path, "ANALYZE")  # sqlite_stat1 next to sqlite_sequence: neither is listed
    before = path.read_bytes()
    async with opened(path) as reader:
        assert [t.name for t in await reader.tables()] == ["s", "t", "v"]
        await browse_everything(reader)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j.db"]


async def test_browsing_a_wal_database_leaves_its_bytes_and_its_log_alone(tmp_path):
    path = make_db(tmp_path / "w.db", "PRAGMA journal_mode=WAL", "CREATE TABLE t(a, b)")
    with closing(sqlite3.connect(path)) as writer:  # open: the log is not checkpointed
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.executemany("INSERT INTO t VALUES (?, ?)", [(i, str(i)) for i in range(40)])
        writer.commit()
        wal = path.with_name("w.db-wal")
        before, log = path.read_bytes(), wal.read_bytes()
        async with opened(path) as reader:
            await browse_everything(reader)
            assert (await reader.tables())[0].rows == 40  # read from the log
        assert path.read_bytes() == before
        assert wal.read_bytes() == log


# --- errors ---------------------------------------------------------------------------------------


async def open_error(path: Path, **options: float) -> str:
    reader = DatabaseReader(path, **options)
    try:
        with pytest.raises(BrowseError) as raised:
            await reader.open()
            await reader.tables()
    finally:
        await reader.close()
    assert not reader.is_open
    return str(raised.value)


async def test_a_missing_file_is_not_created(tmp_path):
    path = tmp_path / "missing.db"
    assert (await open_error(path)).startswith("missing.db: no such file")
    reader = DatabaseReader(path)
    with pytest.raises(BrowseError, match="no such file"):
        await reader.fetch("SELECT 1")
    assert list(tmp_path.iterdir()) == []


async def test_a_folder_or_a_text_file_is_refused(tmp_path):
    (tmp_path / "folder.db").mkdir()
    assert (await open_error(tmp_path / "folder.db")).startswith("folder.db: a folder, not a")
    text = tmp_path / "notes.db"
    text.write_text("just some notes, not a database\n" * 20)
    assert (await open_error(text)).startswith("notes.db: not an SQLite database")


async def test_an_empty_file_is_an_empty_database_and_stays_empty(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    async with opened(path) as reader:
        assert await reader.tables() == []
    assert path.read_bytes() == b""


async def test_a_damaged_database_says_damaged(tmp_path):
    rows = {"t": [(i, "x" * 50) for i in range(5000)]}
    path = make_db(tmp_path / "bad.db", "CREATE TABLE t(a, b)", rows=rows)
    data, page = bytearray(path.read_bytes()), 4096
    middle = len(data) // 2 // page * page  # four table pages with no valid page type
    data[middle : middle + 4 * page] = b"\xde\xad\xbe\xef" * page
    path.write_bytes(bytes(data))
    message = await open_error(path)
    assert message.startswith("bad.db: the database is damaged (")
    assert "malformed" in message


async def test_a_locked_database_says_locked(tmp_path):
    path = make_db(tmp_path / "l.db", "CREATE TABLE t(a)", rows={"t": [(1,)]})
    with closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute("INSERT INTO t VALUES (2)")
        started = time.monotonic()
        message = await open_error(path, lock_timeout=0.1)
        assert time.monotonic() - started < 2
        writer.execute("ROLLBACK")
    assert message.startswith("l.db: locked by another program")
    async with opened(path) as reader:
        assert await reader.fetch("SELECT a FROM t") == [(1,)]


# --- cancelling -----------------------------------------------------------------------------------


async def test_interrupt_cancels_a_slow_query_and_leaves_the_view_as_it_was(tmp_path):
    # 1,000 rows of 2,000 'a's: a LIKE for 300 'a's then 'b' takes seconds to fail.
    fill = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)"
    fill += " INSERT INTO t SELECT i, printf('%.*c', 2000, 'a') FROM n"
    path = make_db(tmp_path / "slow.db", "CREATE TABLE t(a, b)", fill)
    async with opened(path) as reader:
        view = await view_of(reader, "t", page_rows=5)
        page, query = await view.go("first"), view.query
        slow = query.sorted_by(Sort("b", True)).filtered("b", parse_filter("b", "a" * 300 + "b"))
        fetch, sent = reader.fetch, asyncio.Event()

        async def noting_the_slow_statement(sql, params=()):
            if "LIKE" in sql:
                sent.set()  # from here on only SQLite's interrupt can stop it
            return await fetch(sql, params)

        reader.fetch = noting_the_slow_statement
        started = time.monotonic()
        task = asyncio.create_task(view.go("first", slow))
        await sent.wait()
        while not task.done():  # until the query has reached SQLite and stopped
            await reader.interrupt()
            await asyncio.sleep(0.01)
        with pytest.raises(QueryCancelled, match="query cancelled"):
            await task
        assert time.monotonic() - started < 1
        assert view.page is page
        assert view.query is query
        with pytest.raises(QueryCancelled):  # until resumed, every query stops at once
            await view.go("next")
        reader.resume()
        assert (await view.go("next")).rows == [(i, "a" * 2000) for i in range(6, 11)]
        page = await view.go("first", query.sorted_by(Sort("a", True)))
        assert [r[0] for r in page.rows] == [1000, 999, 998, 997, 996]


async def test_a_without_rowid_table_pages_by_its_primary_key(tmp_path):
    values = [(f"k{i % 3}", i) for i in range(10)]
    path = make_db(
        tmp_path / "w.db",
        "CREATE TABLE w(a TEXT, b INTEGER, PRIMARY KEY (a, b)) WITHOUT ROWID",
        rows={"w": values},
    )
    async with opened(path) as reader:
        view = await view_of(reader, "w", page_rows=4)
        assert view.query.key == ("a", "b")
        await check_paging(view, view.query, sorted(values), rows_of)
        by_b = sorted(values, key=lambda r: (r[1], r[0], r[1]), reverse=True)
        await check_paging(view, view.query.sorted_by(Sort("b", True)), by_b, rows_of)


async def test_text_that_is_not_utf8_pages_like_any_other(tmp_path):
    path = make_db(tmp_path / "u.db", "CREATE TABLE u(s TEXT)")
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "INSERT INTO u VALUES ('a\\xff'), ('a]'), ('a~'), (CAST(x'61ff' AS TEXT)), ('b')"
        )
        db.commit()
    expected = [(b"a\\xff",), (b"a]",), (b"a~",), (b"a\xff",), (b"b",)]  # by UTF-8 bytes
    expected.sort()
    async with opened(path) as reader:
        view = await view_of(reader, "u", page_rows=2)

        def raw(page: Page) -> list[tuple]:
            return [(getattr(s, "raw", None) or s.encode(),) for (s,) in page.rows]

        await check_paging(view, view.query.sorted_by(Sort("s")), expected, raw)
        await check_paging(view, view.query.sorted_by(Sort("s", True)), expected[::-1], raw)
        view.page_rows = 10
        page = await view.go("first", view.query.sorted_by(Sort("s")))
        # Shown alike (a backslash escape); told apart by what is stored.
        assert [cell(s).text for (s,) in page.rows] == ["a\\xff", "a]", "a~", "a\\xff", "b"]


async def test_a_number_beyond_64_bits_compares_as_a_real(tmp_path):
    path = make_db(tmp_path / "n.db", "CREATE TABLE t(v)", rows={"t": [(1,), (2**62,), (1e30,)]})
    assert parse_filter("v", "> 99999999999999999999") == Filter("v", ">", 1e20)
    async with opened(path) as reader:
        view = await view_of(reader, "t")
        page = await view.go("first", view.query.filtered("v", parse_filter("v", "> 1" + "0" * 25)))
        assert page.rows == [(1e30,)]


async def test_a_cancel_between_two_queries_of_a_move_stops_the_move(tmp_path):
    path = make_db(tmp_path / "c.db", "CREATE TABLE t(v)", rows={"t": [(i,) for i in range(50)]})
    async with opened(path) as reader:
        view = await view_of(reader, "t", page_rows=5)
        page = await view.go("first")
        fetch, statements = reader.fetch, []

        async def cancelled_after_the_first(sql, params=()):
            rows = await fetch(sql, params)
            statements.append(sql)  # it ran
            await reader.interrupt()  # the escape comes while no statement runs
            return rows

        reader.fetch = cancelled_after_the_first
        with pytest.raises(QueryCancelled):
            await view.go("last")
        assert len(statements) == 1 and view.page is page


async def test_the_figures_of_a_page_agree_while_another_program_writes(tmp_path):
    """Counts and rows of one move come from one snapshot of the file, so that the position
    never runs past the total while rows keep coming (WAL: the writer never waits)."""
    path = make_db(
        tmp_path / "busy.db", "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY)"
    )
    stop, written = threading.Event(), []

    def write() -> None:  # rows land all over the order, before the page as well as after
        rnd = random.Random(3)
        with closing(sqlite3.connect(path, isolation_level=None)) as db:
            while not stop.is_set():
                db.execute("BEGIN IMMEDIATE")
                rows = [(rnd.randrange(10**12),) for _ in range(50)]
                db.executemany("INSERT OR IGNORE INTO t VALUES (?)", rows)
                db.execute("COMMIT")
                written.append(50)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        async with opened(path) as reader:
            view = await view_of(reader, "t", page_rows=10)
            deadline = time.monotonic() + 60
            while len(written) < 5:
                assert time.monotonic() < deadline and writer.is_alive(), "the writer stalled"
                await asyncio.sleep(0.01)  # the writer's commits are the event waited for
            for move in ["last", "reload", "previous", "reload", "first", "next"] * 40:
                page = await view.go(move)
                assert page.start + len(page.rows) <= page.total, (move, page.start, page.total)
                if move in ("last", "reload") and page.rows:
                    rows = await reader.fetch("SELECT count(*) FROM t")
                    assert page.total <= rows[0][0]
    finally:
        stop.set()
        writer.join()
    assert len(written) > 5  # the writer went on meanwhile
