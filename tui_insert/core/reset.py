"""Emptying the three stores (files and tables stay), safely beside running writers.

A reset must never leave a stored order without its stored user and product, even while runs
in other processes insert (SPEC §5). In this order:

1. Check every store (usable, and writable where there is something to empty) before anything
   is written: DatabaseError, exit 2.
2. Store by store, in the one order in which every writer takes its locks (users, products,
   orders): the reference lock exclusive, where other tables refer to this one (every orders
   commit that relies on its rows is through, and no new one starts), then its write lock.
   Every lock is waited out, with notices; none is ever turned into a partial reset.
3. Delete in all three (a store that cannot be written fails here, with nothing written), then
   commit orders first, then products, then users. Each commit also counts the reset in the
   store's bookkeeping, which tells the orders nodes of every run that what they saw there may
   be gone.

No commit spans two stores: a reset that fails (an I/O error) or is interrupted between its
commits names the stores emptied so far (ResetIncomplete), and running it again completes it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping

from tui_insert.core.errors import DatabaseError, ResetIncomplete, StoreError, StoreUnavailable
from tui_insert.core.stores.base import Emptying, Target
from tui_insert.core.tables import REFERENCED, TABLES
from tui_insert.core.waiting import DEFAULT_RETRY_FOR, OnWait, Outage, Stopped


def reset_stores(
    targets: Mapping[str, Target],
    on_wait: OnWait | None = None,
    stop: threading.Event | None = None,
    *,
    retry_for: float = DEFAULT_RETRY_FOR,
) -> dict[str, int]:
    """Check the stores (a DatabaseError writes nothing), then empty their tables
    (`empty_stores`). A server that cannot be reached is waited for up to `retry_for` seconds:
    before any store is emptied both steps are simply done again."""

    def check() -> None:
        for name, target in targets.items():
            target.check(TABLES[name], writable=True, creating=False, on_wait=on_wait, stop=stop)

    Outage(retry_for, on_wait, stop, gives_up=DatabaseError, then="nothing was emptied").retrying(
        check
    )
    outage = Outage(retry_for, on_wait, stop, then="nothing was emptied")
    return outage.retrying(lambda: empty_stores(targets, on_wait, stop))


def empty_stores(
    targets: Mapping[str, Target],
    on_wait: OnWait | None = None,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """Empty the tables of the stores, which the caller has just checked; returns the rows
    removed per table (tables that are not there are left out)."""
    labels = {name: target.label for name, target in targets.items()}
    with contextlib.ExitStack() as held:
        sessions: dict[str, Emptying] = {}
        for name, target in targets.items():
            session = target.emptying(TABLES[name], on_wait, stop)
            if session is None:
                continue
            held.callback(session.close)
            if session.lock(name in REFERENCED):
                sessions[name] = session
        if not sessions:
            return {}
        if stop is not None and stop.is_set():
            raise Stopped
        # Every deletion is made before the first commit: a store that cannot be written
        # fails here, with nothing written anywhere.
        counts = {name: sessions[name].delete() for name in reversed(TABLES) if name in sessions}
        guards = [session for name, session in sessions.items() if name in REFERENCED]
        removed: dict[str, int] = {}
        try:
            for name, count in counts.items():  # orders first
                if name in REFERENCED and not all(guard.still_held() for guard in guards):
                    # A database was moved or replaced: its lock no longer keeps orders out,
                    # and orders may have been added since that name these rows. Leave them.
                    raise ResetIncomplete(
                        f"{labels[name]}: not emptied: a database file was moved or replaced"
                        " during the reset." + _emptied_so_far(labels, removed)
                    )
                sessions[name].commit()
                removed[name] = count
        except StoreError as e:
            if isinstance(e, ResetIncomplete) or (isinstance(e, StoreUnavailable) and not removed):
                raise  # (nothing emptied yet: the reset may simply be done again)
            raise ResetIncomplete(f"{e}." + _emptied_so_far(labels, removed)) from None
        except KeyboardInterrupt:
            if not removed:
                raise
            raise ResetIncomplete(
                "interrupted." + _emptied_so_far(labels, removed), exit_code=130
            ) from None
    for name in removed:
        sessions[name].after()
    return {name: removed[name] for name in TABLES if name in removed}


def _emptied_so_far(labels: dict[str, str], removed: dict[str, int]) -> str:
    emptied = ", ".join(labels[name] for name in removed) or "nothing"
    return f" Emptied so far: {emptied}. Run the reset again to finish it."
