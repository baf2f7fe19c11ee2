"""A dataset's store in a PostgreSQL database (psycopg 3).

The tables are created in the first schema of the connection's `search_path` with explicit SQL,
with no constraint besides the primary key (ids `bigint`, text `text`, price `double
precision`). Beside them, one bookkeeping table (`tables.STATE_TABLE`) holds a row per dataset:
its reset count, and a version that every tui-insert writer bumps in each commit that stores
rows (PostgreSQL has no `data_version`). It holds no validation.

The protocol of `base.py`, here:

- write lock: `LOCK TABLE … IN EXCLUSIVE MODE` inside the commit's transaction (readers, the
  browser among them, go on; writers wait);
- version: the bookkeeping row's (resets, version), read under that lock;
- reference lock: a session-level advisory lock on a key of the table, shared for an orders
  commit, exclusive for a reset;
- identity: the oids of the database and the table; a table dropped or replaced under a run is
  found out under the lock.

Errors are told apart by SQLSTATE, never by their text. The password is never shown: a store is
named host:port/dbname.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import psycopg
from psycopg.conninfo import conninfo_to_dict

from tui_insert.core.errors import UserError

_URI = re.compile(r"postgres(?:ql)?://", re.IGNORECASE)
_USERINFO = re.compile(r"postgres(?:ql)?://([^@/?#]*)@", re.IGNORECASE)

# Seconds to wait for a server to answer a connection attempt.
CONNECT_SECONDS = 10


def is_postgres_uri(text: str) -> bool:
    return _URI.match(text) is not None


def _scrubbed(message: str, uri: str) -> str:
    """libpq's message about `uri`, without the password it may quote."""
    found = _USERINFO.match(uri)
    if found and ":" in found.group(1):
        secret = found.group(1).split(":", 1)[1]
        if secret:
            message = message.replace(secret, "***")
    return " ".join(message.split())


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL database named by a libpq URI. `conninfo` holds the password, if the URI
    gave one: it is only ever handed to libpq."""

    label: str
    conninfo: str = field(repr=False)

    @classmethod
    def from_uri(cls, uri: str, option: str) -> PostgresTarget:
        try:
            parts = conninfo_to_dict(uri)
        except psycopg.Error as e:
            raise UserError(f"{option}: not a PostgreSQL URL libpq can read: {_scrubbed(str(e), uri)}") from None
        env = os.environ
        host = parts.get("host") or parts.get("hostaddr") or env.get("PGHOST") or "localhost"
        port = parts.get("port") or env.get("PGPORT") or "5432"
        user = parts.get("user") or env.get("PGUSER") or _login()
        dbname = parts.get("dbname") or env.get("PGDATABASE") or user
        shown = f"[{host}]" if ":" in host and "," not in host else host
        return cls(f"{shown}:{port}/{dbname}", uri)

    @property
    def name(self) -> str:
        return self.label

    @property
    def files(self) -> tuple:
        return ()

    def clashes_with(self, other: object) -> bool:
        return False  # one database may hold several datasets: each has its own locks

    def exists(self) -> bool:
        return True

    def browser(self):  # type: ignore[no-untyped-def]
        from tui_insert.core.browse_postgres import PostgresReader

        return PostgresReader(self)


def _login() -> str:
    try:
        import getpass

        return getpass.getuser()
    except (ImportError, KeyError, OSError):
        return "postgres"
