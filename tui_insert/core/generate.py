"""Synthetic data sets for `tui-insert generate`.

`generate_dataset` writes ``users``, ``products`` and ``orders`` files of any size in one of the
three input formats, with a chosen share of invalid records. It is deterministic (the same
arguments give the same bytes), streams record by record (memory does not grow with the count)
and has no UI dependency.

The same seed gives the same records in every format. The records are made once, whatever the
format (the same ids, names, emails, prices, quantities and the same invalid records at the
same positions), and only the writing differs. Where a format cannot say a value, it is
written so that each record gets the same status and the same reason codes in all three:

- A field that is missing, or JSON ``null``: absent, or ``null``, in .json/.jsonl (the rules
  take ``null`` as missing); an empty cell in CSV. Both give ``missing_field``.
- A string is written as it is in every format (CSV quotes it where needed, so tabs, line
  breaks and quotes survive).
- Any other value in CSV is the cell of its JSON text: ``true``, ``2.0``, ``[5]``,
  ``9223372036854775808``. So the CSV reader sees the integer fields' digits as the same
  integer, a price's decimal text as the same number (a whole price ``5`` becomes ``5.0``,
  which SQLite stores alike), and ``true``, ``2.0`` or ``[5]`` as text that is no valid
  integer or price, as the JSON value is not either.
- A record that is not an object: in .json/.jsonl the JSON value (an array, a string, a
  number, ``null``); in CSV a row with one cell more or fewer than the header. A broken line
  (not JSON at all) is that line in .jsonl; in .json, which has no place for a broken value,
  the string of its text; in CSV again a row with the wrong number of cells. Each of them is
  one ``invalid_record``.
- Only invalid values whose CSV text gives the same reason are generated: no empty string
  (an empty cell is a missing field, not an invalid name or email), no string of digits in an
  integer field or of a number in ``price`` (``"7"`` is no id in JSON, but ``7`` is one in
  CSV), no number or boolean as a name (its CSV text is a valid name). Non-finite prices are
  the strings ``NaN``, ``Infinity``, ``-Infinity`` (text in CSV, a string in JSON: not a
  number either way) and ``1e999`` (in CSV a number too large to be finite).

How the records are laid out, so that the share of rejected records is exact:

- Exactly ``round(invalid_share * count)`` records of each file are invalid, at random
  positions (selection sampling, so nothing is kept per position). Each invalid record has one
  defect; the defects cycle through every kind (see `invalid_kinds`), in a freshly shuffled
  order per cycle.
- Valid records get sequential ids 1, 2, 3, ... in file order. An invalid record whose id is
  well formed gets a fresh id above ``count`` that no valid record has, so rejecting it never
  hides a later record. Some of those ids (and emails) are taken again by a later *valid*
  record, which must be accepted because a rejected record stores nothing; the others only ever
  appear on rejected records and are what the "rejected user/product" orders refer to.
- Orders refer to users and products among the sequentially numbered valid ones (so every
  valid order is valid against the generated users and products), plus, rarely, the last
  valid user/product (one that comes later in its file) and ones whose id was first rejected
  and then accepted.
"""

from __future__ import annotations

import csv
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import islice
from operator import methodcaller
from pathlib import Path
from random import Random
from typing import Any, BinaryIO

import orjson

__all__ = ["FIELDS", "FORMATS", "SPECIAL_NAMES", "TABLES", "generate_dataset", "invalid_kinds"]

FORMATS = ("json", "jsonl", "csv")
TABLES = ("users", "products", "orders")
FIELDS: dict[str, tuple[str, ...]] = {
    "users": ("id", "name", "email"),
    "products": ("id", "name", "price"),
    "orders": ("id", "user_id", "product_id", "quantity"),
}

TOO_BIG = 2**63  # one more than the largest id SQLite can store

DOMAINS = ("example.com", "example.org", "mail.test")

