"""The same rules and guarantees when the stores are real PostgreSQL servers (one per dataset,
started by the test suite): the same report and contents as on SQLite, two processes racing,
a reset during a run, SIGKILL and a rerun, a mixed run, and every mistake a clear exit 2."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import (
    dump,
    duplicate_emails,
    finish,
    orphan_orders,
    racing_inputs,
    run_engine,
    start_cli,
    store_args,
    stored_count,
    table_rows,
    targets,
    tui_insert,
    wait_until_stored,
    write_records,
)
from tests.pgserver import Servers
from tui_insert.core.generate import generate_dataset
from tui_insert.core.reset import reset_stores
from tui_insert.core.stores import parse_target
from tui_insert.core.tables import TABLES


def _user_tables(uri: str) -> list[str]:
    """The tables in a database's public schema: "nothing written" means none made either."""
    with psycopg.connect(uri, autocommit=True) as conn:
        return [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]


def _assert_invariants(stores: Any) -> None:
    assert orphan_orders(stores) == []
    assert duplicate_emails(stores) == []
    for table, rows in dump(stores).items():
        assert len(rows) == len({r[0] for r in rows}), f"{table}: an id stored twice"


def _without_times(report: dict) -> dict:
    """A report, less what differs between stores and runs: elapsed time, the stores' names."""
    return {
        "tables": {k: {**v, "database": None} for k, v in report["tables"].items()},
        "records": report["records"],
    }


@pytest.fixture(scope="module")
def data_20k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data")
    generate_dataset(out, 20_000, invalid_share=0.2, seed=7, fmt="jsonl")
    return out


def _inputs(data: Path) -> dict[str, list[Any]]:
    """The records of a generated data set (its broken lines as None)."""

    def parsed(line: str) -> Any:
        try:
            return json.loads(line)
        except ValueError:
            return None

    return {
        name: [parsed(line) for line in (data / f"{name}.jsonl").read_text().splitlines()]
        for name in ("users", "products", "orders")
    }


def _small(folder: Path, count: int) -> Path:
    """`count` valid records a table, every order naming a user and a product of the set (so
    that orders are stored soon after their users, and again after a reset)."""
    return write_records(
        folder,
        users=[{"id": i, "name": f"u{i}", "email": f"u{i}@x.co"} for i in range(1, count + 1)],
        products=[{"id": i, "name": f"p{i}", "price": 1.5} for i in range(1, count + 1)],
        orders=[
            {"id": i, "user_id": i, "product_id": i, "quantity": 1} for i in range(1, count + 1)
        ],
    )


@pytest.fixture(scope="module")
def data_60k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data60k")
    generate_dataset(out, 60_000, invalid_share=0.05, seed=11, fmt="jsonl")
    return out


# --- the same results as on SQLite ------------------------------------------------------------


def test_sample_run_on_three_servers_then_again(pg: dict[str, str], tmp_path: Path) -> None:
    run, seen = run_engine(pg)
    counts = {name: (p.inserted, p.rejected) for name, p in run.progress.items()}
    assert counts == {"users": (8, 2), "products": (9, 1), "orders": (7, 3)}
    sqlite_run, sqlite_seen = run_engine(tmp_path / "db")
    assert seen.records == sqlite_seen.records
    assert dump(pg) == dump(tmp_path / "db")
    # Again without a reset: nothing new, every record a duplicate.
    again, _ = run_engine(pg)
    assert {name: p.inserted for name, p in again.progress.items()} == dict.fromkeys(
        ("users", "products", "orders"), 0
    )


def test_same_result_for_any_workers_and_as_on_sqlite(
    pg_servers: Servers, pg: dict[str, str], data_20k: Path, tmp_path: Path
) -> None:
    """1 and 8 workers, chunks of 500 (the workers really take turns): every record's outcome
    and every row the same, and the same as a SQLite run."""
    sqlite_run, expected = run_engine(tmp_path / "db", data_20k, chunk_size=500)
    for workers in (1, 8):
        for server in pg_servers.servers.values():
            server.execute(
                "DROP TABLE IF EXISTS users, products, orders, tui_insert_state",
                dbname=pg["users"].rsplit("/", 1)[1],
            )
        _, seen = run_engine(pg, data_20k, workers=workers, chunk_size=500)
        assert seen.records == expected.records, workers
        assert dump(pg) == dump(tmp_path / "db"), workers
        _assert_invariants(pg)


