"""Benchmark of the headless engine on PostgreSQL stores against a PostgreSQL floor.

    python benchmarks/bench_postgres.py [--count N] [--rounds R] [--format json|jsonl]
                                        [--workdir DIR] [--invalid P] [--seed S]
                                        [--workers W] [--shared-buffers SIZE] [--no-sqlite]

Starts three real PostgreSQL servers (tests/pgserver.py; one per dataset, on 127.0.0.1, in a
temporary folder) with the server's default durability (fsync, full_page_writes and
synchronous_commit on) and the given shared_buffers. Generates the data once, as
bench_engine.py does and in the same place (`WORKDIR/data-json`, `WORKDIR/data-jsonl`, made
again only when --count, --invalid or --seed change). Then, R rounds, each in turn:

- `floor-pg`:   benchmarks/floor_postgres.py on the .json files (COPY, no checks);
- `engine-pg`:  tui-insert run --headless --json --data DATA --users-db U --products-db P
                --orders-db O (DATA in --format);
- and, unless --no-sqlite, `floor-sqlite` (benchmarks/floor.py on the .json files) and
  `engine-sqlite` (the same tui-insert run with --db-dir), on the same data.

Every PostgreSQL run gets new databases (CREATE DATABASE on each server, dropped after the
run), every SQLite run an empty folder; before each run the servers are made to CHECKPOINT so
that no run pays for the writes of the one before. Each command is a child process; its wall
time is taken around it, and its peak memory is the largest sum of the resident memory of the
command and its descendants (the servers are not among them). Reports go to files in WORKDIR.

Prints every run's wall time, the engine's own `elapsed_seconds` (from its report: the run
without the start, where each node parses its input, and without writing the report), the
CPU seconds of the command's processes and of the three servers during the run, peak memory
and rows stored per table; then the range of engine/floor over the rounds (each ratio taken
within a round), and whether the engine stored the same rows (by a digest of every row, in id
order) in every round, and on PostgreSQL the same as on SQLite. Exits 0 only if every command
succeeded, the rows agree, and the best engine-pg wall time is at most 1.5x the best floor-pg
one.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # tests.pgserver
sys.path.insert(0, str(HERE))  # bench_engine's helpers

import psycopg  # noqa: E402
from bench_engine import TreePeak, ensure_data, tail, tui_insert_command  # noqa: E402

from tests.pgserver import Server, Servers, binaries  # noqa: E402

TABLES = ("users", "products", "orders")
WALL_TARGET = 1.5  # engine on PostgreSQL: wall time at most this times the floor's
# Each table's columns in id order, for the digest of what a run stored.
COLUMNS = {
    "users": "id, name, email",
    "products": "id, name, price",
    "orders": "id, user_id, product_id, quantity",
}


@dataclass
class Run:
    """One measured run."""

    step: str
    round: int
    wall: float | None = None
    rss_mb: float | None = None
    cpu: float | None = None  # user + system seconds of the command and its descendants
    server_cpu: dict[str, float] = field(default_factory=dict)  # of each server, in the run
    elapsed: float | None = None  # the engine's own figure, from its report
    rows: dict[str, int | None] = field(default_factory=dict)
    digest: str | None = None
    error: str | None = None


TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def server_cpu_seconds(server: Server) -> float:
    """CPU seconds used so far by one server: the postmaster, the children it has reaped (its
    cutime and cstime: every backend that ended) and the children still running."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    fields = _stat(postmaster)
    ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            child = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile: counted in the postmaster's cutime instead
        if int(child[1]) == postmaster:
            ticks += int(child[11]) + int(child[12])
    return ticks / TICKS


