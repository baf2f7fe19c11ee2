"""A randomized interleaving test of tui-insert's invariants, in the spirit of Jepsen.

Several `tui-insert` processes work on the same three stores at once — a folder of SQLite
files, PostgreSQL servers, or a mix (`servers`: table -> URI): runs of data sets whose ids
overlap and whose emails differ only in case, resets, and SIGKILL of any of them at random
moments. A checker that shares no code with the engine (plain sqlite3 and psycopg, and its own
case folding) stops every live process at check points (SIGSTOP, so the three stores are read
at one instant), verifies, and lets them go on (SIGCONT):

- each SQLite file passes `PRAGMA integrity_check`;
- no stored order names a user or a product that is not stored;
- no two stored users share an email (case-folded) and no id is stored twice;
- every stored row is exactly a record of one of the data sets;
- while no reset has run since a finished run started, every record it reported `inserted` is
  stored with exactly its values;
- after a finished reset, no row stored before it began is still there, unless a run of that
  row's data set was alive after the reset began and could have inserted it again;
- runs and resets end with exit code 0 unless killed, and never print a traceback.

The schedule is drawn from one seed: the same seed gives the same starts, resets, kills and
check points, with the same pauses between them. The operating system's timing still varies
from one try to the next (a kill may find its victim finished), so a failure comes back with
good odds under the same seed, not for certain; the seed is in every failure's message. The
suite runs a short schedule (`tests/engine/test_interleaving.py`); a long one by hand:

    python -m tests.interleaving --count 300 --seed 7 [--records 2000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg

TABLES = {
    "users": ("id", "name", "email"),
    "products": ("id", "name", "price"),
    "orders": ("id", "user_id", "product_id", "quantity"),
}


T = TypeVar("T")


class Violation(AssertionError):
    """An invariant broken: the message says which, with the seed to reproduce it."""


# --- the data sets -----------------------------------------------------------------------------


def make_datasets(root: Path, rnd: random.Random, count: int, records: int) -> list[Path]:
    """`count` data sets of `records` records a table. Ids overlap across sets (and repeat
    within one); emails come from one small pool in random case; orders name users and
    products that may or may not make it. Names (users, products) and quantities (orders)
    tell which set and record a stored row came from."""
    emails = [f"person{i}@example.com" for i in range(records // 2)]

    def variant(email: str) -> str:
        return "".join(c.upper() if rnd.random() < 0.5 else c for c in email)

    folders = []
    for k in range(count):
        users = [
            {
                "id": rnd.randint(1, records),
                "name": f"d{k}-u{i}",
                "email": variant(rnd.choice(emails)),
            }
            for i in range(records)
        ]
        products = [
            {"id": rnd.randint(1, records), "name": f"d{k}-p{i}", "price": rnd.choice([9.5, 1, 0])}
            for i in range(records)
        ]
        orders = [
            {
                "id": rnd.randint(1, records * 2),
                "user_id": rnd.randint(1, records),
                "product_id": rnd.randint(1, records),
                "quantity": k * 1_000_000 + i + 1,
            }
            for i in range(records)
        ]
        folder = root / f"data{k}"
        folder.mkdir()
        for name, rows in (("users", users), ("products", products), ("orders", orders)):
            (folder / f"{name}.json").write_text(json.dumps(rows))
        folders.append(folder)
    return folders


def dataset_of(table: str, row: tuple) -> int:
    if table == "orders":
        return int(row[3]) // 1_000_000
    return int(str(row[1]).split("-")[0][1:])


# --- the processes -----------------------------------------------------------------------------


@dataclass
class Process:
    kind: str  # "run" or "reset"
    dataset: int | None
    popen: subprocess.Popen[bytes]
    started: float
    ended: float | None = None
    killed: bool = False
    out: bytes = b""
    err: bytes = b""
    # A reset: every row stored just before it began.
    before: set[tuple[str, tuple]] = field(default_factory=set)

    @property
    def alive(self) -> bool:
        return self.ended is None

    def signal(self, sig: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    # Files, not pipes: a process stopped or killed never blocks on a full pipe.
    out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _collect
    err = tempfile.TemporaryFile()  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_insert", *args],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        start_new_session=True,
    )
    proc._outputs = (out, err)  # type: ignore[attr-defined]
    return proc


def _collect(process: Process) -> None:
    out, err = process.popen._outputs  # type: ignore[attr-defined]
    for f in (out, err):
        f.seek(0)
    process.out, process.err = out.read(), err.read()
    out.close()
    err.close()


# --- the checker ---------------------------------------------------------------------------------


def read_rows(db_dir: Path, servers: dict[str, str] | None = None) -> dict[str, list[tuple]]:
    """Every row of the three tables (none for a file or table not there yet): from the
    PostgreSQL database in `servers` for a table there, else from its file in `db_dir`."""
    out: dict[str, list[tuple]] = {}
    for table, fields in TABLES.items():
        out[table] = []
        if servers and table in servers:
            with (
                psycopg.connect(servers[table], autocommit=True) as pg,
                suppress(psycopg.errors.UndefinedTable),
            ):
                out[table] = pg.execute(f"SELECT {', '.join(fields)} FROM {table}").fetchall()
            continue
        path = db_dir / f"{table}.db"
        if not path.exists():
            continue
        conn = sqlite3.connect(path, timeout=2)
        try:
            conn.execute("PRAGMA query_only=1")
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if ok != "ok":
                raise Violation(f"{table}.db: integrity_check says {ok}")
            try:
                out[table] = conn.execute(f"SELECT {', '.join(fields)} FROM {table}").fetchall()
            except sqlite3.OperationalError as e:
                if "no such table" not in str(e):
                    raise
        finally:
            conn.close()
    return out


class Checker:
    def __init__(
        self, db_dir: Path, datasets: list[Path], seed: int, servers: dict[str, str] | None
    ) -> None:
        self.db_dir = db_dir
        self.servers = servers
        self.seed = seed
        self.records: dict[int, dict[str, list[dict[str, Any]]]] = {
            k: {t: json.loads((d / f"{t}.json").read_text()) for t in TABLES}
            for k, d in enumerate(datasets)
        }
        self.known = {
            (t, tuple(r[f] for f in fields))
            for sets in self.records.values()
            for t, fields in TABLES.items()
            for r in sets[t]
        }
        self.checks = 0
        self.scheduled: Counter[str] = Counter()  # drawn from the seed: "run": 9, "kill": 2...
        self.happened: Counter[str] = Counter()  # "finished run": 3, "killed reset": 1, ...

    def fail(self, what: str) -> None:
        raise Violation(f"seed {self.seed}: {what}")

    def check(self, processes: list[Process], now: float) -> None:
        stored = read_rows(self.db_dir, self.servers)
        self.checks += 1
        ids = {t: [r[0] for r in rows] for t, rows in stored.items()}
        for table, table_ids in ids.items():
            if len(table_ids) != len(set(table_ids)):
                self.fail(f"an id stored twice in {table}")
        keys: dict[str, int] = {}
        for rid, _, email in stored["users"]:
            key = email.casefold()
            if key in keys:
                self.fail(f"{email!r} stored twice (users {keys[key]} and {rid})")
            keys[key] = rid
        users, products = set(ids["users"]), set(ids["products"])
        for order in stored["orders"]:
            if order[1] not in users or order[2] not in products:
                self.fail(f"order {order} names no stored user or product")
        rows = {(t, tuple(r)) for t, table_rows in stored.items() for r in table_rows}
        if rows - self.known:
            self.fail(f"rows that no data set holds: {sorted(rows - self.known)[:3]}")
        self._check_runs(processes, stored, now)
        self._check_resets(processes, rows)

    def _check_runs(
        self, processes: list[Process], stored: dict[str, list[tuple]], now: float
    ) -> None:
        by_id = {t: {r[0]: r for r in rows} for t, rows in stored.items()}
        resets = [p for p in processes if p.kind == "reset"]
        for run in processes:
            if run.kind != "run" or run.alive or run.killed:
                continue
            # Resets that may have removed what it stored: any that was alive after it began.
            if any(r.started < now and (r.ended is None or r.ended > run.started) for r in resets):
                continue
            report = json.loads(run.out)
            assert run.dataset is not None
            given = self.records[run.dataset]
            for record in report["records"]:
                if record["status"] != "inserted":
                    continue
                table = record["table"]
                values = tuple(given[table][record["position"] - 1][f] for f in TABLES[table])
                if by_id[table].get(values[0]) != values:
                    self.fail(
                        f"{table} {values} reported inserted by a finished run is not stored"
                        f" as given (stored: {by_id[table].get(values[0])})"
                    )

    def _check_resets(self, processes: list[Process], rows: set[tuple[str, tuple]]) -> None:
        for reset in processes:
            if reset.kind != "reset" or reset.alive or reset.killed:
                continue
            for table, row in reset.before & rows:
                k = dataset_of(table, row)
                if not any(
                    p.kind == "run"
                    and p.dataset == k
                    and (p.ended is None or p.ended > reset.started)
                    for p in processes
                ):
                    self.fail(f"{table} {row}: stored before a finished reset, still there")


# --- the schedule --------------------------------------------------------------------------------


@contextmanager
def stopped(processes: list[Process]) -> Iterator[None]:
    """Every live process stopped (SIGSTOP to its whole group), then let go on."""
    live = [p for p in processes if p.alive]
    for p in live:
        p.signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for p in live:
            p.signal(signal.SIGCONT)


def _reap(processes: list[Process], checker: Checker) -> None:
    for p in processes:
        if p.alive and p.popen.poll() is not None:
            p.ended = time.monotonic()
            _collect(p)
            err = p.err.decode(errors="replace")
            if not p.killed and (p.popen.returncode != 0 or "Traceback" in err):
                checker.fail(f"{p.kind} ended with exit code {p.popen.returncode}: {err[-2000:]}")


def at_one_instant(processes: list[Process], read: Callable[[], T]) -> T:
    """`read()` while every live process is stopped. A process stopped while it creates or
    opens a file may keep it locked for readers: then it goes on for a moment, and again."""
    for attempt in range(100):
        with stopped(processes):
            try:
                return read()
            except sqlite3.OperationalError as e:
                name = getattr(e, "sqlite_errorname", "")
                busy = name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_PROTOCOL"))
                if not busy or attempt == 99:
                    raise
        time.sleep(0.02)
    raise AssertionError("unreachable")


def _wait_for_room(processes: list[Process], checker: Checker, live: int) -> None:
    """Until fewer than `live` processes run (the machine has two cores)."""
    deadline = time.monotonic() + 300
    while sum(p.alive for p in processes) >= live:
        if time.monotonic() > deadline:
            checker.fail(f"{live} processes still running after 300 s")
        time.sleep(0.02)
        _reap(processes, checker)


def _check_point(processes: list[Process], checker: Checker) -> None:
    at_one_instant(processes, lambda: checker.check(processes, time.monotonic()))


def interleave(
    root: Path,
    seed: int,
    count: int,
    records: int = 600,
    datasets: int = 3,
    live: int = 4,
    servers: dict[str, str] | None = None,
) -> Checker:
    """Run `count` random steps against one set of stores (a database folder under `root`,
    with the tables in `servers` on PostgreSQL instead), checking as it goes; raises
    Violation on the first invariant broken."""
    rnd = random.Random(seed)
    db_dir = root / "db"
    checker = Checker(db_dir, make_datasets(root, rnd, datasets, records), seed, servers)
    stores = ["--db-dir", str(db_dir)]
    for table, uri in (servers or {}).items():
        stores += [f"--{table}-db", uri]
    processes: list[Process] = []
    try:
        for _ in range(count):
            step = rnd.choices(["run", "reset", "kill", "check"], [4, 2, 1, 3])[0]
            checker.scheduled[step] += 1
            if step in ("run", "reset"):
                _wait_for_room(processes, checker, live)
            _reap(processes, checker)
            if step == "run":
                k = rnd.randrange(datasets)
                args = ["run", "--headless", "--json", "--data", str(root / f"data{k}")]
                args += [*stores, "--workers", str(rnd.choice([1, 2, 4]))]
                if rnd.random() < 0.5:
                    args += ["--latency", "1ms"]  # a record a chunk: many short commits
                processes.append(Process("run", k, _start(args), time.monotonic()))
            elif step == "reset":
                before = at_one_instant(
                    processes,
                    lambda: {
                        (t, r) for t, rows in read_rows(db_dir, servers).items() for r in rows
                    },
                )
                started = time.monotonic()
                reset = _start(["reset", *stores])
                processes.append(Process("reset", None, reset, started, before=before))
            elif step == "kill":
                # The victim is one of the last processes started, alive or not, drawn so
                # that the schedule does not depend on timing; a finished one is left be.
                recent = processes[-live:]
                victim = recent[rnd.randrange(len(recent))] if recent else None
                if victim is not None and victim.alive:
                    victim.killed = True
                    victim.signal(signal.SIGKILL)
            else:
                _check_point(processes, checker)
            time.sleep(rnd.uniform(0, 0.4))
        deadline = time.monotonic() + 300
        while any(p.alive for p in processes):
            if time.monotonic() > deadline:
                checker.fail("processes still running 300 s after the last step")
            _reap(processes, checker)
            time.sleep(0.05)
        _check_point(processes, checker)
    finally:
        for p in processes:
            if p.alive:
                p.signal(signal.SIGCONT)
                p.signal(signal.SIGKILL)
                p.popen.wait()
                _collect(p)
    checker.happened = Counter(
        "killed " + p.kind if p.killed else ("finished " + p.kind) for p in processes
    )
    return checker


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="random steps (default 300)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--records", type=int, default=2000, help="records a table a data set")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="tui-insert-interleave-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        checker = interleave(root, args.seed, args.count, records=args.records)
    except Violation as e:
        print(f"VIOLATION: {e}\n(files kept in {root})", file=sys.stderr)
        return 1
    happened = ", ".join(f"{n} {what}s" for what, n in sorted(checker.happened.items()))
    print(
        f"ok: seed {args.seed}, {args.count} steps ({happened}), {checker.checks} check points,"
        f" {time.monotonic() - started:.0f} s"
    )
    if args.keep is None:
        import shutil

        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
