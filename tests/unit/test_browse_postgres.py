"""The table browser's reader on real PostgreSQL servers (SPEC §7): keyset and OFFSET paging
checked against independent ORDER BY queries, every kind of column, sorting with NULLs and ties,
filters, odd names, read-only for real, refresh while another connection commits, and errors in
the user's words (a stopped server, a missing database, a wrong password, a lock, no permission,
a cancelled query). The password of a connection string is never shown."""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

import psycopg
import pytest

from tests.conftest import SECRET_PASSWORD
from tests.paging import check_paging, rows_of
from tests.pgserver import Server, Servers
from tui_insert.core.browse import (
    BrowseError,
    Page,
    QueryCancelled,
    Sort,
    TableView,
    cell,
    parse_filter,
    position_text,
    quote,
)
from tui_insert.core.browse_postgres import PostgresReader
from tui_insert.core.stores.postgres import PostgresTarget
from tui_insert.core.tables import STATE_TABLE

# --- helpers -------------------------------------------------------------------------------------


@dataclass
class Database:
    """A fresh database on a real server: `run` SQL there as its superuser."""

    uri: str

    def run(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with psycopg.connect(self.uri, autocommit=True) as conn:
            cursor = conn.execute(sql, params or None)
            return cursor.fetchall() if cursor.description else []

    def insert(self, table: str, rows: list[tuple]) -> None:
        with psycopg.connect(self.uri, autocommit=True) as conn, conn.cursor() as cursor:
            marks = ", ".join(["%s"] * len(rows[0]))
            cursor.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)

    def target(self, uri: str | None = None) -> PostgresTarget:
        return PostgresTarget.from_uri(uri or self.uri, "test")


@pytest.fixture
def db(pg: dict[str, str]) -> Database:
    return Database(pg["users"])


@asynccontextmanager
async def opened(target: PostgresTarget, **options: float) -> AsyncIterator[PostgresReader]:
    reader = PostgresReader(target, **options)
    try:
        await reader.open()
        yield reader
    finally:
        await reader.close()


async def view_of(reader: PostgresReader, name: str, page_rows: int = 7) -> TableView:
    table = next(t for t in await reader.tables() if t.name == name)
    view = await TableView.open(reader, table)
    view.page_rows = page_rows
    return view


def ids(page: Page) -> list[tuple]:
    return [(row[0],) for row in page.rows]


# --- paging against PostgreSQL's own ORDER BY ----------------------------------------------------

NAMES = [None, None, "", " ", "a", "A", "ab", "b", "é", "10", "[bold]x[/]", "a%", "a_"]


def make_users(db: Database) -> None:
    """5,000 users: names with NULLs and many duplicates; ids in no order of insertion."""
    rnd = random.Random(20240501)
    db.run("CREATE TABLE users (id bigint PRIMARY KEY, name text, email text, score int)")
    id_list = rnd.sample(range(-(10**12), 10**12), 5000)
    rows = [(i, rnd.choice(NAMES), f"u{i}@x", rnd.choice([None, *range(10)])) for i in id_list]
    db.insert("users", rows)
    db.run("CREATE VIEW odd_users AS SELECT id, name FROM users WHERE id % 3 <> 0")


@pytest.fixture(scope="module")
def shared(pg_servers: Servers) -> Iterator[Database]:
    """One database for the tests that only read, built once: users (and a view of them),
    a table of every kind of column, texts and numbers to filter."""
    server = pg_servers["products"]
    name = f"browse_{os.getpid()}"
    server.execute(f"CREATE DATABASE {name}")
    db = Database(server.uri(name))
    make_users(db)
    make_mixed(db)
    db.run("CREATE TABLE texts (id serial PRIMARY KEY, x text)")
    db.insert("texts (x)", [(x,) for x in STORED])
    db.run("CREATE TABLE numbers (id serial PRIMARY KEY, i bigint, f float8, n numeric(6,2))")
    rows = [(1, 1.0, 1), (5, 5.0, 5), (10, 10.0, 10.5), (-4, -4.5, -4), (None, None, None)]
    db.insert("numbers (i, f, n)", rows)
    yield db
    server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def users(shared: Database) -> Database:
    return shared


