"""The summary's list of rejected records: a million lines or more, read from the run's spool
as they come into view (a line of the screen at a time), so that showing, scrolling and
choosing another reason cost the same however many records there are."""

from __future__ import annotations

from typing import Protocol

from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui_insert.core.rejected import RejectedLine


class Records(Protocol):
    """What the list shows: records by index, as many as it has now."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> RejectedLine: ...


class RejectedList(ScrollView, can_focus=True):
    """Shows a sequence of rejected records (one that may grow: call `grow()`), a line each:
    'users #8 id=8  duplicate_email: alice@example.com is already used by user 1'."""

    COMPONENT_CLASSES = {"rejected-list--table", "rejected-list--code"}
    DEFAULT_CSS = """
    RejectedList {
        overflow: auto;
    }
    RejectedList > .rejected-list--table {
        text-style: dim;  /* (see RunCharts on $text-muted) */
    }
    RejectedList > .rejected-list--code {
        color: $text-warning;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._records: Records = ()
        self._strips: LRUCache[int, Strip] = LRUCache(1024)
        self._width = 0  # the widest line seen yet: how far the list scrolls sideways

    @property
    def records(self) -> Records:
        return self._records

    def show(self, records: Records) -> None:
        """List `records` from the top."""
        self._records = records
        self._strips.clear()
        self._width = 0
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.grow()

    def grow(self) -> None:
        """The sequence has more records now."""
        self.virtual_size = Size(self._width, len(self._records))
        self.refresh()

    def notify_style_update(self) -> None:
        self._strips.clear()  # a theme of other colours
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        index = scroll_y + y
        base = self.rich_style
        strip = self._strips.get(index)
        if strip is None:
            if index >= len(self._records):
                return Strip.blank(width, base)
            strip = self._strips[index] = self._render_record(self._records[index])
            if strip.cell_length > self._width:
                self._width = strip.cell_length
                self.call_later(self.grow)  # scrolls as far as the widest line
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_offsets(scroll_x, index)

    def _render_record(self, record: RejectedLine) -> Strip:
        table_style = self.get_component_rich_style("rejected-list--table", partial=True)
        code_style = self.get_component_rich_style("rejected-list--code", partial=True)
        text = Text(no_wrap=True, style=self.rich_style)
        text.append(f"{record.table} ", table_style)
        text.append(f"#{record.position} id={record.shown_id} ")
        for i, (code, message) in enumerate(record.reasons):
            text.append("; " if i else " ")
            text.append(code, code_style)
            text.append(f": {message}")
        return Strip(text.render(self.app.console))
