"""RecentOutcomes on the line API (and the panel's subtitle), attacked: each test tries to
break one of its guarantees through a real Textual app, comparing what the screen draws with an
oracle written here, independently of the widget."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

from rich.cells import cell_len
from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.color import Color
from textual.content import Content
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip

from tui_insert.core.engine import TableProgress
from tui_insert.core.rules import Reason
from tui_insert.ui.database_panel import DatabasePanel
from tui_insert.ui.outcome_text import outcome_line
from tui_insert.ui.recent_outcomes import RECENT_LINES, RecentOutcomes

CSS_PATH = Path(__file__).parents[2] / "tui_insert" / "ui" / "main_screen.tcss"


class Bare(App[None]):
    """The widget alone, filling the screen: its content size is the terminal's."""

    CSS = "RecentOutcomes { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield RecentOutcomes(id="recent")


class Padded(App[None]):
    """The widget with padding and a border of its own: content size < size."""

    CSS = "RecentOutcomes { height: 1fr; padding: 1 2; border: solid red; }"

    def compose(self) -> ComposeResult:
        yield RecentOutcomes(id="recent")


class OnePanel(App[None]):
    CSS_PATH = CSS_PATH

    def compose(self) -> ComposeResult:
        yield DatabasePanel("users", "users.db")


# --- the oracle -----------------------------------------------------------------------------

_WORD = re.compile(r"\s*\S+\s*")


def greedy(line: str, width: int) -> list[str]:
    """Greedy word wrap of an ASCII line (no tabs, no newlines), written here: a word goes on
    the row if its visible part fits; a word wider than a row starts a row and is cut in
    pieces of `width`; a row's trailing spaces are dropped."""
    assert line.isascii() and "\t" not in line and "\n" not in line
    rows: list[str] = []
    row = ""
    for match in _WORD.finditer(line):  # a word takes its trailing (and any leading) spaces
        word = match.group()
        visible = len(word.rstrip())
        if len(row) + visible <= width:
            row += word
        elif visible > width:
            if row:
                rows.append(row)
            pieces = [word[i : i + width] for i in range(0, len(word), width)]
            rows.extend(pieces[:-1])
            row = pieces[-1]
        else:
            rows.append(row)
            row = word
    rows.append(row)
    return [r.rstrip() for r in rows]


def rich_rows(line: str, width: int) -> list[str]:
    """rich's wrap of the plain line (for text greedy() does not handle), rstripped."""
    console = Console(width=max(width, 1), file=io.StringIO())
    return [row.plain.rstrip() for row in Text(line).wrap(console, width)]


def expected(lines: list[str], width: int, height: int) -> list[str]:
    """Each row's text, padded to `width`: the latest lines (of the last RECENT_LINES) whose
    rows fit whole, newest at the bottom, top-aligned, then blank rows."""
    shown: list[list[str]] = []
    used = 0
    if width > 0:
        for line in reversed(lines[-RECENT_LINES:]):
            simple = line.isascii() and "\t" not in line and "\n" not in line
            rows = greedy(line, width) if simple else rich_rows(line, width)
            if used + len(rows) > height:
                break
            shown.append(rows)
            used += len(rows)
    flat = [row for rows in reversed(shown) for row in rows]
    flat += [""] * (height - len(flat))
    return [row + " " * (width - cell_len(row)) for row in flat]


# --- what is drawn --------------------------------------------------------------------------


def screen_rows(app: App[None], widget: RecentOutcomes) -> list[Strip]:
    """The widget's content rows as the screen's compositor draws them."""
    strips = app.screen._compositor.render_strips()
    region = widget.content_region
    return [strips[y].crop(region.x, region.right) for y in range(region.y, region.bottom)]


def check_drawn(app: App[None], widget: RecentOutcomes, lines: list[str]) -> None:
    width, height = widget.content_size
    want = expected(lines, width, height)
    got = screen_rows(app, widget)
    assert [strip.text for strip in got] == want, (width, height, lines[-5:])
    # Every cell on the widget's background of the moment (none left from an earlier theme).
    background = widget.rich_style.bgcolor
    for strip in got:
        for seg in strip:
            if seg.text:  # (an empty segment, no style, is drawn as nothing)
                assert isinstance(seg.style, Style) and seg.style.bgcolor == background, seg
    # Every strip the widget itself gives is exactly its content width, in cells.
    outer = widget.outer_size
    whole = widget.render_lines(Region(0, 0, *outer))
    assert len(whole) == outer.height
    for y in range(height):
        strip = widget.render_line(y)
        assert strip.cell_length == width, (y, strip.text)
        assert sum(cell_len(seg.text) for seg in strip) == width, (y, strip.text)
    for strip in whole:
        assert strip.cell_length == outer.width
        assert sum(cell_len(seg.text) for seg in strip) == outer.width


