"""The tui-insert app: three live database panels over the engine, the summary, the keys.

The engine runs in its own processes; a thread worker prepares (unless the command did),
starts and waits for each run, and the panels poll the run's running figures a few times a
second — never a message per record. Stopping (for a rerun, a reset or quitting) asks the run
to end and waits for it without blocking the screen; a rerun or a reset is the one worker of
the "control" group, and the keys that would start another wait (the footer shows it).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from multiprocessing import resource_tracker

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker

from tui_insert.core.browse import BrowseError
from tui_insert.core.engine import Cancelled, Run
from tui_insert.core.errors import StoreError, UserError
from tui_insert.core.rejected import RejectedRecords
from tui_insert.core.report import RunSummary, summarize
from tui_insert.core.reset import reset_stores
from tui_insert.core.stores.base import Target
from tui_insert.core.waiting import Stopped, Wait
from tui_insert.ui import too_small
from tui_insert.ui.browser_screen import BrowserScreen
from tui_insert.ui.confirm_screen import ConfirmScreen
from tui_insert.ui.main_screen import MainScreen
from tui_insert.ui.messages import RejectedRead, RunEnded, Waiting
from tui_insert.ui.reason_list import ReasonList
from tui_insert.ui.run_settings import RunSettings
from tui_insert.ui.summary_screen import SummaryScreen

REFRESH_SECONDS = 0.2


class TuiInsertApp(App[int]):
    # The app's first screen does not load its own CSS_PATH (Textual 8.2), so the app does.
    CSS_PATH = [too_small.SCREENS_CSS, MainScreen.CSS_PATH]
    TITLE = "tui-insert"
    HORIZONTAL_BREAKPOINTS = too_small.HORIZONTAL_BREAKPOINTS
    VERTICAL_BREAKPOINTS = too_small.VERTICAL_BREAKPOINTS
    BINDINGS = [
        Binding("r", "first_run", "Run"),  # (until a run has started: then the next)
        Binding("r", "rerun", "Rerun"),
        Binding("x", "reset", "Reset"),
        Binding("s", "summary", "Summary"),
        Binding("b", "browse", "Browse"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        settings: RunSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        first_run: Run | None = None,
    ) -> None:
        """`first_run`, if given, is prepared already (its inputs and databases checked): the
        app starts it instead of preparing one."""
        super().__init__()
        self.settings = settings
        self.clock = clock
        self._first_run = first_run
        self.run_in_progress: Run | None = None
        self.summary: RunSummary | None = None
        self.rejected: RejectedRecords | None = None  # the last completed run's
        # The reason whose records its summary listed last: (table, code), or all (None).
        self._chosen: tuple[str | None, str | None] = (None, None)
        self._number = 0  # counts runs, so that a stopped run's late news is ignored
        targets = settings.targets
        self.main = MainScreen(
            {name: t.name for name, t in targets.items()},
            frozenset(name for name, t in targets.items() if not t.files),
        )
        self._quitting = threading.Event()  # ends a reset that waits for a lock

    def get_default_screen(self) -> MainScreen:
        return self.main

    def on_mount(self) -> None:
        self.sub_title = " · ".join(t.name for t in self.settings.targets.values())
        self.set_interval(REFRESH_SECONDS, self.refresh_panels)
        first_run, self._first_run = self._first_run, None
        if self.settings.start_at_once or first_run is not None:
            self.start_run(reset=self.settings.reset_first, prepared=first_run)
            return
        self.main.clear_panels("no run yet")
        self.main.set_status(f"No run yet: r starts one ({self._how}).")
        self.run_worker(self._show_stored(), group="stored", description="stored rows")

    async def _show_stored(self) -> None:
        """Each panel says how many rows its table holds."""
        for name, target in self.settings.targets.items():
            self.main.show_stored(name, await stored_rows(target, name))

    @property
    def _how(self) -> str:
        """'1 worker per database, latency 250 ms (sample data)'."""
        workers = self.settings.workers
        return f"{workers} worker{'s' if workers > 1 else ''} per database, " + (
            self.settings.latency_text
        )

    # -- a run ----------------------------------------------------------------------------------

    def start_run(self, *, reset: bool = False, prepared: Run | None = None) -> None:
        """Start a run: `prepared`, or a new one of the settings (emptying the databases first
        with `reset`)."""
        settings = self.settings
        self._number += 1
        self._forget_summary()
        self.main.clear_panels()
        self.main.set_status(f"Running: {self._how}")
        run = prepared or settings.new_run(reset=reset, clock=self.clock)
        # Waits while preparing go to the status line; once the nodes run, to their panels.
        run.on_wait = lambda wait: self._tell_wait(wait) if run.started_at is None else None
        self.run_in_progress = run
        self.run_worker(
            partial(self._drive, run, self._number, prepared is None),
            thread=True,
            group="run",
            description="insertion run",
            exit_on_error=False,
        )

    def _drive(self, run: Run, number: int, prepare: bool) -> None:
        """In a thread: prepare (if need be), start and wait for `run`, then report how it
        ended."""
        error = None
        rejected = None
        try:
            if prepare:
                run.prepare()
            run.start()
            run.wait()
            if run.state == "failed":
                error = f"the run could not complete: {run.error}"
            elif run.state == "completed":
                rejected = RejectedRecords.of(run)  # open before the run removes its spool
                self.post_message(RunEnded(number, summarize(run), None, rejected))
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
        if rejected is None:
            self.post_message(RunEnded(number, None, error))
            return
        # The figures are on show; the rejected records are listed as they are found.
        for _ in rejected.index(stopped=lambda: number != self._number):
            self.post_message(RejectedRead(number))

    @on(RejectedRead)
    def _more_rejected(self, message: RejectedRead) -> None:
        if message.number != self._number:
            return
        for screen in self.screen_stack:
            if isinstance(screen, SummaryScreen):
                screen.show_rejected()

    @on(RunEnded)
    def _run_ended(self, message: RunEnded) -> None:
        if message.number != self._number:  # a run that was stopped for a rerun or a reset
            if message.rejected is not None:
                message.rejected.close()
            return
        self.refresh_panels()
        if message.error is not None:
            self.main.set_status(f"Error: {message.error}", error=True)
        elif message.summary is not None and message.rejected is not None:
            self.summary, self.rejected = message.summary, message.rejected
            seconds, latency = message.summary.seconds, self.settings.latency_text
            self.main.set_status(f"Completed in {seconds:.2f} s, {latency}.")
            top = self.screen_stack[-1] if self.screen_stack else None  # none while exiting
            if isinstance(top, BrowserScreen):  # not in the middle of browsing
                self._tell_once("The run has completed: s shows the summary.")
            elif top is not None and not isinstance(top, ConfirmScreen):  # a question first
                self.push_screen(SummaryScreen(message.summary, self.rejected))
        else:
            self.main.set_status("Stopped.")
        self.refresh_bindings()

    def refresh_panels(self) -> None:
        run = self.run_in_progress
        if run is not None and run.started_at is not None:
            self.main.show_run(run)

    async def stop_run(self) -> None:
        """Stop the current run (if any) and wait for its processes to end."""
        run = self.run_in_progress
        if run is None:
            return
        self._number += 1  # whatever it reports now is old news
        run.stop()
        await asyncio.to_thread(run.wait, 10)
        self.refresh_panels()

    def _tell_wait(self, wait: Wait) -> None:
        """From a run's or a reset's thread: a wait for a lock, for the status line."""
        self.post_message(Waiting(wait))

    @on(Waiting)
    def _waiting(self, message: Waiting) -> None:
        self.main.show_wait(message.wait)

    def _tell_once(self, text: str) -> None:
        """A notice, in place of the same one still on show (a key pressed again)."""
        self.clear_notifications()
        self.notify(text, markup=False)

    # -- keys -----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if isinstance(self.screen, ConfirmScreen) and action != "quit":
            return False  # the question is answered first
        # r is "Run" until a run has started, then "Rerun".
        if action in ("first_run", "rerun") and (action == "first_run") != (self._number == 0):
            return False
        if action in ("first_run", "rerun", "reset") and self._controlling:
            return None  # shown, dimmed: a rerun or a reset is under way
        return True

    @property
    def _controlling(self) -> bool:
        return any(w.group == "control" and not w.is_finished for w in self.workers)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "control":
            self.refresh_bindings()

    def _control(self, work: Callable[[], Awaitable[None]], description: str) -> None:
        """Stop the run in progress, close the summary, then `work` (async)."""

        async def stopped_first() -> None:
            await self.stop_run()
            while isinstance(self.screen, SummaryScreen | ConfirmScreen):
                self.pop_screen()
            await work()

        self.run_worker(stopped_first(), group="control", exclusive=True, description=description)

    def action_rerun(self) -> None:
        self._control(self._rerun, "rerun")

    def action_first_run(self) -> None:
        self.action_rerun()

    async def _rerun(self) -> None:
        self.start_run()

    def action_reset(self) -> None:
        stores = ", ".join(t.label for t in self.settings.targets.values())
        question = f"Empty every table of {stores}? A run in progress is stopped first."
        self.push_screen(ConfirmScreen(question), self._reset_if_confirmed)

    def _reset_if_confirmed(self, confirmed: bool | None) -> None:
        if confirmed:
            self._control(self._reset, "reset")

    async def _reset(self) -> None:
        self.run_in_progress = None
        self._forget_summary()
        for screen in self.screen_stack:
            if isinstance(screen, BrowserScreen):
                await screen.release()  # its connections, while the tables are emptied
        self.main.set_status("Emptying the databases…")
        try:
            removed = await asyncio.to_thread(
                reset_stores,
                self.settings.targets,
                self._tell_wait,
                self._quitting,
                retry_for=self.settings.retry_for,
            )
        except Stopped:
            return
        except (UserError, StoreError) as e:
            self.main.set_status(f"Error: {e}", error=True)
            return
        finally:
            # What a browser read while the reset ran may straddle its commits (one per
            # file): it reads its list and its page again now, over the connections it
            # opened again meanwhile, rather than waiting for its check for changes.
            for screen in self.screen_stack:
                if isinstance(screen, BrowserScreen) and not self._quitting.is_set():
                    screen.read_again()
        rows = sum(removed.values())
        self.main.clear_panels("emptied")
        self.main.set_status(f"Databases emptied ({rows:,} rows removed).")

    @on(ReasonList.Chosen)
    def _reason_chosen(self, message: ReasonList.Chosen) -> None:
        self._chosen = (message.table, message.code)  # the summary reopens on it

    def _forget_summary(self) -> None:
        """The last run's summary is of no run on show any more."""
        self.summary = None
        self._chosen = (None, None)
        if self.rejected is not None:
            self.rejected.close()
            self.rejected = None

    def action_summary(self) -> None:
        if self.summary is not None and self.rejected is not None:
            self.push_screen(SummaryScreen(self.summary, self.rejected, self._chosen))
        else:
            self._tell_once("The summary opens when a run has completed.")

    def action_browse(self) -> None:
        self.push_screen(BrowserScreen(list(self.settings.targets.values())))

    async def action_quit(self) -> None:
        self._quitting.set()
        await self.stop_run()
        self._forget_summary()
        self.exit(0)


async def stored_rows(target: Target, table: str) -> str:
    """'1,234 rows stored', or why that cannot be said, read as the browser reads."""
    if not target.exists():
        return "no database yet"
    reader = target.browser()
    try:
        await reader.open()
        for info in await reader.tables():
            if info.name == table and info.rows is not None:
                return f"{info.rows:,} row{'' if info.rows == 1 else 's'} stored"
        return "no table yet"
    except BrowseError as e:
        return f"cannot read: {e.reason}"
    finally:
        await reader.close()


def make_app(
    settings: RunSettings,
    *,
    clock: Callable[[], float] = time.monotonic,
    first_run: Run | None = None,
) -> TuiInsertApp:
    """The app, as the command line and the tests build it; see TuiInsertApp for `first_run`."""
    # The engine's node processes need multiprocessing's resource tracker, which is started
    # with the process's stderr; a running Textual app has replaced stderr, so start it now.
    resource_tracker.ensure_running()
    return TuiInsertApp(settings, clock=clock, first_run=first_run)
