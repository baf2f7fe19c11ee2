"""Peak memory and time of a headless run on a wide CSV: a users file of many columns, of
which only id, name and email are the table's (the rest are ignored, and must not be kept).

    python benchmarks/bench_wide_csv.py [--columns 10000] [--rows 10000] [--tree DIR ...]

Each tree (a folder holding a `tui_insert` package, e.g. a `git worktree` of another commit;
default: this checkout) runs once in turn per round, on an empty database folder; the peak is
the summed resident memory of the run's processes, sampled from /proc.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_engine import TreePeak  # noqa: E402


def wide_data(folder: Path, columns: int, rows: int) -> Path:
    data = folder / f"wide-{columns}x{rows}"
    users = data / "users.csv"
    if users.is_file():
        return data
    data.mkdir(parents=True, exist_ok=True)
    extra = columns - 3
    with open(users, "w") as f:
        f.write("id,name,email," + ",".join(f"c{i}" for i in range(extra)) + "\n")
        filler = ",".join("x" for _ in range(extra))
        for i in range(1, rows + 1):
            f.write(f"{i},name {i},u{i}@example.com,{filler}\n")
    (data / "products.json").write_text("[]")
    (data / "orders.json").write_text("[]")
    return data


def run_once(tree: Path, data: Path, work: Path) -> tuple[float, float]:
    db_dir = work / "db"
    shutil.rmtree(db_dir, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-m", "tui_insert", "run", "--headless", "--json",
           "--data", str(data), "--db-dir", str(db_dir)]  # fmt: skip
    start = time.perf_counter()
    # Started in the tree: `python -m` looks in the current folder before PYTHONPATH.
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tree
    )
    peak = TreePeak(proc.pid)
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    peak.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: exit code {proc.returncode}: {err.decode()[-500:]}")
    return wall, peak.peak_kb / 1024


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--columns", type=int, default=10_000)
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--tree", type=Path, action="append", help="default: this checkout")
    p.add_argument("--workdir", type=Path, default=HERE / "work")
    opts = p.parse_args()
    trees = [t.resolve() for t in opts.tree or [HERE.parent]]
    data = wide_data(opts.workdir, opts.columns, opts.rows)
    size = (data / "users.csv").stat().st_size / 1e6
    print(f"users.csv: {opts.columns:,} columns x {opts.rows:,} rows, {size:,.0f} MB")
    for r in range(1, opts.rounds + 1):
        for tree in trees:
            wall, peak = run_once(tree, data, opts.workdir)
            print(f"  round {r}  {tree}: {wall:6.2f} s  peak {peak:8,.0f} MB", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
