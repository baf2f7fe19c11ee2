"""A table's store as a node sees it, whatever kind it is (`stores/`): checking and creating the
stores before a run, writing one table, and what the rules need to know of its stored rows.

What a node keeps in memory about stored rows is a cache, proven current before each commit:

- its own table's ids and emails: read again whenever the store's version, taken under the
  commit's write lock, says another connection committed to it since;
- the users and products that orders name: trusted only while the reset count of their store,
  read under that store's reference lock, is the one they were seen in; the rest is looked up
  in the store itself under that lock (`node.Reference`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping

from tui_insert.core.idset import IdSet
from tui_insert.core.stores.base import Loaded, Target, Writer
from tui_insert.core.tables import TABLES, Table
from tui_insert.core.waiting import OnWait


def check_stores(
    targets: Mapping[str, Target],
    *,
    writable: bool,
    on_wait: OnWait | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Check every store before anything is written to any of them: a DatabaseError (exit 2)
    leaves every store as it was."""
    for name, target in targets.items():
        target.check(TABLES[name], writable=writable, on_wait=on_wait, stop=stop)


def create_stores(
    targets: Mapping[str, Target],
    on_wait: OnWait | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Hashable]:
    """Create the tables that are missing; the caller has just checked the stores
    (`check_stores(writable=True)`). Returns the identity of each store, which the run's
    nodes then hold on to."""
    return {name: target.create(TABLES[name], on_wait, stop) for name, target in targets.items()}


def prepare_stores(
    targets: Mapping[str, Target],
    on_wait: OnWait | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Hashable]:
    check_stores(targets, writable=True, on_wait=on_wait, stop=stop)
    return create_stores(targets, on_wait, stop)


class Store:
    """The writer of one table, and what the rules need to know of its stored rows.

    Used by one thread at a time (a node's workers take turns). `ids` holds only committed
    rows; `on_load(resets, ids)` hears of every id read from the store (at start, and after
    another process wrote to it) with the reset count they were read under.
    """

    def __init__(
        self,
        target: Target,
        table: Table,
        *,
        expected: Hashable | None = None,
        on_load: Callable[[int, IdSet], None] | None = None,
        on_wait: OnWait | None = None,
        wait_for_lock: bool = True,
    ) -> None:
        self._know_nothing_yet(target, table, on_load)
        self._writer: Writer | None = target.writer(
            table, expected=expected, on_wait=on_wait, wait_for_lock=wait_for_lock
        )
        try:
            self._reload(self._writer.load())
        except BaseException:
            self._writer.close()
            raise

    def _know_nothing_yet(
        self, target: Target, table: Table, on_load: Callable[[int, IdSet], None] | None
    ) -> None:
        self.label = target.label
        self.table = table
        self._on_load = on_load
        self.ids = IdSet()
        self.email_holders: dict[str, int] = {}
        self.resets = 0

    def _reload(self, loaded: Loaded) -> None:
        holders = loaded.holders
        ids = IdSet(loaded.ids)  # in one go: a million ids take a fraction of a second
        self.ids = ids
        self.email_holders = holders
        self.resets = loaded.resets
        if self._on_load is not None:
            self._on_load(loaded.resets, ids)

    @property
    def writer(self) -> Writer:
        assert self._writer is not None
        return self._writer

    def begin(self, stop: threading.Event) -> None:
        """Take the write lock, waiting out other writers; then catch up with their changes."""
        self.writer.begin(stop)
        self._caught_up_or_rollback()

    def try_begin(self) -> bool:
        """Take the write lock if it is free (False if not); then catch up."""
        if not self.writer.try_begin():
            return False
        self._caught_up_or_rollback()
        return True

    def _caught_up_or_rollback(self) -> None:
        """Holding the write lock: read the store again if another connection committed to it
        since we last looked."""
        writer = self.writer
        try:
            if writer.changed():
                self._reload(writer.load())
        except BaseException:
            writer.rollback()
            raise

    def insert(self, rows: list[tuple]) -> None:
        self.writer.insert(rows)

    def commit(self) -> None:
        self.writer.commit()

    def fate(self) -> bool:
        return self.writer.fate()

    def rollback(self) -> None:
        self.writer.rollback()

    def verify(self) -> None:
        self.writer.verify()

    def remember(self, ids: list[int]) -> None:
        """After a commit: the rows with these ids are stored."""
        self.ids.update(ids)

    def forget_email_keys(self, keys: list[str]) -> None:
        """After a rollback: these users' emails were not stored after all."""
        for key in keys:
            self.email_holders.pop(key, None)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class DryStore(Store):
    """A dry run's view of one table: what is stored when the run starts (nothing if the store
    holds no such table yet, or with `empty`, as after a reset), and what this run would have
    stored since. It writes nothing and takes no lock."""

    def __init__(
        self,
        target: Target,
        table: Table,
        *,
        empty: bool = False,
        on_load: Callable[[int, IdSet], None] | None = None,
        on_wait: OnWait | None = None,
    ) -> None:
        self._know_nothing_yet(target, table, on_load)
        self._writer = None
        loaded = None if empty else target.snapshot(table, on_wait)
        if loaded is not None:
            self._reload(loaded)

    def begin(self, stop: threading.Event) -> None:
        pass

    def try_begin(self) -> bool:
        return True

    def insert(self, rows: list[tuple]) -> None:
        pass

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def verify(self) -> None:
        pass
