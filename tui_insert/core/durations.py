"""Durations as a user writes them on the command line: a number and a unit, `80ms`, `1.5s`,
`2m`. A bare `0` needs no unit; any other bare number is refused, because whether `80` means
milliseconds or seconds is a guess that turns a fast run into one that looks hung."""

from __future__ import annotations

import re

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

_DURATION = re.compile(r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))\s*([a-z]*)")


def parse_duration(text: str, *, most: float | None = None) -> float:
    """Seconds of a duration such as '80ms', '1s' or '2m' (or '0'); ValueError says what is
    wrong in a user's words. `most`: the longest allowed, in seconds."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"expected a duration such as 80ms, 1s or 2m, got {text!r}")
    number, unit = float(match.group(1)), match.group(2)
    if not unit:
        if number == 0:
            return 0.0
        raise ValueError(
            f"{text!r} needs a unit: {match.group(1)}ms, {match.group(1)}s or {match.group(1)}m"
        )
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r} in {text!r} (use ms, s, m or h)")
    seconds = number * UNITS[unit]
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {text!r}")
    if most is not None and seconds > most:
        raise ValueError(f"at most {format_duration(most)}, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """'250ms', '1.5s', '2m': the way `parse_duration` reads it back."""
    if seconds == 0:
        return "0"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    if seconds < 3600:
        return f"{seconds / 60:g}m"
    return f"{seconds / 3600:g}h"
