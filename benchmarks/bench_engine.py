"""Benchmark of the headless engine against the floor (benchmarks/floor.py).

    python benchmarks/bench_engine.py [--count N] [--invalid P] [--seed S] [--workdir DIR]
                                      [--workers W] [--repeat R]
                                      [--json-data DIR] [--jsonl-data DIR]

Generates a data set once per format with `tui-insert generate` (kept in WORKDIR and made
again only when --count, --invalid or --seed change), then runs each measured command on an
empty database folder as a child process and reads its wall time and peak memory: the largest
sum of the resident memory of the command and all its descendants (tui-insert runs one node
process per table), sampled from /proc every 20 ms. Prints a table, the row count of each
database a run produced, and the two targets: the headless JSON run takes at most 1.5x the
floor's wall time, and the JSONL run stays under 300 MB peak RSS. Exits 0 only if every
command succeeded and both targets pass.
"""

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TABLES = ("users", "products", "orders")
FORMATS = ("json", "jsonl")
WALL_TARGET = 1.5  # headless --json run: wall time at most this times the floor's
RSS_TARGET_MB = 300  # headless run on JSONL: peak RSS below this


@dataclass
class Step:
    """One measured command; `fmt` is the data it reads, `out` the file its stdout goes to."""

    name: str
    fmt: str
    args: list[str]
    out: str
    walls: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    rows: dict[str, int | None] = field(default_factory=dict)
    error: str | None = None


def tui_insert_command() -> list[str]:
    exe = shutil.which("tui-insert")
    return [exe] if exe else [sys.executable, "-m", "tui_insert"]


def tail(text: str, lines: int = 15) -> str:
    """The last lines of a command's error output, indented under the FAIL line."""
    return textwrap.indent("\n".join(text.rstrip().splitlines()[-lines:]), "    ")


def ensure_data(tui: list[str], workdir: Path, fmt: str, opts: argparse.Namespace) -> str | None:
    """Generate WORKDIR/data-FMT unless it is already there for these parameters.

    Returns None when the data is ready, else the error to report.
    """
    out = data_dir(workdir, fmt, opts)
    if out != workdir / f"data-{fmt}":
        print(f"data-{fmt}: using {out} as given")
        return None if out.is_dir() else f"{out} is not a folder"
    marker = workdir / f"data-{fmt}.params.json"  # beside the folder, so the engine never sees it
    params = {"count": opts.count, "invalid": opts.invalid, "seed": opts.seed, "format": fmt}
    if out.is_dir() and marker.is_file() and marker.read_text() == json.dumps(params):
        print(f"data-{fmt}: reusing {out}")
        return None
    marker.unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        *tui,
        "generate",
        "--out",
        str(out),
        "--count",
        str(opts.count),
        "--invalid",
        str(opts.invalid),
        "--seed",
        str(opts.seed),
        "--format",
        fmt,
    ]
    print(f"data-{fmt}: generating {opts.count:,} records per table ...", flush=True)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    except OSError as e:
        return f"cannot start {cmd[0]}: {e}"
    if proc.returncode != 0:
        return (
            f"`{' '.join(cmd)}` exited with {proc.returncode}\n{tail(proc.stderr or proc.stdout)}"
        )
    marker.write_text(json.dumps(params))
    print(f"data-{fmt}: generated in {time.perf_counter() - start:.1f} s")
    return None


def data_dir(workdir: Path, fmt: str, opts: argparse.Namespace) -> Path:
    given = getattr(opts, f"{fmt}_data")
    return given.resolve() if given else workdir / f"data-{fmt}"


def count_rows(db_dir: Path) -> dict[str, int | None]:
    rows: dict[str, int | None] = {}
    for table in TABLES:
        path = db_dir / f"{table}.db"
        try:
            con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
            try:
                rows[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error:
            rows[table] = None
    return rows


def tree_rss_kb(root: int) -> int:
    """Resident memory of `root` and all its descendants, in kB, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sum(rss.get(pid, 0) for pid in tree)


class TreePeak:
    """Samples the summed RSS of a process tree until stopped; `peak_kb` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.02):
            self.peak_kb = max(self.peak_kb, tree_rss_kb(self.pid))

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def measure(step: Step, data: Path, workdir: Path) -> None:
    """Run the step once on an empty database folder; record wall time, peak RSS and rows."""
    db_dir = workdir / f"db-{step.name}"
    shutil.rmtree(db_dir, ignore_errors=True)
    db_dir.mkdir(parents=True)
    cmd = [a.format(data=data, db=db_dir) for a in step.args]
    stderr_path = workdir / f"{step.name}.stderr"
    with open(workdir / step.out, "wb") as out, open(stderr_path, "wb") as err:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=err)
        except OSError as e:
            step.error = f"cannot start {cmd[0]}: {e}"
            return
        peak = TreePeak(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        peak.stop()
    proc.returncode = code = os.waitstatus_to_exitcode(status)  # Popen did not reap it
    step.rows = count_rows(db_dir)
    if code != 0:
        step.error = f"exit code {code}\n{tail(stderr_path.read_text(errors='replace'))}"
        return
    step.walls.append(wall)
    # The sampled sum of the tree; never less than the largest single process (ru_maxrss, kB).
    step.rss_mb.append(max(peak.peak_kb, usage.ru_maxrss) / 1024)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=1_000_000, help="records per table")
    p.add_argument("--invalid", type=float, default=0.05, help="share of invalid records")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--workdir",
        type=Path,
        default=HERE / "work",
        help="data, databases and outputs (default: benchmarks/work, git-ignored)",
    )
    p.add_argument("--workers", type=int, help="passed to tui-insert run (default: not passed)")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each command; the best wall time and the highest RSS count",
    )
    for fmt in FORMATS:
        p.add_argument(
            f"--{fmt}-data",
            type=Path,
            metavar="DIR",
            help=f"use this folder of .{fmt} files instead of generating one",
        )
    return p.parse_args()


