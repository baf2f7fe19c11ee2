"""Helpers for the tests: run the engine on real files, read back what the databases hold."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tui_insert.core.checks import database_paths
from tui_insert.core.engine import Run
from tui_insert.core.report import outcome_spool
from tui_insert.core.sources import find_sources
from tui_insert.core.stores import store_targets
from tui_insert.core.stores.base import Target


class Outcomes:
    """Every record's outcome of a run, from its JSON report lines."""

    def __init__(self, run: Run) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {}
        for name in run.progress:
            with open(outcome_spool(run.spool_dir, name), "rb") as f:
                # Each line ends with the comma that separates it from the next.
                self.records[name] = [json.loads(line.removesuffix(b",\n")) for line in f]

    def codes(self, table: str) -> dict[int, tuple[str, ...] | None]:
        """position -> reason codes (None: inserted)."""
        return {
            r["position"]: tuple(x["code"] for x in r["reasons"]) if "reasons" in r else None
            for r in self.records[table]
        }

    def messages(self, table: str, position: int) -> list[str]:
        (record,) = [r for r in self.records[table] if r["position"] == position]
        return [x["message"] for x in record["reasons"]]


# A run's stores, as the tests name them: a folder of SQLite files, or table -> PostgreSQL URI.
Stores = Path | dict[str, str]


def store_args(stores: Stores) -> list[str]:
    """The command-line options that name these stores."""
    if isinstance(stores, Path):
        return ["--db-dir", str(stores)]
    return [arg for name, uri in stores.items() for arg in (f"--{name}-db", uri)]


def targets(stores: Stores) -> Path | dict[str, Target]:
    """These stores as the engine takes them."""
    return stores if isinstance(stores, Path) else store_targets(Path("."), dict(stores))


@contextmanager
def running(stores: Stores, data_dir: Path | None = None, **kw: Any) -> Iterator[Run]:
    """A real run (real processes and threads, real stores), started; closed afterwards."""
    run = Run(find_sources(data_dir), targets(stores), **kw)
    try:
        run.prepare()
        run.start()
        yield run
    finally:
        run.close()


def run_engine(
    stores: Stores, data_dir: Path | None = None, *, workers: int = 1, **kw: Any
) -> tuple[Run, Outcomes]:
    """Run the real engine to the end."""
    with running(stores, data_dir, workers=workers, **kw) as run:
        assert run.wait(120), "the run did not end"
        assert run.state == "completed", run.error
        return run, Outcomes(run)


def table_rows(stores: Stores, table: str) -> list[tuple]:
    """Every row of `table`, by id, read without writing ([] while it is not there)."""
    if isinstance(stores, Path):
        path = database_paths(stores)[table]
        if not path.exists():
            return []
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            return conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            conn.close()
    with psycopg.connect(stores[table], autocommit=True) as conn:
        try:
            return conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
        except psycopg.errors.UndefinedTable:
            return []


def dump(stores: Stores) -> dict[str, list[tuple]]:
    """Every row of the three tables, by id."""
    return {name: table_rows(stores, name) for name in ("users", "products", "orders")}


def orphan_orders(stores: Stores) -> list[tuple]:
    """Stored orders whose user or product is not stored (judged here, apart from the
    engine)."""
    stored = dump(stores)
    users = {row[0] for row in stored["users"]}
    products = {row[0] for row in stored["products"]}
    return [o for o in stored["orders"] if o[1] not in users or o[2] not in products]


def duplicate_emails(stores: Stores) -> list[str]:
    """Emails (case-folded) held by more than one stored user."""
    seen: dict[str, int] = {}
    for _, _, email in table_rows(stores, "users"):
        key = email.casefold()
        seen[key] = seen.get(key, 0) + 1
    return [key for key, n in seen.items() if n > 1]


def stored_count(stores: Stores, table: str) -> int:
    """Rows in `table` now (0 while it is not there)."""
    if isinstance(stores, Path):
        return count_rows(database_paths(stores)[table], table)
    with psycopg.connect(stores[table], autocommit=True) as conn:
        try:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
        except psycopg.errors.UndefinedTable:
            return 0


def integrity(db_dir: Path) -> dict[str, str]:
    out = {}
    for name, path in database_paths(db_dir).items():
        conn = sqlite3.connect(path)
        out[name] = conn.execute("PRAGMA integrity_check").fetchone()[0]
        conn.close()
    return out


