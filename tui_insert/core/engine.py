"""The insertion engine (SPEC §5): one run over the three tables.

A `Run` starts one node process per table (see `node.py`) and watches them: the nodes report
every commit, and the run keeps the running figures in `progress`, which a UI may poll at any
time. The headless report is assembled from the nodes' spool files once the run has ended.

Life of a run: `prepare()` starts the nodes, which open (and for .json parse) their inputs;
only when all three inputs are good are the databases checked, and only then created, reset
and prepared — so a UserError leaves every file as it was. `start()` lets the nodes go;
`stop()` asks them to end (each commits or rolls back the chunk in hand, so nothing is
half-written); `wait()` joins them; `close()` removes the spool files.

The nodes are started with multiprocessing's "spawn" method (safe beside a UI's threads), which
imports the main module again in each node: a script that runs the engine must keep its work
under `if __name__ == "__main__":`, as multiprocessing asks.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from tui_insert.core.errors import DatabaseError, InputError, UserError
from tui_insert.core.node import Go, HeldBack, NodeSettings, Progress, node_main
from tui_insert.core.reset import empty_stores
from tui_insert.core.rules import Reason
from tui_insert.core.sources import Source
from tui_insert.core.spool import SpoolFolder
from tui_insert.core.storage import check_stores, create_stores
from tui_insert.core.stores import store_targets
from tui_insert.core.stores.base import Target
from tui_insert.core.tables import REFERENCED, TABLES
from tui_insert.core.waiting import DEFAULT_RETRY_FOR, OnWait, Outage, Stopped, Wait

DEFAULT_WORKERS = 1
MAX_WORKERS = 64
CHUNK_SIZE = 10_000
RECENT = 200
# A table's timeline keeps a point at most this often, then half as often each time it
# reaches TIMELINE_POINTS: a few thousand points, however long the run.
TIMELINE_STEP = 0.02
TIMELINE_POINTS = 4096


@dataclass
class TableProgress:
    """Running figures of one table, kept current by the run; read them from anywhere."""

    table: str
    database: str  # the store, as reports and panels name it (a file's name, host:port/db)
    total: int = 0
    estimated: bool = False  # `total` is an estimate until the table's input has been read
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
    # What the table's node waits for right now (if it waited long enough to say so), and
    # since when, by `clock`: (database, reason) -> (the latest notice, since).
    waits: dict[tuple[str, str], tuple[Wait, float]] = field(default_factory=dict)
    # An outage under way (a store failing, its work tried again): its latest notice, and when
    # that came, by `clock`.
    outage: tuple[Wait, float] | None = None
    error: str | None = None  # why this table's node ended the run, if it did
    # Tries of the table's work made again after a store failed (a server away, a full disk),
    # and seconds spent in the waits it was told of (for locks, for stores to come back).
    retries: int = 0
    waited: float = 0.0
    # A table whose records refer to others (orders): what its records wait for, if they do,
    # and how many ids of the tables it refers to have reached its node.
    held: HeldBack | None = None
    # How the records were decided over time, for a timeline: (seconds since the run started,
    # records processed by then).
    timeline: list[tuple[float, int]] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic
    _timeline_step: float = field(default=TIMELINE_STEP, init=False, repr=False)

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or self.clock()) - self.started_at

    def begin(self, at: float) -> None:
        """The run started at `at` (by `clock`). Its timeline starts at nothing decided, so
        that a table's first chunk is drawn over the time it took (without that point, it
        looked like time spent deciding nothing)."""
        self.started_at = at
        self.timeline = [(0.0, 0)]

    def note_processed(self, processed: int) -> None:
        """`processed` records are decided now, for the timeline."""
        self.processed = processed
        if self.started_at is None:
            return
        at = self.elapsed  # (at the end, the moment the table finished)
        points = self.timeline
        # A point a step, with its latest count; the starting point stays as it is.
        if len(points) > 1 and at - points[-1][0] < self._timeline_step:
            points[-1] = (points[-1][0], processed)
            return
        points.append((at, processed))
        if len(points) >= TIMELINE_POINTS:
            del points[1::2]
            self._timeline_step *= 2

    @property
    def shown_total(self) -> int:
        """The total to show: never below the records processed (an estimate may be)."""
        return max(self.total, self.processed)

    @property
    def total_is_estimate(self) -> bool:
        return self.estimated and not self.done

    def note_wait(self, wait: Wait) -> None:
        if wait.outage:
            if wait.over:
                self.outage = None
                self.waited += wait.seconds
            else:
                self.retries += 1
                self.outage = (wait, self.clock())
            return
        key = (wait.database, wait.reason)
        if wait.over:
            if self.waits.pop(key, None) is not None:
                self.waited += wait.seconds
        else:
            since = self.waits[key][1] if key in self.waits else self.clock() - wait.seconds
            self.waits[key] = (wait, since)

    def end_waits(self) -> None:
        """The node ended: the waits under way end with it, and count."""
        now = self.clock()
        self.waited += sum(now - since for _, since in self.waits.values())
        self.waits.clear()
        if self.outage is not None:
            wait, noticed = self.outage
            self.waited += now - noticed + wait.seconds
            self.outage = None

    @property
    def waiting(self) -> tuple[Wait, float] | None:
        """The longest wait under way, and how long it has lasted."""
        waits = list(self.waits.values())
        if not waits:
            return None
        wait, since = min(waits, key=lambda w: w[1])
        return wait, self.clock() - since


@contextlib.contextmanager
def _ctrl_c_ignored_by_children() -> Iterator[None]:
    """Ctrl-C reaches every process of the terminal's group, and the run decides what to do.
    A node ignores it from its first instruction on if it is ignored when the node starts
    (the interpreter then keeps it ignored): so it is, for that moment, where it can be set
    (in the main thread; the app's terminal sends no Ctrl-C signal anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Cancelled(Exception):
    """The run was stopped before it started."""


class Run:
    def __init__(
        self,
        sources: dict[str, Source],
        stores: Path | Mapping[str, Target],
        *,
        workers: int = DEFAULT_WORKERS,
        latency: float = 0.0,
        chunk_size: int | None = None,
        reset: bool = False,
        as_json: bool = True,
        clock: Callable[[], float] = time.monotonic,
        on_wait: OnWait | None = None,
        dry_run: bool = False,
        spool_rejects: bool = True,
        spool_outcomes: bool = True,
        retry_for: float = DEFAULT_RETRY_FOR,
    ) -> None:
        """`stores`: each table's store, or a folder holding the three SQLite files.
        `clock` times the run (a test may freeze it). `on_wait` hears every notice of a
        long wait for a lock (from any thread), also while preparing or resetting.
        `dry_run`: decide every record against what is stored (as if emptied first, with
        `reset`) and write nothing to any database. `spool_rejects`: keep the rejected
        records as given, for `copy_rejects` and the summary's list (else only the report).
        `spool_outcomes`: keep every record's outcome line, for `write_report` (a run that
        writes no report, as the app's, saves a line a record).
        `retry_for`: seconds a store failing in a way that may pass (a server away, a full
        disk) is tried again, from its first failure, before the run gives up; lock waits are
        never bounded."""
        if not 1 <= workers <= MAX_WORKERS:
            raise UserError(f"--workers must be from 1 to {MAX_WORKERS}, got {workers}")
        self.sources = sources
        self.stores = store_targets(stores) if isinstance(stores, Path) else dict(stores)
        self.workers = workers
        self.latency = latency
        # With a simulated latency each record is its own chunk, so a person sees them arrive.
        self.chunk_size = chunk_size or (1 if latency else CHUNK_SIZE)
        self.reset = reset
        self.dry_run = dry_run
        self.spool_rejects = spool_rejects
        self.spool_outcomes = spool_outcomes
        self.retry_for = retry_for
        self.as_json = as_json
        self.clock = clock
        self.on_wait = on_wait
        self._identities: dict[str, Hashable] = {}
        self._spool = SpoolFolder()
        self.spool_dir = self._spool.path
        self.progress: dict[str, TableProgress] = {
            name: TableProgress(name, self.stores[name].name, clock=clock) for name in TABLES
        }
        self.error: str | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._stopping = False
        self._stop = threading.Event()  # ends a wait for a lock while preparing
        self._conns: dict[str, Connection] = {}
        self._processes: dict[str, multiprocessing.process.BaseProcess] = {}
        self._listeners: list[threading.Thread] = []

    # -- before the run -----------------------------------------------------------------------

    def prepare(self, before_writing: Callable[[], None] | None = None) -> None:
        """Open every input (in the nodes), then check, create and prepare the stores.
        Raises UserError, with every file left as it was, or Cancelled if `stop()` was called
        meanwhile. `before_writing` runs last of the checks, before the first write."""
        try:
            self._start_nodes()
            if self._stopping:
                raise Cancelled
            # A server that cannot be reached yet is waited for, as during the run; one that
            # stays away is a store the run cannot use (exit 2), with nothing written.
            outage = Outage(
                self.retry_for,
                self._told,
                self._stop,
                gives_up=DatabaseError,
                then="nothing was written",
            )
            outage.retrying(
                lambda: check_stores(
                    self.stores, writable=not self.dry_run, on_wait=self._told, stop=self._stop
                )
            )
            if before_writing is not None:
                before_writing()
            if self.dry_run:
                return
            # Checked just above: created (and emptied) without checking again. Both may be
            # done again after a failure that passes (a reset that emptied some stores and
            # then failed is not: ResetIncomplete). Giving up here is exit 1: tables may have
            # been made already.
            writing = Outage(
                self.retry_for,
                self._told,
                self._stop,
                then="the tables made so far stay; no record was written",
            )
            self._identities = writing.retrying(
                lambda: create_stores(self.stores, self._told, self._stop)
            )
            if self.reset:
                writing.retrying(lambda: empty_stores(self.stores, self._told, self._stop))
        except Stopped:
            self._abort()
            raise Cancelled from None
        except BaseException:
            self._abort()
            raise

    def _told(self, wait: Wait) -> None:
        """A notice while preparing: counted for the store it names, and passed on."""
        for progress in self.progress.values():
            if self.stores[progress.table].label == wait.database:
                progress.note_wait(wait)
                break
        if self.on_wait is not None:
            self.on_wait(wait)

    def _start_nodes(self) -> None:
        context = multiprocessing.get_context("spawn")
        # users -> orders and products -> orders: the ids each has just stored.
        feeds = {name: context.Pipe(duplex=False) for name in REFERENCED}
        node_ends = []
        for name in TABLES:
            parent_end, node_end = context.Pipe()
            settings = NodeSettings(
                table=name,
                source=self.sources[name],
                stores=self.stores,
                spool_dir=self.spool_dir,
                workers=self.workers,
                latency=self.latency,
                chunk_size=self.chunk_size,
                as_json=self.as_json,
                spool_rejects=self.spool_rejects,
                spool_outcomes=self.spool_outcomes,
                dry_run=self.dry_run,
                empty=self.reset,
                retry_for=self.retry_for,
            )
            referred = [other for _, other in TABLES[name].references]
            references = {other: feeds[other][0] for other in referred}
            subscribers = [feeds[name][1]] if name in feeds else []
            self._processes[name] = context.Process(
                target=node_main,
                args=(settings, node_end, references, subscribers),
                name=f"tui-insert {name}",
                daemon=True,
            )
            self._conns[name] = parent_end
            node_ends.append(node_end)
        with _ctrl_c_ignored_by_children():
            for process in self._processes.values():
                process.start()
        for node_end in node_ends:
            node_end.close()
        for reader, writer in feeds.values():
            reader.close()
            writer.close()
        errors = []
        for name, conn in self._conns.items():
            try:
                message = conn.recv()
            except EOFError:
                if self._stopping:
                    raise Cancelled from None
                message = ("input_error", f"the {name} node ended before it started")
            if message[0] == "input_error":
                errors.append(message[1])
            else:
                _, self.progress[name].total, self.progress[name].estimated = message
        if errors:
            raise InputError(errors[0])

    def _abort(self) -> None:
        """End the nodes before they were let go: they have written nothing, so a node still
        reading its input is simply killed."""
        for conn in self._conns.values():
            with contextlib.suppress(OSError):
                conn.send(("stop",))
        for process in self._processes.values():
            process.join(0.2)
            if process.is_alive():
                process.kill()
                process.join()
        self.finished_at = self.clock()

    # -- the run ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._stopping:
            self._abort()
            return
        self.started_at = self.clock()
        for name, conn in self._conns.items():
            self.progress[name].begin(self.started_at)
            thread = threading.Thread(
                target=self._listen, args=(name, conn), name=f"run-{name}", daemon=True
            )
            self._listeners.append(thread)
            thread.start()
            conn.send(Go(self._identities))

    def _listen(self, name: str, conn: Connection) -> None:
        progress = self.progress[name]
        try:
            while True:
                message = conn.recv()
                if isinstance(message, Progress):
                    progress.reason_counts.update(message.codes)
                    progress.recent.extend(message.recent)
                    progress.inserted, progress.rejected = message.inserted, message.rejected
                    progress.total = max(message.total, message.processed)
                    progress.estimated = message.estimated
                    progress.note_processed(message.processed)
                    continue
                if isinstance(message, HeldBack):
                    progress.held = message
                    continue
                kind = message[0]
                if kind == "waiting":
                    progress.note_wait(message[1])
                    if self.on_wait is not None:
                        self.on_wait(message[1])
                elif kind == "done":
                    progress.total = progress.processed
                    progress.estimated = False
                    progress.finished_at = self.clock()
                    progress.note_processed(progress.processed)
                    progress.done = True
                    progress.end_waits()
                    return
                elif kind == "failed":
                    progress.end_waits()
                    progress.error = message[1]
                    self._fail(message[1])
                    return
                else:  # stopped
                    progress.end_waits()
                    return
        except (EOFError, OSError):
            if not self._stopping:
                self._fail(self._ended_unexpectedly(name))

    def _ended_unexpectedly(self, name: str) -> str:
        process = self._processes[name]
        process.join(1)
        code = process.exitcode
        how = ""
        if code is not None and code < 0:
            how = f", killed by {signal.Signals(-code).name}"
        elif code:
            how = f", exit code {code}"
        database = self.stores[name].label
        return f"the {name} node ended unexpectedly{how}; it was writing {database}"

    def _fail(self, error: str) -> None:
        if self.error is None:
            self.error = error
        self.stop()

    def stop(self) -> None:
        """Ask every node to end soon; returns at once (`wait()` joins them). Before `start()`
        the nodes are ended without writing anything."""
        self._stopping = True
        self._stop.set()
        if self.started_at is None:
            for process in self._processes.values():
                process.kill()
            return
        for conn in self._conns.values():
            with contextlib.suppress(OSError):
                conn.send(("stop",))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for every node to end; True when they have."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for process in self._processes.values():
            process.join(None if deadline is None else max(deadline - time.monotonic(), 0))
        for thread in self._listeners:
            thread.join(None if deadline is None else max(deadline - time.monotonic(), 0))
        ended = not any(p.is_alive() for p in self._processes.values()) and not any(
            t.is_alive() for t in self._listeners
        )
        if ended and self.finished_at is None:
            self.finished_at = self.clock()
        return ended

    def close(self) -> None:
        """Stop what still runs and remove the spool files."""
        if any(p.is_alive() for p in self._processes.values()):
            if self.started_at is not None:  # let running nodes end their chunk first
                self.stop()
                self.wait(5)
            self._abort()
        for conn in self._conns.values():
            conn.close()
        self._spool.cleanup()

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    @property
    def state(self) -> str:
        if self.error is not None:
            return "failed"
        if all(p.done for p in self.progress.values()):
            return "completed"
        return "stopped" if self.finished else "running"

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or self.clock()) - self.started_at
