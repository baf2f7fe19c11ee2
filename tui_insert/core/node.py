"""One table's node: a process of its own that checks and inserts that table's records.

The three tables run in three processes, like the nodes of a small distributed system: each
owns its database and its input, and they talk only through messages. So the Python work of
the three tables runs on all the machine's cores instead of taking turns at one interpreter
lock. Inside a node, `--workers` threads share the table:

- a worker takes the next chunk of records from the reader and checks each record alone, in
  parallel with the other workers (with a simulated latency; without one, a chunk is taken
  only once the one before it is committed: that work is the interpreter's, which runs one
  thread at a time, so more chunks at once would only take turns at its lock);
- it then waits for its turn: chunks are decided and committed strictly in input order, one
  at a time, inside a `BEGIN IMMEDIATE` transaction that also holds off other processes. That
  makes every result the same for any number of workers, and the check and the insert one
  atomic step.

Orders refer to users and products in other databases. After each commit the users and
products nodes send the ids they just stored to the orders node, with the reset count of their
file they were stored under; a chunk of orders waits until each user and product it names has
arrived, or its table is done and it never will. What arrived is a cache: an orders commit
holds the reference locks of the users and the products store (shared; only a reset takes them
exclusive), trusts the cache only while those stores' reset counts are the ones it was filled
under, and looks every other id up in the stores themselves, before it takes the orders write
lock, inserts and commits. So at every moment every stored order has its stored user and
product — against other processes, resets and kills.

Messages to the parent (the `Run`): ("ready", total, estimated) or ("input_error", text) once
the input is open; then `Progress` after every commit, ("waiting", Wait) while a lock is
waited for, and ("done",), ("stopped",) or ("failed", text). From the parent: `Go` or
("stop",); a closed pipe (the parent died) counts as a stop. To the orders node: `StoredIds`
after every commit and load, then `TableDone`.
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import signal
import sys
import threading
import time
from array import array
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

from tui_insert.core import rules
from tui_insert.core.errors import (
    CommitInDoubt,
    StoreBusy,
    StoreError,
    StoreUnavailable,
    UserError,
)
from tui_insert.core.identity import abandoned
from tui_insert.core.idset import IdSet
from tui_insert.core.report import SpoolWriter
from tui_insert.core.sources import RecordReader, Source, open_reader
from tui_insert.core.storage import DryStore, Store
from tui_insert.core.stores.base import ReferenceSource, Target
from tui_insert.core.tables import TABLES
from tui_insert.core.waiting import DEFAULT_RETRY_FOR, OnWait, Outage, Patience, Stopped, Wait

# Outcomes sent to the parent per commit, for a UI's list of recent outcomes.
RECENT_PER_CHUNK = 50


class Go(NamedTuple):
    """From the parent: the stores are ready, as they were prepared (their identities)."""

    identities: dict[str, Hashable]


class StoredIds(NamedTuple):
    """To the orders node: ids stored in a table it refers to (an `array("q")` as bytes),
    under that file's reset count."""

    resets: int
    ids: bytes


class Progress(NamedTuple):
    """To the parent, after every commit: the table's running figures."""

    processed: int
    inserted: int
    rejected: int
    total: int
    estimated: bool  # `total` is an estimate until the input has been read whole
    codes: dict[str, int]  # reason code -> records with it, in this chunk
    recent: list[tuple[int, Any, list[rules.Reason] | None]]


class HeldBack(NamedTuple):
    """To the parent, from a node whose records refer to other tables (orders), while they
    wait for those and when that ends: how many of its records wait (0: none), how many ids of
    each table they name have not arrived yet, and how many ids of each table have arrived
    (since the node started, or since that table was last emptied)."""

    records: int
    missing: dict[str, int]
    arrived: dict[str, int]


# Seconds between two HeldBack messages of a wait, at least.
HELD_BACK_SECONDS = 0.2


class TableDone(NamedTuple):
    """To the orders node: that table's node has decided every record."""


