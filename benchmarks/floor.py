"""The floor: the fastest plain way to put the data into the three databases, with no checks.

Usage: python benchmarks/floor.py DATA_DIR DB_DIR

Parses users.json, products.json and orders.json with the standard `json` module and inserts
every object with one `executemany` per database, in one transaction, one database after the
other. Nothing is validated; it only survives the invalid records: non-objects are skipped,
fields are read with `.get()`, and `INSERT OR IGNORE` drops duplicate ids. The headless engine
is measured against this.
"""

import json
import sqlite3
import sys
from pathlib import Path

# table -> (CREATE TABLE, INSERT, the row of one record)
TABLES = {
    "users": (
        "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT, email TEXT)",
        "INSERT OR IGNORE INTO users (id, name, email) VALUES (?, ?, ?)",
        lambda r: (r.get("id"), r.get("name"), r.get("email")),
    ),
    "products": (
        "CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, name TEXT, price REAL)",
        "INSERT OR IGNORE INTO products (id, name, price) VALUES (?, ?, ?)",
        lambda r: (r.get("id"), r.get("name"), r.get("price")),
    ),
    "orders": (
        "CREATE TABLE IF NOT EXISTS orders"
        " (id INTEGER PRIMARY KEY, user_id INTEGER, product_id INTEGER, quantity INTEGER)",
        "INSERT OR IGNORE INTO orders (id, user_id, product_id, quantity) VALUES (?, ?, ?, ?)",
        lambda r: (r.get("id"), r.get("user_id"), r.get("product_id"), r.get("quantity")),
    ),
}


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


def load(data_dir: Path, db_dir: Path, table: str) -> None:
    create, insert, row = TABLES[table]
    with open(data_dir / f"{table}.json", "rb") as f:
        records = json.load(f)
    con = sqlite3.connect(db_dir / f"{table}.db")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(create)
    with con:  # one transaction: commits at the end
        insert_all(con, insert, (row(r) for r in records if isinstance(r, dict)))
    con.close()


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: python benchmarks/floor.py DATA_DIR DB_DIR", file=sys.stderr)
        return 2
    data_dir, db_dir = Path(sys.argv[1]), Path(sys.argv[2])
    db_dir.mkdir(parents=True, exist_ok=True)
    for table in TABLES:  # the previous table's records are freed before the next is parsed
        load(data_dir, db_dir, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
