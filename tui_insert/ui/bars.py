"""Bars drawn with block characters, so that they read the same without colour."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

_EIGHTHS = " ▏▎▍▌▋▊▉"
_LEVELS = "▁▂▃▄▅▆▇█"


def bar(fraction: float, width: int) -> str:
    """A bar `fraction` (0 to 1) of `width` cells long, to an eighth of a cell; never empty
    for a fraction above 0."""
    eighths = round(max(0.0, min(fraction, 1.0)) * width * 8)
    if fraction > 0 and eighths == 0:
        eighths = 1
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def split(part: int, whole: int, width: int) -> int:
    """How many of `width` cells show `part` of `whole`: in proportion, but at least one for
    any part and at least one for any rest, so that neither side vanishes."""
    if whole <= 0 or width <= 0:
        return 0
    cells = round(width * part / whole)
    if part > 0:
        cells = max(cells, 1)
    if part < whole:
        cells = min(cells, width - 1)
    return cells


def level(value: float, top: float) -> str:
    """One cell of a column chart: `value` of `top` as one of eight heights (the lowest for
    any value above 0)."""
    if top <= 0 or value <= 0:
        return " "
    return _LEVELS[min(max(round(8 * value / top), 1), 8) - 1]


# Work is reported as it is committed: a count that grew after a longer silence is taken to
# have grown over this last stretch of it, not over the whole silence (a table that waited).
WORK_SECONDS = 0.25


def per_cell(points: Sequence[tuple[float, int]], seconds: float, cells: int) -> list[float]:
    """How much was counted in each of `cells` equal slices of `seconds`, from running counts
    `points` ((time, count so far), in time order, from 0 at time 0): in proportion between
    two points, over at most WORK_SECONDS before the later one."""
    if cells <= 0 or seconds <= 0:
        return []
    times = [t for t, _ in points]

    def count_at(moment: float) -> float:
        i = bisect_right(times, moment)
        if i == 0:
            return 0.0
        at, count = points[i - 1]
        if i == len(points):
            return float(count)
        later, more = points[i]
        start = max(at, later - WORK_SECONDS)
        if moment <= start:
            return float(count)
        return count + (more - count) * (moment - start) / (later - start)

    edges = [count_at(seconds * i / cells) for i in range(cells)]
    edges.append(float(points[-1][1]) if points else 0.0)  # the last slice ends the run
    return [edges[i + 1] - edges[i] for i in range(cells)]
