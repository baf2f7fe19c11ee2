"""The table browser driven through Pilot: listing, paging, sorting, filtering, odd data shown
literally, errors as messages, files left byte-identical, and live while the app runs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

import pytest
from textual.app import App
from textual.geometry import Region
from textual.widgets import DataTable, Input, Static, Tree
from textual.widgets._footer import FooterKey

from tests.helpers import run_engine
from tests.ui.browsing import column_labels, quiet, shown_rows, text_of, tree_lines
from tests.ui.polling import until
from tests.ui.test_app import sample_app, settle
from tui_insert.core.browse import parse_filter
from tui_insert.core.checks import database_paths
from tui_insert.core.stores.sqlite import SqliteTarget
from tui_insert.ui import browser_screen
from tui_insert.ui.browser_app import BrowserApp, make_browser_app
from tui_insert.ui.browser_screen import BrowserScreen

SIZE = (160, 40)


def make_db(path: Path, *statements: str, rows: Iterable[tuple] = (), wal: bool = False) -> Path:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    for statement in statements:
        conn.execute(statement)
    rows = list(rows)
    if rows:
        marks = ", ".join("?" * len(rows[0]))
        conn.executemany(f"INSERT INTO t VALUES ({marks})", rows)
    conn.commit()
    conn.close()
    return path


def numbers_db(tmp_path: Path, count: int = 250) -> Path:
    """t(id, name, amount): names in reverse order of the ids, amount = id * 1.5."""
    return make_db(
        tmp_path / "numbers.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount REAL)",
        rows=[(i, f"name {count - i:04}", i * 1.5) for i in range(1, count + 1)],
    )


async def test_lists_the_databases_and_opens_the_first_table(
    db_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_engine(db_dir)
    monkeypatch.chdir(db_dir)
    app = make_browser_app([SqliteTarget(p) for p in database_paths(Path(".")).values()])
    async with app.run_test(size=SIZE) as pilot:
        screen = await quiet(pilot)
        assert tree_lines(screen) == [
            "users.db",
            "  users  8 rows",
            "products.db",
            "  products  9 rows",
            "orders.db",
            "  orders  7 rows",
        ]
        assert text_of(screen, "#browser-position") == "rows 1–8 of 8"
        assert column_labels(screen) == ["id", "name", "email"]
        assert shown_rows(screen)[0] == ["1", "Alice", "alice@example.com"]
        # Choosing another table in the list shows it.
        tree = screen.query_one("#browser-databases", Tree)
        tree.focus()
        tree.move_cursor(tree.root.children[2].children[0])
        await pilot.press("enter")
        screen = await quiet(pilot)
        assert column_labels(screen) == ["id", "user_id", "product_id", "quantity"]
        assert text_of(screen, "#browser-position") == "rows 1–7 of 7"


async def test_pages_forward_and_back_and_to_either_end(tmp_path: Path) -> None:
    app = make_browser_app([SqliteTarget(numbers_db(tmp_path))])
    async with app.run_test(size=SIZE) as pilot:
        screen = await quiet(pilot)
        position = []
        for key in ["n", "n", "n", "p", "g", "G", "p"]:
            await pilot.press(key)
            screen = await quiet(pilot)
            position.append((text_of(screen, "#browser-position"), shown_rows(screen)[0][0]))
        assert position == [
            ("rows 101–200 of 250", "101"),
            ("rows 201–250 of 250", "201"),
            ("rows 201–250 of 250", "201"),  # the last page stays
            ("rows 101–200 of 250", "101"),
            ("rows 1–100 of 250", "1"),
            ("rows 151–250 of 250", "151"),
            ("rows 51–150 of 250", "51"),
        ]


async def test_sorts_by_the_cursor_column_up_down_and_off(tmp_path: Path) -> None:
    app = make_browser_app([SqliteTarget(numbers_db(tmp_path))])
    async with app.run_test(size=SIZE) as pilot:
        await quiet(pilot)
        await pilot.press("right", "o")  # the name column: the reverse of the ids
        screen = await quiet(pilot)
        assert column_labels(screen) == ["id", "name ▲", "amount"]
        assert [row[0] for row in shown_rows(screen)[:3]] == ["250", "249", "248"]
        assert "sorted by name, ascending" in text_of(screen, "#browser-position")
        await pilot.press("G")
        screen = await quiet(pilot)
        assert shown_rows(screen)[-1][0] == "1"
        await pilot.press("o")
        screen = await quiet(pilot)
        assert column_labels(screen) == ["id", "name ▼", "amount"]
        assert [row[0] for row in shown_rows(screen)[:2]] == ["1", "2"]
        await pilot.press("n")
        screen = await quiet(pilot)
        assert shown_rows(screen)[0][0] == "101"
        await pilot.press("o")
        screen = await quiet(pilot)
        assert column_labels(screen) == ["id", "name", "amount"]
        assert text_of(screen, "#browser-position") == "rows 1–100 of 250"


async def test_filters_by_text_and_by_number(tmp_path: Path) -> None:
    app = make_browser_app([SqliteTarget(numbers_db(tmp_path))])
    async with app.run_test(size=SIZE) as pilot:
        await quiet(pilot)
        await pilot.press("right", "f")
        await pilot.press(*"name 001", "enter")
        screen = await quiet(pilot)
        assert text_of(screen, "#browser-position") == (
            "rows 1–10 of 10 matching (250 in the table) · filter: name contains 'name 001'"
        )
        assert column_labels(screen) == ["id", "name ≈", "amount"]
        # A numeric comparison on another column adds to it.
        await pilot.press("right", "f", *"< 350", "enter")
        screen = await quiet(pilot)
        assert [row[2] for row in shown_rows(screen)] == ["346.5", "348.0", "349.5"]
        # A comparison with a word is a message; the input stays open.
        await pilot.press("f", "ctrl+u", *"> many", "enter")
        screen = await quiet(pilot)
        assert text_of(screen, "#browser-status") == "> compares with a number, not 'many'"
        assert screen.focused is not None and screen.focused.id == "browser-filter"
        await pilot.press("escape")  # closes the input (and its error), keeps the filters
        assert text_of(screen, "#browser-status") == ""
        await pilot.press("f", "ctrl+u", "enter")  # empty: this column's filter goes
        screen = await quiet(pilot)
        assert text_of(screen, "#browser-position").startswith("rows 1–10 of 10 matching")
        await pilot.press("left", "f", "ctrl+u", "enter")
        screen = await quiet(pilot)
        assert text_of(screen, "#browser-position") == "rows 1–100 of 250"


ODD_NAME = 'odd [bold]table[/] "q" \x1b[31m'


def odd_db(tmp_path: Path) -> Path:
    path = tmp_path / "odd #1 ?x=%20 [bold].db"
    conn = sqlite3.connect(path)
    conn.execute(
        'CREATE TABLE "odd [bold]table[/] ""q"" \x1b[31m"'
        ' ("[@click=app.quit]x" TEXT, "spaced ""name"" é" REAL, "[b]" BLOB, "n" INTEGER)'
    )
    conn.executemany(
        'INSERT INTO "odd [bold]table[/] ""q"" \x1b[31m" VALUES (?, ?, ?, ?)',
        [
            ("[red]not red[/]", 0.1 + 0.2, b"\x00\x01\x02", None),
            ("NULL", 1e-300, None, 2**63 - 1),
            ("\x1b]0;title\x07bell\ttab\nline", 123456789.123456789, b"", -1),
            ("x" * 200, None, b"z" * 5000, 0),
        ],
    )
    conn.commit()
    conn.close()
    return path


async def test_odd_names_and_values_show_literally(tmp_path: Path) -> None:
    app = make_browser_app([SqliteTarget(odd_db(tmp_path))])
    async with app.run_test(size=SIZE) as pilot:
        screen = await quiet(pilot)
        assert tree_lines(screen)[1] == '  odd [bold]table[/] "q" …  4 rows'
        assert "\x1b" not in text_of(screen, "#browser-title")
        assert text_of(screen, "#browser-title").endswith('"q" \\x1b[31m · 4 columns')
        assert column_labels(screen) == ["[@click=app.quit]x", 'spaced "name" é', "[b]", "n"]
        rows = shown_rows(screen)
        assert rows[0] == ["[red]not red[/]", "0.30000000000000004", "BLOB, 3 bytes", "NULL"]
        assert rows[1] == ["NULL", "1e-300", "NULL", "9223372036854775807"]
        assert rows[2] == [
            "\\x1b]0;title\\x07bell\\ttab\\nline",
            "123456789.12345679",
            "BLOB, 0 bytes",
            "-1",
        ]
        assert rows[3][0] == "x" * 47 + "…"
        assert rows[3][2] == "BLOB, 5,000 bytes"
        # A stored NULL looks different from the text "NULL".
        table = screen.query_one("#browser-rows", DataTable)
        assert table.get_cell_at((0, 3)).style != table.get_cell_at((1, 0)).style
        # Sorting and filtering work on these names too.
        await pilot.press("right", "o")
        screen = await quiet(pilot)
        assert [row[1] for row in shown_rows(screen)] == [
            "NULL",
            "1e-300",
            "0.30000000000000004",
            "123456789.12345679",
        ]
        await pilot.press("left", "f", *"[red]", "enter")
        screen = await quiet(pilot)
        assert len(shown_rows(screen)) == 1
        assert app.is_running  # [@click=app.quit] never became an action


async def test_missing_file_and_text_file_are_messages_and_stay_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = Path("missing.db")
    text = Path("notes.txt")
    text.write_text("these are notes, not a database\n" * 20)
    before = text.read_bytes()
    numbers_db(tmp_path, 3)
    (tmp_path / "folder").mkdir()
    app = make_browser_app(
        [SqliteTarget(p) for p in (missing, text, Path("folder"), Path("numbers.db"))]
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = await quiet(pilot)
        # The reason on a line of its own, under the file's name.
        assert tree_lines(screen) == [
            "missing.db",
            "  no such file",
            "notes.txt",
            "  not an SQLite database",
            "folder",
            "  a folder, not a database file",
            "numbers.db",
            "  t  3 rows",
        ]
        assert text_of(screen, "#browser-position") == "rows 1–3 of 3"
        await pilot.press("f5")
        await quiet(pilot)
    assert not missing.exists()
    assert text.read_bytes() == before


@pytest.mark.parametrize("wal", [False, True], ids=["rollback journal", "WAL"])
async def test_browsing_leaves_the_file_byte_identical(tmp_path: Path, wal: bool) -> None:
    path = make_db(
        tmp_path / "a #b ?c %d.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)",
        rows=[(i, f"n{i}") for i in range(300)],
        wal=wal,
    )
    before = path.read_bytes()
    app = make_browser_app([SqliteTarget(path)])
    async with app.run_test(size=SIZE) as pilot:
        await quiet(pilot)
        for keys in [["n"], ["G"], ["right", "o"], ["o"], ["f", "n", "1", "enter"], ["f5"]]:
            await pilot.press(*keys)
            await quiet(pilot)
        screen = await quiet(pilot)
        assert text_of(screen, "#browser-position").startswith("rows 1–100 of 111 matching")
    assert path.read_bytes() == before
    assert not (tmp_path / "a ").exists()  # a hand-built URI would have opened this one


async def test_escape_cancels_a_slow_query_and_keeps_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The screen says at once that a query runs (and that escape cancels it).
    monkeypatch.setattr(browser_screen, "BUSY_AFTER_SECONDS", 0.01)
    path = make_db(tmp_path / "slow.db", "CREATE TABLE t (id INTEGER PRIMARY KEY, word TEXT)")
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)"
            " INSERT INTO t SELECT i, printf('%.*c', 2000, 'a') FROM n"
        )
        conn.commit()
    app = make_browser_app([SqliteTarget(path)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await quiet(pilot)
        first = shown_rows(screen)
        # 300 a's then b, looked for in 1,000 texts of 2,000 a's: LIKE takes seconds to fail.
        await pilot.press("right", "f")
        field = screen.query_one("#browser-filter", Input)
        field.value = "a" * 300 + "b"
        # As enter does, without pilot.press waiting for the query to end.
        field.post_message(Input.Submitted(field, field.value))

        # The screen's word that the query runs is the event.
        def says_it_runs() -> bool:
            assert screen.busy or not field.has_class("hidden"), "no query to cancel"
            return text_of(screen, "#browser-status").startswith("Filtering word…")

        await until(pilot, says_it_runs, "said the query runs", step=0.01)
        await pilot.press("escape")
        screen = await quiet(pilot)
        assert text_of(screen, "#browser-status") == "Cancelled."
        assert shown_rows(screen) == first
        assert column_labels(screen) == ["id", "word"]  # no filter mark: nothing changed
        assert isinstance(app, BrowserApp) and app.is_running  # escape did not leave


async def test_b_browses_while_a_run_writes_and_escape_goes_back(db_dir: Path) -> None:
    app = sample_app(db_dir, latency=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        screen = app.screen
        assert isinstance(screen, BrowserScreen)
        # The browser follows the run: the counts grow to the end without a key.
        done = ["  users  8 rows", "  products  9 rows", "  orders  7 rows"]
        # The run's writes and the browser's checks are the events.
        await until(
            pilot,
            lambda: [line for line in tree_lines(screen) if line.startswith("  ")] == done,
            f"listed {done} (listed {tree_lines(screen)})",
            step=0.1,
        )
        await settle(pilot)
        assert isinstance(app.screen, BrowserScreen)  # the summary does not cover the browser
        await pilot.press("escape")
        assert not isinstance(app.screen, BrowserScreen)


async def test_reset_from_the_browser_empties_what_it_shows(db_dir: Path) -> None:
    app = sample_app(db_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s", "b")
        screen = await quiet(pilot)
        assert text_of(screen, "#browser-position") == "rows 1–8 of 8"
        await pilot.press("x", "y")
        status = app.query_one("#status", Static)
        await until(pilot, lambda: "Databases emptied" in str(status.render()), "emptied")
        # Once the reset is through, the browser reads the list and the page again at once:
        # not left to its check for changes, which may have read the list and the page on
        # either side of one of the reset's three commits, over connections it opened
        # again while the reset ran.
        screen = await quiet(pilot)
        assert text_of(screen, "#browser-position") == "no rows"
        assert tree_lines(screen)[1::2] == [
            "  users  0 rows",
            "  products  0 rows",
            "  orders  0 rows",
        ]


async def test_a_locked_database_is_a_message_until_the_lock_goes(tmp_path: Path) -> None:
    path = numbers_db(tmp_path, 3)  # a rollback-journal database: a writer locks readers out
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("DELETE FROM t WHERE id = 3")
    try:
        app = make_browser_app([SqliteTarget(path)])
        async with app.run_test(size=SIZE) as pilot:
            screen = await quiet(pilot)
            assert tree_lines(screen)[0].endswith("numbers.db")
            assert tree_lines(screen)[1] == "  locked by another program"
            writer.execute("COMMIT")
            # The browser's own check, once a second, is the event.
            await until(
                pilot,
                lambda: tree_lines(screen)[1:] == ["  t  2 rows"],
                f"listed 2 rows (listed {tree_lines(screen)})",
                step=0.1,
            )
            screen = await quiet(pilot)
            assert text_of(screen, "#browser-position") == "rows 1–2 of 2"
    finally:
        writer.close()


@pytest.mark.parametrize("typed", ["abc", "> 5", '"> 5"', '= "7"', "= abc", "!= null", '= "null"'])
def test_the_filter_field_opens_with_what_gives_the_same_filter_again(typed: str) -> None:
    filter_ = parse_filter("c", typed)
    assert parse_filter("c", browser_screen._filter_text(filter_)) == filter_


async def test_one_row_is_one_row(tmp_path: Path) -> None:
    app = make_browser_app([SqliteTarget(numbers_db(tmp_path, 1))])
    async with app.run_test(size=SIZE) as pilot:
        screen = await quiet(pilot)
        assert tree_lines(screen)[1] == "  t  1 row"


async def test_the_reason_of_an_unreadable_file_shows_whole(tmp_path: Path) -> None:
    long_name = tmp_path / ("a-rather-long-database-name-" * 2 + ".db")
    app = make_browser_app([SqliteTarget(long_name)])
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await quiet(pilot)
        tree = screen.query_one("#browser-databases", Tree)
        width, height = tree.size
        shown = "\n".join(strip.text for strip in tree.render_lines(Region(0, 0, width, height)))
        assert "no such file" in shown


def footer_keys(app: App[int]) -> list[str]:
    return [key.description for key in app.screen.query(FooterKey)]


async def test_escape_back_shows_only_where_it_goes_back(tmp_path: Path, db_dir: Path) -> None:
    app = make_browser_app([SqliteTarget(numbers_db(tmp_path, 3))])
    async with app.run_test(size=SIZE) as pilot:
        await quiet(pilot)
        assert "Back" not in footer_keys(app)
        assert "Quit" in footer_keys(app)
    app = sample_app(db_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s", "b")
        await quiet(pilot)
        keys = footer_keys(app)
        assert "Back" in keys and "Quit" in keys
        await pilot.press("f")  # escape now closes the filter field
        await pilot.pause()
        keys = footer_keys(app)
        assert "Cancel" in keys and "Back" not in keys


async def test_a_change_made_while_the_connection_was_closed_is_seen(tmp_path: Path) -> None:
    """A connection may be closed between two checks (a snapshot that could not roll back,
    say) and opened again by the next: the change written meanwhile is still shown, though
    the fresh connection's data_version may equal the one the old connection gave."""
    path = make_db(
        tmp_path / "n.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY)",
        rows=[(1,), (2,), (3,)],
        wal=True,
    )
    app = make_browser_app([SqliteTarget(path)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await quiet(pilot)
        assert tree_lines(screen)[1] == "  t  3 rows"
        await screen.readers[0].close()
        with closing(sqlite3.connect(path)) as writer:
            writer.execute("INSERT INTO t VALUES (4)")
            writer.commit()
        await until(
            pilot,
            lambda: tree_lines(screen)[1] == "  t  4 rows",
            f"listed 4 rows (listed {tree_lines(screen)})",
            seconds=5,
            step=0.1,
        )
