"""The command line: `tui-insert [run|browse|reset|generate] ...` (SPEC §6).

A thin face over `tui_insert.core`: it turns flags into a plan, runs it, prints the report, and
turns every user mistake into a one-line message and exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import errno
import os
import re
import shlex
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from tui_insert import __version__
from tui_insert.core.durations import format_duration, parse_duration
from tui_insert.core.engine import DEFAULT_WORKERS, MAX_WORKERS, Run
from tui_insert.core.errors import StoreError, StoreUnavailable, UserError
from tui_insert.core.report import copy_blocks, copy_rejects, write_report
from tui_insert.core.reset import reset_stores
from tui_insert.core.rules import visible
from tui_insert.core.sources import Source, find_sources
from tui_insert.core.stores import parse_target, store_targets
from tui_insert.core.stores.base import Target
from tui_insert.core.tables import TABLES
from tui_insert.core.waiting import DEFAULT_RETRY_FOR, NOTICE_SECONDS, Outage, Wait
from tui_insert.terminal_progress import TerminalProgress

COMMANDS = ("run", "serve", "browse", "reset", "generate")


def _whole_number(low: int, high: int) -> Callable[[str], int]:
    """An option's type: a whole number from `low` to `high`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    return parse


_workers = _whole_number(1, MAX_WORKERS)
_port = _whole_number(1, 65535)


MAX_LATENCY = 10.0