def measure(cmd: list[str], out: Path, err: Path) -> tuple[float, float, float, int]:
    """Run `cmd`; its wall seconds, peak summed RSS of its process tree (MiB), CPU seconds
    (user + system, with the descendants it waited for), exit code."""
    with open(out, "wb") as fout, open(err, "wb") as ferr:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=fout, stderr=ferr)
        peak = TreePeak(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        peak.stop()
    proc.returncode = code = os.waitstatus_to_exitcode(status)  # Popen did not reap it
    cpu = usage.ru_utime + usage.ru_stime
    return wall, max(peak.peak_kb, usage.ru_maxrss) / 1024, cpu, code


def _digest_rows(cur: Any, h: Any) -> int:
    """Feed the rows `cur` returns to the hash `h`, 10,000 at a time; how many there were."""
    count = 0
    while batch := cur.fetchmany(10_000):
        h.update(repr(batch).encode())
        count += len(batch)
    return count


def pg_contents(uris: dict[str, str], digest: bool) -> tuple[dict[str, int | None], str | None]:
    """Rows per table in the three databases, and (if `digest`) a digest of all their rows."""
    rows: dict[str, int | None] = {}
    h = hashlib.sha256()
    for table, uri in uris.items():
        try:
            with psycopg.connect(uri) as conn:
                if not digest:
                    rows[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
                    continue
                with conn.cursor(name="digest") as cur:  # server-side: not all in memory
                    cur.execute(f"SELECT {COLUMNS[table]} FROM {table} ORDER BY id")
                    h.update(table.encode())
                    rows[table] = _digest_rows(cur, h)
        except psycopg.Error:
            rows[table] = None
            digest = False
    return rows, (h.hexdigest()[:16] if digest else None)


def sqlite_contents(db_dir: Path, digest: bool) -> tuple[dict[str, int | None], str | None]:
    rows: dict[str, int | None] = {}
    h = hashlib.sha256()
    for table in TABLES:
        try:
            con = sqlite3.connect(f"{(db_dir / f'{table}.db').as_uri()}?mode=ro", uri=True)
            try:
                if not digest:
                    rows[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    continue
                cur = con.execute(f"SELECT {COLUMNS[table]} FROM {table} ORDER BY id")
                h.update(table.encode())
                rows[table] = _digest_rows(cur, h)
            finally:
                con.close()
        except sqlite3.Error:
            rows[table] = None
            digest = False
    return rows, (h.hexdigest()[:16] if digest else None)


class Bench:
    def __init__(self, opts: argparse.Namespace, servers: Servers, tui: list[str]) -> None:
        self.opts = opts
        self.servers = servers
        self.tui = tui
        self.workdir: Path = opts.workdir
        self.data = {fmt: self.workdir / f"data-{fmt}" for fmt in ("json", "jsonl")}

    def checkpoint(self) -> None:
        for server in self.servers.servers.values():
            server.execute("CHECKPOINT")

    def engine_args(self) -> list[str]:
        args = [
            *self.tui,
            "run",
            "--headless",
            "--json",
            "--data",
            str(self.data[self.opts.format]),
        ]
        if self.opts.workers is not None:
            args += ["--workers", str(self.opts.workers)]
        return args

    def run_pg(self, step: str, rnd: int) -> Run:
        run = Run(step, rnd)
        dbname = f"bench_{step.replace('-', '_')}_{rnd}"
        servers = self.servers.servers
        for server in servers.values():
            server.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
            server.execute(f"CREATE DATABASE {dbname}")
        uris = {table: servers[table].uri(dbname) for table in TABLES}
        try:
            if step == "floor-pg":
                cmd = [sys.executable, str(HERE / "floor_postgres.py"), str(self.data["json"])]
                cmd += [uris[t] for t in TABLES]
            else:
                cmd = self.engine_args()
                for table in TABLES:
                    cmd += [f"--{table}-db", uris[table]]
            self._measure(run, cmd)
            run.rows, run.digest = pg_contents(uris, digest=step.startswith("engine"))
        finally:
            for server in servers.values():
                server.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        return run

    def run_sqlite(self, step: str, rnd: int) -> Run:
        run = Run(step, rnd)
        db_dir = self.workdir / f"db-pgbench-{step}"
        shutil.rmtree(db_dir, ignore_errors=True)
        db_dir.mkdir(parents=True)
        if step == "floor-sqlite":
            cmd = [sys.executable, str(HERE / "floor.py"), str(self.data["json"]), str(db_dir)]
        else:
            cmd = [*self.engine_args(), "--db-dir", str(db_dir)]
        self._measure(run, cmd)
        run.rows, run.digest = sqlite_contents(db_dir, digest=step.startswith("engine"))
        shutil.rmtree(db_dir, ignore_errors=True)
        return run

    def _measure(self, run: Run, cmd: list[str]) -> None:
        self.checkpoint()
        # One report a command, overwritten each round (a million-record report is 250 MB).
        out = self.workdir / f"pgbench-{run.step}.out"
        err = self.workdir / f"pgbench-{run.step}.stderr"
        servers = self.servers.servers
        before = {name: server_cpu_seconds(s) for name, s in servers.items()}
        try:
            wall, rss, cpu, code = measure(cmd, out, err)
        except OSError as e:
            run.error = f"cannot start {cmd[0]}: {e}"
            return
        run.server_cpu = {n: server_cpu_seconds(s) - before[n] for n, s in servers.items()}
        if code != 0:
            run.error = f"exit code {code}\n{tail(err.read_text(errors='replace'))}"
            return
        run.wall, run.rss_mb, run.cpu = wall, rss, cpu
        if run.step.startswith("engine"):
            run.elapsed = reported_elapsed(out)


def reported_elapsed(report: Path) -> float | None:
    """The `elapsed_seconds` at the end of the engine's JSON report."""
    try:
        with open(report, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 200))
            found = re.search(rb'"elapsed_seconds":\s*([0-9.]+)', f.read())
    except OSError:
        return None
    return float(found.group(1)) if found else None


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=1_000_000, help="records per table")
    p.add_argument("--rounds", type=int, default=3, help="rounds of runs in turn (default: 3)")
    p.add_argument(
        "--format",
        choices=("json", "jsonl"),
        default="json",
        help="the files the engine reads (the floors always read .json)",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=HERE / "work",
        help="data and outputs (default: benchmarks/work, git-ignored)",
    )
    p.add_argument("--invalid", type=float, default=0.05, help="share of invalid records")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, help="passed to tui-insert run (default: not passed)")
    p.add_argument(
        "--shared-buffers", default="256MB", help="each server's shared_buffers (default: 256MB)"
    )
    p.add_argument(
        "--no-sqlite", action="store_true", help="skip the runs on SQLite stores for comparison"
    )
    opts = p.parse_args()
    opts.json_data = opts.jsonl_data = None  # for bench_engine.ensure_data
    opts.workdir = opts.workdir.resolve()
    return opts


