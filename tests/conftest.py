from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pgserver import Server, Servers


@pytest.fixture
def db_dir(tmp_path: Path) -> Path:
    path = tmp_path / "db"
    path.mkdir()
    return path


@pytest.fixture
def used_db_dir(tmp_path: Path) -> Path:
    """A database folder after one sample run: three real databases to protect."""
    db_dir = tmp_path / "db"
    done = subprocess.run(
        [sys.executable, "-m", "tui_insert", "run", "--headless", "--db-dir", str(db_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return db_dir


# --- real PostgreSQL servers -------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_servers() -> Iterator[Servers]:
    """Three PostgreSQL servers, one per dataset, started once for the whole test run."""
    with Servers() as servers:
        yield servers


_databases = itertools.count(1)


@pytest.fixture
def pg(pg_servers: Servers) -> Iterator[dict[str, str]]:
    """A new, empty database on each of the three servers: table name -> connection URI."""
    name = f"test_{os.getpid()}_{next(_databases)}"
    for server in pg_servers.servers.values():
        server.execute(f"CREATE DATABASE {name}")
    yield {table: server.uri(name) for table, server in pg_servers.servers.items()}
    for server in pg_servers.servers.values():
        server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# A password the role `secret` logs in with on `pg_own`'s server (every other role is trusted).
SECRET_PASSWORD = "hunter2-pw"


@pytest.fixture(scope="module")
def pg_own_servers() -> Iterator[Servers]:
    """A server for one test module alone, which its tests may stop and start again."""
    with Servers(names=("own",)) as servers:
        server = servers["own"]
        hba = server.data / "pg_hba.conf"
        hba.write_text("host all secret 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        server.execute(f"CREATE ROLE secret LOGIN PASSWORD '{SECRET_PASSWORD}'")
        server.execute("SELECT pg_reload_conf()")
        yield servers


@pytest.fixture
def pg_own(pg_own_servers: Servers) -> Iterator[Server]:
    """`pg_own_servers`' server, running; started again after a test that left it stopped."""
    server = pg_own_servers["own"]
    yield server
    server.running()