def _latency(text: str) -> float:
    try:
        return parse_duration(text, most=MAX_LATENCY)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _retry_for(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _count(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _share(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a share such as 0.05 or 5%, got {text!r}"
        ) from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1 (or 0% to 100%), got {text!r}")
    return value


class UsageError(Exception):
    """A command line that cannot be run: what is wrong, and which help to read."""

    def __init__(self, message: str, prog: str = "tui-insert") -> None:
        super().__init__(message)
        self.prog = prog

    def __str__(self) -> str:
        return f"{self.args[0]} (see {self.prog} --help)"


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line naming the help to read, not the whole usage."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tui-insert",
        description="Validate users, products and orders and insert them concurrently into "
        "three databases (SQLite files or PostgreSQL servers). Without a command: `run`.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    db_dir = _Parser(add_help=False)
    db_dir.add_argument(
        "--db-dir",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="folder of users.db, products.db and orders.db; only its last folder is created"
        " (default: the current folder)",
    )
    for name in TABLES:
        db_dir.add_argument(
            f"--{name}-db",
            metavar="TARGET",
            help=f"the {name} store: a SQLite file, or a PostgreSQL URL such as"
            f" postgresql://user@host:5432/dbname (default: {name}.db in --db-dir)",
        )

    retry_for = _Parser(add_help=False)
    retry_for.add_argument(
        "--retry-for",
        type=_retry_for,
        default=DEFAULT_RETRY_FOR,
        metavar="DURATION",
        help="how long a store that fails in a way that may pass (a server stopped or out of"
        " reach, a full disk) is waited for and tried again, with a line on stderr for each"
        " try: 30s, 2m, 0 to give up at once; waits for locks are never bounded"
        f" (default: {format_duration(DEFAULT_RETRY_FOR)})",
    )

    inputs = _Parser(add_help=False)  # what a run reads, and how: for `run` and `serve`
    inputs.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="folder with users, products and orders files (.json, .jsonl or .csv)"
        " (default: the bundled sample data)",
    )
    for name in ("users", "products", "orders"):
        inputs.add_argument(
            f"--{name}", type=Path, metavar="FILE", help=f"the {name} file (default: from --data)"
        )
    inputs.add_argument(
        "--workers",
        type=_workers,
        default=DEFAULT_WORKERS,
        metavar="N",
        help=f"worker threads per database, 1 to {MAX_WORKERS} (default: {DEFAULT_WORKERS})",
    )
    inputs.add_argument(
        "--latency",
        type=_latency,
        metavar="DURATION",
        help="simulated delay per insert, with jitter: 80ms, 1s, 2m (a unit is needed; at most"
        " 10s) (default: 250ms in the app on the sample data, else 0)",
    )

    run = commands.add_parser(
        "run",
        parents=[db_dir, retry_for, inputs],
        help="validate and insert the three datasets",
        description="Validate users, products and orders and insert the valid records into "
        "their three databases at the same time: in the app (live panels, a summary, a table "
        "browser) or, with --headless, as a report on stdout.",
    )
    run.add_argument("--reset", action="store_true", help="empty the databases first")
    run.add_argument(
        "--no-start",
        action="store_true",
        help="open the app without starting a run: it shows what the databases hold, and r"
        " starts one",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="read, check and decide every record against what is stored, write nothing to "
        "the databases, and print the same report (runs headless)",
    )
    run.add_argument("--headless", action="store_true", help="run without the UI")
    run.add_argument(
        "--json", action="store_true", help="headless: print one JSON document, nothing else"
    )
    run.add_argument(
        "--rejects",
        type=Path,
        metavar="FILE",
        help="headless: write each rejected record, as given, with its reasons"
        " (one JSON object a line)",
    )

    serve = commands.add_parser(
        "serve",
        parents=[db_dir, retry_for, inputs],
        help="serve the app as a web page (each browser tab gets its own app)",
        description="Serve the app as a web page, on this machine only unless --public. The "
        "address printed holds a secret token: only a page opened with it can drive the app. "
        "Each browser tab gets an app of its own on the same databases, which starts no run by "
        "itself (r starts one). Ctrl-C stops the server and every app.",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only); another than a "
        "loopback address needs --public",
    )
    serve.add_argument(
        "--port", type=_port, default=8000, metavar="N", help="port to listen on (default: 8000)"
    )
    serve.add_argument(
        "--public",
        action="store_true",
        help="allow a --host that other machines can reach: anyone who has the printed "
        "address (with its token) can then run and reset your databases",
    )

    browse = commands.add_parser(
        "browse",
        parents=[db_dir],
        help="browse the tables of the stores, read-only",
        description="Browse the tables of SQLite files and PostgreSQL databases, read-only:"
        " nothing is ever written.",
    )
    browse.add_argument(
        "files",
        nargs="*",
        metavar="FILE",  # a path, or a postgresql:// URL (which a Path would cut at its //)
        help="SQLite files or postgresql:// URLs to browse (default: the three stores, from"
        " --db-dir and --users-db and the others)",
    )

    reset = commands.add_parser(
        "reset",
        parents=[db_dir, retry_for],
        help="empty the three databases (files and tables stay)",
        description="Empty the users, products and orders databases: the files and their "
        "tables stay. Asks first when run in a terminal.",
    )
    reset.add_argument(
        "--yes", "-y", action="store_true", help="do not ask for confirmation (default: ask)"
    )

    generate = commands.add_parser(
        "generate",
        help="write a synthetic data set",
        description="Write a synthetic users, products and orders data set of any size, with "
        "a chosen share of invalid records. The same seed gives the same records in every "
        "format.",
    )
    generate.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    generate.add_argument(
        "--count", type=_count, default=1000, metavar="N", help="records per table (default: 1000)"
    )
    generate.add_argument(
        "--invalid",
        type=_share,
        default=0.05,
        metavar="SHARE",
        help="share of invalid records, e.g. 0.05 or 5%% (default: 0.05)",
    )
    generate.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    generate.add_argument(
        "--format",
        choices=("json", "jsonl", "csv"),
        default="json",
        help="file format (default: json)",
    )
    return parser


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """The command line as a namespace; UsageError says what is wrong with it."""
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        near = difflib.get_close_matches(argv[0], COMMANDS, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else f" (commands: {', '.join(COMMANDS)})"
        raise UsageError(f"unknown command {argv[0]!r}{hint}")
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help", "--version"):
        argv = ["run", *argv]
    parser = build_parser()
    args, unknown = parser.parse_known_args(_joined_values(argv))
    if unknown:
        words = "argument" if len(unknown) == 1 else "arguments"
        raise UsageError(f"unrecognized {words}: {' '.join(unknown)}", f"tui-insert {argv[0]}")
    return args


def _joined_values(argv: list[str]) -> list[str]:
    """`--latency -5ms` as `--latency=-5ms`: argparse would take -5ms for an option and say
    the value is missing, when what is wrong is the value."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in _NUMBER_OPTIONS and _NEGATIVE.match(arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


_NEGATIVE = re.compile(r"-\.?[0-9]")
_NUMBER_OPTIONS = {"--latency", "--retry-for", "--workers", "--count", "--invalid", "--seed"}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_arguments(list(sys.argv[1:] if argv is None else argv))
    except UsageError as e:
        say(str(e))
        return 2
    try:
        if args.command in ("run", "serve", "browse", "reset"):
            args.stores = stores(args)
        if args.command == "run":
            return run_command(args)
        if args.command == "serve":
            return serve_command(args)
        if args.command == "browse":
            return browse_command(args)
        if args.command == "reset":
            return reset_command(args)
        return generate_command(args)
    except (UserError, StoreError) as e:
        say(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except Terminated:
        say("terminated (SIGTERM)")
        return 143
    except BrokenPipeError:
        # The reader of our output went away (`| head`): nothing more to say to anyone,
        # and nothing more to flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


class Terminated(Exception):
    """SIGTERM: ended like Ctrl-C, with its own exit code."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def _signals_handled(handler: Any, *signums: int) -> Iterator[None]:
    """`handler` for these signals while the block runs (`signal.SIG_IGN`: ignored)."""
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)


