"""The summary's bars and time axis, drawn from counts: what they must never do (lose a count,
hide a part, show work while a table waited)."""

from __future__ import annotations

import random

import pytest

from tui_insert.ui.bars import WORK_SECONDS, bar, level, per_cell, split


def test_a_bar_is_as_long_as_its_fraction_to_an_eighth_of_a_cell() -> None:
    assert bar(0, 10) == ""
    assert bar(1, 10) == "█" * 10
    assert bar(0.5, 10) == "█" * 5
    assert bar(0.55, 10) == "█" * 5 + "▌"  # half a cell more
    assert bar(1e-9, 10) == "▏"  # something, however little, shows
    assert bar(2, 4) == "████"  # never beyond its width


@pytest.mark.parametrize("whole", [1, 2, 3, 10, 999, 1_000_000])
def test_neither_part_of_a_split_bar_vanishes(whole: int) -> None:
    for width in (1, 2, 5, 24):
        for part in {0, 1, whole // 2, whole - 1, whole}:
            cells = split(part, whole, width)
            assert 0 <= cells <= width
            if width > 1:
                assert (cells > 0) == (part > 0)
                assert (cells < width) == (part < whole)


def test_a_column_is_one_of_eight_heights_and_blank_only_for_nothing() -> None:
    assert level(0, 10) == " "
    assert level(0.001, 10) == "▁"
    assert level(10, 10) == "█"
    assert [level(v, 8) for v in range(1, 9)] == list("▁▂▃▄▅▆▇█")


@pytest.mark.parametrize("seed", range(20))
def test_the_time_axis_counts_every_record_once(seed: int) -> None:
    """Random running counts, with silences: the slices add up to the last count, none is
    negative, and nothing is counted in a silence before its last WORK_SECONDS."""
    rng = random.Random(seed)
    points = [(0.0, 0)]
    silences = []
    while len(points) < 200:
        at, count = points[-1]
        gap = rng.choice([0.02, 0.05, 0.3, 2.0]) * rng.random() + 0.001
        if gap > WORK_SECONDS:
            silences.append((at, at + gap - WORK_SECONDS))
        points.append((at + gap, count + rng.randrange(0, 10_000)))
    seconds = points[-1][0] * rng.uniform(1, 1.5)  # the run may end after the table
    cells = rng.randrange(1, 120)
    counted = per_cell(points, seconds, cells)
    assert len(counted) == cells
    assert sum(counted) == pytest.approx(points[-1][1])
    assert min(counted) >= -1e-6
    width = seconds / cells
    for i, value in enumerate(counted):
        start, end = i * width, (i + 1) * width
        if any(a <= start and end <= b for a, b in silences):
            assert value == pytest.approx(0, abs=1e-6), (i, start, end)


def test_a_table_that_waited_shows_nothing_until_its_work() -> None:
    """Orders waited 4 s for their users, then decided 1,000 records in one chunk."""
    counted = per_cell([(0.0, 0), (4.0, 1_000)], 5.0, 10)
    assert counted[:7] == [0] * 7
    assert sum(counted[7:8]) == pytest.approx(1_000) and counted[8:] == [0, 0]
