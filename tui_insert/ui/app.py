"""The tui-insert app: three live database panels over the engine, the summary, the keys.

The engine runs in its own processes; a thread worker prepares, starts and waits for each run,
and the panels poll the run's running figures a few times a second — never a message per
record. Stopping (for a rerun, a reset or quitting) asks the run to end and waits for it
without blocking the screen.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from multiprocessing import resource_tracker
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tui_insert.core.checks import database_paths
from tui_insert.core.engine import DEFAULT_WORKERS, Cancelled, Run
from tui_insert.core.errors import StoreError, UserError
from tui_insert.core.report import RunSummary, rejected_lines, summarize
from tui_insert.core.reset import reset_databases
from tui_insert.core.sources import Source
from tui_insert.core.tables import TABLES
from tui_insert.core.waiting import Stopped, Wait
from tui_insert.ui.browser_screen import BrowserScreen
from tui_insert.ui.confirm_screen import ConfirmScreen
from tui_insert.ui.database_panel import DatabasePanel
from tui_insert.ui.outcome_text import wait_line
from tui_insert.ui.summary_screen import SummaryScreen

# The UI's simulated latency per insert unless --latency says otherwise: the sample run then
# fills the panels over a few seconds.
DEFAULT_LATENCY = 0.25
REFRESH_SECONDS = 0.2


@dataclass(frozen=True)
class RunSettings:
    sources: dict[str, Source]
    db_dir: Path
    workers: int = DEFAULT_WORKERS
    latency: float = DEFAULT_LATENCY
    reset_first: bool = False


class TuiInsertApp(App[int]):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "tui-insert"
    BINDINGS = [
        Binding("r", "rerun", "Rerun"),
        Binding("x", "reset", "Reset databases"),
        Binding("s", "summary", "Summary"),
        Binding("b", "browse", "Browse tables"),
        Binding("q", "quit", "Quit"),
    ]

    class RejectedRead(Message):
        """More of the finished run's rejected records, read from its spool."""

        def __init__(self, number: int, lines: list[str]) -> None:
            super().__init__()
            self.number = number
            self.lines = lines

    class Waiting(Message):
        """A run or a reset waits for another writer's lock (sent from their threads)."""

        def __init__(self, wait: Wait) -> None:
            super().__init__()
            self.wait = wait

    class RunEnded(Message):
        def __init__(self, number: int, summary: RunSummary | None, error: str | None) -> None:
            super().__init__()
            self.number = number
            self.summary = summary
            self.error = error

    def __init__(
        self, settings: RunSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock
        self.run_in_progress: Run | None = None
        self.summary: RunSummary | None = None
        self.rejected: list[str] = []  # the last completed run's rejected records, as lines
        self._number = 0  # counts runs, so that a stopped run's late news is ignored
        # Kept, not queried: a run's news may arrive while the app shuts down.
        self._status = Static("", id="status", markup=False)
        self._status_text = ""
        self._stopping = False
        self._quitting = threading.Event()  # ends a reset that waits for a lock

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panels"):
            for name, table in TABLES.items():
                yield DatabasePanel(name, table.database)
        yield self._status
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"databases in {self._db_dir_name}"
        self.set_interval(REFRESH_SECONDS, self.refresh_panels)
        self.start_run(reset=self.settings.reset_first)

    @property
    def _db_dir_name(self) -> str:
        """The database folder as the user gave it."""
        db_dir = self.settings.db_dir
        return "the current folder" if db_dir == Path(".") else str(db_dir)

    # -- a run ----------------------------------------------------------------------------------

    def start_run(self, *, reset: bool = False) -> None:
        settings = self.settings
        self._number += 1
        self.summary = None
        self.rejected = []
        for panel in self.query(DatabasePanel):
            panel.clear()
        workers = f"{settings.workers} worker{'s' if settings.workers > 1 else ''} per database"
        latency = f", {settings.latency * 1000:.0f} ms latency" if settings.latency else ""
        self.set_status(f"Running: {workers}{latency}")
        run = Run(
            settings.sources,
            settings.db_dir,
            workers=settings.workers,
            latency=settings.latency,
            reset=reset,
            clock=self.clock,
        )
        # Waits while preparing go to the status line; once the nodes run, to their panels.
        run.on_wait = lambda wait: self._tell_wait(wait) if run.started_at is None else None
        self.run_in_progress = run
        self.run_worker(
            partial(self._drive, run, self._number),
            thread=True,
            group="run",
            description="insertion run",
            exit_on_error=False,
        )

    def _drive(self, run: Run, number: int) -> None:
        """In a thread: prepare, start and wait for `run`, then report how it ended."""
        error = None
        try:
            run.prepare()
            run.start()
            run.wait()
            if run.state == "failed":
                error = f"the run could not complete: {run.error}"
            elif run.state == "completed":
                # The figures first; the rejected records follow as they are read.
                self.post_message(self.RunEnded(number, summarize(run), None))
                for lines in rejected_lines(run):
                    if number != self._number:  # a new run, a reset or quitting
                        break
                    self.post_message(self.RejectedRead(number, lines))
                return
        except Cancelled:
            pass
        except UserError as e:
            error = str(e)
        except StoreError as e:
            error = f"the run could not complete: {e}"
        except Exception as e:  # noqa: BLE001 - shown in the app, which stays usable
            error = f"the run could not complete: {type(e).__name__}: {e}"
        finally:
            run.close()
        self.post_message(self.RunEnded(number, None, error))

    def on_tui_insert_app_rejected_read(self, message: RejectedRead) -> None:
        if message.number != self._number:
            return
        self.rejected.extend(message.lines)
        screen = self._top_screen()
        if isinstance(screen, SummaryScreen):
            screen.show_rejected()

    def _top_screen(self) -> Screen[object] | None:
        """The screen on top, or None while the app shuts down (its news may still come)."""
        stack = self.screen_stack
        return stack[-1] if stack else None

    def on_tui_insert_app_run_ended(self, message: RunEnded) -> None:
        if message.number != self._number:
            return  # a run that was stopped for a rerun or a reset
        self.refresh_panels()
        if message.error is not None:
            self.set_status(f"Error: {message.error}", error=True)
        elif message.summary is not None:
            self.summary = message.summary
            self.set_status(
                f"Completed in {message.summary.seconds:.2f} s. "
                "s: summary   b: browse   r: run again   x: reset   q: quit"
            )
            screen = self._top_screen()
            if isinstance(screen, BrowserScreen):  # not in the middle of browsing
                self.notify("The run has completed: s shows the summary.", markup=False)
            elif screen is not None and not isinstance(screen, ConfirmScreen):  # a question first
                self.push_screen(SummaryScreen(message.summary, self.rejected))
        else:
            self.set_status("Stopped.")

    def refresh_panels(self) -> None:
        run = self.run_in_progress
        if run is None or run.started_at is None:
            return
        with self.batch_update():
            for panel in self.query(DatabasePanel):
                progress = run.progress[panel.table]
                panel.show(progress, progress.elapsed)

    async def stop_run(self) -> None:
        """Stop the current run (if any) and wait for its processes to end."""
        run = self.run_in_progress
        if run is None:
            return
        self._number += 1  # whatever it reports now is old news
        run.stop()
        await asyncio.to_thread(run.wait, 10)
        self.refresh_panels()

    def set_status(self, text: str, *, error: bool = False) -> None:
        self._status_text = text
        self._status.update(text)
        self._status.set_class(error, "error")

    def _close_summary(self) -> None:
        while isinstance(self.screen, SummaryScreen | ConfirmScreen):
            self.pop_screen()

    # -- keys -----------------------------------------------------------------------------------

    def action_rerun(self) -> None:
        if not self._stopping:
            self.run_worker(self._rerun(), group="rerun", description="rerun")

    @asynccontextmanager
    async def _run_stopped(self) -> AsyncIterator[None]:
        """Stop the run in progress and close the summary; other keys wait meanwhile."""
        self._stopping = True
        try:
            await self.stop_run()
            self._close_summary()
            yield
        finally:
            self._stopping = False

    async def _rerun(self) -> None:
        async with self._run_stopped():
            self.start_run()

    def action_reset(self) -> None:
        if self._stopping or isinstance(self.screen, ConfirmScreen):
            return
        question = (
            f"Empty users.db, products.db and orders.db in {self._db_dir_name}?"
            " A run in progress is stopped first."
        )
        self.push_screen(ConfirmScreen(question), self._reset_if_confirmed)

    def _reset_if_confirmed(self, confirmed: bool | None) -> None:
        if confirmed and not self._stopping:
            self.run_worker(self._reset(), group="reset", description="reset")

    async def _reset(self) -> None:
        async with self._run_stopped():
            self.run_in_progress = None
            self.summary = None
            for screen in self.screen_stack:
                if isinstance(screen, BrowserScreen):
                    await screen.release()  # its connections, while the tables are emptied
            self.set_status("Emptying the databases…")
            try:
                removed = await asyncio.to_thread(
                    reset_databases,
                    self.settings.db_dir,
                    self._tell_wait,
                    self._quitting,
                )
            except Stopped:
                return
            except (UserError, StoreError) as e:
                self.set_status(f"Error: {e}", error=True)
                return
            rows = sum(removed.values())
            for panel in self.query(DatabasePanel):
                panel.clear("emptied")
            self.set_status(f"Databases emptied ({rows:,} rows removed). r: run again   q: quit")

    def _tell_wait(self, wait: Wait) -> None:
        """From a run's or a reset's thread: a wait for a lock, for the status line."""
        self.post_message(self.Waiting(wait))

    def on_tui_insert_app_waiting(self, message: Waiting) -> None:
        text = self._status_text
        if not message.wait.over:
            text = f"{text} — {wait_line(message.wait)}"
        self._status.update(text)

    def action_summary(self) -> None:
        if isinstance(self.screen, SummaryScreen):
            self.pop_screen()
        elif self.summary is not None:
            self.push_screen(SummaryScreen(self.summary, self.rejected))
        else:
            self.notify("The summary opens when a run has completed.", markup=False)

    def action_browse(self) -> None:
        if isinstance(self.screen, BrowserScreen):
            self.pop_screen()
        elif not isinstance(self.screen, ConfirmScreen):  # the question is answered first
            paths = list(database_paths(self.settings.db_dir).values())
            self.push_screen(BrowserScreen(paths))

    async def action_quit(self) -> None:
        self._quitting.set()
        await self.stop_run()
        self.exit(0)


def make_app(settings: RunSettings, *, clock: Callable[[], float] = time.monotonic) -> TuiInsertApp:
    """The app, as the command line and the tests build it."""
    # The engine's node processes need multiprocessing's resource tracker, which is started
    # with the process's stderr; a running Textual app has replaced stderr, so start it now.
    resource_tracker.ensure_running()
    return TuiInsertApp(settings, clock=clock)