class OutputError(StoreError):
    """Output that cannot be written (a full disk, a closed stdout): exit code 1."""


def run_command(args: argparse.Namespace) -> int:
    sources = find_sources(
        args.data, {"users": args.users, "products": args.products, "orders": args.orders}
    )
    if not (args.headless or args.dry_run):
        return ui_command(args, sources)
    if args.no_start:
        raise UserError("--no-start goes with the app, not with --headless or --dry-run")
    if sys.stdout is None:  # started with stdout closed (`>&-`): no report could be given
        raise OutputError("cannot write the report: standard output is closed")
    with _signals_handled(_terminate, signal.SIGTERM):
        return _run_headless(args, sources)


def stores(args: argparse.Namespace) -> dict[str, Target]:
    """Each dataset's store, from --users-db and the others, else from --db-dir."""
    return store_targets(args.db_dir, {name: getattr(args, f"{name}_db") for name in TABLES})


def _check_rejects_path(path: Path, sources: dict[str, Source], targets: dict[str, Target]) -> None:
    """The rejects file is written from scratch: it must be none of the files the run reads
    or writes (an input, a database or a file SQLite keeps beside one)."""
    theirs = [source.path for source in sources.values()]
    for store in targets.values():
        theirs += store.files
    resolved = path.resolve()
    for other in theirs:
        same = other.resolve() == resolved
        if not same and path.exists() and other.exists():
            same = os.path.samefile(path, other)  # a hard link, say
        if same:
            raise UserError(
                f"--rejects {path}: that is {other}, which the run reads or writes;"
                " name another file"
            )


def _run_headless(args: argparse.Namespace, sources: dict[str, Source]) -> int:
    rejects: IO[bytes] | None = None
    if args.rejects is not None:
        _check_rejects_path(args.rejects, sources, args.stores)

    def open_rejects() -> None:
        nonlocal rejects
        if args.rejects is not None:
            try:
                rejects = open(args.rejects, "wb")  # noqa: SIM115 - closed below
            except OSError as e:
                raise UserError(f"{args.rejects}: cannot write: {e.strerror}") from None

    run = Run(
        sources,
        args.stores,
        workers=args.workers,
        latency=args.latency or 0.0,
        reset=args.reset,
        as_json=args.json,
        dry_run=args.dry_run,
        spool_rejects=args.rejects is not None,
        retry_for=args.retry_for,
    )
    progress = TerminalProgress(run, sys.stderr) if _is_terminal(sys.stderr) else None
    run.on_wait = (
        (
            lambda wait: (
                progress.note(f"tui-insert: {visible(str(wait))}")
                if _notices.wanted(wait)
                else None
            )
        )
        if progress
        else tell_wait
    )
    code = 0
    try:
        try:
            run.prepare(before_writing=open_rejects)
            run.start()
            while not run.wait(0.2):  # a join with a timeout lets Ctrl-C through
                if progress is not None:
                    progress.draw()
        except (KeyboardInterrupt, Terminated) as e:
            code = 143 if isinstance(e, Terminated) else 130
        # From here on a Ctrl-C (a second one, say) or a SIGTERM changes nothing: the outputs
        # are made whole and the run is closed (a report cut in the middle would be no report).
        with _signals_handled(signal.SIG_IGN, signal.SIGINT, signal.SIGTERM):
            if code:
                run.stop()
                run.wait()
            if progress is not None:
                progress.clear()
            _write_outputs(run, args, rejects)
            return _ending(run, code)
    finally:
        with _signals_handled(signal.SIG_IGN, signal.SIGINT, signal.SIGTERM):
            run.close()
            if rejects is not None:
                with contextlib.suppress(OSError):  # a failed write was said already
                    rejects.close()


def _ending(run: Run, code: int) -> int:
    """The exit code of a run whose outputs are written, and what stderr says of it. A signal
    that came while a completed run's outputs were written changes nothing: all is done."""
    if code:
        how = "terminated (SIGTERM)" if code == 143 else "interrupted"
        say(f"{how}; every record committed stays stored:")
        for line in _stored_so_far(run):
            print(f"  {line}", file=sys.stderr)
        return code
    if run.state == "failed":
        say(f"the run could not complete: {run.error}")
        return 1
    return 0