def ratio_range(runs: list[Run], num: str, den: str) -> tuple[float, float] | None:
    by = {(r.step, r.round): r for r in runs}
    ratios = []
    for (step, rnd), run in by.items():
        if step == num and run.wall is not None:
            other = by.get((den, rnd))
            if other is not None and other.wall:
                ratios.append(run.wall / other.wall)
    return (min(ratios), max(ratios)) if ratios else None


def cell(value: float | None, width: int, fmt: str = ".2f") -> str:
    return f"{value:{width}{fmt}}" if value is not None else f"{'-':>{width}}"


def span(values: list[float], fmt: str = ".2f") -> str:
    return f"{min(values):{fmt}}–{max(values):{fmt}}"


def report(runs: list[Run], steps: list[str], opts: argparse.Namespace, version: str) -> bool:
    """Print the runs and the summary; True if every run succeeded, the rows agree and the
    target is met."""
    print()
    print(
        f"{opts.count:,} records per table, {opts.invalid:.0%} invalid, seed {opts.seed};"
        f" engine reads .{opts.format}; workers {opts.workers or 'default'};"
        f" PostgreSQL {version}, shared_buffers {opts.shared_buffers}; {os.cpu_count()} CPUs"
    )
    head = (
        f"{'round':>5} {'command':<14} {'wall s':>7} {'own s':>6} {'cpu s':>6} {'srv cpu':>7}"
        f" {'peak MB':>7}  {'result':<6}"
    )
    head += "".join(f" {t:>9}" for t in TABLES) + "  digest"
    print(head)
    print("-" * len(head))
    for r in runs:
        server = sum(r.server_cpu.values()) if r.server_cpu else None
        rows = "".join(
            f" {r.rows[t]:>9,}" if r.rows.get(t) is not None else f" {'-':>9}" for t in TABLES
        )
        print(
            f"{r.round:>5} {r.step:<14} {cell(r.wall, 7)} {cell(r.elapsed, 6)}"
            f" {cell(r.cpu, 6, '.1f')} {cell(server, 7, '.1f')} {cell(r.rss_mb, 7, ',.0f')}"
            f"  {'FAIL' if r.error else 'ok':<6}{rows}  {r.digest or ''}"
        )
    print(
        "own s: the engine's elapsed_seconds; cpu s: user+system of the command and its"
        " processes;\nsrv cpu: of the three servers during the run; digest: of every row stored"
    )
    for r in runs:
        if r.error:
            print(f"\nFAIL round {r.round} {r.step}: {r.error}")

    print()
    for step in steps:
        done = [r for r in runs if r.step == step and r.error is None]
        if not done:
            continue
        line = f"{step:<14} wall {span([r.wall for r in done if r.wall is not None])} s"
        line += f", peak {span([r.rss_mb for r in done if r.rss_mb is not None], ',.0f')} MB"
        line += f", cpu {span([r.cpu for r in done if r.cpu is not None], '.1f')} s"
        if step.endswith("-pg"):
            per = {t: span([r.server_cpu[t] for r in done], ".1f") for t in TABLES}
            line += "; servers' cpu " + ", ".join(f"{t} {v}" for t, v in per.items()) + " s"
        print(line)
    pairs = [("engine-pg", "floor-pg")]
    if "engine-sqlite" in steps:
        pairs += [("engine-sqlite", "floor-sqlite"), ("engine-pg", "engine-sqlite")]
    for num, den in pairs:
        found = ratio_range(runs, num, den)
        if found:
            print(f"{num} / {den}, per round: {found[0]:.2f}–{found[1]:.2f}")

    ok = not any(r.error for r in runs)
    digests = {r.digest for r in runs if r.step.startswith("engine")}
    same = len(digests) == 1 and None not in digests
    print()
    print(
        f"{'PASS' if same else 'FAIL'}  the engine stored the same rows in every round"
        + (" and on both kinds of store" if "engine-sqlite" in steps else "")
        + f": {', '.join(sorted(str(d) for d in digests))}"
    )
    floor = [r.wall for r in runs if r.step == "floor-pg" and r.wall is not None]
    engine = [r.wall for r in runs if r.step == "engine-pg" and r.wall is not None]
    best = min(engine) / min(floor) if floor and engine else None
    met = best is not None and best <= WALL_TARGET
    print(
        f"{'PASS' if met else 'FAIL'}  engine-pg best wall <= {WALL_TARGET}x floor-pg best: "
        + (f"{best:.2f}x" if best is not None else "not measured")
    )
    return ok and same and met


