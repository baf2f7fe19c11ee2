"""The PostgreSQL floor: the fastest plain way to put the data into three PostgreSQL databases.

Usage: python benchmarks/floor_postgres.py DATA_DIR USERS_URI PRODUCTS_URI ORDERS_URI

The counterpart of floor.py for PostgreSQL stores. For each table in turn (users, products,
orders): parses TABLE.json with the standard `json` module, creates the table (the engine's
column types: ids and integers `bigint`, text `text`, price `double precision`, the id the
primary key), and loads every row with one `COPY ... FROM STDIN (FORMAT BINARY)` through
psycopg (as the engine does), in one transaction, with the server's default durability
(`synchronous_commit` as the server has it, on by default). The previous table's records
are freed before the next file is parsed.

Nothing is validated. The floor only survives the invalid records the generator makes, so
that COPY does not fail, with cheap type checks (the PostgreSQL counterpart of floor.py's
`INSERT OR IGNORE`):

- non-objects are skipped and fields are read with `.get()` (a missing field is NULL);
- a row is dropped whose id is not an `int` (a bool, float or string) or is NULL, whose id
  was already copied (a set of seen ids: the first one wins, as with INSERT OR IGNORE), whose
  integer fields are not an `int` or None, or lie outside int8 (such as 2^64);
- text fields must be a `str` or None; a price must be a float, an int (converted) or None.

So, as floor.py, it stores more rows than the engine does (ids 0 and -5, blank names, bad
emails, unknown references are all stored). It does not look for NUL characters or lone
surrogates in strings (text cannot hold them); the generator makes none, and if some data had
them, COPY would fail and this script exit non-zero, not measure something else.
"""

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import psycopg

INT8_MIN, INT8_MAX = -(2**63), 2**63 - 1


def user_rows(records: Iterable[object]) -> Iterator[tuple]:
    seen: set[int] = set()
    add = seen.add
    for r in records:
        if type(r) is not dict:
            continue
        rid, name, email = r.get("id"), r.get("name"), r.get("email")
        if (
            type(rid) is not int
            or not INT8_MIN <= rid <= INT8_MAX
            or rid in seen
            or (name is not None and type(name) is not str)
            or (email is not None and type(email) is not str)
        ):
            continue
        add(rid)
        yield rid, name, email


def product_rows(records: Iterable[object]) -> Iterator[tuple]:
    seen: set[int] = set()
    add = seen.add
    for r in records:
        if type(r) is not dict:
            continue
        rid, name, price = r.get("id"), r.get("name"), r.get("price")
        if (
            type(rid) is not int
            or not INT8_MIN <= rid <= INT8_MAX
            or rid in seen
            or (name is not None and type(name) is not str)
        ):
            continue
        if type(price) is not float and price is not None:
            if type(price) is not int:
                continue
            try:
                price = float(price)
            except OverflowError:
                continue
        add(rid)
        yield rid, name, price


def order_rows(records: Iterable[object]) -> Iterator[tuple]:
    seen: set[int] = set()
    add = seen.add
    for r in records:
        if type(r) is not dict:
            continue
        rid, uid, pid, qty = r.get("id"), r.get("user_id"), r.get("product_id"), r.get("quantity")
        if (
            type(rid) is not int
            or not INT8_MIN <= rid <= INT8_MAX
            or rid in seen
            or (uid is not None and (type(uid) is not int or not INT8_MIN <= uid <= INT8_MAX))
            or (pid is not None and (type(pid) is not int or not INT8_MIN <= pid <= INT8_MAX))
            or (qty is not None and (type(qty) is not int or not INT8_MIN <= qty <= INT8_MAX))
        ):
            continue
        add(rid)
        yield rid, uid, pid, qty


# table -> (CREATE TABLE, columns, binary COPY types, rows of the parsed records)
TABLES: dict[str, tuple[str, str, list[str], Callable[[Iterable[object]], Iterator[tuple]]]] = {
    "users": (
        "CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY, name text, email text)",
        "id, name, email",
        ["int8", "text", "text"],
        user_rows,
    ),
    "products": (
        "CREATE TABLE IF NOT EXISTS products"
        " (id bigint PRIMARY KEY, name text, price double precision)",
        "id, name, price",
        ["int8", "text", "float8"],
        product_rows,
    ),
    "orders": (
        "CREATE TABLE IF NOT EXISTS orders"
        " (id bigint PRIMARY KEY, user_id bigint, product_id bigint, quantity bigint)",
        "id, user_id, product_id, quantity",
        ["int8", "int8", "int8", "int8"],
        order_rows,
    ),
}


def load(data_dir: Path, uri: str, table: str) -> None:
    """Parse TABLE.json and COPY its rows into `table` at `uri` in one transaction."""
    create, columns, types, rows = TABLES[table]
    with open(data_dir / f"{table}.json", "rb") as f:
        records = json.load(f)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(create)
        copy_sql = f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"
        with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
            copy.set_types(types)
            write = copy.write_row
            for row in rows(records):
                write(row)


def main() -> int:
    if len(sys.argv) != 5:
        print(
            "usage: python benchmarks/floor_postgres.py DATA_DIR USERS_URI PRODUCTS_URI ORDERS_URI",
            file=sys.stderr,
        )
        return 2
    data_dir = Path(sys.argv[1])
    for table, uri in zip(TABLES, sys.argv[2:], strict=True):
        load(data_dir, uri, table)  # the previous table's records are freed by then
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