USER_NAMES = (
    "Alice", "Bob", "Charlie", "David", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy",
    "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter",
    "Zoë", "Ødegård", "李雷", "韩梅梅", "José Álvarez", "Søren Kierkegaard", "Łukasz",
    "Françoise", "Müller", "Anh Nguyễn", "Αλέξανδρος", "Дмитрий", "محمد", "שרה", "佐藤 花子",
    "Björk", "Nuño", "Ana María", "Mary-Jane", "D'Artagnan", "Jean Luc",
)  # fmt: skip

PRODUCT_NAMES = (
    "Laptop", "Smartphone", "Headphones", "Monitor", "Keyboard", "Mouse", "Smartwatch",
    "Gaming Chair", "Earbuds", "USB-C Cable", "Desk Lamp", "Webcam", "Router", "SSD 1 TB",
    "Café crème", "Crème brûlée set", "Ножницы", "扳手", "ヘッドホン", "Ølkrus", "Zoë's Tea",
    "Tablet", "E-reader", "Charger 65 W", "Backpack", "Standing Desk", "Microphone",
)  # fmt: skip

# Valid but awkward names, used rarely (in turn, so each one appears): they must survive the
# JSON and CSV writers and never be interpreted as markup or terminal control by a reader.
SPECIAL_NAMES = (
    "[bold red]Mallory[/]",
    "[/]",
    "[@click=app.quit]x",
    "Eve\x1b[2J",
    "Tab\tand\rreturn",
    "O'Neil, Shaquille",
    'Dwayne "The Rock" Johnson',
    "Two\nLines",
    "  Padded  ",
    "\\backslash\\",
)

_EMAIL_LOCAL_64 = "x" * 64


def _email(n: int) -> str:
    """The unique, valid email that belongs to number `n` (a user id, or a fresh number)."""
    if n & 63:
        return f"user{n}@{DOMAINS[n % 3]}"
    variant = (n >> 6) % 3
    if variant == 0:  # a local part of exactly 64 characters (the maximum)
        return f"{_EMAIL_LOCAL_64}user{n}"[-64:] + "@example.com"
    if variant == 1:  # non-ASCII local part, sub-domain
        return f"zoë.{n}@sub.mail.test"
    return f"First.Last+{n}@Example.COM"  # mixed case; duplicates compare case-insensitively


# --------------------------------------------------------------------------------------------
# Records as the three formats write them. A generator yields one logical record per position;
# the writers render it: a plain dict (a valid record) as it is, a `_Fields` (an invalid record
# that is an object) with `_cell` in CSV, an `_Unreadable` in its own way per format.


def _cell(value: Any) -> str:
    """A field value as CSV text: missing (None) is an empty cell, a string is itself, any
    other value is its JSON text (`true`, `2.0`, `[5]`, all the digits of a big integer)."""
    if value is None:
        return ""
    if type(value) is str:
        return value
    return orjson.dumps(value).decode()


class _Fields(dict):  # type: ignore[type-arg]
    """An invalid record that is an object. JSON writes it as the dict it is (orjson writes a
    dict subclass as a dict); `values()` gives its CSV cells, one per field of the table in
    field order, a missing field as an empty cell."""

    def __init__(self, fields: tuple[str, ...], rec: dict[str, Any]) -> None:
        super().__init__(rec)
        self.fields = fields

    def values(self) -> list[str]:  # type: ignore[override]
        return [_cell(self.get(name)) for name in self.fields]


class _Unreadable:
    """A record that is not an object, or not even a value: each format says it its own way.

    `json`: the value in a .json array (a JSON array has no place for a broken value, so a
    broken line is written there as a string holding its text); `jsonl`: the line of a
    .jsonl file (a value, or an `orjson.Fragment` written as it is, which is not JSON);
    `cells`: the CSV row, whose number of cells differs from the header's."""

    __slots__ = ("json", "jsonl", "cells")

    def __init__(self, json: Any, jsonl: Any, cells: list[str]) -> None:
        self.json = json
        self.jsonl = jsonl
        self.cells = cells

    def values(self) -> list[str]:
        return self.cells


