"""A panel's latest outcomes, newest at the bottom, each wrapped to the panel's width so that
its reasons stay readable however narrow the panel is."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.style import Style
from rich.text import Text
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
    """Shows as many of the latest lines as fit, wrapped; the rest scroll away."""

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

    @property
    def lines(self) -> list[str]:
        return list(self._lines)

    def add(self, lines: Iterable[str]) -> None:
        self._lines.extend(lines)
        self.refresh()

    def clear(self) -> None:
        self._lines.clear()
        self.refresh()

    def render(self) -> Text:
        width, height = self.content_size
        if width <= 0 or height <= 0:
            return Text()
        styles = [
            self.get_component_rich_style(f"recent-outcomes--{part}", partial=True)
            for part in ("inserted", "rejected", "codes")
        ]
        shown: list[Text] = []
        used = 0
        for line in reversed(self._lines):
            text = styled(line, *styles)
            rows = len(text.wrap(self.app.console, width))
            if used + rows > height:
                break
            shown.append(text)
            used += rows
        return Text("\n").join(reversed(shown))