@pytest.fixture
def mixed(shared: Database) -> Database:
    return shared


CASES = {
    "unsorted": (None, {}, "", "id"),
    "name ascending": (Sort("name"), {}, "", "name ASC NULLS FIRST, id ASC"),
    "name descending": (Sort("name", True), {}, "", "name DESC NULLS LAST, id DESC"),
    "score >= 5, name": (Sort("name"), {"score": ">= 5"}, "score >= 5", "name NULLS FIRST, id"),
    "score descending, name != a": (
        Sort("score", True),
        {"name": "!= a"},
        "name IS DISTINCT FROM 'a'",
        "score DESC NULLS LAST, id DESC",
    ),
    "score = null": (None, {"score": "= null"}, "score IS NULL", "id"),
    "name contains A": (Sort("email"), {"name": "A"}, "name ILIKE '%a%'", "email, id"),
}


@pytest.mark.parametrize("case", CASES)
async def test_pages_follow_an_independent_order_by_both_ways(users: Database, case: str) -> None:
    sort, filters, where, order = CASES[case]
    sql = f"SELECT id, name, email, score FROM users {where and 'WHERE ' + where} ORDER BY {order}"
    expected = users.run(sql)
    assert len(expected) > 100
    async with opened(users.target()) as reader:
        view = await view_of(reader, "users", page_rows=97)
        assert view.query.key == ("id",)
        query = view.query.sorted_by(sort)
        for column, text in filters.items():
            query = query.filtered(column, parse_filter(column, text))
        await check_paging(view, query, expected, rows_of)


async def test_first_next_previous_last_and_reload(users: Database) -> None:
    expected = users.run("SELECT * FROM users ORDER BY id")
    async with opened(users.target()) as reader:
        view = await view_of(reader, "users", page_rows=100)
        page = await view.go("first")
        assert (page.rows, page.start, page.total) == (expected[:100], 0, 5000)
        page = await view.go("next")
        assert (page.rows, page.start) == (expected[100:200], 100)
        page = await view.go("last")
        assert (page.rows, page.start) == (expected[4900:], 4900)
        page = await view.go("previous")
        assert (page.rows, page.start) == (expected[4800:4900], 4800)
        assert position_text(page) == "rows 4,801–4,900 of 5,000"
        page = await view.go("reload")
        assert (page.rows, page.start) == (expected[4800:4900], 4800)


TYPES = {
    "f": "double precision",
    "n": "numeric(8,2)",
    "ts": "timestamptz",
    "b": "boolean",
    "j": "jsonb",
    "js": "json",  # no order of its own: ordered by its text
    "bin": "bytea",
    "arr": "int[]",
    "u": "uuid",
    "r": "real",
    "vc": "varchar(10)",
    "d": "date",
}