def _as_json(value: Any) -> Any:
    """orjson's `default` for a .json file."""
    if type(value) is _Unreadable:
        return value.json
    raise TypeError(f"cannot write {type(value).__name__}")


def _as_jsonl(value: Any) -> Any:
    """orjson's `default` for a .jsonl file."""
    if type(value) is _Unreadable:
        return value.jsonl
    raise TypeError(f"cannot write {type(value).__name__}")


# --------------------------------------------------------------------------------------------
# Per-table generation state


class _State:
    """What one table's generation remembers: bounded, whatever the count."""

    POOL = 1024  # at most this many ids/emails waiting to be reused, and kept for references

    def __init__(self, rng: Random, count: int, table: str) -> None:
        self.rng = rng
        self.count = count
        self.fields = FIELDS[table]
        self.seq = 0  # last sequential id given to a valid record: ids 1..seq are all stored
        self.fresh = count  # last fresh number handed out (ids above count)
        self.reusable_ids: deque[int] = deque()  # ids of rejected records a valid one may take
        self.reusable_emails: deque[str] = deque()
        self.rejected_ids: list[int] = []  # sample of ids that only rejected records have
        self.rejected_seen = 0
        self.reused_ids: list[int] = []  # sample of ids first rejected, then accepted
        self.reused_seen = 0
        self.fresh_turn = 0
        self.special_turn = 0
        self.again = 0  # counter for the emails of valid records that reuse an id

    def next_fresh(self) -> int:
        self.fresh += 1
        return self.fresh

    def earlier_valid_id(self) -> int:
        """A random id among the sequential ids stored so far (requires seq >= 1)."""
        return int(self.rng.random() * self.seq) + 1

    def special_name(self) -> str:
        name = SPECIAL_NAMES[self.special_turn % len(SPECIAL_NAMES)]
        self.special_turn += 1
        return name

    def _sample(self, pool: list[int], seen: int, value: int) -> None:
        if len(pool) < self.POOL:
            pool.append(value)
        else:
            j = int(self.rng.random() * seen)
            if j < self.POOL:
                pool[j] = value

    def note_rejected_id(self, value: int) -> None:
        """A fresh id was used on a rejected record: keep it for reuse or as rejected-only."""
        self.fresh_turn += 1
        if self.fresh_turn & 1 and len(self.reusable_ids) < self.POOL:
            self.reusable_ids.append(value)
        else:
            self.rejected_seen += 1
            self._sample(self.rejected_ids, self.rejected_seen, value)

    def note_reused_id(self, value: int) -> None:
        self.reused_seen += 1
        self._sample(self.reused_ids, self.reused_seen, value)

    def pick_rejected_id(self) -> int | None:
        if not self.rejected_ids:
            return None
        return self.rejected_ids[int(self.rng.random() * len(self.rejected_ids))]

    def pick_reused_id(self) -> int | None:
        if not self.reused_ids:
            return None
        return self.reused_ids[int(self.rng.random() * len(self.reused_ids))]


# --------------------------------------------------------------------------------------------
# Invalid kinds. Each kind takes a well-formed record (a dict with a fresh id) and returns the
# invalid thing to write: usually the same dict with one field changed.

Kind = tuple[str, Callable[[dict[str, Any], _State], Any]]

_MISSING = object()


def _set(field: str, value: Any) -> Callable[[dict[str, Any], _State], Any]:
    def apply(rec: dict[str, Any], st: _State) -> Any:
        if value is _MISSING:
            del rec[field]
        else:
            rec[field] = value
        return rec

    return apply


def _with(field: str, make: Callable[[dict[str, Any], _State], Any]) -> Callable[..., Any]:
    def apply(rec: dict[str, Any], st: _State) -> Any:
        rec[field] = make(rec, st)
        return rec

    return apply


def _cells(rec: dict[str, Any]) -> list[str]:
    return [_cell(v) for v in rec.values()]