def main() -> int:
    opts = parse_args()
    opts.workdir.mkdir(parents=True, exist_ok=True)
    tui = tui_insert_command()
    steps = ["floor-pg", "engine-pg"]
    if not opts.no_sqlite:
        steps += ["floor-sqlite", "engine-sqlite"]
    for fmt in sorted({"json", opts.format}):
        error = ensure_data(tui, opts.workdir, fmt, opts)
        if error:
            print(f"FAIL data-{fmt}: {error}")
            return 1

    settings = (f"shared_buffers={opts.shared_buffers}",)
    print(f"starting 3 PostgreSQL servers ({binaries()}; {', '.join(settings)}, durable) ...")
    runs: list[Run] = []
    with Servers(settings=settings) as servers:
        version = servers["users"].execute("SHOW server_version")[0][0]
        bench = Bench(opts, servers, tui)
        for rnd in range(1, opts.rounds + 1):
            for step in steps:
                print(f"[{rnd}/{opts.rounds}] {step} ...", end=" ", flush=True)
                run = (
                    bench.run_pg(step, rnd) if step.endswith("-pg") else bench.run_sqlite(step, rnd)
                )
                runs.append(run)
                done = f"{run.wall:.2f} s, {run.rss_mb:,.0f} MB" if run.wall is not None else ""
                print("FAIL" if run.error else done, flush=True)
    return 0 if report(runs, steps, opts, version) else 1


if __name__ == "__main__":
    raise SystemExit(main())