def targets(steps: list[Step]) -> list[tuple[str, bool]]:
    """The two targets, each with what was measured and whether it is met."""
    by_name = {s.name: s for s in steps}
    floor, hjson, hjsonl = by_name["floor"], by_name["headless-json"], by_name["headless-jsonl"]
    ratio = min(hjson.walls) / min(floor.walls) if floor.walls and hjson.walls else None
    rss = max(hjsonl.rss_mb) if hjsonl.rss_mb else None
    return [
        (
            f"headless --json wall time <= {WALL_TARGET}x floor: "
            + (f"{ratio:.2f}x" if ratio is not None else "not measured"),
            ratio is not None and ratio <= WALL_TARGET,
        ),
        (
            f"headless on JSONL peak RSS < {RSS_TARGET_MB} MB: "
            + (f"{rss:.0f} MB" if rss is not None else "not measured"),
            rss is not None and rss < RSS_TARGET_MB,
        ),
    ]


def report(steps: list[Step], opts: argparse.Namespace) -> None:
    floor = steps[0]
    floor_wall = min(floor.walls) if floor.walls else None
    print()
    if opts.json_data or opts.jsonl_data:
        data = f"data {opts.json_data or 'generated'} / {opts.jsonl_data or 'generated'}"
    else:
        data = f"{opts.count:,} records per table, {opts.invalid:.0%} invalid, seed {opts.seed}"
    workers = opts.workers if opts.workers is not None else "default"
    print(f"{data}; workers {workers}; repeat {opts.repeat} (best wall, highest RSS)")
    head = f"{'command':<16} {'wall s':>8} {'peak MB':>8} {'x floor':>8}  {'result':<6}"
    head += "".join(f" {t:>10}" for t in TABLES)  # rows stored in each database
    print(head)
    print("-" * len(head))
    for s in steps:
        wall = f"{min(s.walls):8.2f}" if s.walls else f"{'-':>8}"
        rss = f"{max(s.rss_mb):8.0f}" if s.rss_mb else f"{'-':>8}"
        ratio = f"{min(s.walls) / floor_wall:8.2f}" if s.walls and floor_wall else f"{'-':>8}"
        result = "FAIL" if s.error else "ok"
        rows = "".join(
            f" {s.rows[t]:>10,}" if s.rows.get(t) is not None else f" {'-':>10}" for t in TABLES
        )
        print(f"{s.name:<16} {wall} {rss} {ratio}  {result:<6}{rows}")
    for s in steps:
        if s.error:
            print(f"\nFAIL {s.name}: {s.error}")
    print()
    for label, ok in targets(steps):
        print(f"{'PASS' if ok else 'FAIL'}  {label}")


def main() -> int:
    opts = parse_args()
    workdir = opts.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    tui = tui_insert_command()
    print(f"tui-insert: {' '.join(tui)}")

    data_errors = {fmt: ensure_data(tui, workdir, fmt, opts) for fmt in FORMATS}
    for fmt, error in data_errors.items():
        if error:
            print(f"FAIL data-{fmt}: {error}")

    run = [*tui, "run", "--headless", "--data", "{data}", "--db-dir", "{db}"]
    if opts.workers is not None:
        run += ["--workers", str(opts.workers)]
    steps = [
        Step(
            "floor", "json", [sys.executable, str(HERE / "floor.py"), "{data}", "{db}"], "floor.out"
        ),
        Step("headless-json", "json", [*run, "--json"], "headless-json.json"),
        Step("headless-jsonl", "jsonl", [*run, "--json"], "headless-jsonl.json"),
        Step("headless-plain", "json", run, "headless-plain.txt"),
    ]
    for step in steps:
        if data_errors[step.fmt]:
            step.error = f"no data-{step.fmt}"

    # Round-robin over the repeats, so a slow spell of the machine hits every command alike.
    for i in range(opts.repeat):
        for step in steps:
            if step.error:
                continue
            print(f"[{i + 1}/{opts.repeat}] {step.name} ...", flush=True)
            measure(step, data_dir(workdir, step.fmt, opts), workdir)

    report(steps, opts)
    passed = all(not s.error for s in steps) and all(ok for _, ok in targets(steps))
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