def _not_object(value: Any, csv_extra: bool) -> Callable[[dict[str, Any], _State], Any]:
    """A JSON value that is no object; in CSV a row with one cell too many or too few."""

    def apply(rec: dict[str, Any], st: _State) -> _Unreadable:
        cells = _cells(rec)
        cells = [*cells, "extra"] if csv_extra else cells[:-1]
        given = value(rec) if callable(value) else value
        return _Unreadable(given, given, cells)

    return apply


def _broken_line(text: Callable[[dict[str, Any]], bytes], csv_extra: bool) -> Callable[..., Any]:
    """A .jsonl line that is not JSON; in .json the string of its text, in CSV a row with one
    cell too many or too few."""

    def apply(rec: dict[str, Any], st: _State) -> _Unreadable:
        line = text(rec)
        unreadable = _not_object(line.decode(), csv_extra)(rec, st)
        unreadable.jsonl = orjson.Fragment(line)  # orjson does not check a Fragment
        return unreadable

    return apply


def _duplicate_id(rec: dict[str, Any], st: _State) -> Any:
    rec["id"] = st.earlier_valid_id() if st.seq else 0
    return rec


def _record_kinds() -> list[Kind]:
    """Kinds shared by every table: the record itself and its id."""
    return [
        ("not_object_list", _not_object(lambda r: [r["id"], "not", "an object"], True)),
        ("not_object_string", _not_object("not an object", False)),
        ("not_object_number", _not_object(42, True)),
        ("not_object_null", _not_object(None, False)),
        ("not_json_truncated", _broken_line(lambda r: b'{"id": %d, "name": ' % r["id"], False)),
        ("not_json_text", _broken_line(lambda r: b"this line is not JSON", True)),
        ("id_missing", _set("id", _MISSING)),
        ("id_null", _set("id", None)),
        ("id_true", _set("id", True)),
        ("id_float", _set("id", 2.0)),
        ("id_decimal_text", _set("id", "7.5")),
        ("id_text", _set("id", "abc")),
        ("id_zero", _set("id", 0)),
        ("id_negative", _set("id", -5)),
        ("id_too_big", _set("id", TOO_BIG)),
        ("id_duplicate", _duplicate_id),
    ]


def _name_kinds() -> list[Kind]:
    return [
        ("name_missing", _set("name", _MISSING)),
        ("name_null", _set("name", None)),
        ("name_blank", _set("name", "   ")),
        ("name_whitespace_mix", _set("name", " \t\n ")),
    ]


def _dup_email(upper: bool) -> Callable[[dict[str, Any], _State], Any]:
    def make(rec: dict[str, Any], st: _State) -> Any:
        if not st.seq:
            return "no-at-sign.example.com"
        email = _email(st.earlier_valid_id())
        return email.upper() if upper else email

    return make


def _user_kinds() -> list[Kind]:
    long_domain = ".".join(["d" * 63] * 3) + ".com"  # every label fine, the whole too long
    return [
        *_record_kinds(),
        *_name_kinds(),
        ("email_missing", _set("email", _MISSING)),
        ("email_null", _set("email", None)),
        ("email_number", _set("email", 5)),
        ("email_no_at", _with("email", lambda r, st: f"user{r['id']}.example.com")),
        ("email_two_at", _with("email", lambda r, st: f"user{r['id']}@mail@example.com")),
        ("email_space", _with("email", lambda r, st: f"user {r['id']}@example.com")),
        ("email_tab", _with("email", lambda r, st: f"user{r['id']}\t@example.com")),
        ("email_empty_local", _set("email", "@example.com")),
        ("email_local_65", _set("email", "a" * 65 + "@example.com")),
        ("email_single_label", _set("email", "a@localhost")),
        ("email_label_hyphen_start", _set("email", "a@-mail.example.com")),
        ("email_label_hyphen_end", _set("email", "a@mail-.example.com")),
        ("email_label_64", _set("email", "a@" + "b" * 64 + ".com")),
        ("email_empty_label", _set("email", "a@example..com")),
        ("email_trailing_dot", _set("email", "a@example.com.")),
        ("email_label_underscore", _set("email", "a@ex_ample.com")),
        ("email_label_non_ascii", _set("email", "a@exämple.com")),
        ("email_too_long", _set("email", "u" * 64 + "@" + long_domain)),
        ("email_duplicate", _with("email", _dup_email(upper=False))),
        ("email_duplicate_case", _with("email", _dup_email(upper=True))),
    ]