async def settle(pilot: Pilot[None]) -> None:
    await pilot.pause()
    await pilot.pause()


def colour_of(strips: list[Strip], words: str) -> Style:
    for strip in strips:
        for seg in strip:
            if seg.text.strip() == words:
                assert isinstance(seg.style, Style)
                return seg.style
    raise AssertionError(f"{words!r} not drawn in {[s.text for s in strips]}")


def hex_of(style_colour: object) -> str:
    triplet = getattr(style_colour, "triplet", None)
    assert triplet is not None
    return triplet.hex


# --- random lines ---------------------------------------------------------------------------

_ID_PIECES = [
    "a", "bc", "user", "x" * 30, " ", "  ", "[bold]x[/]", "[red]", "日本語", "👍🏽", "é", "e\u0301",
    "-", "_", "0", "42", "[", "]", "\\[b]", "ﾃｽﾄ", "한국어",
]  # fmt: skip
_CODES = ["duplicate_email", "unknown_user", "invalid_name", "too_long", "x", "a" * 25]


def random_line(rng: random.Random, i: int, ascii_only: bool) -> str:
    pieces = [p for p in _ID_PIECES if p.isascii()] if ascii_only else _ID_PIECES
    record_id = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
    if rng.random() < 0.5:
        return f"#{i} id={record_id} inserted"
    codes = ", ".join(rng.choice(_CODES) for _ in range(rng.randint(1, 4)))
    return f"#{i} id={record_id} rejected {codes}"


# --- the attacks ----------------------------------------------------------------------------


async def test_random_lines_and_sizes_draw_what_the_oracle_says() -> None:
    """Many seeded sets of lines and sizes, in one app: resizes, clears, repeats, more than
    RECENT_LINES lines, wide characters, markup-like ids; every row as the oracle says."""
    app = Bare()
    async with app.run_test(size=(40, 12)) as pilot:
        recent = app.query_one(RecentOutcomes)
        rng = random.Random(20240611)
        lines: list[str] = []
        n = 0
        for step in range(60):
            action = rng.random()
            if action < 0.08:
                recent.clear()
                lines.clear()
            elif action < 0.15 and lines:
                again = [rng.choice(lines) for _ in range(rng.randint(1, 5))]  # repeats
                recent.add(again)
                lines.extend(again)
            else:
                count = rng.choice([0, 1, 1, 2, 3, 5, 8, 40, 250])
                fresh = [random_line(rng, n + i, rng.random() < 0.5) for i in range(count)]
                n += count
                recent.add(iter(fresh))  # any iterable
                lines.extend(fresh)
            if step % 7 == 0:
                app.theme = rng.choice(["textual-dark", "textual-light", "nord", "ansi-dark"])
            if step % 3 == 0:
                width = rng.choice([1, 2, 3, 4, 5, 7, 10, 16, 23, 40, 61])
                height = rng.choice([1, 2, 3, 5, 8, 13, 30])
                await pilot.resize_terminal(width, height)
            await settle(pilot)
            assert recent.content_size == app.size
            check_drawn(app, recent, lines)
            assert recent.lines == lines[-RECENT_LINES:]


async def test_padding_and_border_of_its_own_leave_the_rows_right() -> None:
    app = Padded()
    async with app.run_test(size=(30, 14)) as pilot:
        recent = app.query_one(RecentOutcomes)
        rng = random.Random(7)
        lines: list[str] = []
        for step in range(25):
            fresh = [random_line(rng, step * 10 + i, step % 2 == 0) for i in range(3)]
            recent.add(fresh)
            lines.extend(fresh)
            if step % 4 == 0:
                await pilot.resize_terminal(rng.randint(7, 50), rng.randint(5, 20))
            await settle(pilot)
            assert recent.content_size.width == recent.outer_size.width - 6
            check_drawn(app, recent, lines)


