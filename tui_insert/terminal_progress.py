"""A headless run's live progress on a terminal (stderr): a line per table, redrawn in place,
as pip and sqlite-utils show theirs. Only for a terminal: scripts and `--json` get nothing."""

from __future__ import annotations

import os
import shutil
import threading
from typing import TextIO

from tui_insert.core.engine import Run, TableProgress
from tui_insert.core.rules import visible

BAR = 10


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def table_line(progress: TableProgress, width: int = 200) -> str:
    """'users    [####······]  12,000 of about 200,000  inserted 11,500  rejected 500
    8,000/s  ETA 0:24', or shorter where the terminal is narrow; never wider than `width`."""
    done, total = progress.processed, progress.shown_total
    filled = BAR if progress.done else (BAR * done // total if total else 0)
    bar = "#" * filled + "·" * (BAR - filled)
    estimated = progress.total_is_estimate
    seconds = progress.elapsed
    rate = done / seconds if seconds > 0 else 0.0
    if progress.done:
        tail = f"done in {seconds:.1f} s"
    elif rate > 0 and total:
        tail = f"{rate:,.0f}/s  ETA {_clock((total - done) / rate)}"
    else:
        tail = "waiting" if not done else ""
    waiting = progress.waiting
    if waiting is not None and not progress.done:
        wait, lasted = waiting
        tail = f"waiting {lasted:.0f} s: {visible(wait.reason, 40)}"
    name, ins, rej = progress.table, progress.inserted, progress.rejected
    line = (
        f"{name:<8} [{bar}] {done:,} of {'about ' if estimated else ''}{total:,}"
        f"  inserted {ins:,}  rejected {rej:,}  {tail}"
    )
    about = "~" if estimated else ""
    for shorter in (
        f"{name:<8} {done:,}/{about}{total:,}  inserted {ins:,}  rejected {rej:,}  {tail}",
        f"{name:<8} {done:,}/{about}{total:,}  ins {ins:,}  rej {rej:,}  {tail}",
    ):
        if len(line) < width:
            break
        line = shorter
    return line[: width - 1]


class TerminalProgress:
    """Draws `run`'s tables on `stream`, a terminal; other lines (notices) go above them."""

    def __init__(self, run: Run, stream: TextIO) -> None:
        self.run = run
        self.stream = stream
        self._drawn = 0  # lines of the last drawing, below the cursor's line start
        self._lock = threading.Lock()  # notices come from the run's threads

    def _width(self) -> int:
        # The terminal's width as stderr sees it (stdout may be a file).
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError):
            columns = 0
        return columns if columns > 0 else shutil.get_terminal_size().columns

    def _erase(self) -> str:
        return "\x1b[F\x1b[2K" * self._drawn

    def draw(self) -> None:
        if self.run.started_at is None:
            return
        # Never wider than the terminal: a line that wraps would throw off the redrawing.
        width = self._width()
        lines = [table_line(p, width) for p in self.run.progress.values()]
        with self._lock:
            self.stream.write(self._erase() + "".join(f"{line}\x1b[K\n" for line in lines))
            self.stream.flush()
            self._drawn = len(lines)

    def note(self, text: str) -> None:
        """A line of its own above the progress (which is drawn again below it)."""
        with self._lock:
            self.stream.write(self._erase() + text + "\n")
            self.stream.flush()
            self._drawn = 0
        self.draw()

    def clear(self) -> None:
        with self._lock:
            self.stream.write(self._erase())
            self.stream.flush()
            self._drawn = 0