def _product_kinds() -> list[Kind]:
    return [
        *_record_kinds(),
        *_name_kinds(),
        ("price_missing", _set("price", _MISSING)),
        ("price_null", _set("price", None)),
        ("price_true", _set("price", True)),
        ("price_zero", _set("price", 0)),
        ("price_zero_float", _set("price", 0.0)),
        ("price_negative", _set("price", -3.5)),
        ("price_text", _set("price", "abc")),
        ("price_list", _set("price", [5])),
        ("price_nan", _set("price", "NaN")),
        ("price_inf", _set("price", "Infinity")),
        ("price_negative_inf", _set("price", "-Infinity")),
        ("price_overflow", _set("price", "1e999")),  # in CSV a number, but not finite
    ]


class _Refs:
    """What orders may refer to, known once the users and products are generated."""

    def __init__(self, st: _State) -> None:
        self.valid = st.seq  # ids 1..valid are stored
        self.unknown_base = st.fresh + 1000  # above every id in the file
        self.unknown_turn = 0
        self.state = st

    def unknown(self) -> int:
        self.unknown_turn += 1
        return self.unknown_base + self.unknown_turn

    def rejected(self) -> int:
        picked = self.state.pick_rejected_id()
        return picked if picked is not None else self.unknown()


def _ref_kinds(field: str, refs: _Refs) -> list[Kind]:
    return [
        (f"{field}_missing", _set(field, _MISSING)),
        (f"{field}_null", _set(field, None)),
        (f"{field}_true", _set(field, True)),
        (f"{field}_float", _set(field, 2.0)),
        (f"{field}_decimal_text", _set(field, "7.5")),
        (f"{field}_text", _set(field, "abc")),
        (f"{field}_zero", _set(field, 0)),
        (f"{field}_negative", _set(field, -1)),
        (f"{field}_too_big", _set(field, TOO_BIG)),
        (f"{field}_unknown", _with(field, lambda r, st: refs.unknown())),
        (f"{field}_rejected", _with(field, lambda r, st: refs.rejected())),
    ]


def _order_kinds(users: _Refs, products: _Refs) -> list[Kind]:
    return [
        *_record_kinds(),
        *_ref_kinds("user_id", users),
        *_ref_kinds("product_id", products),
        ("quantity_missing", _set("quantity", _MISSING)),
        ("quantity_null", _set("quantity", None)),
        ("quantity_zero", _set("quantity", 0)),
        ("quantity_negative", _set("quantity", -2)),
        ("quantity_float", _set("quantity", 2.5)),
        ("quantity_whole_float", _set("quantity", 3.0)),
        ("quantity_decimal_text", _set("quantity", "3.5")),
        ("quantity_true", _set("quantity", True)),
        ("quantity_text", _set("quantity", "abc")),
    ]


def _dummy_refs() -> _Refs:
    return _Refs(_State(Random(0), 0, "users"))


def invalid_kinds(table: str, fmt: str | None = None) -> tuple[str, ...]:
    """The names of the invalid-record kinds generated for `table`: the same in every format
    (`fmt`, if given, is only checked)."""
    if table not in FIELDS:
        raise ValueError(f"unknown table {table!r}: expected one of {', '.join(TABLES)}")
    if fmt is not None:
        _check_format(fmt)
    return tuple(name for name, _ in _kinds_for(table, _dummy_refs(), _dummy_refs()))