def _is_terminal(stream: IO[str] | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except ValueError:  # closed
        return False


def _write_outputs(run: Run, args: argparse.Namespace, rejects: IO[bytes] | None) -> None:
    """The rejects file, then the report: plain only of a run that completed, JSON always. A
    full disk is waited for (up to --retry-for), as for the stores."""
    if rejects is not None:
        outage = Outage(args.retry_for, tell_wait, then="the file was left empty")
        try:
            rejects.flush()
            copy_rejects(run, _WholeWrites(rejects.fileno(), str(args.rejects), outage))
            os.fsync(rejects.fileno())
        except (OSError, StoreError) as e:  # no half-written file
            with contextlib.suppress(OSError):
                rejects.truncate(0)
            if isinstance(e, StoreError):  # the disk stayed full
                raise OutputError(str(e)) from None
            raise OutputError(f"{args.rejects}: cannot write: {e.strerror}") from None
    if not args.json and run.state != "completed":
        return
    sys.stdout.flush()
    fd = sys.stdout.fileno()
    # A report to a file is cut back to where it began if the disk stays full: no half report.
    start = os.lseek(fd, 0, os.SEEK_CUR) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    then = "the report was left out" if start is not None else "the report is incomplete"
    try:
        write_report(
            run,
            _WholeWrites(fd, "standard output", Outage(args.retry_for, tell_wait, then=then)),
            as_json=args.json,
        )
    except BrokenPipeError:
        raise
    except (OSError, StoreError) as e:
        if start is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
        if isinstance(e, StoreError):
            raise OutputError(str(e)) from None
        raise OutputError(f"cannot write the report: {e.strerror}") from None


class _WholeWrites:
    """Writes to a file descriptor that write every byte: a buffered file's write of a large
    block to a pipe that a signal interrupts can lose the rest of the block (seen with Python
    3.11, the signal handled without an exception), so the loop over partial writes is ours.
    A full disk pauses the writes, which go on where they stopped once there is room."""

    def __init__(self, fd: int, name: str, outage: Outage) -> None:
        self.fd = fd
        self.name = name
        self._outage = outage

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except OSError as e:
                if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                self._outage.failed(StoreUnavailable(self.name, "disk full", e.strerror or ""))
                continue
            self._outage.over()
        return len(data)

    def copy_from(self, fd: int, count: int) -> None:
        """The first `count` bytes of the file `fd`, copied by the kernel (`sendfile`), or a
        block at a time where it cannot (an output opened to append, say)."""
        offset = 0
        while offset < count:
            try:
                sent = os.sendfile(self.fd, fd, offset, count - offset)
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EDQUOT):
                    self._outage.failed(StoreUnavailable(self.name, "disk full", e.strerror or ""))
                    continue
                if offset == 0 and e.errno in _NO_SENDFILE:
                    copy_blocks(self, fd, count)
                    return
                raise
            if not sent:  # the file is shorter than it was: what there is
                return
            offset += sent
            self._outage.over()


# What sendfile says when it cannot write to this output (append mode, some devices).
_NO_SENDFILE = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ESPIPE}


def _stored_so_far(run: Run) -> list[str]:
    return [
        f"{p.database}: {p.processed:,} records decided, {p.inserted:,} inserted, "
        f"{p.rejected:,} rejected"
        for p in run.progress.values()
    ]


def ui_command(args: argparse.Namespace, sources: dict[str, Source]) -> int:
    from tui_insert.ui.app import make_app
    from tui_insert.ui.run_settings import DEFAULT_LATENCY, RunSettings

    if args.json or args.rejects:
        raise UserError("--json and --rejects go with --headless")
    if args.no_start and args.reset:
        raise UserError(
            "--reset empties the databases as a run starts: leave out --no-start,"
            " or press x in the app"
        )
    # The app's default latency lets a person watch the bundled sample; own data runs at full
    # speed unless --latency asks otherwise.
    own_data = args.data is not None or any(
        getattr(args, name) is not None for name in ("users", "products", "orders")
    )
    sample_latency = args.latency is None and not own_data
    settings = RunSettings(
        sources,
        args.stores,
        workers=args.workers,
        latency=DEFAULT_LATENCY if sample_latency else args.latency or 0.0,
        reset_first=args.reset,
        sample_latency=sample_latency,
        retry_for=args.retry_for,
        start_at_once=not args.no_start,
    )
    if args.no_start:  # the inputs and databases are checked when r starts a run
        app = make_app(settings)
        app.run()
        return app.return_code or 0
    # Inputs and databases are checked before the app opens: a mistake is the same one-line
    # message and exit code as headless (main says it), and every file stays as it was.
    first_run = settings.new_run(reset=args.reset, on_wait=tell_wait)
    try:
        first_run.prepare()
    except BaseException:
        first_run.close()
        raise
    app = make_app(settings, first_run=first_run)
    app.run()
    return app.return_code or 0


