"""The headless engine against the floor, side by side: the targets of the "faster than the floor"
issue, measured in one run.

    python benchmarks/bench_engine.py [--count N] [--invalid P] [--seed S] [--workdir DIR]
                                      [--rounds R] [--formats json,jsonl,csv] [--workers W]
                                      [--json-data DIR] [--jsonl-data DIR] [--csv-data DIR]

Generates a data set once per format with `tui-insert generate` (kept in WORKDIR and made
again only when --count, --invalid or --seed change). Then, R rounds, each of them in turn:
for every format the floor (`floor.py --format FMT`) and the engine (`tui-insert run
--headless --json`), each on an empty database folder; and the engine once more on the
databases its `.json` run of that round filled (a rerun: every record a duplicate). Every
command is a child process; its wall time is taken around it, its peak memory is the largest
sum of the resident memory of the command and all its descendants (tui-insert runs one node
process per table), sampled from /proc every 20 ms.

Prints every run, then per pair the ratio within each round (the machine's speed drifts from
minute to minute: a ratio between two runs an hour apart says nothing), its median and range,
and the targets, judged on the medians: the engine at most 1.0x its floor in every format, the
rerun at most 1.0x the first run, the `.jsonl` run's peak memory at most 150 MB and the
`.json` run's at most the floor's. Exits 0 only if every command succeeded and every target
passes.
"""

import argparse
import json
import os
import shutil
import sqlite3
import statistics
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
FORMATS = ("json", "jsonl", "csv")
WALL_TARGET = 1.0  # the engine's wall time at most this times its floor's (median ratio)
RERUN_TARGET = 1.0  # a rerun at most this times the first run
RSS_TARGET_MB = 150  # the .jsonl run's peak memory, the whole process tree


@dataclass
class Run:
    """One measured command."""

    name: str
    round: int
    wall: float = 0.0
    rss_mb: float = 0.0
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