def test_a_mixed_run_users_on_postgresql_the_others_in_sqlite(
    pg: dict[str, str], data_20k: Path, tmp_path: Path
) -> None:
    mixed = {"users": pg["users"]}
    db_dir = tmp_path / "mixed"
    result = tui_insert(
        "run", "--headless", "--json", "--data", data_20k, "--db-dir", db_dir,
        "--users-db", mixed["users"],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["tables"]["users"]["database"] == pg["users"].split("@", 1)[1]
    assert report["tables"]["orders"]["database"] == "orders.db"
    assert not (db_dir / "users.db").exists()
    sqlite = tui_insert(
        "run", "--headless", "--json", "--data", data_20k, "--db-dir", tmp_path / "all"
    )
    assert _without_times(report) == _without_times(json.loads(sqlite.stdout))
    assert table_rows(pg, "users") == table_rows(tmp_path / "all", "users")
    assert table_rows(db_dir, "orders") == table_rows(tmp_path / "all", "orders")


# --- other writers ----------------------------------------------------------------------------


def _run_args(data: Path, pg: dict[str, str], *more: str) -> list[str | Path]:
    return ["run", "--headless", "--json", "--data", data, *store_args(pg), *more]


@pytest.mark.parametrize("overlapping_ids", [False, True], ids=["other-ids", "same-ids"])
def test_two_runs_racing_on_case_variant_emails(
    pg: dict[str, str], tmp_path: Path, overlapping_ids: bool
) -> None:
    """Two processes insert users whose emails differ only in case (and, in one variant, the
    same ids) into the same server: no email or id is ever stored twice, and the two reports
    together count exactly the users stored."""
    count = 20_000
    x, w = racing_inputs(tmp_path, count, count, overlapping_ids)
    run_x = start_cli(*_run_args(x, pg, "--workers", "4"))
    wait_until_stored(pg, "users", run_x, at_least=1)
    run_w = start_cli(*_run_args(w, pg, "--workers", "4"))
    reports = []
    for proc in (run_x, run_w):
        code, out, err = finish(proc)
        assert code == 0, err
        reports.append(json.loads(out))
    _assert_invariants(pg)
    assert sum(r["tables"]["users"]["inserted"] for r in reports) == stored_count(pg, "users")
    assert stored_count(pg, "users") == count


def test_a_reset_during_a_run(pg: dict[str, str], tmp_path: Path) -> None:
    """A reset from another process (this one) while the run writes users, then while it
    writes orders: no stored order ever lacks its user or product, and the rows stored
    afterwards are exactly a tail of what the run reported inserted. (A latency makes every
    record its own commit, so that the run is still writing when the resets come.)"""
    count = 12_000
    small = _small(tmp_path / "small", count)
    # At most about 1,000 records a second a table, so that each table takes seconds.
    run = start_cli(*_run_args(small, pg, "--workers", "2", "--latency", "2ms"))
    for table, at_least in (("users", 500), ("orders", 1)):
        # Orders whose users the first reset removed wait for the users' table to be done:
        # on a busy 2-core machine that can take more than a minute.
        wait_until_stored(pg, table, run, at_least=at_least, timeout=180)
        # (In this process, not a new one: a loaded machine takes seconds to start one, and
        # the run could be past that table by then.)
        removed = reset_stores(targets(pg))
        assert 0 < removed[table] < count, f"not during the run's {table}: {removed}"
        _assert_invariants(pg)
    code, out, err = finish(run)
    assert code == 0, err
    _assert_invariants(pg)
    report = json.loads(out)
    for table in ("users", "products", "orders"):
        inserted = [
            r["id"] for r in report["records"] if r["table"] == table and r["status"] == "inserted"
        ]
        stored = [row[0] for row in table_rows(pg, table)]
        # Commits follow input order: what the last reset left is the last ones reported.
        assert stored == sorted(inserted[len(inserted) - len(stored) :]), table


def test_sigkill_mid_run_then_run_again(pg: dict[str, str], data_60k: Path, tmp_path: Path) -> None:
    """SIGKILL to the run and its nodes while users are written, and again once orders are:
    never an order without its user and product on the servers, and the rerun ends with the
    contents of a run never interrupted (a SQLite run of the same input)."""
    run_engine(tmp_path / "whole", data_60k)
    expected = dump(tmp_path / "whole")
    for table, at_least in (("users", 10_000), ("orders", 1)):
        proc = start_cli(*_run_args(data_60k, pg))
        wait_until_stored(pg, table, proc, at_least=at_least)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        _assert_invariants(pg)
    assert 0 < stored_count(pg, "orders") < len(expected["orders"]), "killed too late"
    run_engine(pg, data_60k)
    _assert_invariants(pg)
    assert dump(pg) == expected


def test_dry_run_on_servers_writes_nothing(pg: dict[str, str]) -> None:
    result = tui_insert("run", "--dry-run", "--json", *store_args(pg))
    assert result.returncode == 0, result.stderr
    tables = json.loads(result.stdout)["tables"]
    assert {k: v["inserted"] for k, v in tables.items()} == {"users": 8, "products": 9, "orders": 7}
    assert [_user_tables(uri) for uri in pg.values()] == [[], [], []]


# --- mistakes: one line, exit 2, nothing written ------------------------------------------------


def _refused(pg: dict[str, str], result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert "\n" not in line, line
    for word in words:
        assert word in line, line
    assert [_user_tables(uri) for uri in pg.values()] == [[], [], []]


def test_a_server_that_never_answers_is_waited_for_then_a_clear_error(
    pg: dict[str, str], tmp_path: Path
) -> None:
    """Waited for up to --retry-for, a line for each try; then exit 2 with nothing written."""
    with socket_port() as port:
        dead = f"postgresql://postgres@127.0.0.1:{port}/nothing"
        result = tui_insert(
            "run",
            "--headless",
            "--retry-for",
            "1s",
            *store_args({**pg, "orders": dead}),
            cwd=tmp_path,
        )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    *tries, last = result.stderr.strip().splitlines()
    assert tries, result.stderr
    for line in tries:
        assert f"127.0.0.1:{port}/nothing: server unreachable, retrying in" in line, line
    for word in ("server unreachable for", "longer than --retry-for 1s", "nothing was written"):
        assert word in last, last
    assert [_user_tables(uri) for uri in pg.values()] == [[], [], []]
    assert list(tmp_path.iterdir()) == []


def test_a_bad_url_is_a_usage_error_that_shows_no_password(pg: dict[str, str]) -> None:
    result = tui_insert(
        "run", "--headless", *store_args({**pg, "users": "postgresql://me:s3cret%zz@h/db"})
    )
    _refused(pg, result, "--users-db")
    assert "s3cret" not in result.stderr


@pytest.fixture
def alice(pg_servers: Servers, pg: dict[str, str]) -> str:
    """A role `alice` with password `wonderland`, who must give it (scram-sha-256) on the users
    server, and owns the test database there."""
    server = pg_servers["users"]
    hba = server.data / "pg_hba.conf"
    line = "host all alice 127.0.0.1/32 scram-sha-256\n"
    if line not in hba.read_text():
        hba.write_text(line + hba.read_text())
        server.execute("SELECT pg_reload_conf()")
    server.execute("DROP ROLE IF EXISTS alice")
    server.execute("CREATE ROLE alice LOGIN PASSWORD 'wonderland'")
    dbname = pg["users"].rsplit("/", 1)[1]
    server.execute(f"ALTER DATABASE {dbname} OWNER TO alice")
    server.execute("ALTER SCHEMA public OWNER TO alice", dbname=dbname)
    yield server.uri(dbname, user="alice", password="wonderland")
    server.execute(f"ALTER DATABASE {dbname} OWNER TO postgres")
    server.execute("ALTER SCHEMA public OWNER TO pg_database_owner", dbname=dbname)
    server.execute("REASSIGN OWNED BY alice TO postgres", dbname=dbname)
    server.execute("DROP OWNED BY alice", dbname=dbname)
    server.execute("DROP ROLE alice")


def test_a_password_works_and_is_never_shown(pg: dict[str, str], alice: str) -> None:
    result = tui_insert("run", "--headless", "--json", *store_args({**pg, "users": alice}))
    assert result.returncode == 0, result.stderr
    assert "wonderland" not in result.stdout + result.stderr
    assert json.loads(result.stdout)["tables"]["users"]["inserted"] == 8
    wrong = alice.replace("wonderland", "looking-glass")
    result = tui_insert("reset", "--yes", *store_args({**pg, "users": wrong}))
    assert result.returncode == 2
    assert "password authentication failed" in result.stderr
    assert "looking-glass" not in result.stderr and "wonderland" not in result.stderr
    assert stored_count(pg, "users") == 8  # nothing emptied


def test_no_create_privilege_is_named(pg_servers: Servers, pg: dict[str, str]) -> None:
    """Since PostgreSQL 15 an ordinary role may not create tables in `public`."""
    server = pg_servers["products"]
    server.execute("DROP ROLE IF EXISTS bob")
    server.execute("CREATE ROLE bob LOGIN")
    dbname = pg["products"].rsplit("/", 1)[1]
    try:
        bob = server.uri(dbname, user="bob")
        result = tui_insert("run", "--headless", *store_args({**pg, "products": bob}))
        _refused(pg, result, "no CREATE privilege on schema public", "bob")
    finally:
        server.execute("DROP ROLE bob")


def test_a_foreign_table_of_that_name_is_named(pg_servers: Servers, pg: dict[str, str]) -> None:
    dbname = pg["orders"].rsplit("/", 1)[1]
    pg_servers["orders"].execute("CREATE TABLE orders (id integer, note text)", dbname=dbname)
    result = tui_insert("run", "--headless", *store_args(pg))
    assert result.returncode == 2
    assert "table public.orders has columns (id integer, note text)" in result.stderr
    assert [_user_tables(pg[name]) for name in ("users", "products")] == [[], []]
    assert _user_tables(pg["orders"]) == ["orders"]


def test_a_database_not_in_utf8_is_refused(pg_servers: Servers, pg: dict[str, str]) -> None:
    server = pg_servers["users"]
    server.execute("DROP DATABASE IF EXISTS latin")
    server.execute("CREATE DATABASE latin ENCODING 'LATIN1' TEMPLATE template0 LOCALE 'C'")
    try:
        result = tui_insert("run", "--headless", *store_args({**pg, "users": server.uri("latin")}))
        _refused(pg, result, "encoding is LATIN1", "UTF8")
    finally:
        server.execute("DROP DATABASE latin")


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    """A port on 127.0.0.1 where nothing listens (held bound, so nothing starts there)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def test_a_role_with_only_the_privileges_named_runs_and_resets(
    pg_servers: Servers, pg: dict[str, str]
) -> None:
    """Tables made beforehand (by a first run as the owner); then a role granted exactly what
    docs/postgresql.md names, and no CREATE, runs and resets on the users server."""
    assert tui_insert("run", "--headless", *store_args(pg)).returncode == 0
    server = pg_servers["users"]
    dbname = pg["users"].rsplit("/", 1)[1]
    server.execute("DROP ROLE IF EXISTS carol")
    server.execute("CREATE ROLE carol LOGIN")
    server.execute("GRANT SELECT, INSERT, DELETE ON users TO carol", dbname=dbname)
    server.execute("GRANT SELECT, INSERT, UPDATE ON tui_insert_state TO carol", dbname=dbname)
    carol = {**pg, "users": server.uri(dbname, user="carol")}
    try:
        result = tui_insert("run", "--headless", "--json", *store_args(carol))
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["tables"]["users"]["rejected"] == 10
        result = tui_insert("reset", "--yes", *store_args(carol))
        assert result.returncode == 0, result.stderr
        assert stored_count(pg, "users") == 0
        server.execute("REVOKE DELETE ON users FROM carol", dbname=dbname)
        result = tui_insert("reset", "--yes", *store_args(carol))
        assert result.returncode == 2
        assert "role carol has no DELETE privilege on table public.users" in result.stderr
    finally:
        server.execute("DROP OWNED BY carol", dbname=dbname)
        server.execute("DROP ROLE carol")


def test_all_three_datasets_in_one_database(pg: dict[str, str]) -> None:
    one = dict.fromkeys(pg, pg["users"])
    result = tui_insert("run", "--headless", "--json", *store_args(one))
    assert result.returncode == 0, result.stderr
    tables = json.loads(result.stdout)["tables"]
    assert [tables[t]["inserted"] for t in ("users", "products", "orders")] == [8, 9, 7]
    assert sorted(_user_tables(pg["users"])) == ["orders", "products", "tui_insert_state", "users"]
    assert tui_insert("reset", "--yes", *store_args(one)).returncode == 0
    assert [stored_count(one, t) for t in one] == [0, 0, 0]
    result = tui_insert("run", "--headless", "--json", *store_args(one))
    assert json.loads(result.stdout)["tables"]["orders"]["inserted"] == 7


def test_a_table_dropped_mid_run_ends_it_naming_the_store(
    pg_servers: Servers, pg: dict[str, str], tmp_path: Path, data_60k: Path
) -> None:
    small = _small(tmp_path / "small", 3000)
    run = start_cli(*_run_args(small, pg, "--latency", "1ms"))
    wait_until_stored(pg, "products", run, at_least=100)
    dbname = pg["products"].rsplit("/", 1)[1]
    pg_servers["products"].execute("DROP TABLE products", dbname=dbname)
    code, _, err = finish(run)
    assert code == 1, err
    assert "Traceback" not in err
    assert pg["products"].split("@", 1)[1] in err
    assert "dropped" in err
    # (The orders stored before stay: dropping products by hand took what they name with it.)


def test_a_server_stopped_mid_run_ends_it_naming_the_store(
    pg_servers: Servers, pg: dict[str, str], tmp_path: Path, data_60k: Path
) -> None:
    """A server that stays away longer than --retry-for: exit 1, a message naming the store,
    no traceback, and what was committed stays consistent. (With the default of two minutes
    the run gave up just as the test's own wait of two minutes ran out: a race.)"""
    small = _small(tmp_path / "small", 3000)
    run = start_cli(*_run_args(small, pg, "--latency", "1ms", "--retry-for", "3s"))
    wait_until_stored(pg, "orders", run, at_least=1)
    server = pg_servers["orders"]
    server.stop("immediate")
    try:
        code, out, err = finish(run)
    finally:
        server.start()
    assert code == 1, err
    assert "Traceback" not in err
    assert pg["orders"].split("@", 1)[1] in err
    assert json.loads(out)["status"] == "failed"
    _assert_invariants(pg)


def test_a_lost_commit_that_never_reached_the_servers_log_was_not_stored(
    pg: dict[str, str],
) -> None:
    """A server stopped at once may lose a transaction that never reached its log; after
    recovery its id lies ahead of the ids handed out, and PostgreSQL says it "is in the
    future" when asked about it. Seen in a run: that commit did not happen, and its chunk is
    decided and stored again, not an error that ends the run."""
    run_engine(pg)  # the tables are there
    writer = parse_target(pg["users"], "--users").writer(
        TABLES["users"], expected=None, on_wait=None
    )
    try:
        writer.load()
        with psycopg.connect(pg["users"]) as conn:
            (next_xid,) = conn.execute("SELECT pg_current_xact_id()::text").fetchone()
        # What a commit whose answer was lost leaves behind: its transaction id, the version it
        # bumped to, its session. Here an id the server has not handed out yet.
        writer._in_doubt = (str(int(next_xid) + 1000), (0, 1), 0, 1)
        assert writer.fate() is False
        assert writer.load() is not None  # and the session goes on
    finally:
        writer.close()


def _users_writer(pg: dict[str, str]) -> Any:
    writer = parse_target(pg["users"], "--users").writer(
        TABLES["users"], expected=None, on_wait=None
    )
    writer.load()
    return writer


def test_a_lost_commits_id_committed_by_another_transaction_was_not_stored(
    pg: dict[str, str],
) -> None:
    """After recovery the id of a transaction lost before it reached the log is handed out
    again, and another transaction may commit under it: the server then says "committed" of
    a commit that never happened. Only the commit that inserted the chunk's first row is
    taken as ours."""
    run_engine(pg)
    writer = _users_writer(pg)
    try:
        with psycopg.connect(pg["users"]) as conn:  # another session's commit, under an id
            (other_xid,) = conn.execute("SELECT pg_current_xact_id()::text").fetchone()
        writer._in_doubt = (other_xid, (0, 1), 0, 10**15)  # a row no one inserted
        assert writer.fate() is False
    finally:
        writer.close()


def test_a_commit_whose_answer_was_lost_and_that_happened_was_stored(
    pg: dict[str, str],
) -> None:
    """The other side of the check above: the commit that inserted the row is found."""
    run_engine(pg)
    writer = _users_writer(pg)
    try:
        writer.begin(threading.Event())
        writer.insert([(10**12, "Late", "late@example.com")])
        writer.commit()
        with psycopg.connect(pg["users"]) as conn:
            (xmin,) = conn.execute(
                "SELECT xmin::text FROM users WHERE id = %s", (10**12,)
            ).fetchone()
            (now,) = conn.execute("SELECT pg_current_xact_id()::text").fetchone()
        xid = (int(now) >> 32 << 32) | int(xmin)  # the same epoch, in a test
        writer._in_doubt = (str(xid), (0, 2), 0, 10**12)
        assert writer.fate() is True
        writer._in_doubt = (str(xid), (0, 2), 0, 10**12 + 1)  # not the row it inserted
        assert writer.fate() is False
    finally:
        writer.close()