async def test_in_the_panel_outcomes_from_show_match_the_oracle() -> None:
    app = OnePanel()
    async with app.run_test(size=(34, 30)) as pilot:
        panel = app.query_one(DatabasePanel)
        recent = panel.query_one(RecentOutcomes)
        rng = random.Random(3)
        progress = TableProgress("users", Path("users.db"), total=10_000)
        lines: list[str] = []
        position = 0
        for step in range(20):
            for _ in range(rng.randint(0, 6)):
                position += 1
                reasons = (
                    None
                    if rng.random() < 0.5
                    else [Reason("f", rng.choice(_CODES), "") for _ in range(rng.randint(1, 3))]
                )
                record_id = position if rng.random() < 0.5 else f"[b]{position}[/b] 日本"
                progress.recent.append((position, record_id, reasons))
                lines.append(outcome_line(position, record_id, reasons))
            progress.processed = position
            panel.show(progress, float(step + 1))
            if step == 10:
                await pilot.resize_terminal(22, 40)
            await settle(pilot)
            check_drawn(app, recent, lines)


async def test_a_theme_switch_draws_the_new_theme_colours() -> None:
    """Lines wrapped (and cached) under one theme are drawn in the next theme's colours: the
    status words, the codes, and the blank cells' background; and back again."""
    app = Bare()
    async with app.run_test(size=(30, 8)) as pilot:
        recent = app.query_one(RecentOutcomes)
        recent.add(["#1 id=1 inserted", "#2 id=2 rejected duplicate_id"])
        await settle(pilot)
        seen_backgrounds = set()
        for theme in ("textual-dark", "textual-light", "textual-dark", "nord", "textual-light"):
            app.theme = theme
            await settle(pilot)
            colours = app.theme_variables
            drawn = screen_rows(app, recent)
            for words, variable in (
                ("inserted", "text-success"),
                ("rejected", "text-error"),
                ("duplicate_id", "text-warning"),
            ):
                style = colour_of(drawn, words)
                want = Color.parse(colours[variable]).hex.lower()[:7]
                assert hex_of(style.color) == want, (theme, words)
            assert colour_of(drawn, "rejected").bold
            # A blank row, and the blank end of a row, in the screen's new background.
            background = recent.rich_style.bgcolor
            assert background is not None
            seen_backgrounds.add(background.triplet.hex if background.triplet else None)
            for strip in (drawn[-1], drawn[0].crop(25, 30)):
                for seg in strip:
                    assert isinstance(seg.style, Style) and seg.style.bgcolor == background
            # The id text (no style of its own) is in the theme's foreground on it.
            assert colour_of(drawn, "#1 id=1").color == recent.rich_style.color
        assert len(seen_backgrounds) >= 2  # the themes did differ


async def test_a_parent_class_that_changes_its_colours_is_drawn() -> None:
    """Colours from CSS that apply only while an ancestor has a class: toggling the class
    (not the theme, not the size) must not leave strips of the old colours on screen."""
    from textual.containers import Vertical

    class Toggled(App[None]):
        CSS = """
        #box.alert { background: #0000ff; }
        #box.alert RecentOutcomes > .recent-outcomes--inserted { color: #ffff00; }
        RecentOutcomes { height: 1fr; }
        """

        def compose(self) -> ComposeResult:
            with Vertical(id="box"):
                yield RecentOutcomes()

    app = Toggled()
    async with app.run_test(size=(30, 6)) as pilot:
        recent = app.query_one(RecentOutcomes)
        box = app.query_one("#box")
        recent.add(["#1 id=1 inserted"])
        await settle(pilot)
        for alert in (True, False, True):
            box.set_class(alert, "alert")
            await settle(pilot)
            drawn = screen_rows(app, recent)
            inserted = colour_of(drawn, "inserted")
            want = recent.get_component_rich_style("recent-outcomes--inserted", partial=True)
            assert inserted.color == want.color, alert
            assert (inserted.color is not None and hex_of(inserted.color) == "#ffff00") == alert
            blank = drawn[-1]
            assert {seg.style.bgcolor for seg in blank if seg.style} == {recent.rich_style.bgcolor}
            assert (hex_of(recent.rich_style.bgcolor) == "#0000ff") == alert