def _kinds_for(table: str, users: _Refs, products: _Refs) -> list[Kind]:
    if table == "users":
        return _user_kinds()
    if table == "products":
        return _product_kinds()
    return _order_kinds(users, products)


class _Cycle:
    """Hands out kinds: every kind once per cycle, in a new random order each cycle."""

    def __init__(self, kinds: list[Kind], rng: Random) -> None:
        self.kinds = kinds
        self.rng = rng
        self.order: list[Kind] = []

    def next(self) -> Kind:
        if not self.order:
            self.order = list(self.kinds)
            self.rng.shuffle(self.order)
        return self.order.pop()


def _invalid(st: _State, cycle: _Cycle, rec: dict[str, Any]) -> Any:
    """Apply the next invalid kind to the well-formed record `rec` (whose id is fresh)."""
    fresh_id = rec["id"]
    fresh_email = rec.get("email")
    out = cycle.next()[1](rec, st)
    if type(out) is dict:
        if type(out.get("id")) is int and out["id"] == fresh_id:
            st.note_rejected_id(fresh_id)
        email = out.get("email")
        if email is fresh_email and isinstance(email, str) and len(st.reusable_emails) < st.POOL:
            st.reusable_emails.append(email)
        return _Fields(st.fields, out)
    return out


def _bad_positions(count: int, invalid: int, rng: Random) -> Iterator[int]:
    """The 0-based positions of the invalid records, ascending: exactly `invalid` of them.

    Each block of positions gets its proportional share, placed at random inside the block,
    so the memory is one block's sample at most.
    """
    block = 1 << 16
    for start in range(0, count, block):
        end = min(start + block, count)
        share = invalid * end // count - invalid * start // count
        if share:
            yield from sorted(rng.sample(range(start, end), share))


# The rare valid variants (reused ids/emails, special names, special references) take this
# share of the valid records.
_RARE = 0.02


def _users(count: int, invalid: int, st: _State, cycle: _Cycle) -> Iterator[Any]:
    random = st.rng.random
    names = USER_NAMES
    n_names = len(names)
    domains = DOMAINS
    bad = _bad_positions(count, invalid, st.rng)
    next_bad = next(bad, count)
    seq = 0  # mirrors st.seq, which is brought up to date before anything reads it
    for i in range(count):
        if i == next_bad:
            next_bad = next(bad, count)
            st.seq = seq
            f = st.next_fresh()
            base = {"id": f, "name": names[int(random() * n_names)], "email": _email(f)}
            yield _invalid(st, cycle, base)
            continue
        r = random()
        if r < _RARE:
            st.seq = seq
            yield _rare_user(st, r / _RARE)
            seq = st.seq
            continue
        seq += 1
        email = f"user{seq}@{domains[seq % 3]}" if seq & 63 else _email(seq)
        yield {"id": seq, "name": names[int(r * 7919) % n_names], "email": email}
    st.seq = seq


def _rare_user(st: _State, r: float) -> dict[str, Any]:
    name = USER_NAMES[int(r * 1000) % len(USER_NAMES)]
    if r < 0.35 and st.reusable_ids:  # the id of an earlier rejected user, a new email
        reused = st.reusable_ids.popleft()
        st.note_reused_id(reused)
        st.again += 1
        return {"id": reused, "name": name, "email": f"again{st.again}@mail.test"}
    if r < 0.7 and st.reusable_emails:  # the email of an earlier rejected user, a new id
        return {"id": st.next_fresh(), "name": name, "email": st.reusable_emails.popleft()}
    j = st.seq = st.seq + 1
    return {"id": j, "name": st.special_name(), "email": _email(j)}


def _price(r: float) -> float | int:
    """A positive price from a number in [0, 1): 2 decimals, or (1 in 10) a whole number."""
    cents = int(r * 1e9) % 99_999 + 1
    if cents % 10 == 0:
        return cents // 100 + 1
    return cents / 100