def measure(
    name: str, rnd: int, cmd: list[str], db_dir: Path, out: Path, workdir: Path, fresh: bool = True
) -> Run:
    """Run `cmd` once (on an empty `db_dir` if `fresh`): wall time, peak RSS and rows."""
    run = Run(name, rnd)
    if fresh:
        shutil.rmtree(db_dir, ignore_errors=True)
    db_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = workdir / f"{name}.stderr"
    with open(out, "wb") as stdout, open(stderr_path, "wb") as err:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=stdout, stderr=err)
        except OSError as e:
            run.error = f"cannot start {cmd[0]}: {e}"
            return run
        peak = TreePeak(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        run.wall = time.perf_counter() - start
        peak.stop()
    proc.returncode = code = os.waitstatus_to_exitcode(status)  # Popen did not reap it
    run.rows = count_rows(db_dir)
    if code != 0:
        run.error = f"exit code {code}\n{tail(stderr_path.read_text(errors='replace'))}"
    # The sampled sum of the tree; never less than the largest single process (ru_maxrss, kB).
    run.rss_mb = max(peak.peak_kb, usage.ru_maxrss) / 1024
    return run


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
    p.add_argument("--rounds", type=int, default=3, help="rounds of every command, in turn")
    p.add_argument(
        "--formats",
        default=",".join(FORMATS),
        help="the formats measured, comma-separated (default: json,jsonl,csv)",
    )
    p.add_argument("--workers", type=int, help="passed to tui-insert run (default: not passed)")
    for fmt in FORMATS:
        p.add_argument(
            f"--{fmt}-data",
            type=Path,
            metavar="DIR",
            help=f"use this folder of .{fmt} files instead of generating one",
        )
    opts = p.parse_args()
    opts.formats = [f.strip() for f in opts.formats.split(",") if f.strip()]
    for fmt in opts.formats:
        if fmt not in FORMATS:
            p.error(f"unknown format {fmt!r} (json, jsonl, csv)")
    return opts


def ratios(runs: list[Run], name: str, base: str) -> list[float]:
    """`name`'s wall time over `base`'s, within each round where both succeeded."""
    by = {(r.name, r.round): r for r in runs if r.error is None}
    return [
        by[name, i].wall / by[base, i].wall
        for i in sorted({r.round for r in runs})
        if (name, i) in by and (base, i) in by
    ]


def judged(values: list[float], target: float, what: str, unit: str = "x") -> tuple[str, bool]:
    if not values:
        return f"{what}: not measured", False
    median = statistics.median(values)
    spread = f"{min(values):.2f}-{max(values):.2f}{unit}"
    return f"{what}: median {median:.2f}{unit} (range {spread})", median <= target


def main() -> int:
    opts = parse_args()
    workdir = opts.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    tui = tui_insert_command()
    print(f"tui-insert: {' '.join(tui)}")
    for fmt in opts.formats:
        error = ensure_data(tui, workdir, fmt, opts)
        if error:
            print(f"FAIL data-{fmt}: {error}")
            return 1
    engine = [*tui, "run", "--headless", "--json"]
    if opts.workers is not None:
        engine += ["--workers", str(opts.workers)]
    runs: list[Run] = []

    def note(run: Run) -> None:
        runs.append(run)
        rows = " ".join(f"{run.rows.get(t) or 0:>9,}" for t in TABLES)
        verdict = "FAIL" if run.error else "ok"
        print(
            f"{run.round:>5}  {run.name:<14} {run.wall:7.2f} s {run.rss_mb:7.0f} MB  {verdict:<4}"
            f" {rows}",
            flush=True,
        )

    print(f"\n{'round':>5}  {'command':<14} {'wall':>9} {'peak':>10}  {'':<4} {'  '.join(TABLES)}")
    for rnd in range(1, opts.rounds + 1):
        for fmt in opts.formats:
            data = str(data_dir(workdir, fmt, opts))
            db = workdir / f"db-{fmt}"
            floor = [sys.executable, str(HERE / "floor.py"), data, str(workdir / "db-floor")]
            note(
                measure(
                    f"floor-{fmt}", rnd, [*floor, "--format", fmt], workdir / "db-floor",
                    workdir / "floor.out", workdir,
                )
            )  # fmt: skip
            cmd = [*engine, "--data", data, "--db-dir", str(db)]
            note(measure(f"engine-{fmt}", rnd, cmd, db, workdir / f"engine-{fmt}.json", workdir))
            if fmt == opts.formats[0]:
                # The same input again on what that run stored: nothing new is written.
                rerun = measure(
                    f"rerun-{fmt}", rnd, cmd, db, workdir / f"rerun-{fmt}.json", workdir,
                    fresh=False,
                )  # fmt: skip
                note(rerun)

    for run in runs:
        if run.error:
            print(f"\nFAIL {run.name} (round {run.round}): {run.error}")
    data = f"{opts.count:,} records per table, {opts.invalid:.0%} invalid, seed {opts.seed}"
    workers = opts.workers if opts.workers is not None else "default"
    print(f"\n{data}; workers {workers}; {opts.rounds} rounds; {os.cpu_count()} CPUs")
    verdicts = []
    for fmt in opts.formats:
        verdicts.append(
            judged(
                ratios(runs, f"engine-{fmt}", f"floor-{fmt}"),
                WALL_TARGET,
                f"engine-{fmt} / floor-{fmt} <= {WALL_TARGET}",
            )
        )
    first = opts.formats[0]
    verdicts.append(
        judged(
            ratios(runs, f"rerun-{first}", f"engine-{first}"),
            RERUN_TARGET,
            f"rerun-{first} / engine-{first} <= {RERUN_TARGET}",
        )
    )
    peaks = {
        name: [r.rss_mb for r in runs if r.name == name and r.error is None]
        for name in ("engine-jsonl", "engine-json", "floor-json")
    }
    if "jsonl" in opts.formats:
        verdicts.append(
            judged(peaks["engine-jsonl"], RSS_TARGET_MB, f"engine-jsonl peak <= {RSS_TARGET_MB} MB",
                   " MB")
        )  # fmt: skip
    if "json" in opts.formats:
        by = {(r.name, r.round): r.rss_mb for r in runs if r.error is None}
        memory = [
            by["engine-json", i] / by["floor-json", i]
            for i in range(1, opts.rounds + 1)
            if ("engine-json", i) in by and ("floor-json", i) in by
        ]
        verdicts.append(judged(memory, 1.0, "engine-json peak / floor-json peak <= 1.0"))
    for label, ok in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    passed = all(r.error is None for r in runs) and all(ok for _, ok in verdicts)
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
