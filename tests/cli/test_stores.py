"""Naming the stores on the command line: --users-db, --products-db, --orders-db."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import files_in, tui_insert
from tui_insert.core.errors import UserError
from tui_insert.core.stores import parse_target, store_targets


def test_a_store_option_names_a_file_or_a_server() -> None:
    assert parse_target("x/users.db", "--users-db").label == "x/users.db"
    server = parse_target("postgresql://me:secret@db.example:6543/shop?sslmode=require", "--x")
    assert server.label == "db.example:6543/shop"
    assert "secret" not in repr(server) and "secret" not in server.name
    assert parse_target("postgres://[::1]/shop", "--x").label == "[::1]:5432/shop"
    # A socket folder as the host, and the database named after the user by default.
    assert parse_target("postgresql://me@%2Frun%2Fpg", "--x").label == "/run/pg:5432/me"


@pytest.mark.parametrize(
    "uri", ["postgresql://me:hunter2%zz@h/db", "postgresql://me:hunter2@h/db?nonsense=1"]
)
def test_a_bad_url_names_the_option_and_never_the_password(uri: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_target(uri, "--orders-db")
    assert str(caught.value).startswith("--orders-db: not a PostgreSQL URL")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("command", ["run --headless", "reset --yes", "browse"])
def test_a_bad_url_is_exit_2_on_every_command(command: str, tmp_path: Path) -> None:
    result = tui_insert(*command.split(), "--users-db", "postgresql://u:pw%zz@h/db", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--users-db" in result.stderr
    assert "pw" not in result.stderr.replace("postgresql", "")
    assert files_in(tmp_path) == {}


def test_two_datasets_may_not_share_one_sqlite_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="users and orders would share one database"):
        store_targets(tmp_path, {"orders": str(tmp_path / "users.db")})
    result = tui_insert(
        "run", "--headless", "--products-db", "same.db", "--orders-db", "./same.db", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "products and orders would share one database" in result.stderr
    assert files_in(tmp_path) == {}


def test_a_mixed_run_of_files_named_one_by_one(tmp_path: Path) -> None:
    result = tui_insert(
        "run", "--headless", "--json", "--users-db", "a/people.db", "--orders-db", "b/o.db",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["people.db"]
    assert (tmp_path / "products.db").exists() and (tmp_path / "b" / "o.db").exists()
    tables = json.loads(result.stdout)["tables"]
    assert [tables[t]["database"] for t in tables] == ["people.db", "products.db", "o.db"]
