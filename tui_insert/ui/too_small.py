"""Below the smallest size every screen can be used at, a screen shows only a message saying
so. Every screen yields a `TooSmall`; the breakpoints (set on both apps) add the classes that
`screens.tcss` uses to show it instead of everything else."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import Static

MIN_WIDTH = 60
MIN_HEIGHT = 18
SCREENS_CSS = Path(__file__).with_name("screens.tcss")
HORIZONTAL_BREAKPOINTS = [(0, "-too-narrow"), (MIN_WIDTH, "-narrow"), (120, "-wide")]
VERTICAL_BREAKPOINTS = [(0, "-too-short"), (MIN_HEIGHT, "-short"), (36, "-tall")]


class TooSmall(Static):
    """'Enlarge the terminal to at least 60×18 (it is 50×20 now)'."""

    def __init__(self) -> None:
        super().__init__(classes="too-small")

    def render(self) -> Text:
        width, height = self.app.size
        return Text(
            f"Enlarge the terminal to at least {MIN_WIDTH}×{MIN_HEIGHT}"
            f" (it is {width}×{height} now).",
            justify="center",
        )
