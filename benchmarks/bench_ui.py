"""Benchmark of the live UI against the headless run, on the same large data.

    python benchmarks/bench_ui.py [--data DIR] [--workdir DIR]

Measures, on generated data (default: benchmarks/work/data-json, as made by bench_engine.py,
1,000,000 records per table) and no simulated latency:

1. the headless run: `tui-insert run --headless --json` as a child process, wall time;
2. the UI run: the real app (Textual's headless driver, in this process) from start until the
   summary is on screen; and the longest gap between two refreshes of the panels while the
   run was going;
3. quitting mid-run: `q` pressed once a third of the users are in; the time until the app has
   exited and every node process has ended.

Targets: UI run <= 1.25x the headless run; panels refreshed at least every 0.5 s; q exits
within 1 s. Exits 0 when all three pass.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tui_insert.core.sources import find_sources
from tui_insert.ui.app import RunSettings, TuiInsertApp, make_app
from tui_insert.ui.summary_screen import SummaryScreen

HERE = Path(__file__).resolve().parent


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


async def ui_run(data: Path, workdir: Path) -> tuple[float, float]:
    settings = RunSettings(find_sources(data), fresh(workdir / "db-ui"), latency=0.0)
    make_app(settings)  # starts what the app needs before Textual takes over stderr
    app = TimedApp(settings)
    app.refreshes = []
    start = time.perf_counter()
    async with app.run_test(size=(160, 40)) as pilot:
        while not isinstance(app.screen, SummaryScreen):
            await pilot.pause(0.05)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=HERE / "work" / "data-json")
    parser.add_argument("--workdir", type=Path, default=HERE / "work")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"{args.data}: no data; make it with python benchmarks/bench_engine.py")
        return 2
    base = headless(args.data, args.workdir)
    took, gap = asyncio.run(ui_run(args.data, args.workdir))
    quit_seconds = asyncio.run(quit_mid_run(args.data, args.workdir))
    checks = [
        (f"UI run {took:.2f} s vs headless {base:.2f} s: {took / base:.2f}x <= 1.25x",
         took <= 1.25 * base),
        (f"longest gap between panel refreshes {gap:.2f} s <= 0.5 s", gap <= 0.5),
        (f"q mid-run: exited and every node ended in {quit_seconds:.2f} s <= 1 s",
         quit_seconds <= 1.0),
    ]  # fmt: skip
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
