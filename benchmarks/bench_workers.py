"""Whether more workers pay: the `--workers` targets of the "faster than the floor" issue.

    python benchmarks/bench_workers.py [--count N] [--rounds R] [--workdir DIR] [--skip-large]

Two measures, each over R alternating rounds (every round runs each setting once, in turn):

- **No latency**: `tui-insert run --headless --json --workers W` for W in 1, 4 and 16 on an
  empty database folder, on the `.json` data set of `bench_engine.py` (N records a table, 5 %
  invalid, seed 1; made once in WORKDIR/data-json). Wall time around the command. Target:
  the median of 4 and of 16 workers each within 1.05x the median of 1 worker.
- **With latency**: `--latency 50ms` on 200 records a table (generated into
  WORKDIR/data-latency), 1 worker against 4. Time by the report's `elapsed_seconds`. Target:
  the median of 4 workers at least 3x sooner than the median of 1.

Prints every run, the medians and ranges, and the verdicts; exits 0 only if every command
succeeded and both targets pass. Do not run it while the tests run: the machine has two cores.
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from bench_engine import HERE, ensure_data, measure, tui_insert_command

WORKERS = (1, 4, 16)
SLOWER_AT_MOST = 1.05  # more workers at most this times the run with one
LATENCY_FASTER_AT_LEAST = 3.0  # 4 workers at least this much sooner with --latency 50ms
LATENCY_RECORDS = 200


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=1_000_000, help="records per table (no latency)")
    p.add_argument("--rounds", type=int, default=5, help="rounds of every setting, in turn")
    p.add_argument("--workdir", type=Path, default=HERE / "work", help="default: benchmarks/work")
    p.add_argument("--skip-large", action="store_true", help="only the --latency measure")
    opts = p.parse_args()
    # What ensure_data reads: the data set of bench_engine.py.
    opts.invalid, opts.seed, opts.json_data = 0.05, 1, None
    return opts


def spread(values: list[float], unit: str = " s") -> str:
    median, low, high = statistics.median(values), min(values), max(values)
    return f"median {median:.2f}{unit} (range {low:.2f}-{high:.2f}{unit})"


def main() -> int:
    opts = parse_args()
    workdir = opts.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    tui = tui_insert_command()
    ok = True
    verdicts: list[str] = []

    if not opts.skip_large:
        if (error := ensure_data(tui, workdir, "json", opts)) is not None:
            print(f"FAIL data: {error}")
            return 1
        walls: dict[int, list[float]] = {w: [] for w in WORKERS}
        for rnd in range(1, opts.rounds + 1):
            for workers in WORKERS:
                cmd = [*tui, "run", "--headless", "--json", "--workers", str(workers),
                       "--data", str(workdir / "data-json"),
                       "--db-dir", str(workdir / "db-workers")]  # fmt: skip
                run = measure(
                    f"workers-{workers}", rnd, cmd, workdir / "db-workers",
                    workdir / "workers.json", workdir,
                )  # fmt: skip
                if run.error is not None:
                    print(f"FAIL round {rnd} --workers {workers}: {run.error}")
                    ok = False
                    continue
                walls[workers].append(run.wall)
                print(f"round {rnd}  --workers {workers:<2}  {run.wall:6.2f} s", flush=True)
        base = statistics.median(walls[1]) if walls[1] else None
        for workers in WORKERS:
            if not walls[workers]:
                continue
            line = f"--workers {workers:<2} on {opts.count:,} a table: {spread(walls[workers])}"
            if workers != 1 and base:
                ratio = statistics.median(walls[workers]) / base
                passed = ratio <= SLOWER_AT_MOST
                ok &= passed
                line += f", {ratio:.2f}x of 1 worker: {'PASS' if passed else 'FAIL'}"
                line += f" (target <= {SLOWER_AT_MOST}x)"
            verdicts.append(line)

    small = workdir / "data-latency"
    shutil.rmtree(small, ignore_errors=True)
    made = subprocess.run(
        [*tui, "generate", "--out", str(small), "--count", str(LATENCY_RECORDS),
         "--invalid", "0.05", "--seed", "1", "--format", "json"],
        capture_output=True, text=True,
    )  # fmt: skip
    if made.returncode != 0:
        print(f"FAIL data: {made.stderr.strip()}")
        return 1
    elapsed: dict[int, list[float]] = {1: [], 4: []}
    for rnd in range(1, opts.rounds + 1):
        for workers in elapsed:
            cmd = [*tui, "run", "--headless", "--json", "--workers", str(workers),
                   "--latency", "50ms", "--data", str(small),
                   "--db-dir", str(workdir / "db-latency")]  # fmt: skip
            out = workdir / "latency.json"
            run = measure(f"latency-{workers}", rnd, cmd, workdir / "db-latency", out, workdir)
            if run.error is not None:
                print(f"FAIL round {rnd} --latency 50ms --workers {workers}: {run.error}")
                ok = False
                continue
            seconds = json.loads(out.read_text())["elapsed_seconds"]
            elapsed[workers].append(seconds)
            print(f"round {rnd}  --latency 50ms --workers {workers}  {seconds:6.2f} s", flush=True)
    if elapsed[1] and elapsed[4]:
        sooner = statistics.median(elapsed[1]) / statistics.median(elapsed[4])
        passed = sooner >= LATENCY_FASTER_AT_LEAST
        ok &= passed
        what = f"--latency 50ms, {LATENCY_RECORDS} a table"
        verdicts.append(f"{what}, 1 worker: {spread(elapsed[1])}")
        verdicts.append(
            f"{what}, 4 workers: {spread(elapsed[4])}, "
            f"{sooner:.2f}x sooner: {'PASS' if passed else 'FAIL'} "
            f"(target >= {LATENCY_FASTER_AT_LEAST}x)"
        )
    print()
    for line in verdicts:
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