def _products(count: int, invalid: int, st: _State, cycle: _Cycle) -> Iterator[Any]:
    random = st.rng.random
    names = PRODUCT_NAMES
    n_names = len(names)
    bad = _bad_positions(count, invalid, st.rng)
    next_bad = next(bad, count)
    seq = 0  # mirrors st.seq, which is brought up to date before anything reads it
    for i in range(count):
        if i == next_bad:
            next_bad = next(bad, count)
            st.seq = seq
            r = random()
            base = {"id": st.next_fresh(), "name": names[int(r * n_names)], "price": _price(r)}
            yield _invalid(st, cycle, base)
            continue
        r = random()
        if r < _RARE:
            r /= _RARE
            if r < 0.5 and st.reusable_ids:  # the id of an earlier rejected product
                reused = st.reusable_ids.popleft()
                st.note_reused_id(reused)
                yield {"id": reused, "name": names[int(r * 1000) % n_names], "price": _price(r)}
                continue
            seq += 1
            yield {"id": seq, "name": st.special_name(), "price": _price(r)}
            continue
        seq += 1
        cents = int(r * 1e9) % 99_999 + 1  # as _price, inlined
        yield {
            "id": seq,
            "name": names[int(r * 7919) % n_names],
            "price": cents // 100 + 1 if cents % 10 == 0 else cents / 100,
        }
    st.seq = seq


def _orders(
    count: int, invalid: int, st: _State, cycle: _Cycle, users: _Refs, products: _Refs
) -> Iterator[Any]:
    random = st.rng.random
    bits = st.rng.getrandbits
    n_users = users.valid or 1  # with no valid user at all, every order is rejected anyway
    n_products = products.valid or 1
    bad = _bad_positions(count, invalid, st.rng)
    next_bad = next(bad, count)
    seq = 0  # mirrors st.seq, which is brought up to date before anything reads it
    for i in range(count):
        r = random()
        x = bits(64)
        user_id = (x & 0xFFFFFFFF) % n_users + 1
        product_id = (x >> 32) % n_products + 1
        quantity = int(r * 10_007) % 10 + 1
        if i == next_bad:
            next_bad = next(bad, count)
            st.seq = seq
            base = {
                "id": st.next_fresh(),
                "user_id": user_id,
                "product_id": product_id,
                "quantity": quantity,
            }
            yield _invalid(st, cycle, base)
            continue
        if r < _RARE:
            st.seq = seq
            yield _rare_order(st, r / _RARE, user_id, product_id, users, products)
            seq = st.seq
            continue
        seq += 1
        yield {"id": seq, "user_id": user_id, "product_id": product_id, "quantity": quantity}
    st.seq = seq


def _rare_order(
    st: _State, r: float, user_id: int, product_id: int, users: _Refs, products: _Refs
) -> dict[str, Any]:
    quantity = int(r * 1000) % 10 + 1
    if r < 0.25 and st.reusable_ids:  # the id of an earlier rejected order
        reused = st.reusable_ids.popleft()
        st.note_reused_id(reused)
        return {"id": reused, "user_id": user_id, "product_id": product_id, "quantity": quantity}
    if r < 0.5:  # the last valid user and product: later in their files than most orders
        user_id, product_id = users.valid or 1, products.valid or 1
    else:  # users/products whose id was first rejected, then accepted by a later record
        user_id = users.state.pick_reused_id() or user_id
        product_id = products.state.pick_reused_id() or product_id
    j = st.seq = st.seq + 1
    return {"id": j, "user_id": user_id, "product_id": product_id, "quantity": quantity}


# --------------------------------------------------------------------------------------------
# Writers: records go out in batches, so memory stays bounded whatever the count.

_BATCH = 64  # measured: with some hundreds of live orjson results, dumps gets 10x slower


def _batches(records: Iterable[Any], size: int = _BATCH) -> Iterator[list[Any]]:
    it = iter(records)
    while batch := list(islice(it, size)):
        yield batch


