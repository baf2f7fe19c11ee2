"""What the engine asks of a store, whatever kind it is (a SQLite file, a PostgreSQL database).

A `Target` names one dataset's store and is what the user gave (`--users-db`); it is small and
picklable, so a run hands it to its node processes, which open their own connections from it.
Everything above this interface — the rules, the nodes, the run, reset, the report, the CLI and
the app — is the same for every kind; only `sqlite.py` and `postgres.py` know the difference.

The protocol every kind keeps (see node.py and reset.py for who calls what):

- a table's *write lock*, taken for every commit of that table and by a reset: the check and
  the insert are one atomic step against every other writer;
- a *version* of the table, read under that lock, that changes whenever another connection
  committed to it: what a node keeps in memory is read again then;
- a *reference lock* on the tables others refer to (users, products): shared by an orders
  commit from looking up the rows it names until its commit is through, exclusive for a reset;
- a *reset count* in the store's bookkeeping, which every reset bumps: a cache of what was seen
  there before is no longer trusted;
- an *identity* of what a run prepared (a file's inode, a table's oid), checked under the lock;
- failures that may pass (a server away, a connection lost, a full disk) raised as
  `errors.StoreUnavailable`, after which the same object is used again: a lost connection is
  opened anew by the next `begin` (or `shared`), and the work in hand is done again.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from tui_insert.core.rules import email_key
from tui_insert.core.tables import Table
from tui_insert.core.waiting import OnWait

if TYPE_CHECKING:
    from tui_insert.core.browse import Reader


class Loaded(NamedTuple):
    """What a table holds, read in one snapshot."""

    ids: list[int]
    # The table's folded-unique column (users' emails), folded -> the id of the first row (in
    # id order) holding it; empty if it has none.
    holders: dict[str, int]
    resets: int


def read_unique(rows: Iterable[tuple[int, object]]) -> tuple[list[int], dict[str, int]]:
    """From (id, value) rows in id order, as a cursor gives them one at a time (a million
    rows are never all in memory at once as tuples): the ids, and each folded value (text
    only; others hold no email) -> the first id holding it."""
    ids: list[int] = []
    holders: dict[str, int] = {}
    add, hold = ids.append, holders.setdefault
    for rid, value in rows:
        add(rid)
        if isinstance(value, str):
            hold(email_key(value), rid)
    return ids, holders


class Writer(ABC):
    """A connection that writes one table; used by one thread at a time."""

    label: str

    @abstractmethod
    def load(self) -> Loaded:
        """What is stored, in one snapshot (inside the write transaction, if one is open);
        from then on `changed()` compares with what was loaded."""

    @abstractmethod
    def changed(self) -> bool:
        """Holding the write lock: whether another connection committed since the last
        `load()` (or since this writer's own last commit)."""

    @abstractmethod
    def begin(self, stop: threading.Event) -> None:
        """Open a write transaction holding the table's write lock, waiting out other writers
        (with notices; raises Stopped on `stop`), and check the store is still the one the run
        prepared (StoreChanged)."""

    @abstractmethod
    def try_begin(self) -> bool:
        """`begin`, without waiting: False if another writer holds the lock."""

    @abstractmethod
    def insert(self, rows: list[tuple]) -> None: ...

    @abstractmethod
    def commit(self) -> None:
        """Commit, durably; a lock met here is waited out (the chunk is decided). CommitInDoubt
        if the answer was lost with the connection: then `fate()` says what happened."""

    def fate(self) -> bool:
        """After CommitInDoubt: whether that commit was stored (StoreUnavailable while the
        store cannot be reached). Found out from the store's record of the transaction, never
        from the rows, which another process may have written too."""
        raise NotImplementedError(f"{type(self).__name__} never leaves a commit in doubt")

    @abstractmethod
    def rollback(self) -> None: ...

    @abstractmethod
    def verify(self) -> None:
        """Raise StoreChanged if the store is no longer the one the run prepared."""

    @abstractmethod
    def close(self) -> None: ...


class ReferenceSource(ABC):
    """An orders node's read-only view of a table its orders name (users or products)."""

    label: str

    @abstractmethod
    def shared(
        self, on_wait: OnWait | None, stop: threading.Event | None
    ) -> contextlib.AbstractContextManager[None]:
        """Hold the reference lock shared (waits while a reset holds it; Stopped on `stop`)."""

    @abstractmethod
    def held(self) -> bool:
        """While `shared`: whether the lock still guards the store at the target (a SQLite
        file moved meanwhile is another file, whose lock excludes no one)."""

    @abstractmethod
    def look_up(
        self, ids: list[int], on_wait: OnWait | None, stop: threading.Event | None
    ) -> tuple[int, set[int]]:
        """The store's reset count, and which of `ids` it holds, read in one snapshot."""

    @abstractmethod
    def verify(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...


class Emptying(ABC):
    """One store's part in a reset (reset.py runs the steps, store by store)."""

    label: str

    @abstractmethod
    def lock(self, referenced: bool) -> bool:
        """Take the reference lock exclusive if `referenced`, then the write lock, waiting out
        every holder; whether the table is there to be emptied."""

    @abstractmethod
    def delete(self) -> int:
        """Delete every row and count the reset, not yet committed; the rows removed."""

    @abstractmethod
    def still_held(self) -> bool:
        """Whether the reference lock still guards this store (see ReferenceSource.held)."""

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def close(self) -> None:
        """Roll back what is not committed and let go of every lock."""

    def after(self) -> None:  # noqa: B027 - nothing to do for most kinds
        """Once every store is emptied and let go of."""


class Target(ABC):
    """One dataset's store, as the user named it."""

    @property
    @abstractmethod
    def label(self) -> str:
        """The store in messages: a file's path, or host:port/dbname (never a password)."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The store, short, in reports and panels: a file's name, or host:port/dbname."""

    @property
    def files(self) -> tuple[Path, ...]:
        """The files on this machine the store writes (for the rejects file's check)."""
        return ()

    @abstractmethod
    def clashes_with(self, other: Target) -> bool:
        """Whether two datasets in this store and `other` would get in each other's way (one
        SQLite file for two: its locks are the whole file's). One PostgreSQL database may hold
        several datasets."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether there may be anything to empty (a file that is there; any server)."""

    @abstractmethod
    def check(
        self,
        table: Table,
        *,
        writable: bool,
        creating: bool = True,
        on_wait: OnWait | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """Raise DatabaseError (exit 2) if the store cannot hold `table` — or cannot be written,
        if `writable` (and have the table made, with `creating`: a reset makes none). Writes
        nothing, creates nothing."""

    @abstractmethod
    def create(
        self, table: Table, on_wait: OnWait | None = None, stop: threading.Event | None = None
    ) -> Hashable:
        """Create what is missing (just checked by `check`); the store's identity, which the
        run's nodes then hold on to."""

    @abstractmethod
    def writer(
        self,
        table: Table,
        *,
        expected: Hashable | None,
        on_wait: OnWait | None,
        wait_for_lock: bool = True,
    ) -> Writer:
        """A writer of `table`; with `wait_for_lock` False, `try_begin` gives up at once."""

    @abstractmethod
    def reference(self, table: Table, *, expected: Hashable | None) -> ReferenceSource: ...

    @abstractmethod
    def snapshot(self, table: Table, on_wait: OnWait | None = None) -> Loaded | None:
        """A dry run's look: what is stored now, read-only, taking no lock and writing nothing
        (not even a log); None if the store holds no such table yet."""

    @abstractmethod
    def emptying(
        self, table: Table, on_wait: OnWait | None, stop: threading.Event | None
    ) -> Emptying | None:
        """A reset's session with the store; None if there is nothing there to empty."""

    @abstractmethod
    def browser(self) -> Reader:
        """A read-only reader of every table in the store, for the browser."""
