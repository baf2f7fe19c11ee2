"""The floor: the plain way to put the data into the three databases, with no checks.

Usage: python benchmarks/floor.py DATA_DIR DB_DIR [--format json|jsonl|csv]

Reads users, products and orders in the given format (default json) with the standard
library alone — `json.load` for a `.json` array, `json.loads` per line of a `.jsonl` file,
`csv.DictReader` for a `.csv` file — and inserts every record with one `executemany` per
database, in one transaction, one database after the other, with WAL and
`synchronous=FULL` as the engine sets them. Nothing is validated; it only survives the invalid
records: non-objects and broken lines are skipped, fields are read with `.get()` (CSV cells go
in as the text they are: SQLite's column affinity turns `"7"` into 7), and `INSERT OR IGNORE`
drops duplicate ids. The headless engine is measured against this.
"""

import argparse
import csv
import json
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

# table -> (CREATE TABLE, INSERT, fields)
TABLES = {
    "users": (
        "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT, email TEXT)",
        "INSERT OR IGNORE INTO users (id, name, email) VALUES (?, ?, ?)",
        ("id", "name", "email"),
    ),
    "products": (
        "CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, name TEXT, price REAL)",
        "INSERT OR IGNORE INTO products (id, name, price) VALUES (?, ?, ?)",
        ("id", "name", "price"),
    ),
    "orders": (
        "CREATE TABLE IF NOT EXISTS orders"
        " (id INTEGER PRIMARY KEY, user_id INTEGER, product_id INTEGER, quantity INTEGER)",
        "INSERT OR IGNORE INTO orders (id, user_id, product_id, quantity) VALUES (?, ?, ?, ?)",
        ("id", "user_id", "product_id", "quantity"),
    ),
}

csv.field_size_limit(sys.maxsize)


def insert_all(con: sqlite3.Connection, sql: str, rows) -> None:
    """Run executemany over an iterator, skipping a row SQLite cannot take at all.

    INSERT OR IGNORE does not cover an id such as "abc" (datatype mismatch), and sqlite3
    cannot bind a list or an integer above 2^63-1. executemany has consumed the failing row
    when it raises, so calling it again on the same iterator carries on with the next one.
    """
    rows = iter(rows)
    while True:
        try:
            con.executemany(sql, rows)
            return
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, OverflowError):
            continue


def json_records(path: Path) -> Iterator[dict]:
    with open(path, "rb") as f:
        records = json.load(f)  # the whole array, as a plain loader holds it
    return (r for r in records if isinstance(r, dict))


def jsonl_records(path: Path) -> Iterator[dict]:
    with open(path, "rb") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def csv_records(path: Path) -> Iterator[dict]:
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        yield from csv.DictReader(f)


READERS = {"json": json_records, "jsonl": jsonl_records, "csv": csv_records}


def load(data_dir: Path, db_dir: Path, table: str, fmt: str) -> None:
    create, insert, fields = TABLES[table]
    records = READERS[fmt](data_dir / f"{table}.{fmt}")
    con = sqlite3.connect(db_dir / f"{table}.db")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute(create)
    with con:  # one transaction: commits at the end
        insert_all(con, insert, (tuple(map(r.get, fields)) for r in records))
    con.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("db_dir", type=Path)
    parser.add_argument("--format", choices=tuple(READERS), default="json")
    args = parser.parse_args()
    args.db_dir.mkdir(parents=True, exist_ok=True)
    for table in TABLES:  # the previous table's records are freed before the next is read
        load(args.data_dir, args.db_dir, table, args.format)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
