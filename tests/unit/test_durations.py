"""Durations on the command line: a unit is required (but for 0), one parser for all."""

from __future__ import annotations

import pytest

from tui_insert.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0), ("0.0", 0.0), ("80ms", 0.08), ("80 ms", 0.08), ("1s", 1.0), ("1.5s", 1.5),
        (".5s", 0.5), ("2m", 120.0), ("1h", 3600.0), ("250MS", 0.25), ("0ms", 0.0),
    ],
)  # fmt: skip
def test_durations_with_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("80", "'80' needs a unit: 80ms, 80s or 80m"),
        ("0.08", "needs a unit"),
        ("-5ms", "cannot be negative"),
        ("5 minutes", "unknown unit 'minutes'"),
        ("soon", "expected a duration such as 80ms, 1s or 2m"),
        ("", "expected a duration"),
        ("nan", "expected a duration"),
        ("1e3ms", "expected a duration"),
    ],
)
def test_durations_refused(text: str, says: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_duration(text)
    assert says in str(err.value)


def test_a_longest_duration() -> None:
    assert parse_duration("10s", most=10) == 10
    with pytest.raises(ValueError, match="at most 10s, got '10001ms'"):
        parse_duration("10001ms", most=10)


@pytest.mark.parametrize("seconds", [0, 0.25, 0.001, 1, 1.5, 90, 120, 7200])
def test_formatted_durations_read_back(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)