def files_in(folder: Path) -> dict[str, bytes]:
    """Every file in the folder, with its bytes: "nothing written" means none added either."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def count_rows(path: Path, table: str) -> int:
    """Rows in `table`, read without writing (0 while the file or table is not there yet)."""
    if not path.exists():
        return 0
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def wait_for_rows(
    path: Path, table: str, proc: subprocess.Popen[bytes], at_least: int = 1, timeout: float = 60
) -> int:
    """Poll until a running process has committed rows to `table` in the file at `path`."""
    return _wait_for(lambda: count_rows(path, table), f"{table} ({path})", proc, at_least, timeout)


def wait_until_stored(
    stores: Stores,
    table: str,
    proc: subprocess.Popen[bytes],
    at_least: int = 1,
    timeout: float = 60,
) -> int:
    """Poll until a running process has committed rows to `table` in `stores`."""
    return _wait_for(lambda: stored_count(stores, table), table, proc, at_least, timeout)


def _wait_for(
    count: Callable[[], int],
    what: str,
    proc: subprocess.Popen[bytes],
    at_least: int,
    timeout: float,
) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = count()
        if rows >= at_least:
            return rows
        assert proc.poll() is None, "the process ended before it stored enough"
        time.sleep(0.01)
    raise AssertionError(f"fewer than {at_least} rows in {what} after {timeout} s")


# Wait notices after a fraction of a second, so that tests of long waits stay short.
FAST_WAITS = {"TUI_INSERT_NOTICE_SECONDS": "0.3", "TUI_INSERT_POLL_SECONDS": "0.02"}


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """A file or folder no one may write: `chattr +i` as root (root ignores permissions),
    mode 0o555 otherwise."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not possible here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def strict_json(text: str | bytes) -> Any:
    """Python's parser, refusing NaN and Infinity tokens, deep enough for any record."""

    def refuse(token: str) -> Any:
        raise ValueError(f"not strict JSON: {token}")

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    try:
        return json.loads(text, parse_constant=refuse)
    finally:
        sys.setrecursionlimit(limit)


def tui_insert(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`tui-insert ARGS` to its end: exit code, stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "tui_insert", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def in_terminal(
    args: list[str | Path],
    *,
    answer: bytes | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    columns: int = 100,
    stdout: Path | None = None,
) -> tuple[int, bytes]:
    """`tui-insert ARGS` in a pseudo-terminal of `columns` x 30 (stdin, stdout and stderr
    alike, or stdout to a file): its exit code and everything it wrote to the terminal.
    `answer` is typed once it asks ("[y/N]")."""
    pid, fd = pty.fork()
    if pid == 0:  # the child
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
        if cwd is not None:
            os.chdir(cwd)
        if stdout is not None:
            os.dup2(os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
        os.environ.update(TERM="xterm", **(env or {}))
        os.execv(sys.executable, [sys.executable, "-m", "tui_insert", *map(str, args)])
    screen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 0.5)[0]:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    break
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # the terminal closed: the command has ended
                break
            if not data:
                break
            screen += data
            if answer is not None and b"[y/N]" in screen:
                os.write(fd, answer)
                answer = None
        else:
            raise AssertionError(f"still running after {timeout} s: {screen[-2000:]!r}")
    finally:
        pidfd = os.pidfd_open(pid)  # readable once the child has ended
        if not select.select([pidfd], [], [], 30)[0]:
            os.kill(pid, signal.SIGKILL)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), screen


def start_cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`tui-insert ARGS` as its own process group (so a test can stop or kill all of it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tui_insert", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def finish(proc: subprocess.Popen[bytes], timeout: float = 120) -> tuple[int, str, str]:
    """Wait for a process started by `start_cli`: (exit code, stdout, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"still running after {timeout} s: {err.decode()[-2000:]}") from None
    return proc.returncode, out.decode(), err.decode()


def write_records(folder: Path, **tables: list[Any]) -> Path:
    """A data folder of .jsonl files (a table not given is empty)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("users", "products", "orders"):
        lines = "".join(json.dumps(r) + "\n" for r in tables.get(name, []))
        (folder / f"{name}.jsonl").write_text(lines)
    return folder


def racing_inputs(
    root: Path, x_count: int, w_count: int, overlapping_ids: bool
) -> tuple[Path, Path]:
    """Two data sets of users whose emails differ only in case (dup{i}@x.co, DUP{i}@X.CO),
    with the same ids or with others."""
    x = write_records(
        root / "x",
        users=[{"id": i, "name": f"x{i}", "email": f"dup{i}@x.co"} for i in range(1, x_count + 1)],
    )
    first_w = 1 if overlapping_ids else 500_001
    w = write_records(
        root / "w",
        users=[
            {"id": first_w + i, "name": f"w{i}", "email": f"DUP{i + 1}@X.CO"}
            for i in range(w_count)
        ],
    )
    return x, w


class Watched:
    """A process started by `start_cli`, whose stderr is read line by line as it comes (to wait
    for a notice), and stdout whole."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self._lines: list[str] = []
        self._out = b""
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read_err, daemon=True),
            threading.Thread(target=self._read_out, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self._lines.append(line.decode(errors="replace"))
                self._changed.notify_all()
        with self._changed:
            self._lines.append("")  # the end
            self._changed.notify_all()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        self._out = self.proc.stdout.read()

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The first line of stderr holding `text`, once it comes (fails after `timeout`, or
        if the process ends first)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self._lines:
                    if text in line:
                        return line
                if self._lines and self._lines[-1] == "":
                    raise AssertionError(f"ended without saying {text!r}: {self.err}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"never said {text!r} in {timeout} s: {self.err}")
                self._changed.wait(left)

    @property
    def err(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        """Wait for the process to end: (exit code, stdout, stderr)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"still running after {timeout} s: {self.err[-2000:]}") from None
        for reader in self._readers:
            reader.join(10)
        return self.proc.returncode, self._out.decode(), self.err
