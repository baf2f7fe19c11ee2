"""Outcomes and figures as plain, safe text for the widgets: data never becomes markup or a
terminal control sequence (control characters are shown as escapes)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from tui_insert.core.node import HeldBack
from tui_insert.core.rules import Reason, show, visible
from tui_insert.core.waiting import Wait


def outcome_line(position: int, record_id: Any, reasons: list[Reason] | None) -> str:
    """'#8 id=8 rejected duplicate_email' — one line of a panel's recent outcomes (the
    messages are in the summary)."""
    shown = record_id if type(record_id) is int else show(record_id, 30)
    if reasons is None:
        return f"#{position} id={shown} inserted"
    return f"#{position} id={shown} rejected {', '.join(r.code for r in reasons)}"


def rate(count: int, seconds: float) -> str:
    if seconds <= 0:
        return "—"
    per_second = count / seconds
    return f"{per_second:,.0f}" if per_second >= 10 else f"{per_second:.1f}"


def time_left(processed: int, total: int, per_second: float) -> str:
    """'12 s left', '3 min left', or '' when there is no telling."""
    if per_second <= 0 or total <= processed:
        return ""
    seconds = (total - processed) / per_second
    if seconds < 60:
        return f"{max(seconds, 1):.0f} s left"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min left"
    return f"{seconds / 3600:.1f} h left"


def held_line(table: str, held: HeldBack) -> str:
    """'1,204 orders wait for 311 users, 2 products' ('' when none waits)."""
    if not held.records:
        return ""
    what = ", ".join(
        f"{count:,} {_named(name, count)}" for name, count in held.missing.items() if count
    )
    verb = "wait" if held.records != 1 else "waits"
    return f"{held.records:,} {_named(table, held.records)} {verb} for {what}"


def _named(table: str, count: int) -> str:
    """'users', or 'user' for one."""
    return table if count != 1 else table.removesuffix("s")


def ids_line(arrived: dict[str, int]) -> str:
    """'ids in: 412,000 users, 980,000 products': what has reached the node of the tables
    its records refer to."""
    return "ids in: " + ", ".join(f"{count:,} {name}" for name, count in arrived.items())


def wait_line(wait: Wait, seconds: float | None = None) -> str:
    """'waiting 12 s: users.db locked by another program' — short enough for a panel;
    `seconds` is how long it has lasted by now (default: when the notice was given)."""
    name = visible(PurePath(wait.database).name or wait.database, 40)
    waited = wait.seconds if seconds is None else seconds
    return f"waiting {waited:.0f} s: {name} {wait.reason}"


def outage_line(wait: Wait, since_notice: float, own: str | None = None) -> str:
    """'server unreachable' and 'try 3 · next in 4 s' on two lines, short enough for a
    panel at 80 columns: a store failing, tried again. The store is named unless it is `own`
    (the panel's); `since_notice`: seconds since that notice came."""
    name = PurePath(wait.database).name or wait.database
    who = "" if own in (wait.database, name) else f"{visible(name, 40)}: "
    left = max(wait.retry_in - since_notice, 0.0)
    again = f"next in {left:.0f} s" if left >= 0.5 else "trying now"
    return f"{who}{wait.reason}\ntry {wait.attempt} · {again}"