async def test_resizes_rewrap_and_a_taller_widget_shows_more_lines() -> None:
    app = Bare()
    async with app.run_test(size=(40, 4)) as pilot:
        recent = app.query_one(RecentOutcomes)
        lines = [f"#{i} id={i} rejected duplicate_email, unknown_user" for i in range(1, 31)]
        recent.add(lines)
        await settle(pilot)
        check_drawn(app, recent, lines)
        shown_before = sum(1 for row in screen_rows(app, recent) if row.text.startswith("#"))
        for width, height in ((40, 12), (12, 12), (12, 30), (80, 30), (40, 4), (3, 4)):
            await pilot.resize_terminal(width, height)
            await settle(pilot)
            check_drawn(app, recent, lines)
        await pilot.resize_terminal(40, 12)
        await settle(pilot)
        shown_after = sum(1 for row in screen_rows(app, recent) if row.text.startswith("#"))
        assert shown_after == 3 * shown_before  # 3 times the height: 3 times the lines
        # narrower: more rows a line, fewer lines
        await pilot.resize_terminal(20, 12)
        await settle(pilot)
        assert screen_rows(app, recent)[-1].text.rstrip() == "unknown_user"
        check_drawn(app, recent, lines)


async def test_clear_then_add_identical_and_over_the_limit() -> None:
    app = Bare()
    async with app.run_test(size=(20, 6)) as pilot:
        recent = app.query_one(RecentOutcomes)
        recent.add(["#1 id=1 inserted"] * 3)
        await settle(pilot)
        assert [r.text.rstrip() for r in screen_rows(app, recent)][:3] == ["#1 id=1 inserted"] * 3
        recent.clear()
        await settle(pilot)
        assert all(not r.text.strip() for r in screen_rows(app, recent))
        assert recent.lines == []
        recent.add(["#1 id=1 inserted"])  # the very line cleared
        await settle(pilot)
        check_drawn(app, recent, ["#1 id=1 inserted"])
        recent.add([])  # nothing new
        await settle(pilot)
        check_drawn(app, recent, ["#1 id=1 inserted"])
        many = [f"#{i} id={i} inserted" for i in range(RECENT_LINES + 57)]
        recent.add(many)
        await pilot.resize_terminal(20, RECENT_LINES + 40)  # taller than all kept
        await settle(pilot)
        lines = ["#1 id=1 inserted", *many]
        assert len(recent.lines) == RECENT_LINES
        check_drawn(app, recent, lines)
        rows = [r.text.rstrip() for r in screen_rows(app, recent)]
        assert rows[0] == many[-RECENT_LINES] == "#57 id=57 inserted"  # the oldest kept, on top
        assert rows[RECENT_LINES - 1] == many[-1] and not rows[RECENT_LINES].strip()


async def test_the_wrap_cache_stays_bounded_over_thousands_of_adds() -> None:
    app = Bare()
    async with app.run_test(size=(30, 60)) as pilot:
        recent = app.query_one(RecentOutcomes)
        region = Region(0, 0, *recent.outer_size)
        sizes = []
        for batch in range(800):
            recent.add(f"#{batch}-{i} id={batch * 7 + i} inserted" for i in range(7))
            recent.render_lines(region)  # what a refresh does, without waiting for one
            sizes.append(len(recent._wrapped))
            if batch % 100 == 0:
                await settle(pilot)
        assert max(sizes) <= 3 * RECENT_LINES + 1, max(sizes)
        await settle(pilot)
        check_drawn(app, recent, recent.lines)
        # A widget tall enough to show every kept line, lines all distinct.
        await pilot.resize_terminal(30, RECENT_LINES + 5)
        await settle(pilot)
        region = Region(0, 0, *recent.outer_size)
        for batch in range(300):
            recent.add(f"#{batch} id=tall{batch} inserted" for _ in range(1))
            recent.render_lines(region)
            sizes.append(len(recent._wrapped))
        assert max(sizes) <= 3 * RECENT_LINES + 1, max(sizes)
        await settle(pilot)
        check_drawn(app, recent, recent.lines)


