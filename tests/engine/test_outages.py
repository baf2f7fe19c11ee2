"""Stores that fail mid-run and come back (SPEC §5, `--retry-for`): real servers stopped with
`pg_ctl stop -m immediate` and started again, a TCP proxy that loses the answer to a commit (or
the commit itself), errors the server raises for a transaction, a lock another session holds in
the middle of a commit. Each run ends exactly as an uninterrupted run of the same input, which
an independent run on SQLite gives: the same record by record report, the same rows."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sqlite3
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import (
    FAST_WAITS,
    Stores,
    Watched,
    dump,
    duplicate_emails,
    integrity,
    orphan_orders,
    start_cli,
    store_args,
    strict_json,
    tui_insert,
    wait_until_stored,
    write_records,
)
from tests.pgserver import Server, Servers
from tui_insert.core.checks import is_full
from tui_insert.core.generate import generate_dataset

# Tries again after 0.2 s, 0.4 s, ..., 1.6 s; notices of waits after 0.3 s.
FAST = {**FAST_WAITS, "TUI_INSERT_RETRY_SECONDS": "0.2"}


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    """Three servers of this module's own: its tests stop and start them."""
    with Servers() as started:
        yield started


_names = itertools.count(1)


@pytest.fixture
def stores(servers: Servers) -> Iterator[dict[str, str]]:
    """A new database on each server (each running again after the test)."""
    name = f"outage_{os.getpid()}_{next(_names)}"
    for server in servers.servers.values():
        server.execute(f"CREATE DATABASE {name}")
    yield {table: server.uri(name) for table, server in servers.servers.items()}
    for server in servers.servers.values():
        server.running()
        server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 records a table, 5 % of them invalid (duplicates, unknown users...)."""
    folder = tmp_path_factory.mktemp("data")
    generate_dataset(folder, 1500, 0.05, seed=11, fmt="jsonl")
    return folder


@pytest.fixture(scope="module")
def uninterrupted(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """The report and the rows of a run of `data` that nothing interrupted (on SQLite)."""
    db_dir = tmp_path_factory.mktemp("uninterrupted")
    result = tui_insert("run", "--headless", "--json", "--data", data, "--db-dir", db_dir)
    assert result.returncode == 0, result.stderr
    return strict_json(result.stdout), dump(db_dir)


# Each record its own commit, 1 ms apart: a run of `data` lasts seconds, so a server stopped
# after its first rows is stopped mid-run.
SLOW = ("--latency", "1ms")


def _run(stores: dict[str, str], data: Path, *args: str) -> Watched:
    return Watched(
        start_cli(
            "run", "--headless", "--json", "--data", data, *store_args(stores), *args, env=FAST
        )
    )


def _exactly_uninterrupted(out: str, stores: Stores, uninterrupted: tuple) -> dict:
    """The run's report says of every record what an uninterrupted run says (each once), and
    the stores hold exactly its rows."""
    report = strict_json(out)
    expected_report, expected_rows = uninterrupted
    assert report["status"] == "completed"
    assert report["records"] == expected_report["records"]
    for table, figures in expected_report["tables"].items():
        for key in ("total", "inserted", "rejected"):
            assert report["tables"][table][key] == figures[key], (table, key)
    assert dump(stores) == expected_rows
    return report


# --- a server stopped, and started again --------------------------------------------------------


@pytest.mark.parametrize("table", ["users", "orders"])
def test_a_server_stopped_mid_run_and_started_again_4_s_later_changes_nothing(
    servers: Servers,
    stores: dict[str, str],
    data: Path,
    uninterrupted: tuple,
    table: str,
) -> None:
    run = _run(stores, data, *SLOW)
    wait_until_stored(stores, table, run.proc, at_least=100)
    servers[table].stop("immediate")
    run.wait_for("retrying in")  # the run noticed, and waits
    # The outage itself: the server stays away for 4 s, as in a restart.
    threading.Event().wait(4)
    servers[table].start()
    code, out, err = run.finish()
    assert code == 0, err
    report = _exactly_uninterrupted(out, stores, uninterrupted)
    label = stores[table].rsplit("@", 1)[1]
    assert f"{label}: " in err and "retrying in" in err and "back after" in err, err
    assert "Traceback" not in err
    # Counted in the report: the tries made again, and the time waited.
    assert sum(t["retries"] for t in report["tables"].values()) >= 1
    assert max(t["waited_seconds"] for t in report["tables"].values()) >= 3


def test_a_server_that_stays_away_ends_the_run_and_a_rerun_completes_it(
    servers: Servers, stores: dict[str, str], data: Path, uninterrupted: tuple
) -> None:
    run = _run(stores, data, *SLOW, "--retry-for", "2s")
    wait_until_stored(stores, "users", run.proc, at_least=100)
    servers["users"].stop("immediate")
    code, out, err = run.finish()
    assert code == 1, err
    last = err.strip().splitlines()[-1]
    label = stores["users"].rsplit("@", 1)[1]
    assert label in last and "longer than --retry-for 2s" in last, last
    assert "running the same input again completes it" in last
    report = strict_json(out)
    assert report["status"] == "failed" and label in report["error"]
    servers["users"].start()
    # What was committed stays; the same input again completes the run exactly.
    again = tui_insert("run", "--headless", "--data", data, *store_args(stores))
    assert again.returncode == 0, again.stderr
    assert dump(stores) == uninterrupted[1]


def test_a_server_down_at_the_start_is_waited_for(
    servers: Servers, stores: dict[str, str], data: Path, uninterrupted: tuple
) -> None:
    servers["products"].stop("immediate")
    run = _run(stores, data)
    run.wait_for("server unreachable, retrying in")
    servers["products"].start()
    code, out, err = run.finish()
    assert code == 0, err
    _exactly_uninterrupted(out, stores, uninterrupted)


# --- a commit whose answer is lost ---------------------------------------------------------------


class Proxy:
    """A TCP proxy in front of a server, which cuts one connection at a commit that stores rows:
    `after` the server has committed (its answer never reaches the client), `before` the
    commit reaches the server, or `stranded`: before, and the server's side is kept open, so
    its session waits inside the transaction as after a network failure. It reads the server's
    messages (a type byte and a length) to find the commit: the server's "UPDATE 1" for the
    bookkeeping row comes just before."""

    def __init__(self, server: Server, *, cut: str, at: int) -> None:
        self.server = server
        self.cut = cut
        self.at = at  # cut at the at-th commit that stores rows
        self.commits = 0
        self.cuts = 0
        self._stranded: list[Any] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def uri(self, dbname: str) -> str:
        # No SSL or GSS negotiation: every message from the server is a typed one.
        return (
            f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"
            "?sslmode=disable&gssencmode=disable"
        )

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            listening = await asyncio.start_server(self._pipe, "127.0.0.1", 0)
            self.port = listening.sockets[0].getsockname()[1]
            self._ready.set()
            async with listening:
                await listening.serve_forever()

        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(main())

    async def _pipe(self, client_in: asyncio.StreamReader, client_out: Any) -> None:
        server_in, server_out = await asyncio.open_connection(self.server.host, self.server.port)
        state = {"bumped": False, "cut": False}

        def cut() -> None:
            state["cut"] = True
            self.cuts += 1
            client_out.transport.abort()
            if self.cut == "stranded":
                self._stranded.append(server_out)  # the server never hears the client left
            else:
                server_out.transport.abort()

        async def upstream() -> None:
            while data := await client_in.read(65536):
                if self.cut in ("before", "stranded") and state["bumped"]:
                    state["bumped"] = False  # what the client sends now is the COMMIT
                    if self._this_one():
                        cut()  # the COMMIT never reaches the server
                        return
                server_out.write(data)
                await server_out.drain()
            server_out.close()

        async def downstream() -> None:
            pending = b""
            while data := await server_in.read(65536):
                pending += data
                out = b""
                while len(pending) >= 5:
                    kind, length = pending[:1], struct.unpack("!I", pending[1:5])[0]
                    if len(pending) < 1 + length:
                        break
                    message, pending = pending[: 1 + length], pending[1 + length :]
                    tag = message[5:].rstrip(b"\0")
                    if kind == b"C" and tag == b"UPDATE 1":
                        state["bumped"] = True
                    elif kind == b"C" and tag == b"COMMIT" and state["bumped"]:
                        state["bumped"] = False
                        if self.cut == "after" and self._this_one():
                            client_out.write(out)
                            cut()  # committed, and the client never hears of it
                            return
                    out += message
                client_out.write(out)
                await client_out.drain()
            client_out.close()

        with contextlib.suppress(OSError, ConnectionError):
            await asyncio.gather(upstream(), downstream())

    def _this_one(self) -> bool:
        self.commits += 1
        return self.cuts == 0 and self.commits == self.at

    def close(self) -> None:
        self._loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks()])
        self._thread.join(5)


@pytest.mark.parametrize("cut", ["after", "before", "stranded"])
def test_a_commit_whose_answer_is_lost_is_found_out_by_its_transaction(
    servers: Servers, stores: dict[str, str], data: Path, uninterrupted: tuple, cut: str
) -> None:
    """Cut after the server committed: the chunk is reported inserted, never as duplicates of
    itself. Cut before: it was not stored, and is stored now; stranded, its session (still in
    the transaction, holding the table's lock) is ended first. Either way the rows (which
    another process might have written too) are not what tells."""
    proxy = Proxy(servers["users"], cut=cut, at=40)
    try:
        proxied = {**stores, "users": proxy.uri(stores["users"].rsplit("/", 1)[1])}
        code, out, err = _run(proxied, data, *SLOW).finish()
    finally:
        proxy.close()
    assert proxy.cuts == 1, err
    assert code == 0, err
    assert "connection lost during a commit" in err, err
    report = _exactly_uninterrupted(out, stores, uninterrupted)
    if cut == "stranded":  # found still open, ended, then found aborted: one more try
        assert report["tables"]["users"]["retries"] >= 2, err


# --- transient errors of a transaction -----------------------------------------------------------


def _tables_made(stores: dict[str, str], tmp_path: Path) -> None:
    """The tables and bookkeeping, as a first run (of nothing) makes them."""
    empty = write_records(tmp_path / "nothing")
    made = tui_insert("run", "--headless", "--data", empty, *store_args(stores))
    assert made.returncode == 0, made.stderr


def test_serialization_failures_and_deadlocks_are_tried_again_never_failed_records(
    stores: dict[str, str], data: Path, uninterrupted: tuple, tmp_path: Path
) -> None:
    """The server aborts three of the users' transactions (SQLSTATE 40001 twice, 40P01 once)."""
    _tables_made(stores, tmp_path)
    with psycopg.connect(stores["users"], autocommit=True) as conn:
        conn.execute("CREATE SEQUENCE injected")
        conn.execute(
            """CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF nextval('injected') <= 2 THEN
                RAISE EXCEPTION 'injected' USING ERRCODE = 'serialization_failure';
              END IF;
              IF nextval('injected') <= 4 THEN
                RAISE EXCEPTION 'injected' USING ERRCODE = 'deadlock_detected';
              END IF;
              RETURN NULL;
            END $$"""
        )
        conn.execute(
            "CREATE TRIGGER inject BEFORE INSERT ON users"
            " FOR EACH STATEMENT EXECUTE FUNCTION inject()"
        )
    code, out, err = _run(stores, data).finish()
    assert code == 0, err
    report = _exactly_uninterrupted(out, stores, uninterrupted)
    assert report["tables"]["users"]["retries"] == 3, err
    assert "serialization failure, retrying in" in err


