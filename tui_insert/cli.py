"""The command line: `tui-insert [run|browse|reset|generate] ...` (SPEC §6).

A thin face over `tui_insert.core`: it turns flags into a plan, runs it, prints the report, and
turns every user mistake into a one-line message and exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from tui_insert import __version__
from tui_insert.core.checks import database_paths
from tui_insert.core.engine import DEFAULT_WORKERS, MAX_WORKERS, Run
from tui_insert.core.errors import StoreError, UserError
from tui_insert.core.report import copy_rejects, write_report
from tui_insert.core.reset import reset_databases
from tui_insert.core.rules import visible
from tui_insert.core.sources import Source, find_sources
from tui_insert.core.waiting import Wait

COMMANDS = ("run", "browse", "reset", "generate")


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_WORKERS}, got {value}")
    return value


_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s)?\s*")


def parse_duration(text: str) -> float:
    """'80ms', '0.08s' or '0.08' (seconds) -> seconds."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration such as 80ms or 0.1s, got {text!r}")
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "ms" else value


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tui-insert",
        description="Validate users, products and orders and insert them concurrently into "
        "three SQLite databases. Without a command: `run`.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    db_dir = argparse.ArgumentParser(add_help=False)
    db_dir.add_argument(
        "--db-dir",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="folder of users.db, products.db and orders.db (default: the current folder)",
    )

    run = commands.add_parser(
        "run", parents=[db_dir], help="validate and insert the three datasets"
    )
    run.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="folder with users, products and orders files (.json, .jsonl or .csv); "
        "default: the bundled sample data",
    )
    for name in ("users", "products", "orders"):
        run.add_argument(f"--{name}", type=Path, metavar="FILE", help=f"the {name} file")
    run.add_argument(
        "--workers",
        type=_workers,
        default=DEFAULT_WORKERS,
        metavar="N",
        help=f"worker threads per database, 1 to {MAX_WORKERS} (default: {DEFAULT_WORKERS})",
    )
    run.add_argument("--reset", action="store_true", help="empty the databases first")
    run.add_argument("--headless", action="store_true", help="run without the UI")
    run.add_argument(
        "--json", action="store_true", help="headless: print one JSON document, nothing else"
    )
    run.add_argument(
        "--rejects",
        type=Path,
        metavar="FILE",
        help="write each rejected record, as given, with its reasons (one JSON object a line)",
    )
    run.add_argument(
        "--latency",
        type=parse_duration,
        metavar="DURATION",
        help="simulated delay per insert, with jitter, e.g. 80ms"
        " (default: 250ms in the UI, 0 with --headless)",
    )

    browse = commands.add_parser(
        "browse",
        parents=[db_dir],
        help="browse the tables of SQLite files, read-only",
        description="Browse the tables of SQLite files, read-only: nothing is ever written.",
    )
    browse.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar="FILE",
        help="SQLite files to browse (default: the three databases in --db-dir)",
    )

    reset = commands.add_parser(
        "reset", parents=[db_dir], help="empty the three databases (files and tables stay)"
    )
    reset.set_defaults(headless=True)

    generate = commands.add_parser("generate", help="write a synthetic data set")
    generate.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    generate.add_argument(
        "--count", type=_count, default=1000, metavar="N", help="records per table (default 1000)"
    )
    generate.add_argument(
        "--invalid",
        type=_share,
        default=0.05,
        metavar="SHARE",
        help="share of invalid records, e.g. 0.05 or 5%% (default 0.05)",
    )
    generate.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    generate.add_argument(
        "--format", choices=("json", "jsonl", "csv"), default="json", help="file format"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (
        args_list[0] not in COMMANDS and args_list[0] not in ("-h", "--help", "--version")
    ):
        args_list.insert(0, "run")
    args = build_parser().parse_args(args_list)
    try:
        if args.command == "run":
            return run_command(args)
        if args.command == "browse":
            return browse_command(args)
        if args.command == "reset":
            return reset_command(args)
        return generate_command(args)
    except (UserError, StoreError) as e:
        say(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        print("tui-insert: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`| head`): nothing more to say to anyone.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def run_command(args: argparse.Namespace) -> int:
    sources = find_sources(
        args.data, {"users": args.users, "products": args.products, "orders": args.orders}
    )
    if not args.headless:
        return ui_command(args, sources)
    rejects: IO[bytes] | None = None

    def open_rejects() -> None:
        nonlocal rejects
        if args.rejects is not None:
            try:
                rejects = open(args.rejects, "wb")  # noqa: SIM115 - closed below
            except OSError as e:
                raise UserError(f"{args.rejects}: cannot write: {e.strerror}") from None

    run = Run(
        sources,
        args.db_dir,
        workers=args.workers,
        latency=args.latency or 0.0,
        reset=args.reset,
        as_json=args.json,
        on_wait=tell_wait,
    )
    try:
        run.prepare(before_writing=open_rejects)
        run.start()
        try:
            _wait_interruptibly(run)
        except KeyboardInterrupt:
            run.stop()
            run.wait()
            print("tui-insert: stopped; every committed record stays stored", file=sys.stderr)
            return 130
        if rejects is not None:
            copy_rejects(run, rejects)
        if run.state == "failed":
            say(f"the run could not complete: {run.error}")
            return 1
        write_report(run, sys.stdout.buffer, as_json=args.json)
        sys.stdout.flush()
        return 0
    finally:
        run.close()
        if rejects is not None:
            rejects.close()


def ui_command(args: argparse.Namespace, sources: dict[str, Source]) -> int:
    from tui_insert.ui.app import make_app
    from tui_insert.ui.run_settings import DEFAULT_LATENCY, RunSettings

    if args.json or args.rejects:
        raise UserError("--json and --rejects go with --headless")
    # The app's default latency lets a person watch the bundled sample; own data runs at full
    # speed unless --latency asks otherwise.
    own_data = args.data is not None or any(
        getattr(args, name) is not None for name in ("users", "products", "orders")
    )
    sample_latency = args.latency is None and not own_data
    settings = RunSettings(
        sources,
        args.db_dir,
        workers=args.workers,
        latency=DEFAULT_LATENCY if sample_latency else args.latency or 0.0,
        reset_first=args.reset,
        sample_latency=sample_latency,
    )
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


def say(message: str) -> None:
    """One line on stderr: a path holding a newline or an escape cannot break it."""
    print(f"tui-insert: {visible(message)}", file=sys.stderr, flush=True)


def tell_wait(wait: Wait) -> None:
    """A long wait for a lock, on stderr (from any thread): a line every few seconds."""
    say(str(wait))


def _wait_interruptibly(run: Run) -> None:
    # A join with a timeout lets Ctrl-C through to the main thread.
    while not run.wait(0.2):
        pass


def browse_command(args: argparse.Namespace) -> int:
    from tui_insert.ui.browser_app import make_browser_app

    # A file that is missing or is no database is said so in the browser, beside the others.
    paths = args.files or list(database_paths(args.db_dir).values())
    app = make_browser_app(paths)
    app.run()
    return app.return_code or 0


def reset_command(args: argparse.Namespace) -> int:
    removed = reset_databases(args.db_dir, tell_wait)
    if not removed:
        say(f"no databases in {args.db_dir}: nothing to empty")
    for table, rows in removed.items():
        print(f"emptied {table}.db ({rows} rows removed)")
    return 0


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