async def test_narrow_widths_and_wide_characters() -> None:
    lines = [
        "#1 id=日本語テキスト inserted",
        "#2 id=👍🏽👍🏽 rejected unknown_user",
        "#3 id=한국어 inserted",
        "#4 id=e\u0301e\u0301 inserted",
        "#5 id=ﾃｽﾄ rejected x",
    ]
    app = Bare()
    async with app.run_test(size=(5, 40)) as pilot:
        recent = app.query_one(RecentOutcomes)
        recent.add(lines)
        for width in (1, 2, 3, 4, 5, 6, 9):
            await pilot.resize_terminal(width, 40)
            await settle(pilot)
            check_drawn(app, recent, lines)
        await pilot.resize_terminal(9, 40)
        await settle(pilot)
        rows = [r.text.rstrip() for r in screen_rows(app, recent)]
        assert rows[:4] == ["#1", "id=日本語", "テキスト", "inserted"]


async def test_a_line_taller_than_the_widget_is_not_shown_in_part() -> None:
    """'As many of the latest lines as fit whole': a newest line of more rows than the
    widget has shows nothing (no older line either, they are not the latest)."""
    app = Bare()
    async with app.run_test(size=(10, 3)) as pilot:
        recent = app.query_one(RecentOutcomes)
        long = "#9 id=9 rejected " + ", ".join(["unknown_user"] * 6)
        recent.add(["#1 id=1 inserted", long])
        await settle(pilot)
        assert all(not r.text.strip() for r in screen_rows(app, recent))
        check_drawn(app, recent, ["#1 id=1 inserted", long])
        recent.add(["#2 inserted"])
        await settle(pilot)
        assert [r.text.rstrip() for r in screen_rows(app, recent)] == ["#2", "inserted", ""]
        # taller again: the long line shows whole
        await pilot.resize_terminal(10, 12)
        await settle(pilot)
        check_drawn(app, recent, ["#1 id=1 inserted", long, "#2 inserted"])


async def test_markup_in_a_line_is_shown_literally() -> None:
    lines = [
        "#1 id=[bold]x[/] inserted",
        "#2 id=[red]y rejected [link=z]c[/link]",
        "#3 id=\\[b]z[/b] inserted",
        "#4 id=[/] rejected :smile:",
    ]
    app = Bare()
    async with app.run_test(size=(60, 6)) as pilot:
        recent = app.query_one(RecentOutcomes)
        recent.add(lines)
        await settle(pilot)
        drawn = screen_rows(app, recent)
        assert [r.text.rstrip() for r in drawn[:4]] == lines
        plain = recent.rich_style
        for strip in drawn[:4]:
            for seg in strip:
                assert isinstance(seg.style, Style) and not seg.style.link
                if seg.text.startswith("#"):  # the id part: the widget's style alone
                    assert not seg.style.bold and seg.style.color == plain.color
        check_drawn(app, recent, lines)


def _subtitle_of(panel: DatabasePanel) -> str:
    """The subtitle's text (Textual gives it back as markup)."""
    return Content.from_markup(panel.border_subtitle or "").plain


async def test_the_subtitle_always_says_the_state_even_back_to_an_earlier_one() -> None:
    class TwoPanels(App[None]):
        CSS_PATH = CSS_PATH

        def compose(self) -> ComposeResult:
            yield DatabasePanel("users", "users.db")
            yield DatabasePanel("orders", "db.example:5432/shop", server=True)

    app = TwoPanels()
    async with app.run_test(size=(70, 40)) as pilot:
        rng = random.Random(11)
        panels = list(app.query(DatabasePanel))
        for panel in panels:
            assert _subtitle_of(panel) == "waiting"
        messages = ["waiting", "stored: 12 rows", "[bold]x[/]", "empty", "waiting", "a\tb"]
        for step in range(60):
            panel = rng.choice(panels)
            if rng.random() < 0.35:
                message = rng.choice(messages)
                panel.clear(message)
                want = message.replace("\t", "\\t")
            else:
                progress = TableProgress(panel.table, Path("x.db"), total=100)
                state = rng.choice(["waiting", "running", "done", "failed"])
                progress.processed = 0 if state == "waiting" else 50
                progress.done = state == "done"
                if state == "failed":
                    progress.error = "boom"
                panel.show(progress, 1.0)
                want = state
                if panel.server and state in ("waiting", "running"):
                    want = f"{state} · connected"
            await pilot.pause()
            assert _subtitle_of(panel) == want, (step, panel.table)
            # and drawn so, in the panel's bottom border
            strips = app.screen._compositor.render_strips()
            region = panel.region
            bottom = strips[region.bottom - 1].crop(region.x, region.right).text
            assert want in bottom, (step, bottom)


