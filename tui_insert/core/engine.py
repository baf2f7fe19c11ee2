"""The insertion engine (SPEC §5).

Each table has its own worker threads. A worker takes the next chunk of records from the
table's reader, checks each record alone (in parallel with the other workers), and then waits
for its turn: chunks are decided and committed strictly in input order, one at a time, inside
a `BEGIN IMMEDIATE` transaction that also holds off other processes. That makes every result
the same for any number of workers, and the check and the insert one atomic step.

Orders refer to users and products in other databases. A chunk of orders waits until each
user and product it names is either committed, or certain never to be (its table is done);
only then is it decided. So at every moment every stored order has its stored user and
product, even if the process is killed.

A UI polls `Run.progress` (running counters and a bounded list of recent outcomes); the
headless report receives every committed chunk through `RunObserver.on_chunk`.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tui_insert.core import rules
from tui_insert.core.errors import UserError
from tui_insert.core.rules import Reason
from tui_insert.core.sources import RecordReader, Source, open_reader
from tui_insert.core.storage import (
    Stopped,
    Store,
    check_databases,
    database_paths,
    prepare_databases,
    reset_databases,
)
from tui_insert.core.tables import TABLES

DEFAULT_WORKERS = 4
MAX_WORKERS = 64
CHUNK_SIZE = 2000
RECENT = 200


@dataclass(slots=True)
class ChunkOutcome:
    """A committed chunk of one table: positions `start` .. `start + len(ids) - 1`."""

    table: str
    start: int
    given: list[Any]  # the records as given
    records: list[Any]  # the records as checked (for CSV: cells turned into numbers)
    reasons: list[list[Reason] | None]  # None: inserted

    def id_of(self, index: int) -> Any:
        """The id as given of the record at `index` in the chunk (None if it has none)."""
        return rules.given_id(self.records[index])


class RunObserver(Protocol):
    def on_chunk(self, outcome: ChunkOutcome) -> None:
        """Called after each commit, in input order within a table, from a worker thread.
        Calls for different tables may come at the same time from different threads."""


@dataclass
class TableProgress:
    """Running figures of one table, written by its workers, read by anyone (e.g. a UI timer)."""

    table: str
    database: Path
    total: int
    processed: int = 0
    inserted: int = 0
    rejected: int = 0
    reason_counts: Counter[str] = field(default_factory=Counter)
    # The latest outcomes: (position, id as given, reasons or None for inserted).
    recent: deque[tuple[int, Any, list[Reason] | None]] = field(
        default_factory=lambda: deque(maxlen=RECENT)
    )
    started_at: float | None = None
    finished_at: float | None = None
    done: bool = False

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.monotonic()) - self.started_at


@dataclass
class RunPlan:
    """Inputs opened and databases checked and prepared: what a run needs to start."""

    readers: dict[str, RecordReader]
    db_dir: Path

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()


def plan_run(
    sources: dict[str, Source],
    db_dir: Path,
    *,
    reset: bool = False,
    before_writing: Callable[[], None] | None = None,
) -> RunPlan:
    """Open every input and check every database; only then create, reset and prepare them.
    A UserError leaves every file as it was. `before_writing` runs between the two steps."""
    readers: dict[str, RecordReader] = {}
    try:
        for name, source in sources.items():
            readers[name] = open_reader(source)
        check_databases(db_dir)
        if before_writing is not None:
            before_writing()
        prepare_databases(db_dir)
        if reset:
            reset_databases(db_dir)
    except BaseException:
        for reader in readers.values():
            reader.close()
        raise
    return RunPlan(readers, db_dir)


class _TableRun:
    """The workers of one table, taking turns at its Store."""

    def __init__(self, run: Run, name: str, reader: RecordReader, store: Store) -> None:
        self.run = run
        self.name = name
        self.reader = reader
        self.store = store
        self.check = rules.CHECKS[name]
        self.progress = TableProgress(name, store.path, reader.total)
        self.done = False
        # One condition for everything that changes here: whose turn it is, what is committed.
        self.changed = threading.Condition()
        self._read_lock = threading.Lock()
        self._next_seq = 0
        self._next_position = 1
        self._chunks: int | None = None  # how many chunks there are, once the reader is done
        self._turn = 0  # the sequence number of the next chunk to commit
        self.references: tuple[_TableRun, _TableRun] | None = None  # orders: users, products

    # -- a worker ------------------------------------------------------------------------------

    def work(self) -> None:
        run = self.run
        try:
            while not run.stop_requested.is_set():
                with self._read_lock:
                    if self._chunks is not None:
                        return
                    if self.progress.started_at is None:
                        self.progress.started_at = time.monotonic()
                    given, records = self.reader.read_chunk(run.chunk_size)
                    seq, start = self._next_seq, self._next_position
                    if not records:
                        with self.changed:
                            self._chunks = seq
                            self.progress.total = self.reader.total
                            self._finish_if_done()
                        return
                    self._next_seq += 1
                    self._next_position += len(records)
                checked = self.check(records)
                if run.latency and not self._simulate_latency(len(records)):
                    return
                if self.references and not self._await_references(checked):
                    return
                if not self._await_turn(seq):
                    return
                try:
                    self._commit(start, given, records, checked)
                finally:
                    with self.changed:
                        self._turn += 1
                        self._finish_if_done()
                        self.changed.notify_all()
        except Stopped:
            return
        except BaseException as e:  # noqa: BLE001 - any failure ends the whole run, reported
            run.fail(e)

    def _simulate_latency(self, count: int) -> bool:
        """The simulated per-insert delay (with jitter), cut short by a stop request."""
        delay = sum(self.run.latency * random.uniform(0.5, 1.5) for _ in range(count))
        return not self.run.stop_requested.wait(delay)

    def _await_turn(self, seq: int) -> bool:
        with self.changed:
            while self._turn != seq:
                if self.run.stop_requested.is_set():
                    return False
                self.changed.wait(0.25)
        return not self.run.stop_requested.is_set()

    def _await_references(self, checked: list[tuple]) -> bool:
        """Wait until each user and product these orders name is committed or never will be."""
        assert self.references is not None
        stop = self.run.stop_requested
        for table, column in zip(self.references, (1, 2), strict=True):
            pending = [c[column] for c in checked if c[column] is not None]
            with table.changed:
                while True:
                    if pending:
                        found = table.store.ids.found_in(pending)
                        pending = [i for i in pending if i not in found]
                    if not pending or table.done:
                        break
                    if stop.is_set():
                        return False
                    table.changed.wait(0.25)
        return not stop.is_set()

    def _commit(self, start: int, given: list[Any], records: list[Any], checked: list) -> None:
        store = self.store
        store.begin(self.run.stop_requested)
        decision = None
        try:
            if self.name == "users":
                decision = rules.decide_users(checked, store.ids, store.email_holders)
            elif self.name == "products":
                decision = rules.decide_products(checked, store.ids)
            else:
                assert self.references is not None
                users, products = self.references
                decision = rules.decide_orders(
                    checked, store.ids, users.store.ids, products.store.ids
                )
            if decision.rows:
                store.insert(decision.rows)
            store.commit()
        except BaseException:
            store.rollback()
            if decision is not None:
                store.forget_email_keys(decision.email_keys)
            raise
        store.remember(decision.ids)
        self._publish(ChunkOutcome(self.name, start, given, records, decision.reasons))

    def _publish(self, outcome: ChunkOutcome) -> None:
        progress = self.progress
        count = len(outcome.reasons)
        counts = progress.reason_counts
        inserted = count
        for reasons in outcome.reasons:
            if reasons is not None:
                inserted -= 1
                for reason in reasons:
                    counts[reason.code] += 1
        first = max(count - RECENT, 0)
        progress.recent.extend(
            (outcome.start + i, outcome.id_of(i), outcome.reasons[i]) for i in range(first, count)
        )
        progress.inserted += inserted
        progress.rejected += count - inserted
        progress.processed += count
        if self.run.observer is not None:
            self.run.observer.on_chunk(outcome)

    def _finish_if_done(self) -> None:
        """Called holding `changed`: the table is done once its last chunk is committed."""
        if not self.done and self._chunks is not None and self._turn == self._chunks:
            self.done = True
            self.progress.finished_at = time.monotonic()
            self.progress.done = True
            self.changed.notify_all()


class Run:
    """One insertion run over the three tables.

    `start()` launches the workers; `stop()` asks them to end (each finishes or rolls back the
    chunk in hand, so nothing is half-written); `wait()` joins them. Afterwards `state` is
    "completed", "stopped" or "failed" (with `error`).
    """

    def __init__(
        self,
        plan: RunPlan,
        *,
        workers: int = DEFAULT_WORKERS,
        latency: float = 0.0,
        chunk_size: int | None = None,
        observer: RunObserver | None = None,
    ) -> None:
        if not 1 <= workers <= MAX_WORKERS:
            raise UserError(f"--workers must be from 1 to {MAX_WORKERS}, got {workers}")
        self.plan = plan
        self.workers = workers
        self.latency = latency
        # With a simulated latency each record is its own chunk, so a person sees them arrive.
        self.chunk_size = chunk_size or (1 if latency else CHUNK_SIZE)
        self.observer = observer
        self.stop_requested = threading.Event()
        self.error: BaseException | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._threads: list[threading.Thread] = []
        self._tables: dict[str, _TableRun] = {}
        paths = database_paths(plan.db_dir)
        try:
            for name in TABLES:
                store = Store(paths[name], TABLES[name])
                self._tables[name] = _TableRun(self, name, plan.readers[name], store)
        except BaseException:
            self._close()
            raise
        self._tables["orders"].references = (self._tables["users"], self._tables["products"])
        self.progress: dict[str, TableProgress] = {
            name: t.progress for name, t in self._tables.items()
        }

    def start(self) -> None:
        self.started_at = time.monotonic()
        for name, table in self._tables.items():
            for i in range(self.workers):
                thread = threading.Thread(target=table.work, name=f"{name}-{i + 1}", daemon=True)
                self._threads.append(thread)
                thread.start()
        closer = threading.Thread(target=self._close_when_done, name="run-closer", daemon=True)
        closer.start()
        self._closer = closer

    def _close_when_done(self) -> None:
        for thread in self._threads:
            thread.join()
        self.finished_at = time.monotonic()
        self._close()

    def _close(self) -> None:
        for table in self._tables.values():
            table.store.close()
        self.plan.close()

    def stop(self) -> None:
        """Ask every worker to end soon; returns at once (`wait()` joins them)."""
        self.stop_requested.set()
        for table in self._tables.values():
            with table.changed:
                table.changed.notify_all()

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for every worker to end; True when they have."""
        self._closer.join(timeout)
        return not self._closer.is_alive()

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    @property
    def state(self) -> str:
        if self.error is not None:
            return "failed"
        if all(t.done for t in self._tables.values()):
            return "completed"
        return "stopped" if self.finished else "running"

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.monotonic()) - self.started_at