def _write_json(f: BinaryIO, records: Iterable[Any]) -> None:
    """One JSON array, one element per line."""
    dumps = partial(orjson.dumps, default=_as_json)
    f.write(b"[")
    sep = b"\n"
    for batch in _batches(records):
        f.write(sep + b",\n".join(map(dumps, batch)))
        sep = b",\n"
    f.write(b"\n]\n")


def _write_jsonl(f: BinaryIO, records: Iterable[Any]) -> None:
    """One JSON value per line (an orjson.Fragment is written as it is)."""
    dumps = partial(orjson.dumps, default=_as_jsonl)
    for batch in _batches(records):
        f.write(b"\n".join(map(dumps, batch)) + b"\n")


class _Lines(list):  # type: ignore[type-arg]
    """Collects what a csv.writer writes, to hand it to the file in batches."""

    write = list.append


def _write_csv(f: BinaryIO, table: str, records: Iterable[Any]) -> None:
    """Header row, then one row per record: a valid record's values are all present and in
    field order (the csv module writes numbers with str()); an invalid one (`_Fields`,
    `_Unreadable`) gives its cells through `values()`."""
    lines = _Lines()
    writer = csv.writer(lines)
    writer.writerow(FIELDS[table])
    values = methodcaller("values")
    for batch in _batches(records, 1024):
        writer.writerows(map(values, batch))
        f.write("".join(lines).encode())
        lines.clear()
    f.write("".join(lines).encode())  # the header alone, when there is no record


def _write_file(path: Path, fmt: str, table: str, records: Iterable[Any]) -> None:
    """Write to a temporary file beside `path`, then move it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb", buffering=1 << 20) as f:
            if fmt == "csv":
                _write_csv(f, table, records)
            else:
                (_write_json if fmt == "json" else _write_jsonl)(f, records)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")


def generate_dataset(
    out_dir: Path, count: int, invalid_share: float = 0.05, seed: int = 0, fmt: str = "json"
) -> dict[str, Path]:
    """Write users.<fmt>, products.<fmt> and orders.<fmt> with `count` records each.

    Exactly ``round(invalid_share * count)`` records of each file are invalid, each with one
    defect, cycling through every kind that `invalid_kinds` lists for the table. The same
    arguments always give the same bytes, and the same seed, count and share give the same
    records in every format (see the module's docstring). Returns the paths by table name.
    Raises ValueError for a negative count, a share outside [0, 1] or an unknown format.
    """
    if isinstance(count, bool) or not isinstance(count, int):
        raise ValueError(f"count must be a whole number, got {count!r}")
    if count < 0:
        raise ValueError(f"count must be 0 or more, got {count}")
    if isinstance(invalid_share, bool) or not isinstance(invalid_share, int | float):
        raise ValueError(f"invalid share must be a number from 0 to 1, got {invalid_share!r}")
    if not 0.0 <= invalid_share <= 1.0:  # also rejects NaN
        raise ValueError(f"invalid share must be from 0 to 1, got {invalid_share}")
    _check_format(fmt)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be a whole number, got {seed!r}")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    invalid = int(invalid_share * count + 0.5)
    paths = {table: out_dir / f"{table}.{fmt}" for table in TABLES}

    def state(table: str) -> _State:  # one random stream per table; str seeds are stable
        return _State(Random(f"tui-insert/{seed}/{table}"), count, table)

    users = state("users")
    cycle = _Cycle(_user_kinds(), users.rng)
    _write_file(paths["users"], fmt, "users", _users(count, invalid, users, cycle))

    products = state("products")
    cycle = _Cycle(_product_kinds(), products.rng)
    _write_file(paths["products"], fmt, "products", _products(count, invalid, products, cycle))

    user_refs, product_refs = _Refs(users), _Refs(products)
    orders = state("orders")
    cycle = _Cycle(_order_kinds(user_refs, product_refs), orders.rng)
    records = _orders(count, invalid, orders, cycle, user_refs, product_refs)
    _write_file(paths["orders"], fmt, "orders", records)
    return paths
