"""Compare the headless run of two or more checkouts of tui-insert, in alternating runs.

    python benchmarks/compare.py --tree before=/path/to/old/checkout --tree after=. \
        [--rounds 3] [--count 1000000] [--format json] [--workdir benchmarks/work] [--rerun]

The machine's speed drifts from minute to minute, so one run of each is no comparison: every
round runs each tree once, in turn (A B A B ...), each on an empty database folder, and the
figures are the range over the rounds, with the ratio of each tree to the first taken within
each round. A tree is any folder holding a `tui_insert` package (a `git worktree` of another
commit, say); it is put first on PYTHONPATH for the run. The data set is the one
`bench_engine.py` generates (made here if it is missing). With `--rerun` the time is that of a
second run on the databases a first run (not timed) filled: every record a duplicate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def tree(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    folder = Path(path if sep else name).resolve()
    if not (folder / "tui_insert" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"{folder} holds no tui_insert package")
    return (name if sep else folder.name), folder


def ensure_data(workdir: Path, count: int, fmt: str) -> Path:
    data = workdir / f"compare-{fmt}-{count}"
    if not (data / f"orders.{fmt}").is_file():
        shutil.rmtree(data, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "tui_insert", "generate", "--out", str(data), "--count",
             str(count), "--invalid", "0.05", "--seed", "1", "--format", fmt],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return data


def timed_run(folder: Path, data: Path, db_dir: Path, *, rerun: bool = False) -> float:
    """The wall time of a run on an empty database folder; with `rerun`, of a second run on
    the databases a first (untimed) run filled, where every record is a duplicate."""
    shutil.rmtree(db_dir, ignore_errors=True)
    if rerun:
        timed_run(folder, data, db_dir)  # fills the databases
    env = {**os.environ, "PYTHONPATH": str(folder)}
    command = [sys.executable, "-m", "tui_insert", "run", "--headless", "--json",
               "--data", str(data), "--db-dir", str(db_dir)]  # fmt: skip
    started = time.perf_counter()
    # Started in the tree itself: `python -m` looks in the current folder first, before
    # PYTHONPATH, so started anywhere else a checkout would run its own code.
    # The report goes to a file, as a user's would: writing it (100+ MB for a million records a
    # table) is part of the run's cost, which /dev/null would leave out.
    with open(db_dir.parent / "compare-report.json", "wb") as report:
        done = subprocess.run(command, env=env, cwd=folder, stdout=report, stderr=subprocess.PIPE)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{folder}: exit {done.returncode}: {done.stderr.decode()[-2000:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=tree, action="append", required=True, metavar="NAME=DIR")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--format", choices=("json", "jsonl", "csv"), default="json")
    parser.add_argument("--workdir", type=Path, default=HERE / "work")
    parser.add_argument(
        "--rerun", action="store_true", help="time a rerun on the databases a first run filled"
    )
    args = parser.parse_args()
    if len(args.tree) < 2:
        parser.error("give at least two --tree")
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = ensure_data(args.workdir, args.count, args.format)
    walls: dict[str, list[float]] = {name: [] for name, _ in args.tree}
    what = "reruns" if args.rerun else "runs"
    print(
        f"{args.count:,} records a table ({args.format}), {args.rounds} rounds of {what}, in turn:"
    )
    for round_ in range(1, args.rounds + 1):
        for name, folder in args.tree:
            took = timed_run(folder, data, args.workdir / "compare-db", rerun=args.rerun)
            walls[name].append(took)
            print(f"  round {round_}  {name:<12} {took:7.2f} s", flush=True)
    first = args.tree[0][0]
    print(f"\n{'tree':<12} {'min s':>7} {'median':>7} {'max s':>7}   x {first} (per round)")
    for name, _ in args.tree:
        ratios = [w / b for w, b in zip(walls[name], walls[first], strict=True)]
        print(
            f"{name:<12} {min(walls[name]):7.2f} {statistics.median(walls[name]):7.2f}"
            f" {max(walls[name]):7.2f}   {min(ratios):.3f}–{max(ratios):.3f}"
        )
    shutil.rmtree(args.workdir / "compare-db", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
