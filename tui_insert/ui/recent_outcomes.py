"""A panel's latest outcomes, newest at the bottom, each wrapped to the panel's width so that
its reasons stay readable however narrow the panel is."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.style import Style
from rich.text import Span, Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

RECENT_LINES = 200


def styled(line: str, inserted: Style | str, rejected: Style | str, codes: Style | str) -> Text:
    """The outcome line ('#1 id=1 inserted', '#8 id=8 rejected duplicate_email') as text,
    never markup, its status word and reason codes in their styles (found from the end: an id
    may hold any text). The words say it all without colour."""
    text = Text(line)
    if line.endswith(" inserted"):
        text.stylize(inserted, len(line) - len("inserted"))
    elif (start := line.rfind(" rejected ")) >= 0:
        end = start + 1 + len("rejected")
        text.stylize(rejected, start + 1, end)
        text.stylize(codes, end + 1)
    return text


class RecentOutcomes(Widget):
    """Shows as many of the latest lines as fit, wrapped; the rest scroll away.

    Drawn with the line API: each line is wrapped and styled once, for the width and the
    theme of the moment, and a refresh only stacks the strips it already has. (Returning the
    lines as one Text from `render` laid every one out again a few times a second, in each of
    three panels: the most expensive drawing of a run.)"""

    COMPONENT_CLASSES = {
        "recent-outcomes--inserted",
        "recent-outcomes--rejected",
        "recent-outcomes--codes",
    }
    DEFAULT_CSS = """
    RecentOutcomes {
        height: 1fr;
    }
    RecentOutcomes > .recent-outcomes--inserted {
        color: $text-success;
    }
    RecentOutcomes > .recent-outcomes--rejected {
        color: $text-error;
        text-style: bold;
    }
    RecentOutcomes > .recent-outcomes--codes {
        color: $text-warning;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: deque[str] = deque(maxlen=RECENT_LINES)
        # Each line's rows, wrapped for `_drawn_for` (width and styles); the rows on show.
        self._wrapped: dict[str, list[Strip]] = {}
        self._drawn_for: tuple[object, ...] = ()
        self._rows: list[Strip] = []
        self._rows_for: tuple[object, ...] | None = None

    @property
    def lines(self) -> list[str]:
        return list(self._lines)

    def add(self, lines: Iterable[str]) -> None:
        self._lines.extend(lines)
        self._rows_for = None
        self.refresh()

    def clear(self) -> None:
        self._lines.clear()
        self._wrapped.clear()
        self._rows_for = None
        self.refresh()

    def shown(self) -> list[Strip]:
        """The rows on show, top to bottom: the latest lines that fit whole."""
        width, height = self.content_size
        base = self.rich_style
        styles = tuple(
            self.get_component_rich_style(f"recent-outcomes--{part}", partial=True)
            for part in ("inserted", "rejected", "codes")
        )
        drawn_for = (width, base, styles)
        if self._rows_for == (*drawn_for, height):
            return self._rows
        if drawn_for != self._drawn_for:
            self._wrapped.clear()
            self._drawn_for = drawn_for
        elif len(self._wrapped) > 2 * RECENT_LINES:  # lines scrolled away long ago
            kept = set(self._lines)
            self._wrapped = {line: rows for line, rows in self._wrapped.items() if line in kept}
        blocks: list[list[Strip]] = []
        used = 0
        if width > 0:
            for line in reversed(self._lines):
                rows = self._wrapped.get(line)
                if rows is None:
                    rows = self._wrapped[line] = self._wrap(line, width, base, styles)
                if used + len(rows) > height:
                    break
                blocks.append(rows)
                used += len(rows)
        self._rows = [row for rows in reversed(blocks) for row in rows]
        self._rows_for = (*drawn_for, height)
        return self._rows

    def _wrap(self, line: str, width: int, base: Style, styles: tuple[Style, ...]) -> list[Strip]:
        text = styled(line, *styles)
        # The widget's colours under the status and code styles (first span, so drawn
        # first; Text.render takes no base style for a line without spans).
        text.spans.insert(0, Span(0, len(text), base))
        console = self.app.console
        rows = text.wrap(console, width)
        for row in rows:
            row.rstrip()  # the space a line was broken at
        return [
            Strip(row.render(console), row.cell_len).crop_extend(0, width, base) for row in rows
        ]

    def render_lines(self, crop: Region) -> list[Strip]:
        self.shown()  # once for all the lines drawn
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        rows = self._rows
        if y < len(rows):
            return rows[y]
        return Strip.blank(self.content_size.width, self.rich_style)