@dataclass(frozen=True)
class NodeSettings:
    table: str
    source: Source
    stores: dict[str, Target]  # every table's: its own, and those it refers to
    spool_dir: Path
    workers: int
    latency: float
    chunk_size: int
    as_json: bool
    # Write the rejected records as given (for --rejects, or a UI's summary).
    spool_rejects: bool = True
    # Write every record's outcome line (for the report; the UI shows none of them).
    spool_outcomes: bool = True
    # Decide every record against what is stored, and write nothing (`empty`: as if after
    # a reset).
    dry_run: bool = False
    empty: bool = False
    # Seconds a failing store (a server away, a full disk) is tried again before the run ends.
    retry_for: float = DEFAULT_RETRY_FOR


class Reference:
    """What the orders node knows of another table: the ids seen stored there, under which
    reset count of that store (`resets`), and whether that table's node is done."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ids = IdSet()
        self.resets: int | None = None  # None: nothing seen yet
        self.done = False
        self.changed = threading.Condition()
        self.reader: ReferenceSource | None = None  # opened by the node

    def learn(self, resets: int, ids: list[int]) -> None:
        """Holding `changed`: these ids were stored under that reset count."""
        if self.resets is None or resets > self.resets:
            self.ids = IdSet()  # a reset since: what was seen before may be gone
            self.resets = resets
        if resets == self.resets:
            self.ids.update(ids)

    def listen(self, conn: Connection, stop: threading.Event) -> None:
        try:
            while True:
                message = conn.recv()
                with self.changed:
                    if isinstance(message, StoredIds):
                        self.learn(message.resets, array("q", message.ids).tolist())
                    else:
                        self.done = True
                    self.changed.notify_all()
                if isinstance(message, TableDone):
                    return
        except (EOFError, OSError):
            # The other node ended without finishing: nothing more can be judged.
            stop.set()
            with self.changed:
                self.changed.notify_all()

    def stored(self, ids: list[int], stop: threading.Event, on_wait: OnWait) -> set[int]:
        """Holding this store's reference lock: which of `ids` are stored there now. The
        cache answers while the store's reset count is the one it was filled under; the
        store itself answers for the rest."""
        reader = self.reader
        with self.changed:
            known = self.ids.found_in(ids)
            cached_under = self.resets
        if reader is None:  # a dry run: what it has heard is all there is
            return known
        unknown = [i for i in ids if i not in known] if known else ids
        resets, found = reader.look_up(unknown, on_wait, stop)
        if resets != cached_under:  # emptied since (or nothing seen yet): ask for every id
            known = set()
            if len(unknown) < len(ids):
                resets, found = reader.look_up(ids, on_wait, stop)
        with self.changed:
            self.learn(resets, list(found))
        return known | found


def _tune_for_throughput() -> None:
    """Settings for a process whose threads make many short calls into SQLite.

    Each call gives up the GIL; with the default 5 ms switch interval the thread may then wait
    that long to get it back from a busy worker, which halved throughput. The cyclic garbage
    collector would walk every parsed record again and again; the records hold no cycles, so
    once the input is parsed they are frozen out of its sight, and it runs less often.
    """
    sys.setswitchinterval(0.001)
    gc.set_threshold(50_000, 20, 100)


def node_main(
    settings: NodeSettings,
    control: Connection,
    references: dict[str, Connection],
    subscribers: list[Connection],
) -> None:
    """The body of a node's process."""
    # Ctrl-C reaches every process of the terminal's group: the parent decides what to do.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _tune_for_throughput()
    try:
        reader = open_reader(settings.source)
    except UserError as e:
        control.send(("input_error", str(e)))
        return
    except Exception as e:  # e.g. MemoryError on a huge .json file: still the input's doing
        control.send(("input_error", f"{settings.source.path}: cannot read: {e!r}"))
        return
    gc.freeze()
    control.send(("ready", reader.total, reader.estimated))
    try:
        go = control.recv()
    except EOFError:
        go = ("stop",)
    if not isinstance(go, Go):
        reader.close()
        return
    TableNode(settings, reader, control, references, subscribers, go.identities).run()
    if abandoned():
        # A connection whose file's log was replaced under it: closing it, even at exit,
        # would copy its old log over the file (see identity.close_connection).
        os._exit(0)


