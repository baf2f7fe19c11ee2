"""Shared helpers: run the engine on real files, read back what the databases hold."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tui_insert.core.engine import ChunkOutcome, Run, plan_run
from tui_insert.core.sources import find_sources
from tui_insert.core.storage import database_paths
from tui_insert.core.tables import TABLES


class Collector:
    """A run observer keeping every outcome: (table, position, id, codes or None)."""

    def __init__(self) -> None:
        self.outcomes: dict[str, list[tuple[int, Any, tuple[str, ...] | None]]] = {
            name: [] for name in TABLES
        }
        self.messages: dict[tuple[str, int], list[str]] = {}
        self._lock = threading.Lock()

    def on_chunk(self, outcome: ChunkOutcome) -> None:
        rows = []
        for i, reasons in enumerate(outcome.reasons):
            codes = None if reasons is None else tuple(r.code for r in reasons)
            rows.append((outcome.start + i, outcome.id_of(i), codes))
            if reasons is not None:
                self.messages[(outcome.table, outcome.start + i)] = [r.message for r in reasons]
        with self._lock:
            self.outcomes[outcome.table].extend(rows)

    def codes(self, table: str) -> dict[int, tuple[str, ...] | None]:
        """position -> reason codes (None: inserted)."""
        return {position: codes for position, _, codes in self.outcomes[table]}


def run_engine(
    db_dir: Path, data_dir: Path | None = None, *, workers: int = 4, reset: bool = False, **kw: Any
) -> tuple[Run, Collector]:
    """Run the real engine (real threads, real files) to the end."""
    collector = Collector()
    plan = plan_run(find_sources(data_dir), db_dir, reset=reset)
    run = Run(plan, workers=workers, observer=collector, **kw)
    run.start()
    assert run.wait(120), "the run did not end"
    assert run.state == "completed", run.error
    return run, collector


def dump(db_dir: Path) -> dict[str, list[tuple]]:
    """Every row of the three tables, by id."""
    out = {}
    for name, path in database_paths(db_dir).items():
        with sqlite3.connect(path) as conn:
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