async def test_scrolled_partly_out_of_sight_the_rows_in_sight_are_right() -> None:
    """The widget taller than its scrolling container, scrolled: the compositor asks for a
    crop that does not start at the top; the rows drawn are the widget's rows there."""
    from textual.containers import VerticalScroll

    class Scrolled(App[None]):
        CSS = "VerticalScroll { height: 8; } RecentOutcomes { height: 20; }"

        def compose(self) -> ComposeResult:
            with VerticalScroll():
                yield RecentOutcomes()

    app = Scrolled()
    async with app.run_test(size=(24, 10)) as pilot:
        recent = app.query_one(RecentOutcomes)
        lines = [f"#{i} id={i} rejected unknown_user" for i in range(12)]
        recent.add(lines)
        await settle(pilot)
        scroll = app.query_one(VerticalScroll)
        for y in (0, 5, 12, 3):
            scroll.scroll_to(y=y, animate=False)
            await settle(pilot)
            width = recent.content_size.width
            want = expected(lines, width, 20)[y : y + 8]
            strips = app.screen._compositor.render_strips()
            region = scroll.content_region
            got = [strips[row].crop(region.x, region.x + width).text for row in range(8)]
            assert got == want, y


async def test_an_ansi_theme_and_back() -> None:
    app = Bare()
    async with app.run_test(size=(30, 6)) as pilot:
        recent = app.query_one(RecentOutcomes)
        lines = ["#1 id=1 inserted", "#2 id=2 rejected duplicate_id"]
        recent.add(lines)
        for theme in ("ansi-dark", "textual-dark", "ansi-light", "ansi-dark", "textual-light"):
            app.theme = theme
            await settle(pilot)
            drawn = screen_rows(app, recent)
            for words, part in (("inserted", "inserted"), ("duplicate_id", "codes")):
                style = colour_of(drawn, words)
                want = recent.get_component_rich_style(f"recent-outcomes--{part}", partial=True)
                assert style.color == want.color, (theme, words)
            check_drawn(app, recent, lines)


async def test_lines_theme_and_size_changed_while_another_screen_is_on_top() -> None:
    """A screen pushed over the widget's (as the app's browser is): lines added, the theme
    and the terminal's size changed meanwhile are all drawn when it comes back."""
    from textual.screen import Screen
    from textual.widgets import Static

    class Other(Screen[None]):
        def compose(self) -> ComposeResult:
            yield Static("other")

    app = Bare()
    async with app.run_test(size=(30, 8)) as pilot:
        recent = app.query_one(RecentOutcomes)
        lines = [f"#{i} id={i} inserted" for i in range(3)]
        recent.add(lines)
        await settle(pilot)
        app.push_screen(Other())
        await settle(pilot)
        more = [f"#{i} id={i} rejected unknown_user, invalid_name" for i in range(3, 9)]
        recent.add(more)
        app.theme = "textual-light"
        await settle(pilot)
        await pilot.resize_terminal(17, 11)
        await settle(pilot)
        app.pop_screen()
        await settle(pilot)
        assert recent.content_size == app.size
        check_drawn(app, recent, lines + more)
        drawn = screen_rows(app, recent)
        want = Color.parse(app.theme_variables["text-warning"]).hex.lower()[:7]
        assert hex_of(colour_of(drawn, "invalid_name").color) == want


async def test_lines_added_while_hidden_are_drawn_when_shown() -> None:
    app = Bare()
    async with app.run_test(size=(20, 6)) as pilot:
        recent = app.query_one(RecentOutcomes)
        recent.add(["#1 id=1 inserted"])
        await settle(pilot)
        recent.display = False
        await settle(pilot)
        recent.add([f"#{i} id={i} rejected x" for i in range(2, 5)])
        recent.shown()  # asked while hidden (no size): must not stick
        await pilot.resize_terminal(14, 9)
        await settle(pilot)
        recent.display = True
        await settle(pilot)
        check_drawn(app, recent, recent.lines)
        assert recent.lines[-1] == "#4 id=4 rejected x"
        rows = [r.text.rstrip() for r in screen_rows(app, recent)]
        assert rows[6:] == ["#4 id=4", "rejected x", ""]  # top-aligned, a blank row under