class TableNode:
    def __init__(
        self,
        settings: NodeSettings,
        reader: RecordReader,
        control: Connection,
        references: dict[str, Connection],
        subscribers: list[Connection],
        identities: dict[str, Hashable],
    ) -> None:
        """`identities`: each store as the run prepared it (see stores/base.py)."""
        self.settings = settings
        self.identities = identities
        self.name = settings.table
        self.reader = reader
        self.control = control
        self.subscribers = subscribers
        self.check = rules.CHECKS[self.name]
        self.stop_requested = threading.Event()
        self.error: str | None = None
        self.references = {name: Reference(name) for name in references}
        # (column of the checked records, table) of each reference, from the declaration.
        fields = TABLES[self.name].fields
        self._referred = [(fields.index(f), other) for f, other in TABLES[self.name].references]
        self._reference_conns = references
        self.turn_changed = threading.Condition()
        self._read_lock = threading.Lock()
        self._next_seq = 0
        self._next_position = 1
        self._chunks: int | None = None  # how many chunks there are, once the reader is done
        self._turn = 0  # the sequence number of the next chunk to commit
        self._committed = 0  # chunks committed; below _turn once one failed or was stopped
        self.done = False
        self.store: Store | None = None
        self.spool: SpoolWriter | None = None
        self._counts = [0, 0, 0]  # processed, inserted, rejected
        self._send_lock = threading.Lock()
        # Per worker waiting for references: its records that wait, and for which ids.
        self._held: dict[int, tuple[int, dict[str, set[int]]]] = {}
        self._held_lock = threading.Lock()
        self._held_told = 0.0  # when the parent was last told (by time.monotonic)
        # How many chunks the workers may hold at once (read, not yet committed). With a
        # simulated latency, every worker: their waits overlap. Without, the work is the
        # interpreter's, which runs one thread at a time: more chunks at once would only take
        # turns at its lock (and hold more memory), so the workers take the chunks one after
        # another, and more of them never make a run slower.
        self._in_flight = threading.BoundedSemaphore(settings.workers if settings.latency else 1)
        # A store failing in a way that may pass: the work in hand is tried again. Only one
        # thread at a time uses it (before the workers start, then the one whose turn it is).
        self._outage = Outage(settings.retry_for, self._notify_wait, self.stop_requested)

    def run(self) -> None:
        watcher = threading.Thread(target=self._watch_parent, name="watch", daemon=True)
        watcher.start()
        listeners = [
            threading.Thread(
                target=self.references[name].listen,
                args=(conn, self.stop_requested),
                name=f"listen-{name}",
                daemon=True,
            )
            for name, conn in self._reference_conns.items()
        ]
        for thread in listeners:
            thread.start()
        targets = self.settings.stores
        identities = self.identities
        settings = self.settings
        retrying = self._outage.retrying
        try:
            if settings.dry_run:
                self.store = retrying(
                    lambda: DryStore(
                        targets[self.name],
                        TABLES[self.name],
                        empty=settings.empty,
                        on_load=self._announce_ids,
                        on_wait=self._notify_wait,
                    )
                )
            else:
                for name, reference in self.references.items():
                    reference.reader = retrying(
                        lambda name=name: targets[name].reference(  # type: ignore[misc]
                            TABLES[name], expected=identities.get(name)
                        )
                    )
                self.store = retrying(
                    lambda: Store(
                        targets[self.name],
                        TABLES[self.name],
                        expected=identities.get(self.name),
                        on_load=self._announce_ids,
                        on_wait=self._notify_wait,
                        # Orders take their write lock only while holding the reference locks,
                        # so they try it without waiting and let go of everything if it is
                        # taken.
                        wait_for_lock=not self.references,
                    )
                )
            self.spool = SpoolWriter(
                self.name,
                settings.spool_dir,
                as_json=settings.as_json,
                rejects=settings.spool_rejects,
                outcomes=settings.spool_outcomes,
            )
            workers = [
                threading.Thread(target=self._work, name=f"{self.name}-{i + 1}")
                for i in range(self.settings.workers)
            ]
            for thread in workers:
                thread.start()
            for thread in workers:
                thread.join()
            if self.done and self.error is None and not settings.dry_run:
                # Reported only if the stores written are still the ones the run prepared.
                retrying(self.store.verify)
                for reference in self.references.values():
                    assert reference.reader is not None
                    retrying(reference.reader.verify)
        except Stopped:
            pass
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            self._fail(e)
        finally:
            if self.store is not None:
                self.store.close()
            for reference in self.references.values():
                if reference.reader is not None:
                    reference.reader.close()
            if self.spool is not None:
                self.spool.close()
            self.reader.close()
        if self.error is not None:
            self._send(("failed", self.error))
        elif self.done:
            if self.references:  # what reached it in all, whether it waited or not
                self._send(HeldBack(0, dict.fromkeys(self.references, 0), self._arrived()))
            self._send(("done",))
        else:
            self._send(("stopped",))

    # -- talking to others ------------------------------------------------------------------

    def _send(self, message: tuple) -> None:
        # If the parent is gone there is no one to tell; the databases are what counts.
        with self._send_lock, contextlib.suppress(OSError):
            self.control.send(message)

    def _notify_wait(self, wait: Wait) -> None:
        self._send(("waiting", wait))

    def _watch_parent(self) -> None:
        try:
            while self.control.recv()[0] != "stop":
                pass
        except (EOFError, OSError):
            pass
        self._request_stop()

    def _request_stop(self) -> None:
        self.stop_requested.set()
        for condition in (self.turn_changed, *(r.changed for r in self.references.values())):
            with condition:
                condition.notify_all()

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            if isinstance(error, StoreError | UserError):
                self.error = str(error)  # says which database, in a user's words
            else:
                self.error = f"{self.name}: {type(error).__name__}: {error}"
        self._request_stop()

    def _announce(self, message: StoredIds | TableDone) -> None:
        for conn in self.subscribers:
            with contextlib.suppress(OSError):
                conn.send(message)

    def _announce_ids(self, resets: int, ids: Iterable[int]) -> None:
        """Tell the orders node about stored ids (what was there, and each commit), with the
        reset count of the file they were stored under."""
        if self.subscribers:
            payload = array("q", ids).tobytes()
            self._announce(StoredIds(resets, payload))

    # -- a worker -----------------------------------------------------------------------------

    def _work(self) -> None:
        try:
            while self._take_slot():
                try:
                    if not self._work_on_a_chunk():
                        return
                finally:
                    self._in_flight.release()
        except Stopped:
            return
        except BaseException as e:  # noqa: BLE001 - any failure ends the node, reported
            self._fail(e)

    def _take_slot(self) -> bool:
        """Wait until this worker may take a chunk (False: the node is stopping)."""
        stop = self.stop_requested
        while not self._in_flight.acquire(timeout=0.25):
            if stop.is_set():
                return False
        if stop.is_set():
            self._in_flight.release()
            return False
        return True

    def _work_on_a_chunk(self) -> bool:
        """Read, check and commit the next chunk; False once there is none or the node stops."""
        with self._read_lock:
            if self._chunks is not None:
                return False
            given, records = self.reader.read_chunk(self.settings.chunk_size)
            seq, start = self._next_seq, self._next_position
            if not records:
                with self.turn_changed:
                    self._chunks = seq
                    self._finish_if_done()
                return False
            self._next_seq += 1
            self._next_position += len(records)
        checked = self.check(records)
        if self.settings.latency and not self._simulate_latency(len(records)):
            return False
        if self.references and not self._await_references(checked):
            return False
        if not self._await_turn(seq):
            return False
        committed = False
        try:
            self._commit(start, given, records, checked)
            committed = True
        finally:
            with self.turn_changed:
                self._turn += 1
                self._committed += committed
                self._finish_if_done()
                self.turn_changed.notify_all()
        return True

    def _simulate_latency(self, count: int) -> bool:
        """The simulated per-insert delay (with jitter), cut short by a stop request."""
        latency = self.settings.latency
        delay = sum(latency * random.uniform(0.5, 1.5) for _ in range(count))
        return not self.stop_requested.wait(delay)

    def _await_turn(self, seq: int) -> bool:
        with self.turn_changed:
            while self._turn != seq:
                if self.stop_requested.is_set():
                    return False
                self.turn_changed.wait(0.25)
        return not self.stop_requested.is_set()

    def _await_references(self, checked: list[tuple]) -> bool:
        """Wait until each user and product these orders name is stored or never will be,
        telling the parent what is held back meanwhile."""
        stop = self.stop_requested
        pending = {name: self._named(checked, column) for column, name in self._referred}
        told = 0.0
        while True:
            for name, ids in pending.items():
                reference = self.references[name]
                with reference.changed:
                    if reference.done:
                        pending[name] = []
                    elif ids:
                        found = reference.ids.found_in(ids)
                        pending[name] = [i for i in ids if i not in found]
            waiting_on = next((name for name, ids in pending.items() if ids), None)
            if waiting_on is None or stop.is_set():
                break
            now = time.monotonic()
            if now - told >= HELD_BACK_SECONDS:
                told = now
                self._held_back(threading.get_ident(), checked, pending)
            reference = self.references[waiting_on]
            with reference.changed:
                # Unless what it waits for came meanwhile (its notice is then gone): wait.
                if not (reference.done or reference.ids.found_in(pending[waiting_on])):
                    reference.changed.wait(0.25)
        if told:
            self._held_back(threading.get_ident(), checked, None)
        return not stop.is_set()

    def _held_back(
        self, worker: int, checked: list[tuple], pending: dict[str, list[int]] | None
    ) -> None:
        """A worker's records still wait for the ids `pending` (None: no longer): tell the
        parent what all the workers' records wait for."""
        with self._held_lock:
            if pending is None:
                self._held.pop(worker, None)
            else:
                sets = {name: set(ids) for name, ids in pending.items()}
                waiting = sum(
                    any(c[column] in sets[name] for column, name in self._referred) for c in checked
                )
                self._held[worker] = (waiting, sets)
            self._tell_held()

    def _tell_held(self) -> None:
        """Tell the parent what all the workers' records wait for, and what has arrived.
        Called holding `_held_lock`."""
        self._held_told = time.monotonic()
        records = sum(waiting for waiting, _ in self._held.values())
        missing = {
            name: len(set().union(*(sets[name] for _, sets in self._held.values())))
            for _, name in self._referred
        }
        self._send(HeldBack(records, missing, self._arrived()))

    def _arrived(self) -> dict[str, int]:
        """How many ids of each table referred to have reached this node."""
        arrived = {}
        for name, reference in self.references.items():
            with reference.changed:
                arrived[name] = len(reference.ids)
        return arrived

    def _commit(self, start: int, given: Sequence[Any], records: list[Any], checked: list) -> None:
        """Decide and store one chunk; a store failing in a way that may pass (a server away,
        a full disk) rolls the chunk back and has it decided and stored again, from what is
        stored then, until it goes through or the outage lasts longer than --retry-for."""
        store, spool, outage = self.store, self.spool, self._outage
        assert store is not None and spool is not None
        patience: Patience | None = None
        while True:
            try:
                decision = outage.retrying(lambda: self._decide_and_store(checked))
            except StoreBusy as e:  # a lock met midway: waited out, never bounded
                outage.over()  # the store answers: a lock is no outage, and uses none of it
                patience = patience or Patience(
                    e.database, e.reason, self._notify_wait, self.stop_requested
                )
                patience.tick(random.uniform(0.001, 0.02))
                continue
            if decision is not None:
                break
            # (A commit whose answer was lost, and which was not stored: done again at once.)
        if patience is not None:
            patience.done()
        store.remember(decision.ids)
        self._announce_ids(store.resets, decision.ids)
        outage.retrying(lambda: spool.write_chunk(start, given, records, decision.reasons))
        self._report_progress(start, records, decision.reasons)

    def _decide_and_store(self, checked: list) -> rules.Decision | None:
        """The chunk decided and committed; None if its commit's answer was lost and it turned
        out not to be stored."""
        store = self.store
        assert store is not None
        decision = None
        committed = False
        try:
            with self._locked():
                try:
                    # The ids these orders name that are stored, proven under the reference
                    # locks.
                    found = {
                        name: self.references[name].stored(
                            self._named(checked, column), self.stop_requested, self._notify_wait
                        )
                        for column, name in self._referred
                    }
                    decision = rules.decide(
                        TABLES[self.name], checked, store.ids, store.email_holders, found
                    )
                    if decision.rows:
                        store.insert(decision.rows)
                    store.commit()
                    committed = True
                except CommitInDoubt as e:
                    assert decision is not None
                    # Still holding the reference locks: the orders it stored, if it did,
                    # rely on them until its fate is known.
                    committed = self._stored_after_all(e)
                    if not committed:
                        store.forget_email_keys(decision.email_keys)
                except BaseException:
                    store.rollback()
                    if decision is not None:
                        store.forget_email_keys(decision.email_keys)
                    raise
        except StoreUnavailable:
            if not committed:
                raise
            # Letting go of the locks failed after the commit went through: the commit stands
            # (and a lost session's locks went with it).
        return decision if committed else None

    def _stored_after_all(self, doubt: CommitInDoubt) -> bool:
        """After a commit whose answer was lost: whether it was stored, as the store's record
        of the transaction says once it can be reached again."""
        store = self.store
        assert store is not None
        self._outage.failed(doubt)
        while True:
            try:
                return store.fate()
            except StoreUnavailable as e:
                self._outage.failed(e)

    @staticmethod
    def _named(checked: list[tuple], column: int) -> list[int]:
        return list({c[column] for c in checked if c[column] is not None})

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The locks of a commit, held until it is through.

        Users and products: their table's write lock. Orders: first the reference locks of
        the tables they name (users, then products; shared), then the orders write lock —
        in the one order in which every writer and every reset takes its locks, so none
        waits in a circle. The orders write lock is only tried, never waited for, while the
        reference locks are held: if another writer has it, everything is let go before the
        next try. So the reference locks are held shared only by an orders commit under way,
        and a reset waiting for them gets them as soon as that commit is through."""
        store = self.store
        assert store is not None
        stop = self.stop_requested
        if self.settings.dry_run:
            yield
            return
        if not self.references:
            store.begin(stop)
            yield
            return
        locks = [reader for _, name in self._referred if (reader := self.references[name].reader)]
        patience: Patience | None = None
        while True:
            with contextlib.ExitStack() as held:
                for lock in locks:
                    held.enter_context(lock.shared(self._notify_wait, stop))
                if store.try_begin():
                    # A database moved or replaced meanwhile: its lock keeps no reset out.
                    if all(lock.held() for lock in locks):
                        if patience is not None:
                            patience.done()
                        yield
                        return
                    store.rollback()
            if patience is None:
                patience = Patience(
                    store.label, "locked by another program", self._notify_wait, stop
                )
            patience.tick(random.uniform(0.001, 0.02))

    def _report_progress(
        self, start: int, records: list[Any], reasons: list[list[rules.Reason] | None]
    ) -> None:
        rejected_reasons = [why for why in reasons if why is not None]
        rejected = len(rejected_reasons)
        codes = records_per_code(rejected_reasons)
        counts = self._counts
        counts[0] += len(reasons)
        counts[1] += len(reasons) - rejected
        counts[2] += rejected
        first = max(len(reasons) - RECENT_PER_CHUNK, 0)
        recent = [
            (start + i, rules.small_id(records[i]), reasons[i]) for i in range(first, len(reasons))
        ]
        reader = self.reader
        processed, inserted, rejected = counts
        self._send(
            Progress(
                processed, inserted, rejected, reader.total, reader.estimated, dict(codes), recent
            )
        )
        if self.references:  # the ids that have arrived, also while nothing waits
            with self._held_lock:
                if time.monotonic() - self._held_told >= HELD_BACK_SECONDS:
                    self._tell_held()

    def _finish_if_done(self) -> None:
        """Called holding `turn_changed`: the table is done once its last chunk is committed."""
        if not self.done and self._chunks is not None and self._committed == self._chunks:
            self.done = True
            self._announce(TableDone())


def records_per_code(rejected_reasons: list[list[rules.Reason]]) -> Counter[str]:
    """How many of the records have each reason code: a record with two reasons of one code
    (two fields missing) counts once for it, as the summary lists it once under that code."""
    codes = Counter([r[1] for why in rejected_reasons for r in why])  # r[1]: the code
    for why in [w for w in rejected_reasons if len(w) > 1 and len(w) != len({r[1] for r in w})]:
        for code, count in Counter([r[1] for r in why]).items():
            if count > 1:
                codes[code] -= count - 1
    return codes