def make_mixed(db: Database) -> None:
    """300 rows of every kind of column, NULLs and ties in each; and row 1000 to look at."""
    rnd = random.Random(7)
    columns = ", ".join(f"{name} {type_}" for name, type_ in TYPES.items())
    db.run(f"CREATE TABLE m (id int PRIMARY KEY, {columns})")
    choices = {
        "f": [0.1 + 0.2, -1e300, 2.5, 0.0, float("inf"), float("nan")],
        "n": [Decimal("1.50"), Decimal("-3.25"), Decimal("0.00")],
        "ts": ["2024-01-02 03:04:05.123456+00", "1999-12-31 23:59:59+05", "infinity"],
        "b": [True, False],
        "j": ['{"a": 1}', "[1, 2]", '"x"', "null"],
        "js": ['{"b": [1, {"c": null}]}', "[]", '"a"'],
        "bin": [b"", b"\x00\x01", b"a"],
        "arr": [[1, 2], [], [3], [1]],
        "u": ["00000000-0000-0000-0000-000000000001", "ffffffff-ffff-ffff-ffff-ffffffffffff"],
        "r": [0.1, 1.5, -2.0],
        "vc": ["a", "B", "ü", "a b"],
        "d": ["2024-02-29", "0001-01-01", "infinity"],
    }
    rows = []
    for i in range(1, 301):
        values = [None if rnd.random() < 0.15 else rnd.choice(choices[c]) for c in TYPES]
        rows.append((i, *values))
    marks = ", ".join(
        "%s" if c not in ("j", "js") else f"CAST(%s AS {TYPES[c]})" for c in ("id", *TYPES)
    )
    with psycopg.connect(db.uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.executemany(f"INSERT INTO m VALUES ({marks})", rows)
    db.run(
        "INSERT INTO m (id, f, n, b, j, bin, arr, r, vc) VALUES"
        " (1000, %s, 1.5, true, %s, 'abc', '{1,NULL}', 0.1, 'x ')",
        [0.1 + 0.2, '{"k": "[bold]x[/]"}'],
    )


@pytest.mark.parametrize("column", TYPES)
async def test_every_kind_of_column_sorts_and_pages_both_ways(mixed: Database, column: str) -> None:
    ordered = f"{column}::text" if column == "js" else column
    async with opened(mixed.target()) as reader:
        view = await view_of(reader, "m", page_rows=9)
        for descending in (False, True):
            way = "DESC NULLS LAST" if descending else "ASC NULLS FIRST"
            expected = mixed.run(f"SELECT id FROM m ORDER BY {ordered} {way}, id {way[:4]}")
            query = view.query.sorted_by(Sort(column, descending))
            await check_paging(view, query, expected, ids)


async def test_values_are_shown_as_postgresql_shows_them(mixed: Database) -> None:
    expected = mixed.run(f"SELECT {', '.join(f'{c}::text' for c in TYPES)} FROM m WHERE id = 1000")
    async with opened(mixed.target()) as reader:
        view = await view_of(reader, "m")
        page = await view.go("first", view.query.filtered("id", parse_filter("id", "= 1000")))
    (row,) = page.rows
    shown = dict(zip(["id", *TYPES], [cell(value) for value in row], strict=True))
    assert shown["f"].text == "0.30000000000000004" and shown["f"].kind == "number"
    assert shown["n"].text == "1.50" and shown["n"].kind == "number"
    assert shown["r"].text == "0.1"
    assert shown["b"].text == "true"
    assert shown["j"].text == '{"k": "[bold]x[/]"}'
    assert shown["bin"].text == "BLOB, 3 bytes"
    assert shown["arr"].text == "{1,NULL}"
    assert shown["vc"].text == "x "
    assert shown["ts"].kind == "null"
    texts = {c: v for c, v in zip(TYPES, expected[0], strict=True) if v is not None}
    assert all(shown[c].text == texts[c] for c in ("j", "arr", "b", "vc"))


async def test_a_table_without_a_primary_key_pages_with_offset_over_every_column(
    db: Database,
) -> None:
    db.run("CREATE TABLE loose (a int, b text)")
    rnd = random.Random(3)
    rows = [(rnd.choice([None, 1, 2, 3]), rnd.choice([None, "x", "y"])) for _ in range(200)]
    db.insert("loose", rows)
    async with opened(db.target()) as reader:
        view = await view_of(reader, "loose", page_rows=9)
        assert view.query.key is None
        expected = db.run("SELECT a, b FROM loose ORDER BY a NULLS FIRST, b NULLS FIRST")
        await check_paging(view, view.query, expected, rows_of)
        expected = db.run("SELECT a, b FROM loose ORDER BY b DESC NULLS LAST, a DESC NULLS LAST")
        await check_paging(view, view.query.sorted_by(Sort("b", True)), expected, rows_of)


async def test_a_unique_index_over_columns_never_null_is_a_key(db: Database) -> None:
    db.run("CREATE TABLE u (code text NOT NULL, other int UNIQUE, note text)")
    db.run("CREATE UNIQUE INDEX ON u (code)")
    db.run("CREATE TABLE p (a int, b int NOT NULL, PRIMARY KEY (b, a))")
    db.insert("u", [(f"c{i:03}", i if i % 2 else None, str(i % 3)) for i in range(60)])
    db.insert("p", [(i % 7, i // 7) for i in range(60)])
    async with opened(db.target()) as reader:
        view = await view_of(reader, "u")
        assert view.query.key == ("code",)  # `other` may be NULL: not a key
        await check_paging(view, view.query, db.run("SELECT * FROM u ORDER BY code"), rows_of)
        expected = db.run("SELECT * FROM u ORDER BY note DESC NULLS LAST, code DESC")
        await check_paging(view, view.query.sorted_by(Sort("note", True)), expected, rows_of)
        view = await view_of(reader, "p")
        assert view.query.key == ("b", "a")
        await check_paging(view, view.query, db.run("SELECT * FROM p ORDER BY b, a"), rows_of)
        expected = db.run("SELECT * FROM p ORDER BY a DESC, b DESC")
        await check_paging(view, view.query.sorted_by(Sort("a", True)), expected, rows_of)


async def test_a_view_is_paged_with_offset_completely_and_in_order(users: Database) -> None:
    async with opened(users.target()) as reader:
        tables = await reader.tables()
        assert [(t.name, t.kind, t.rows) for t in tables] == [
            ("m", "table", 301),
            ("numbers", "table", 5),
            ("texts", "table", len(STORED)),
            ("users", "table", 5000),
            ("odd_users", "view", None),
        ]
        view = await view_of(reader, "odd_users", page_rows=250)
        assert view.query.key is None
        expected = users.run("SELECT id, name FROM odd_users ORDER BY id, name")
        await check_paging(view, view.query, expected, rows_of)
        expected = users.run("SELECT id, name FROM odd_users ORDER BY name NULLS FIRST, id")
        await check_paging(view, view.query.sorted_by(Sort("name")), expected, rows_of)


# --- names, schemas, what is listed --------------------------------------------------------------

ODD_TABLE = "tab \"q\" [bold]x[/] ü; 'it' 50%s"
ODD_COLUMNS = ['col "q"', "[br] ]", "sp ace;", "ü'%s", "[bold]x[/]"]


async def test_odd_names_list_page_sort_and_filter(db: Database) -> None:
    columns = ", ".join(f"{quote(c)} text" for c in ODD_COLUMNS)
    db.run(f"CREATE TABLE {quote(ODD_TABLE)} (id int PRIMARY KEY, {columns})")
    values = [
        (i, f"v{i % 5}", f"'{i % 3};", f"ü{i % 7}", None if i % 4 else "[red]x[/]", "\x1b[31m")
        for i in range(25)
    ]
    db.insert(quote(ODD_TABLE).replace("%", "%%"), values)  # (a query with parameters)
    db.run(f'CREATE VIEW "v ""w"" [x] %" AS SELECT * FROM {quote(ODD_TABLE)}')
    async with opened(db.target()) as reader:
        tables = await reader.tables()
        assert [(t.name, t.kind, t.rows) for t in tables] == [
            (ODD_TABLE, "table", 25),
            ('v "w" [x] %', "view", None),
        ]
        assert [c.name for c in await reader.columns(ODD_TABLE)][1:] == ODD_COLUMNS
        view = await view_of(reader, ODD_TABLE, page_rows=4)
        await check_paging(view, view.query, values, rows_of)
        for column in ODD_COLUMNS:
            for descending in (False, True):
                way = "DESC NULLS LAST" if descending else "ASC NULLS FIRST"
                expected = db.run(
                    f"SELECT * FROM {quote(ODD_TABLE)} ORDER BY {quote(column)} {way}, id {way[:4]}"
                )
                query = view.query.sorted_by(Sort(column, descending))
                await check_paging(view, query, expected, rows_of)
        query = view.query.sorted_by(None)
        query = query.filtered(ODD_COLUMNS[1], parse_filter(ODD_COLUMNS[1], "'1;"))
        query = query.filtered(ODD_COLUMNS[3], parse_filter(ODD_COLUMNS[3], "!= null"))
        kept = [r for r in values if r[2] == "'1;" and r[4] is not None]
        assert kept
        await check_paging(view, query, kept, rows_of)
        view = await view_of(reader, 'v "w" [x] %', page_rows=4)
        await check_paging(view, view.query.sorted_by(Sort("id", True)), values[::-1], rows_of)


async def test_the_schemas_on_the_search_path_are_listed_and_the_bookkeeping_left_out(
    db: Database,
) -> None:
    db.run(f"CREATE TABLE {STATE_TABLE} (name text PRIMARY KEY, resets bigint)")
    db.run("CREATE TABLE pg_class (x int)")  # in public: the catalog would win unqualified
    db.run("INSERT INTO public.pg_class VALUES (1), (2)")
    db.run("CREATE SCHEMA second; CREATE TABLE second.t (id int PRIMARY KEY)")
    db.run("CREATE TABLE second.pg_class (y int)")
    db.run("CREATE SCHEMA hidden; CREATE TABLE hidden.t (id int)")
    db.run("INSERT INTO second.t VALUES (1), (2), (3)")
    uri = db.uri + "?options=-csearch_path%3Dpublic,second"
    async with opened(db.target(uri)) as reader:
        tables = await reader.tables()
        assert [(t.title, t.rows) for t in tables] == [
            ("pg_class", 2),
            ("second.pg_class", 0),
            ("second.t", 3),
        ]
        view = await TableView.open(reader, tables[2])
        assert (await view.go("last")).rows == [(1,), (2,), (3,)]
        view = await TableView.open(reader, tables[0])
        assert [c.name for c in view.query.columns] == ["x"]
        assert (await view.go("first", view.query.sorted_by(Sort("x", True)))).rows == [(2,), (1,)]


# --- filters -------------------------------------------------------------------------------------

STORED = ["abc", "ABC", "Ab", "", None, "50%", "x50%y", "5_0", "500", "a\\b", "É", "é", "5"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("50%", ["50%", "x50%y"]),
        ("5_0", ["5_0"]),
        ("a\\b", ["a\\b"]),
        ("AB", ["abc", "ABC", "Ab"]),
        ("é", ["é"]),  # only ASCII letters ignore case, as in SQLite
        ("= abc", ["abc"]),
        ("!= abc", [x for x in STORED if x != "abc"]),
        ("= null", [None]),
        ("!= null", [x for x in STORED if x is not None]),
        ("= 5", ["5"]),  # a number, compared with the text
        ('"> 5"', []),
    ],
)
async def test_filters_on_text(shared: Database, text: str, expected: list) -> None:
    async with opened(shared.target()) as reader:
        view = await view_of(reader, "texts", page_rows=100)
        page = await view.go("first", view.query.filtered("x", parse_filter("x", text)))
        assert [r[1] for r in page.rows] == expected
        assert page.total == len(expected)


@pytest.mark.parametrize(
    "column, text, expected",
    [
        ("i", "> 4", [5, 10]),
        ("i", "<= 2.5", [1, -4]),
        ("i", "!= 5", [1, 10, -4, None]),
        ("f", "< 2.5", [1.0, -4.5]),
        ("f", "= 10", [10.0]),
        ("n", ">= 5.0", [Decimal("5.00"), Decimal("10.50")]),
        ("n", "> 1" + "0" * 25, []),
        ("i", "= abc", []),
        ("i", "!= abc", [1, 5, 10, -4, None]),
    ],
)
async def test_filters_on_numbers(shared: Database, column: str, text: str, expected: list) -> None:
    async with opened(shared.target()) as reader:
        view = await view_of(reader, "numbers", page_rows=100)
        page = await view.go("first", view.query.filtered(column, parse_filter(column, text)))
        at = {"i": 1, "f": 2, "n": 3}[column]
        assert [r[at] for r in page.rows] == expected


async def test_a_comparison_with_a_number_on_a_column_of_text_is_refused(db: Database) -> None:
    db.run("CREATE TABLE t (id int PRIMARY KEY, name text, at date)")
    db.insert("t", [(1, "a", "2024-01-01")])
    async with opened(db.target()) as reader:
        view = await view_of(reader, "t")
        page = await view.go("first")
        for column, type_ in [("name", "text"), ("at", "date")]:
            refused = parse_filter(column, "> 5")
            assert refused is not None
            message = f"> compares with a number, and {column} holds {type_}"
            assert view.refusal(refused) == message
            with pytest.raises(BrowseError, match=f"^{message}$"):
                await view.go("first", view.query.filtered(column, refused))
        assert view.page is page  # the view is as it was
        on_numbers = parse_filter("id", "> 5")
        assert on_numbers is not None and view.refusal(on_numbers) is None


# --- read-only, for real -----------------------------------------------------------------------


async def test_writes_fail_and_change_nothing(db: Database) -> None:
    db.run("CREATE TABLE t (a int PRIMARY KEY)")
    db.insert("t", [(1,), (2,)])
    async with opened(db.target()) as reader:
        for sql in [
            "INSERT INTO t VALUES (3)",
            "UPDATE t SET a = a + 10",
            "DELETE FROM t",
            "CREATE TABLE u (a int)",
            "DROP TABLE t",
            "CREATE SEQUENCE s",
        ]:
            with pytest.raises(BrowseError, match="cannot write: the browser only reads"):
                await reader.fetch(sql)
            async with reader.snapshot():  # nor inside a snapshot
                with pytest.raises(BrowseError, match="cannot write"):
                    await reader.fetch(sql)
        with pytest.raises(BrowseError, match="cannot read: cannot insert multiple commands"):
            await reader.fetch("SELECT 1; INSERT INTO t VALUES (4)")  # one statement at a time
        assert await reader.fetch("SHOW default_transaction_read_only") == [("on",)]
        assert await reader.fetch("SELECT a FROM t ORDER BY a") == [(1,), (2,)]
    assert db.run("SELECT a FROM t ORDER BY a") == [(1,), (2,)]
    assert db.run("SELECT count(*) FROM pg_class WHERE relname IN ('u', 's')") == [(0,)]


# --- refresh while another connection commits --------------------------------------------------


async def test_the_version_changes_with_every_commit_and_only_then(db: Database) -> None:
    db.run("CREATE TABLE t (id int PRIMARY KEY, v int)")
    async with opened(db.target()) as reader:
        first = await reader.version()
        assert await reader.version() == first
        await reader.tables()
        assert await reader.version() == first  # reading changes nothing
        db.run("INSERT INTO t VALUES (1, 1)")
        second = await reader.version()
        assert second != first
        with psycopg.connect(db.uri) as writer:  # a transaction open across a look
            writer.execute("UPDATE t SET v = 2")
            during = await reader.version()
            writer.commit()
        assert await reader.version() != during
        last = await reader.version()
        await reader.close()  # a new connection is a new version too
        assert await reader.version() != last


async def test_reload_keeps_the_first_row_and_counts_again_after_other_commits(
    db: Database,
) -> None:
    db.run("CREATE TABLE t (id bigint PRIMARY KEY, v int)")
    db.insert("t", [(i, i * 10) for i in range(1, 101)])
    async with opened(db.target()) as reader:
        view = await view_of(reader, "t", page_rows=10)
        await view.go("first", view.query.sorted_by(Sort("v")))
        await view.go("next")
        page = await view.go("next")
        assert (page.start, page.rows[0]) == (20, (21, 210))
        version = await reader.version()
        db.run("DELETE FROM t WHERE id IN (1, 2, 3, 99)")
        db.run("INSERT INTO t VALUES (101, 5), (102, 15), (103, 999)")
        assert await reader.version() != version
        page = await view.go("reload")
        assert (page.start, page.total) == (20 - 3 + 2, 100 - 4 + 3)
        assert page.rows == [(i, i * 10) for i in range(21, 31)]
        db.run("DELETE FROM t WHERE id IN (21, 22, 5)")  # its first row is gone
        page = await view.go("reload")
        assert (page.start, page.total) == (19 - 1, 99 - 3)
        assert page.rows[0] == (23, 230)
        db.run("DELETE FROM t WHERE v >= 100")  # nothing from there on
        page = await view.go("reload")
        assert (page.start, page.total) == (0, 7)
        assert [r[0] for r in page.rows] == [101, 102, 4, 6, 7, 8, 9]


async def test_the_figures_of_a_page_agree_while_another_connection_writes(db: Database) -> None:
    """Counts and rows of one move come from one REPEATABLE READ snapshot, so the position never
    runs past the total while rows keep coming."""
    db.run("CREATE TABLE t (id bigint PRIMARY KEY)")
    stop, written = threading.Event(), []

    def write() -> None:  # rows land all over the order, before the page as well as after
        rnd = random.Random(3)
        with psycopg.connect(db.uri, autocommit=True) as conn:
            while not stop.is_set():
                with conn.transaction():
                    rows = [(rnd.randrange(10**12),) for _ in range(50)]
                    conn.cursor().executemany(
                        "INSERT INTO t VALUES (%s) ON CONFLICT DO NOTHING", rows
                    )
                written.append(50)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        async with opened(db.target()) as reader:
            view = await view_of(reader, "t", page_rows=10)
            deadline = time.monotonic() + 60
            while len(written) < 5:
                assert time.monotonic() < deadline and writer.is_alive(), "the writer stalled"
                await asyncio.sleep(0.01)
            for move in ["last", "reload", "previous", "reload", "first", "next"] * 20:
                page = await view.go(move)
                assert page.start + len(page.rows) <= page.total, (move, page.start, page.total)
    finally:
        stop.set()
        writer.join()
    assert len(written) > 5


# --- errors ------------------------------------------------------------------------------------


async def connect_error(uri: str, **options: float) -> str:
    target = PostgresTarget.from_uri(uri, "test")
    reader = PostgresReader(target, **options)
    try:
        with pytest.raises(BrowseError) as raised:
            await reader.tables()
    finally:
        await reader.close()
    assert not reader.is_open
    message = str(raised.value)
    assert message.startswith(f"{target.label}: ")
    return message.removeprefix(f"{target.label}: ")


async def test_connection_errors_say_what_is_wrong_and_never_the_password(
    pg_own: Server,
) -> None:
    server = pg_own
    with_password = server.uri("postgres", user="secret", password=SECRET_PASSWORD)
    async with opened(PostgresTarget.from_uri(with_password, "test")) as reader:
        assert SECRET_PASSWORD not in repr(reader)
        assert await reader.fetch("SELECT current_user") == [("secret",)]
    messages = {
        "wrong password": await connect_error(server.uri(user="secret", password="wrong-pw")),
        "no password": await connect_error(server.uri(user="secret")),
        "no database": await connect_error(
            server.uri("nosuch", user="secret", password=SECRET_PASSWORD)
        ),
        "no database, trusted": await connect_error(server.uri("nosuch")),
        "no role": await connect_error(server.uri(user="nobody")),
        "nothing there": await connect_error(f"postgresql://u:pw-x@127.0.0.1:{_free_port()}/d"),
    }
    assert messages == {
        "wrong password": "cannot connect: the password was refused",
        "no password": "cannot connect: the server asks for a password, and none was given",
        "no database": "cannot connect: there is no database 'nosuch'",
        "no database, trusted": "cannot connect: there is no database 'nosuch'",
        "no role": messages["no role"],  # libpq's own words, whatever its language
        "nothing there": "cannot connect: nothing answers there (is the server running?)",
    }
    assert messages["no role"].startswith("cannot connect: ") and "nobody" in messages["no role"]
    for secret in (SECRET_PASSWORD, "wrong-pw", "pw-x"):
        assert not any(secret in m for m in messages.values())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_stopped_server_is_a_message_and_its_return_is_seen(pg_own: Server) -> None:
    server = pg_own
    server.execute("CREATE TABLE IF NOT EXISTS back (id int PRIMARY KEY)")
    async with opened(PostgresTarget.from_uri(server.uri(), "test"), lock_timeout=1) as reader:
        version = await reader.version()
        server.stop()
        try:
            with pytest.raises(BrowseError, match="lost the connection to the server"):
                await reader.tables()
            assert not reader.is_open
            with pytest.raises(BrowseError, match="nothing answers there"):
                await reader.tables()
        finally:
            server.start()
        deadline = time.monotonic() + 30
        while True:  # the reader waits a little before it tries again
            try:
                assert [t.name for t in await reader.tables()] == ["back"]
                break
            except BrowseError:
                assert time.monotonic() < deadline, "never connected again"
                await asyncio.sleep(0.2)
        assert await reader.version() != version


async def test_a_locked_table_says_locked(db: Database) -> None:
    db.run("CREATE TABLE t (a int PRIMARY KEY)")
    db.insert("t", [(1,)])
    with psycopg.connect(db.uri) as locker:
        locker.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        async with opened(db.target(), lock_timeout=0.2) as reader:
            started = time.monotonic()
            with pytest.raises(BrowseError, match=r"^\S+: locked by another program$"):
                await reader.tables()
            assert time.monotonic() - started < 2
            locker.rollback()
            assert [t.rows for t in await reader.tables()] == [1]


async def test_a_table_this_user_may_not_read_is_listed_as_such(db: Database) -> None:
    db.run("CREATE TABLE open_to_all (a int PRIMARY KEY)")
    db.run("CREATE TABLE closed (a int PRIMARY KEY)")
    db.run("CREATE ROLE browsing LOGIN")
    db.run("GRANT SELECT ON open_to_all TO browsing")
    uri = db.uri.replace("postgres@", "browsing@")
    try:
        async with opened(db.target(uri)) as reader:
            tables = await reader.tables()
            assert [(t.name, t.rows, t.readable) for t in tables] == [
                ("closed", None, False),
                ("open_to_all", 0, True),
            ]
            view = await TableView.open(reader, tables[0])
            with pytest.raises(BrowseError, match=r"no permission to read it \(permission denied"):
                await view.go("first")
    finally:
        db.run("DROP OWNED BY browsing; DROP ROLE browsing")


async def test_interrupt_cancels_a_slow_query_and_leaves_the_view_as_it_was(db: Database) -> None:
    db.run("CREATE TABLE t (id int PRIMARY KEY, v text)")
    db.insert("t", [(i, str(i)) for i in range(1, 51)])
    db.run("CREATE VIEW slow AS SELECT t.* FROM t, LATERAL (SELECT pg_sleep(0.2)) AS s")
    async with opened(db.target()) as reader:
        view = await view_of(reader, "t", page_rows=5)
        page, query = await view.go("first"), view.query
        slow = await view_of(reader, "slow")
        fetch, sent = reader.fetch, asyncio.Event()

        async def noting_the_slow_statement(sql, params=()):
            if "slow" in sql:
                sent.set()
            return await fetch(sql, params)

        reader.fetch = noting_the_slow_statement
        started = time.monotonic()
        task = asyncio.create_task(slow.go("first"))
        await sent.wait()
        await asyncio.sleep(0.1)  # the count has reached the server
        await reader.interrupt()
        with pytest.raises(QueryCancelled, match="query cancelled"):
            await task
        assert time.monotonic() - started < 3  # not the 10 s the count would take
        assert slow.page is None
        with pytest.raises(QueryCancelled):  # until resumed, every query stops at once
            await view.go("next")
        reader.resume()
        assert view.page is page and view.query is query
        assert (await view.go("next")).rows == [(i, str(i)) for i in range(6, 11)]


async def test_closing_the_reader_under_a_running_query_cancels_it(db: Database) -> None:
    """As before a reset: the query that runs ends as cancelled, and the next one connects
    again."""
    reader = PostgresReader(db.target())
    try:
        version = await reader.version()
        task = asyncio.create_task(reader.fetch("SELECT pg_sleep(10)"))
        while not db.run("SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'"):
            await asyncio.sleep(0.02)  # the server runs it
        started = time.monotonic()
        await reader.close()
        with pytest.raises(QueryCancelled):
            await task
        assert time.monotonic() - started < 2
        assert await reader.fetch("SELECT 1") == [(1,)]
        assert await reader.version() != version
    finally:
        await reader.close()
