"""Stores: where each dataset lives (a SQLite file, or a PostgreSQL database), as the user named
it. `base.py` is the interface every kind keeps; `sqlite.py` and `postgres.py` keep it.

`postgres.py` (and psycopg, 25 MB in every process that imports it) is imported only where a
store is a PostgreSQL database."""

from __future__ import annotations

import re
from pathlib import Path

from tui_insert.core.checks import database_paths
from tui_insert.core.errors import UserError
from tui_insert.core.stores.base import Target
from tui_insert.core.stores.sqlite import SqliteTarget

_URI = re.compile(r"postgres(?:ql)?://", re.IGNORECASE)


def is_postgres_uri(text: str) -> bool:
    return _URI.match(text) is not None


def parse_target(text: str, option: str) -> Target:
    """The store a user named: a PostgreSQL URI (postgresql:// or postgres://) or a file path.
    Raises UserError naming `option` for a URI libpq cannot read."""
    if is_postgres_uri(text):
        from tui_insert.core.stores.postgres import PostgresTarget

        return PostgresTarget.from_uri(text, option)
    if not text:
        raise UserError(f"{option}: give a database file or a postgresql:// URL")
    return SqliteTarget(Path(text))


def store_targets(db_dir: Path, given: dict[str, str | None] | None = None) -> dict[str, Target]:
    """Each dataset's store: the one given (table name -> what the user wrote), else its file in
    `db_dir`. Two datasets may not share one store."""
    given = given or {}
    targets: dict[str, Target] = {}
    for name, path in database_paths(db_dir).items():
        text = given.get(name)
        targets[name] = (
            parse_target(text, f"--{name}-db") if text is not None else SqliteTarget(path)
        )
    names = list(targets)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if targets[first].clashes_with(targets[second]):
                raise UserError(
                    f"{first} and {second} would share one database ({targets[first].label}):"
                    " give each dataset its own"
                )
    return targets
