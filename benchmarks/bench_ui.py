"""Benchmark of the live UI against the headless run, on the same large data.

    python benchmarks/bench_ui.py [--data DIR] [--workdir DIR] [--rounds R]

Measures, on generated data (default: benchmarks/work/data-json, as made by bench_engine.py,
1,000,000 records per table) and no simulated latency, R rounds (3), each measure in turn:

1. the headless run: `tui-insert run --headless --json` as a child process, wall time;
2. the UI run: the real app (Textual's headless driver, in this process) from start until the
   summary is on screen; and the longest gap between two refreshes of the panels while the
   run was going;
3. quitting mid-run: `q` pressed once a third of the users are in; the time until the app has
   exited and every node process has ended.

`--spool-outcomes` has the app's runs write every record's outcome line, as a headless run
does for its report (the app writes none): the app's own cost against the same work.

Targets: the UI run at most 1.05x the headless run of the same round (median over the rounds);
panels refreshed at least every 0.25 s, and q ending everything within 0.5 s, in every round.
Exits 0 when all three pass.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tui_insert.core.engine import Run
from tui_insert.core.sources import find_sources
from tui_insert.ui.app import RunSettings, TuiInsertApp, make_app
from tui_insert.ui.summary_screen import SummaryScreen

HERE = Path(__file__).resolve().parent
UI_TARGET = 1.05  # the UI run at most this times the headless run (median of the rounds)
GAP_TARGET = 0.25  # seconds between two refreshes of the panels, at most, in every round
QUIT_TARGET = 0.5  # seconds from q mid-run until the app and every node have ended


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def headless(data: Path, workdir: Path) -> float:
    db_dir = fresh(workdir / "db-headless")
    command = [
        sys.executable, "-m", "tui_insert", "run", "--headless", "--json",
        "--data", str(data), "--db-dir", str(db_dir),
    ]  # fmt: skip
    with open(workdir / "headless.json", "wb") as out:
        start = time.perf_counter()
        subprocess.run(command, stdout=out, check=True)
        return time.perf_counter() - start


class TimedApp(TuiInsertApp):
    """The app, noting when it refreshes its panels."""

    refreshes: list[float]

    def refresh_panels(self) -> None:
        super().refresh_panels()
        run = self.run_in_progress
        if run is not None and run.started_at is not None and not run.finished:
            self.refreshes.append(time.perf_counter())


class SpoolingSettings(RunSettings):
    """Settings whose runs spool every outcome line, as a headless run does."""

    def new_run(self, **kw: Any) -> Run:
        run = super().new_run(**kw)
        run.spool_outcomes = True
        return run


async def ui_run(data: Path, workdir: Path, *, spool_outcomes: bool) -> tuple[float, float]:
    kind = SpoolingSettings if spool_outcomes else RunSettings
    settings = kind(find_sources(data), fresh(workdir / "db-ui"), latency=0.0)
    make_app(settings)  # starts what the app needs before Textual takes over stderr
    app = TimedApp(settings)
    app.refreshes = []
    start = time.perf_counter()
    async with app.run_test(size=(160, 40)) as pilot:
        # Not pilot.pause(): it posts a message to every widget each time, 20 times a second,
        # work of the test harness that a person's terminal never does.
        while not isinstance(app.screen, SummaryScreen):
            await asyncio.sleep(0.05)
        took = time.perf_counter() - start
        await pilot.press("q")
    gaps = [b - a for a, b in zip(app.refreshes, app.refreshes[1:], strict=False)]
    return took, max(gaps, default=0.0)


async def quit_mid_run(data: Path, workdir: Path) -> float:
    settings = RunSettings(find_sources(data), fresh(workdir / "db-quit"), latency=0.0)
    app = make_app(settings)
    async with app.run_test(size=(160, 40)) as pilot:
        run = app.run_in_progress
        assert run is not None
        while (
            run.progress["users"].processed < run.progress["users"].total / 3
            or not run.progress["users"].total
        ):
            await pilot.pause(0.05)
        pressed = time.perf_counter()
        await pilot.press("q")
    ended = run.wait(30)
    took = time.perf_counter() - pressed
    assert ended, "node processes still running"
    return took


def spread(values: list[float], unit: str) -> str:
    median, low, high = statistics.median(values), min(values), max(values)
    return f"median {median:.2f}{unit} (range {low:.2f}-{high:.2f}{unit})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=HERE / "work" / "data-json")
    parser.add_argument("--workdir", type=Path, default=HERE / "work")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every measure, in turn")
    parser.add_argument(
        "--spool-outcomes",
        action="store_true",
        help="the app's runs write every outcome line, as the headless run does",
    )
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"{args.data}: no data; make it with python benchmarks/bench_engine.py")
        return 2
    ratios: list[float] = []
    gaps: list[float] = []
    quits: list[float] = []
    for rnd in range(1, args.rounds + 1):
        base = headless(args.data, args.workdir)
        took, gap = asyncio.run(ui_run(args.data, args.workdir, spool_outcomes=args.spool_outcomes))
        quit_seconds = asyncio.run(quit_mid_run(args.data, args.workdir))
        print(
            f"round {rnd}: headless {base:.2f} s, UI {took:.2f} s ({took / base:.2f}x), "
            f"longest refresh gap {gap:.2f} s, q ended everything in {quit_seconds:.2f} s",
            flush=True,
        )
        ratios.append(took / base)
        gaps.append(gap)
        quits.append(quit_seconds)
    checks = [
        (f"UI run over headless: {spread(ratios, 'x')} <= {UI_TARGET}x",
         statistics.median(ratios) <= UI_TARGET),
        (f"longest gap between panel refreshes: worst {max(gaps):.2f} s <= {GAP_TARGET} s",
         max(gaps) <= GAP_TARGET),
        (f"q mid-run, until the app and every node ended: worst {max(quits):.2f} s"
         f" <= {QUIT_TARGET} s", max(quits) <= QUIT_TARGET),
    ]  # fmt: skip
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