def test_a_lock_held_midway_through_a_commit_is_waited_out_beyond_retry_for(
    stores: dict[str, str], data: Path, uninterrupted: tuple, tmp_path: Path
) -> None:
    """Another session holds the users' bookkeeping row, which each commit of users updates:
    the commit waits (with notices) for as long as it takes, --retry-for 0 notwithstanding."""
    _tables_made(stores, tmp_path)
    with psycopg.connect(stores["users"]) as other:
        other.execute("SELECT * FROM tui_insert_state WHERE dataset = 'users' FOR UPDATE")
        run = _run(stores, data, "--retry-for", "0")
        run.wait_for("locked by another program; waiting")
        other.rollback()
    code, out, err = run.finish()
    assert code == 0, err
    _exactly_uninterrupted(out, stores, uninterrupted)


# --- SQLite: a full disk, a long lock ----------------------------------------------------------


class Disk:
    """A small tmpfs of this test's own, which `fill()` fills up and `free()` frees."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._filler = path / "filler"

    def fill(self, leave: int = 0) -> None:
        """Fill the disk, then give back `leave` bytes."""
        with open(self._filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:  # until ENOSPC
                f.write(b"\0" * 4096)
        size = self._filler.stat().st_size
        os.truncate(self._filler, max(size - leave, 0))

    def free(self) -> None:
        self._filler.unlink()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (to fill it up) needs root")
    path = tmp_path / "disk"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)], check=True)
    try:
        yield Disk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _sound(db_dir: Path) -> None:
    """Every file whole, and every invariant kept, whatever was committed."""
    assert set(integrity(db_dir).values()) == {"ok"}
    assert orphan_orders(db_dir) == []
    assert duplicate_emails(db_dir) == []


def test_a_full_disk_pauses_the_run_until_space_is_freed(
    disk: Disk, data: Path, uninterrupted: tuple
) -> None:
    db_dir = disk.path / "db"
    db_dir.mkdir()
    disk.fill(leave=128 << 10)  # room for the tables and some rows: full mid-run
    run = _run_on(db_dir, data)
    run.wait_for("disk full, retrying in")
    disk.free()
    code, out, err = run.finish()
    assert code == 0, err
    assert "back after" in err
    _exactly_uninterrupted(out, db_dir, uninterrupted)
    _sound(db_dir)


def test_an_io_error_on_a_nearly_full_disk_is_the_full_disk(disk: Disk) -> None:
    """SQLite says only "disk I/O error" when it cannot grow a -shm file. By the time that is
    seen, the other stores on the disk may have given back some space (seen in a run: exactly
    64 KiB free; here half a MiB): that is still a full disk, waited for, not a failure of its
    own."""
    error = sqlite3.OperationalError("disk I/O error")
    error.sqlite_errorname = "SQLITE_IOERR_SHMSIZE"  # type: ignore[attr-defined]
    disk.fill(leave=512 << 10)
    assert is_full(error, str(disk.path / "orders.db"))
    disk.free()
    assert not is_full(error, str(disk.path / "orders.db"))


def test_a_disk_that_stays_full_ends_the_run_with_nothing_half_written(
    disk: Disk, data: Path, uninterrupted: tuple
) -> None:
    db_dir = disk.path / "db"
    db_dir.mkdir()
    disk.fill(leave=128 << 10)
    code, out, err = _run_on(db_dir, data, "--retry-for", "1s").finish()
    assert code == 1, err
    last = err.strip().splitlines()[-1]
    assert "disk full for" in last and "longer than --retry-for 1s" in last, last
    assert "running the same input again completes it" in last
    assert strict_json(out)["status"] == "failed"
    assert "Traceback" not in err
    # Opening a file to check it needs room for its -shm file: check once space is back.
    disk.free()
    _sound(db_dir)
    again = tui_insert("run", "--headless", "--data", data, "--db-dir", db_dir)
    assert again.returncode == 0, again.stderr
    assert dump(db_dir) == uninterrupted[1]


def test_a_full_disk_under_the_spool_pauses_the_run_too(
    disk: Disk, data: Path, uninterrupted: tuple, tmp_path: Path
) -> None:
    """The outcomes a run keeps until its report (in the temporary folder): no outcome lost
    or written twice."""
    db_dir = tmp_path / "db"
    # Room for Python to find the folder usable (else it takes another), not for the outcomes.
    disk.fill(leave=16 << 10)
    run = _run_on(db_dir, data, env={"TMPDIR": str(disk.path)})
    line = run.wait_for("disk full, retrying in")
    assert str(disk.path) in line
    disk.free()
    code, out, err = run.finish()
    assert code == 0, err
    _exactly_uninterrupted(out, db_dir, uninterrupted)


def test_a_full_disk_under_the_rejects_file_is_waited_for(
    disk: Disk, data: Path, tmp_path: Path
) -> None:
    expected = tmp_path / "expected.jsonl"
    made = tui_insert(
        "run", "--headless", "--data", data, "--db-dir", tmp_path / "a", "--rejects", expected
    )
    assert made.returncode == 0, made.stderr
    rejects = disk.path / "rejects.jsonl"
    disk.fill()
    run = _run_on(tmp_path / "b", data, "--rejects", rejects)
    run.wait_for(f"{rejects}: disk full, retrying in")
    disk.free()
    code, _, err = run.finish()
    assert code == 0, err
    assert rejects.read_bytes() == expected.read_bytes()


def test_a_sqlite_lock_held_for_long_is_waited_out_beyond_retry_for(
    data: Path, uninterrupted: tuple, tmp_path: Path
) -> None:
    db_dir = tmp_path / "db"
    made = tui_insert(
        "run", "--headless", "--data", write_records(tmp_path / "none"), "--db-dir", db_dir
    )
    assert made.returncode == 0, made.stderr
    other = sqlite3.connect(db_dir / "users.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        run = _run_on(db_dir, data, "--retry-for", "0")
        run.wait_for("users.db: locked by another program; waiting")
        other.execute("ROLLBACK")
    finally:
        other.close()
    code, out, err = run.finish()
    assert code == 0, err
    _exactly_uninterrupted(out, db_dir, uninterrupted)


def _run_on(
    db_dir: Path, data: Path, *args: str | Path, env: dict[str, str] | None = None
) -> Watched:
    return Watched(
        start_cli(
            "run",
            "--headless",
            "--json",
            "--data",
            data,
            "--db-dir",
            db_dir,
            *args,
            env={**FAST, **(env or {})},
        )
    )