def serve_command(args: argparse.Namespace) -> int:
    """The app as a web page; each tab runs `tui-insert run --no-start` with these options."""
    from tui_insert.serve import GuardedServer, is_loopback, new_token  # aiohttp: only here

    if not is_loopback(args.host) and not args.public:
        raise UserError(
            f"--host {args.host} lets other machines reach the app, and with it your databases:"
            " add --public if that is what you want"
        )
    find_sources(args.data, {name: getattr(args, name) for name in TABLES})  # a mistake now
    options = ["--db-dir", str(args.db_dir), "--workers", str(args.workers)]
    options += ["--retry-for", format_duration(args.retry_for)]
    if args.latency is not None:
        options += ["--latency", format_duration(args.latency)]
    if args.data is not None:
        options += ["--data", str(args.data)]
    for name in TABLES:
        for option in (name, f"{name}-db"):
            value = getattr(args, option.replace("-", "_"))
            if value is not None:
                options += [f"--{option}", str(value)]
    command = shlex.join([sys.executable, "-m", "tui_insert", "run", "--no-start", *options])
    server = GuardedServer(command, args.host, args.port, new_token())
    if args.public:
        say(
            f"listening on {args.host}: anyone who has the address below can run and reset"
            " your databases"
        )
    try:
        server.serve()
    except OSError as e:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
    return 0


def say(message: str) -> None:
    """One line on stderr: a path holding a newline or an escape cannot break it."""
    print(f"tui-insert: {visible(message)}", file=sys.stderr, flush=True)


class _Notices:
    """Which notices of waits get a line: the first of a wait and its end always, the others
    at most one every few seconds per store (a store tried again every second would
    otherwise fill the screen). Called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple[str, bool], float] = {}

    def wanted(self, wait: Wait) -> bool:
        key = (wait.database, wait.outage)  # a lock and an outage are two waits
        with self._lock:
            now = time.monotonic()
            last = self._last.get(key)
            if wait.over:
                self._last.pop(key, None)
                return True
            if last is not None and now - last < NOTICE_SECONDS * 0.9:
                return False
            self._last[key] = now
            return True


_notices = _Notices()


def tell_wait(wait: Wait) -> None:
    """A wait for a lock or for a store to come back, on stderr (from any thread): a line
    every few seconds."""
    if _notices.wanted(wait):
        say(str(wait))


def browse_command(args: argparse.Namespace) -> int:
    from tui_insert.ui.browser_app import make_browser_app

    # A file that is missing or is no database is said so in the browser, beside the others.
    targets = [parse_target(f, "browse") for f in args.files] or list(args.stores.values())
    app = make_browser_app(targets)
    app.run()
    return app.return_code or 0


def reset_command(args: argparse.Namespace) -> int:
    targets = args.stores
    if not args.yes and _is_terminal(sys.stdin) and not _reset_confirmed(targets):
        say("nothing was emptied")
        return 1
    removed = reset_stores(targets, tell_wait, retry_for=args.retry_for)
    if not removed:
        say("nothing to empty: none of the stores holds its table yet")
    for table, rows in removed.items():
        print(f"emptied {table} in {visible(targets[table].name)} ({rows} rows removed)")
    return 0


def _reset_confirmed(targets: dict[str, Target]) -> bool:
    """Asked on the terminal: which stores would be emptied, and whether to."""
    there = [(name, target) for name, target in targets.items() if target.exists()]
    if not there:
        return True  # nothing to empty: reset says so
    print("This empties every table of:", file=sys.stderr)
    for name, target in there:
        print(f"  {name}: {visible(target.label)}", file=sys.stderr)
    print("Empty them? [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()  # "" at the end of input: no
    return answer.strip().lower() in ("y", "yes")


def generate_command(args: argparse.Namespace) -> int:
    from tui_insert.core.generate import generate_dataset

    try:
        paths = generate_dataset(args.out, args.count, args.invalid, args.seed, args.format)
    except OSError as e:
        raise UserError(f"{args.out}: cannot write: {e.strerror or e}") from None
    for path in paths.values():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
