"""The summary's picture of a run: per database, a bar of its records inserted and rejected,
and when it did its work, on one time axis shared by the three, so that a person sees at a
glance which table waited for which and which finished last."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from tui_insert.core.report import RunSummary, TableSummary
from tui_insert.ui.bars import level, per_cell, split

INSERTED, REJECTED, WAITING = "█", "░", "·"


class RunCharts(Widget):
    """A line a database, under a line naming what the bars and the time axis mean:

            █ inserted ░ rejected        0 s        time       7.04 s
    users    ███████████████████░ 95.0%  ▅██████▇▇██▆
    orders   ███████████████████░ 95.0%  ···············▃███████████▆
    """

    COMPONENT_CLASSES = {
        "run-charts--inserted",
        "run-charts--rejected",
        "run-charts--working",
        "run-charts--waiting",
        "run-charts--axis",
    }
    DEFAULT_CSS = """
    RunCharts {
        height: auto;
        padding: 0 1;
    }
    RunCharts > .run-charts--inserted {
        color: $text-success;
    }
    RunCharts > .run-charts--rejected {
        color: $text-error;
    }
    RunCharts > .run-charts--working {
        color: $text-accent;
    }
    /* Not $text-muted: its colour is worked out against the background, which a part of a
       widget's text does not have, and comes out white on the light theme too. */
    RunCharts > .run-charts--waiting {
        text-style: dim;
    }
    RunCharts > .run-charts--axis {
        text-style: dim;
    }
    """

    def __init__(self, summary: RunSummary, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.summary = summary

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 1 + len(self.summary.tables)

    def render(self) -> Text:
        width = self.content_size.width
        tables = self.summary.tables
        style = {
            part: self.get_component_rich_style(f"run-charts--{part}", partial=True)
            for part in ("inserted", "rejected", "working", "waiting", "axis")
        }
        name_width = max(len(t.table) for t in tables) + 1
        share_width = 7  # " 100.0%"
        room = max(width - name_width - share_width - 2, 2)
        bar_width = max(room * 2 // 5, 1)
        time_width = max(room - bar_width, 1)
        seconds = self.summary.seconds
        counts = {t.table: per_cell(t.timeline, seconds, time_width) for t in tables}
        top = max((c for cells in counts.values() for c in cells), default=0.0)

        lines = [self._axis(name_width, bar_width, share_width, time_width, style)]
        for t in tables:
            line = Text(t.table.ljust(name_width))
            inserted = split(t.inserted, t.total, bar_width)
            rejected = min(split(t.rejected, t.total, bar_width), bar_width - inserted)
            line.append(INSERTED * inserted, style["inserted"])
            line.append(REJECTED * rejected, style["rejected"])
            line.append(" " * (bar_width - inserted - rejected))
            line.append(f"{t.success_rate:.1%}".rjust(share_width))
            line.append("  ")
            line.append_text(self._timeline(t, counts[t.table], top, style))
            lines.append(line)
        return Text("\n").join(lines)

    def _axis(
        self, name_width: int, bar_width: int, share_width: int, time_width: int, style: dict
    ) -> Text:
        legend = Text()
        legend.append(INSERTED, style["inserted"])
        legend.append(" inserted ")
        legend.append(REJECTED, style["rejected"])
        legend.append(" rejected")
        if legend.cell_len > bar_width + share_width:
            legend = Text(f"{INSERTED} in {REJECTED} out")
            legend.stylize(style["inserted"], 0, 1)
            legend.stylize(style["rejected"], 5, 6)
        legend.truncate(bar_width + share_width)
        legend.pad_right(bar_width + share_width - legend.cell_len)
        start, end = "0 s", f"{self.summary.seconds:.2f} s"
        gap = time_width - len(start) - len(end)
        middle = "time".center(gap) if gap >= 6 else " " * max(gap, 0)
        axis = Text(f"{start}{middle}{end}"[:time_width], style["axis"])
        return Text(" " * name_width) + legend + Text("  ") + axis

    def _timeline(self, table: TableSummary, cells: list[float], top: float, style: dict) -> Text:
        """Each slice of the run's time: how much the table decided then (a column's
        height), · while it had started but decided nothing, blank once it was done."""
        seconds = self.summary.seconds
        text = Text()
        for i, count in enumerate(cells):
            if count > 0:
                text.append(level(count, top), style["working"])
            elif seconds * i / len(cells) < table.seconds:
                text.append(WAITING, style["waiting"])
            else:
                text.append(" ")
        return text
