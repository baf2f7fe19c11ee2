"""The summary's rejections by reason: a bar and a count for each table's reason code, and a
first line for every rejected record. The highlighted line chooses what the rejected-records
list below shows."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui_insert.ui.bars import bar


class _ReasonLine:
    """'users  invalid_email   ████████▌     4,000': as wide as the list is."""

    def __init__(self, reasons: ReasonList, label: tuple[str, str], count: int) -> None:
        self.reasons = reasons
        self.label = label
        self.count = count

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        reasons = self.reasons
        table, code = self.label
        width = options.max_width
        count = f"{self.count:,}"
        line = Text(table.ljust(reasons.table_width) + code.ljust(reasons.code_width))
        room = width - line.cell_len - reasons.count_width - 1
        if room >= 4:
            style = reasons.get_component_rich_style("reason-list--bar", partial=True)
            drawn = bar(self.count / reasons.top if reasons.top else 0, room)
            line.append(drawn.ljust(room), style)
        line.append(count.rjust(reasons.count_width + 1))
        line.truncate(width)
        yield line


class ReasonList(OptionList, inherit_bindings=False):
    """One option for every rejected record, then one per (table, reason code), most frequent
    first within a table. Up and down (or a click) choose; the keys that page and jump are left
    to the screen, which scrolls the records with them."""

    BINDINGS = [
        Binding("down", "cursor_down", "Down", show=False),
        Binding("up", "cursor_up", "Up", show=False),
    ]

    COMPONENT_CLASSES = {"reason-list--bar"}
    DEFAULT_CSS = """
    ReasonList > .reason-list--bar {
        color: $text-error;
    }
    """

    @dataclass
    class Chosen(Message):
        """The records to list now: of one table and code, or all (both None)."""

        table: str | None
        code: str | None

    def __init__(
        self, reasons: list[tuple[str, str, int]], rejected: int, *, id: str | None = None
    ) -> None:
        self.choices: list[tuple[str | None, str | None]] = [(None, None)]
        self.choices += [(table, code) for table, code, _ in reasons]
        self.top = max((count for *_, count in reasons), default=0)
        self.table_width = max((len(t) for t, _, _ in reasons), default=0) + 2
        self.code_width = max((len(c) for _, c, _ in reasons), default=0) + 1
        self.count_width = len(f"{rejected:,}")
        options = [Option(_EveryLine(f"{rejected:,}"))]
        options += [
            Option(_ReasonLine(self, (table, code), count)) for table, code, count in reasons
        ]
        super().__init__(*options, id=id)

    @on(OptionList.OptionHighlighted)
    def _chosen(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        table, code = self.choices[event.option_index]
        self.post_message(self.Chosen(table, code))


class _EveryLine:
    """'every rejected record', and how many there are, at the right."""

    def __init__(self, count: str) -> None:
        self.count = count

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        words = "every rejected record"
        line = Text(words + self.count.rjust(options.max_width - len(words)))
        line.truncate(options.max_width)
        yield line
