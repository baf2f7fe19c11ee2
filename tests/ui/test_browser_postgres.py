"""The table browser on PostgreSQL databases, driven through Pilot: listed by host:port/dbname
beside SQLite files, paged, sorted and filtered, odd data shown literally, following another
connection's commits, and a server that is down, missing or stops meanwhile said so in the list
— never a crash, never a password."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest
from textual.widgets import Input, Static, Tree

from tests.pgserver import Server
from tests.ui.browsing import column_labels, quiet, shown_rows, text_of, tree_lines
from tests.ui.polling import until
from tests.ui.test_browser import numbers_db
from tui_insert import cli
from tui_insert.core.stores.postgres import PostgresTarget
from tui_insert.core.stores.sqlite import SqliteTarget
from tui_insert.ui import browser_app
from tui_insert.ui.browser_app import make_browser_app
from tui_insert.ui.browser_screen import BrowserScreen

SIZE = (160, 40)


def run(uri: str, sql: str, params: tuple | list | None = None) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(sql, params)


def numbers(uri: str, count: int = 250) -> PostgresTarget:
    """t(id, name, amount): names in reverse order of the ids, amount = id * 1.5; as in the
    SQLite tests."""
    run(uri, "CREATE TABLE t (id bigint PRIMARY KEY, name text, amount double precision)")
    run(
        uri,
        "INSERT INTO t SELECT i, 'name ' || lpad((%s - i)::text, 4, '0'), i * 1.5"
        " FROM generate_series(1, %s) AS i",
        [count, count],
    )
    return PostgresTarget.from_uri(uri, "test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def everything_shown(screen: BrowserScreen) -> str:
    statics = [str(s.render()) for s in screen.query(Static)]
    return "\n".join([*tree_lines(screen), *statics])


async def test_lists_pages_sorts_and_filters_a_postgresql_table(pg: dict[str, str]) -> None:
    target = numbers(pg["users"])
    app = make_browser_app([target])
    async with app.run_test(size=SIZE) as pilot:
        screen = await quiet(pilot)
        assert tree_lines(screen) == [target.label, "  t  250 rows"]
        assert target.label.startswith("127.0.0.1:")  # host:port/dbname
        assert text_of(screen, "#browser-title") == f"{target.label} › t · 3 columns"
        assert column_labels(screen) == ["id", "name", "amount"]
        position = []
        for key in ["n", "n", "n", "p", "g", "G", "p"]:
            await pilot.press(key)
            screen = await quiet(pilot)
            position.append((text_of(screen, "#browser-position"), shown_rows(screen)[0][0]))
        assert position == [
            ("rows 101–200 of 250", "101"),
            ("rows 201–250 of 250", "201"),
            ("rows 201–250 of 250", "201"),
            ("rows 101–200 of 250", "101"),
            ("rows 1–100 of 250", "1"),
            ("rows 151–250 of 250", "151"),
            ("rows 51–150 of 250", "51"),
        ]
        await pilot.press("g", "right", "o")  # the name column: the reverse of the ids
        screen = await quiet(pilot)
        assert column_labels(screen) == ["id", "name ▲", "amount"]
        assert [row[0] for row in shown_rows(screen)[:3]] == ["250", "249", "248"]
        await pilot.press("o", "n")
        screen = await quiet(pilot)
        assert column_labels(screen) == ["id", "name ▼", "amount"]
        assert shown_rows(screen)[0][0] == "101"
        await pilot.press("o", "f", *"NAME 001", "enter")  # ignoring ASCII case
        screen = await quiet(pilot)
        assert text_of(screen, "#browser-position") == (
            "rows 1–10 of 10 matching (250 in the table) · filter: name contains 'NAME 001'"
        )
        await pilot.press("right", "f", *"< 350", "enter")
        screen = await quiet(pilot)
        assert [row[2] for row in shown_rows(screen)] == ["346.5", "348.0", "349.5"]
        # A comparison with a number on the column of text: a message, the field stays open.
        await pilot.press("left", "f", "ctrl+u", *"> 5", "enter")
        screen = await quiet(pilot)
        assert text_of(screen, "#browser-status") == "> compares with a number, and name holds text"
        assert screen.focused is not None and screen.focused.id == "browser-filter"
        await pilot.press("escape")
        assert len(shown_rows(screen)) == 3  # the filters as they were


async def test_odd_names_and_values_show_literally(pg: dict[str, str]) -> None:
    uri = pg["users"]
    run(
        uri,
        'CREATE TABLE "odd [bold]table[/] ""q"" \x1b[31m" (id int PRIMARY KEY,'
        ' "[@click=app.quit]x" text, doc jsonb, "b" bytea, n numeric)',
    )
    run(
        uri,
        'INSERT INTO "odd [bold]table[/] ""q"" \x1b[31m" VALUES'
        " (1, '[red]not red[/]', '{\"k\": \"[b]v[/b]\"}', '\\x000102', 1.50),"
        " (2, 'NULL', NULL, NULL, NULL),"
        " (3, E'\\x1b]0;title\\x07bell\\ttab\\nline', '[1, 2]', '', -0.5)",
    )
    app = make_browser_app([PostgresTarget.from_uri(uri, "test")])
    async with app.run_test(size=SIZE) as pilot:
        screen = await quiet(pilot)
        assert tree_lines(screen)[1] == '  odd [bold]table[/] "q" …  3 rows'
        assert "\x1b" not in text_of(screen, "#browser-title")
        assert column_labels(screen) == ["id", "[@click=app.quit]x", "doc", "b", "n"]
        assert shown_rows(screen) == [
            ["1", "[red]not red[/]", '{"k": "[b]v[/b]"}', "BLOB, 3 bytes", "1.50"],
            ["2", "NULL", "NULL", "NULL", "NULL"],
            ["3", "\\x1b]0;title\\x07bell\\ttab\\nline", "[1, 2]", "BLOB, 0 bytes", "-0.5"],
        ]
        await pilot.press("right", "f", *"[red]", "enter")
        screen = await quiet(pilot)
        assert len(shown_rows(screen)) == 1
        assert app.is_running


async def test_sqlite_files_and_postgresql_databases_side_by_side(
    pg: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    numbers_db(tmp_path, 2)
    users, orders = numbers(pg["users"], 3), numbers(pg["orders"], 5)
    app = make_browser_app([SqliteTarget(Path("numbers.db")), users, orders])
    async with app.run_test(size=SIZE) as pilot:
        screen = await quiet(pilot)
        assert tree_lines(screen) == [
            "numbers.db",
            "  t  2 rows",
            users.label,
            "  t  3 rows",
            orders.label,
            "  t  5 rows",
        ]
        tree = screen.query_one("#browser-databases", Tree)
        tree.focus()
        tree.move_cursor(tree.root.children[2].children[0])
        await pilot.press("enter")
        screen = await quiet(pilot)
        assert text_of(screen, "#browser-title").startswith(f"{orders.label} › t")
        assert text_of(screen, "#browser-position") == "rows 1–5 of 5"


async def test_the_browser_follows_another_connections_commits(pg: dict[str, str]) -> None:
    uri = pg["users"]
    target = numbers(uri, 3)
    app = make_browser_app([target])
    async with app.run_test(size=SIZE) as pilot:
        screen = await quiet(pilot)
        assert text_of(screen, "#browser-position") == "rows 1–3 of 3"
        run(uri, "INSERT INTO t VALUES (4, 'four', 6.0), (5, 'five', 7.5)")
        # The browser's own check, once a second, is the event.
        await until(
            pilot,
            lambda: (
                tree_lines(screen)[1] == "  t  5 rows"
                and text_of(screen, "#browser-position") == "rows 1–5 of 5"
            ),
            f"showed 5 rows (listed {tree_lines(screen)})",
            step=0.1,
        )
        run(uri, "CREATE TABLE later (id int PRIMARY KEY)")
        await until(
            pilot,
            lambda: tree_lines(screen)[1:] == ["  later  0 rows", "  t  5 rows"],
            f"listed the new table (listed {tree_lines(screen)})",
            step=0.1,
        )


async def test_servers_that_are_not_there_are_messages_and_no_password_shows(
    pg: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    numbers_db(tmp_path, 3)
    nowhere = PostgresTarget.from_uri(f"postgresql://me:s3cret-pw@127.0.0.1:{free_port()}/x", "t")
    missing = PostgresTarget.from_uri(pg["users"].rsplit("/", 1)[0] + "/no_such_db", "t")
    app = make_browser_app([nowhere, missing, SqliteTarget(Path("numbers.db"))])
    async with app.run_test(size=SIZE) as pilot:
        screen = await quiet(pilot)
        assert tree_lines(screen) == [
            nowhere.label,
            "  cannot connect: nothing answers there (is the server running?)",
            missing.label,
            "  cannot connect: there is no database 'no_such_db'",
            "numbers.db",
            "  t  3 rows",
        ]
        assert text_of(screen, "#browser-position") == "rows 1–3 of 3"
        await pilot.press("f5")
        screen = await quiet(pilot)
        assert "s3cret" not in everything_shown(screen)
        assert app.is_running


async def test_a_table_this_user_may_not_read_is_marked_and_the_next_one_opens(
    pg: dict[str, str],
) -> None:
    uri = pg["users"]
    run(uri, "CREATE TABLE closed (id int PRIMARY KEY)")
    numbers(uri, 4)
    run(uri, "CREATE ROLE browsing LOGIN")
    try:
        run(uri, "GRANT SELECT ON t TO browsing")
        target = PostgresTarget.from_uri(uri.replace("postgres@", "browsing@"), "test")
        app = make_browser_app([target])
        async with app.run_test(size=SIZE) as pilot:
            screen = await quiet(pilot)
            assert tree_lines(screen)[1:] == ["  closed  not readable", "  t  4 rows"]
            assert text_of(screen, "#browser-position") == "rows 1–4 of 4"
            tree = screen.query_one("#browser-databases", Tree)
            tree.focus()
            tree.move_cursor(tree.root.children[0].children[0])
            await pilot.press("enter")
            screen = await quiet(pilot)
            assert text_of(screen, "#browser-status") == (
                f"{target.label}: no permission to read it (permission denied for table closed)"
            )
            assert text_of(screen, "#browser-position") == "rows 1–4 of 4"  # still t
    finally:
        run(uri, "DROP OWNED BY browsing")
        run(uri, "DROP ROLE browsing")


async def test_a_server_that_stops_while_browsing_is_a_message_until_it_is_back(
    pg_own: Server,
) -> None:
    uri = pg_own.uri()
    run(uri, "DROP TABLE IF EXISTS t")
    target = numbers(uri, 3)
    app = make_browser_app([target])
    async with app.run_test(size=SIZE) as pilot:
        screen = await quiet(pilot)
        assert tree_lines(screen)[1:] == ["  t  3 rows"]
        pg_own.stop()
        try:
            await until(
                pilot,
                lambda: tree_lines(screen)[1].startswith(("  lost the connection", "  cannot")),
                f"said the server is gone (listed {tree_lines(screen)})",
                step=0.1,
            )
            await pilot.press("n")
            screen = await quiet(pilot)
            status = text_of(screen, "#browser-status")
            assert status.startswith(f"{target.label}: ") and "connect" in status
            assert shown_rows(screen)[0][0] == "1"  # the page as it was
        finally:
            pg_own.start()
        await until(
            pilot,
            lambda: tree_lines(screen)[1:] == ["  t  3 rows"],
            f"listed the table again (listed {tree_lines(screen)})",
            step=0.1,
        )
        await pilot.press("G")
        screen = await quiet(pilot)
        assert text_of(screen, "#browser-position") == "rows 1–3 of 3"
        assert app.is_running and isinstance(app.screen, BrowserScreen)
        assert screen.query_one("#browser-filter", Input).has_class("hidden")


def test_the_command_line_browses_postgresql_urls_beside_files(
    pg: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tui-insert browse URL FILE`: each becomes its store, the URL whole (a path would have
    cut its `//`); one libpq cannot read is an error before the app starts."""
    stores: list[object] = []

    class App:
        return_code = 0

        def run(self) -> None:
            pass

    def make(given: list[object]) -> App:
        stores.extend(given)
        return App()

    monkeypatch.setattr(browser_app, "make_browser_app", make)
    assert cli.main(["browse", pg["users"], "a.db"]) == 0
    assert stores == [PostgresTarget.from_uri(pg["users"], "browse"), SqliteTarget(Path("a.db"))]
    stores.clear()
    assert cli.main(["browse", "postgresql://[::1/d"]) == 2
    assert stores == []
    assert "not a PostgreSQL URL libpq can read" in capsys.readouterr().err
