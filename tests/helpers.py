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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tui_insert.core.checks import database_paths
from tui_insert.core.engine import Run
from tui_insert.core.report import outcome_spool
from tui_insert.core.sources import find_sources


class Outcomes:
    """Every record's outcome of a run, from its JSON report lines."""

    def __init__(self, run: Run) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {}
        for name in run.progress:
            with open(outcome_spool(run.spool_dir, name), "rb") as f:
                self.records[name] = [json.loads(line) for line in f]

    def codes(self, table: str) -> dict[int, tuple[str, ...] | None]:
        """position -> reason codes (None: inserted)."""
        return {
            r["position"]: tuple(x["code"] for x in r["reasons"]) if "reasons" in r else None
            for r in self.records[table]
        }

    def messages(self, table: str, position: int) -> list[str]:
        (record,) = [r for r in self.records[table] if r["position"] == position]
        return [x["message"] for x in record["reasons"]]


@contextmanager
def running(db_dir: Path, data_dir: Path | None = None, **kw: Any) -> Iterator[Run]:
    """A real run (real processes and threads, real files), started; closed afterwards."""
    run = Run(find_sources(data_dir), db_dir, **kw)
    try:
        run.prepare()
        run.start()
        yield run
    finally:
        run.close()


def run_engine(
    db_dir: Path, data_dir: Path | None = None, *, workers: int = 1, **kw: Any
) -> tuple[Run, Outcomes]:
    """Run the real engine to the end."""
    with running(db_dir, data_dir, workers=workers, **kw) as run:
        assert run.wait(120), "the run did not end"
        assert run.state == "completed", run.error
        return run, Outcomes(run)


def dump(db_dir: Path) -> dict[str, list[tuple]]:
    """Every row of the three tables, by id."""
    out = {}
    for name, path in database_paths(db_dir).items():
        conn = sqlite3.connect(path)
        out[name] = conn.execute(f"SELECT * FROM {name} ORDER BY id").fetchall()
        conn.close()
    return out


def orphan_orders(db_dir: Path) -> list[tuple]:
    """Stored orders whose user or product is not stored."""
    paths = database_paths(db_dir)
    conn = sqlite3.connect(paths["orders"])
    try:
        conn.execute("ATTACH DATABASE ? AS u", (str(paths["users"]),))
        conn.execute("ATTACH DATABASE ? AS p", (str(paths["products"]),))
        return conn.execute(
            "SELECT * FROM orders o WHERE NOT EXISTS (SELECT 1 FROM u.users WHERE id = o.user_id)"
            " OR NOT EXISTS (SELECT 1 FROM p.products WHERE id = o.product_id)"
        ).fetchall()
    finally:
        conn.close()


def duplicate_emails(db_dir: Path) -> list[str]:
    """Emails (case-folded) held by more than one stored user."""
    conn = sqlite3.connect(database_paths(db_dir)["users"])
    try:
        seen: dict[str, int] = {}
        for (email,) in conn.execute("SELECT email FROM users"):
            key = email.casefold()
            seen[key] = seen.get(key, 0) + 1
        return [key for key, n in seen.items() if n > 1]
    finally:
        conn.close()


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
    """Poll until a running process has committed rows to `table`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = count_rows(path, table)
        if rows >= at_least:
            return rows
        assert proc.poll() is None, "the process ended before it stored anything"
        time.sleep(0.01)
    raise AssertionError(f"no rows in {path} after {timeout} s")


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
