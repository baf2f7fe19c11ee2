"""The validation rules of SPEC §4, in application code.

Checking a chunk of records happens in two steps:

1. `check_*` looks at each record alone (types, syntax). It needs no shared state, so any
   number of worker threads can run it at once.
2. `decide_*` adds the checks against what is stored (duplicate ids and emails, references),
   record by record in input order. The engine runs it inside the database's write transaction,
   one chunk at a time in input order, which makes the result the same for any worker count.

A record's reasons come out in field order; each field gives at most one reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, NamedTuple

from tui_insert.core import jsonio
from tui_insert.core.idset import IdSet
from tui_insert.core.jsonio import BigInteger
from tui_insert.core.tables import TABLES, Table

MAX_ID = 2**63 - 1

# How two emails are compared (SPEC §4): Unicode case folding. The rules and the stores'
# caches both key emails with it.
email_key = str.casefold


class Reason(NamedTuple):
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class BadRecord:
    """What stands where a record should be but cannot be one: a broken .jsonl line, a CSV row
    with the wrong cells, a record holding text that is not valid Unicode."""

    __slots__ = ("message", "text", "line")

    def __init__(self, message: str, text: str, line: int = 0) -> None:
        self.message = message
        self.text = text
        self.line = line

    def __repr__(self) -> str:
        return f"BadRecord({self.message!r}, line={self.line})"


# --- showing values inside messages ------------------------------------------------------------

# Control characters (terminal escapes, and newlines and tabs: shown text is one line), and
# the invisible characters that reorder or hide text.
# Lone surrogates (no terminal can show them, and no text encoding holds them) likewise.
_HIDDEN = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)


def visible(text: str, limit: int | None = None) -> str:
    """`text` on one line with every control or invisible character written as a visible
    escape, cut to `limit` characters with an ellipsis."""
    if limit is not None:
        text = text[: limit * 4 + 1]  # escapes only lengthen it; no need to look further
    if not text.isprintable():  # (every character _HIDDEN finds is one that is not)
        text = _HIDDEN.sub(lambda m: repr(m.group())[1:-1], text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


class Shown(str):
    """A value already made safe to print by `show`, which gives it back as it is."""

    __slots__ = ()


def show(value: Any, limit: int = 60) -> str:
    """A value as it would be written in JSON, shortened, safe to print: little work however
    large or deeply nested the value is."""
    if isinstance(value, Shown):
        return value
    if isinstance(value, BigInteger):
        text = f"{value[:20]}… ({len(value.lstrip('+-'))} digits)"
    elif isinstance(value, float) and not math.isfinite(value):
        text = repr(value)
    else:
        text = jsonio.text(value, limit)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return Shown(visible(text))


def small_id(record: Any) -> Any:
    """The record's id as given, if it is a number or None, else as `show` gives it: small
    enough to send to another process, however large or deep the id is."""
    rid = given_id(record)
    return rid if rid is None or type(rid) in (int, float, bool) else show(rid, 60)


# --- single fields -----------------------------------------------------------------------------

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# Storable text (SPEC §4): no U+0000 and no lone surrogate, which some stores cannot keep.
_EMAIL = re.compile(rf"[^\s@\x00\ud800-\udfff]{{1,64}}@(?:{_LABEL}\.)+{_LABEL}")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_LABEL_ONLY = re.compile(_LABEL)
_WHITESPACE = re.compile(r"\s")


def email_problem(email: Any) -> str | None:
    """Why `email` breaks the email syntax of SPEC §4, or None if it is valid."""
    if type(email) is str and len(email) <= 254 and _EMAIL.fullmatch(email):
        return None
    if not isinstance(email, str) or isinstance(email, BigInteger):
        return f"email must be a string, got {show(email)}"
    shown = show(email)
    if len(email) > 254:
        why = "it is longer than 254 characters"
    elif (bad_char := _UNSTORABLE.search(email)) is not None:
        why = _unstorable(bad_char.group())
    elif _WHITESPACE.search(email):
        why = "it contains whitespace"
    elif email.count("@") != 1:
        why = "it must contain exactly one @"
    else:
        local, domain = email.split("@")
        labels = domain.split(".")
        if not 1 <= len(local) <= 64:
            why = "the part before @ must be 1 to 64 characters"
        elif len(labels) < 2:
            why = "the part after @ must be two or more dot-separated labels"
        else:
            bad = next(label for label in labels if not _LABEL_ONLY.fullmatch(label))
            why = (
                f"the label {show(bad)} must be 1 to 63 ASCII letters, digits or hyphens,"
                " not starting or ending with a hyphen"
            )
    return f"{shown} is not a valid email address: {why}"


def _unstorable(char: str) -> str:
    what = "U+0000" if char == "\x00" else f"the lone surrogate U+{ord(char):04X}"
    return f"it holds {what}, which is not storable text"


def _missing(field: str) -> Reason:
    return Reason(field, "missing_field", f"{field} is missing")


def _integer_reason(field: str, code: str, value: Any) -> Reason:
    if value is None:
        return _missing(field)
    return Reason(field, code, f"{field} must be a positive integer, got {show(value)}")


def _name_reason(value: Any) -> Reason:
    if value is None:
        return _missing("name")
    if value == "":
        return Reason("name", "invalid_name", "name is empty")
    if isinstance(value, str) and not isinstance(value, BigInteger):
        if (char := _UNSTORABLE.search(value)) is not None:
            why = _unstorable(char.group())
            return Reason("name", "invalid_name", f"name {show(value)} is not valid: {why}")
        return Reason("name", "invalid_name", f"name {show(value)} is only whitespace")
    return Reason("name", "invalid_name", f"name must be a string, got {show(value)}")


def _email_reason(value: Any) -> Reason:
    if value is None:
        return _missing("email")
    return Reason("email", "invalid_email", email_problem(value) or "")


def _price_reason(value: Any) -> Reason:
    if value is None:
        return _missing("price")
    return Reason(
        "price", "invalid_price", f"price must be a finite number above 0, got {show(value)}"
    )


def invalid_record(record: Any) -> Reason:
    if isinstance(record, BadRecord):
        return Reason("record", "invalid_record", record.message)
    kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(record), "a number"
    )
    return Reason("record", "invalid_record", f"the record is {kind}, not an object")


def given_id(record: Any) -> Any:
    """The record's `id` as given, for reports (None when there is none)."""
    return record.get("id") if type(record) is dict else None


# --- step 1: each record alone ------------------------------------------------------------------
# The loops are written out per table: they run for every record, so they stay flat. Fields are
# read by subscript (faster than .get) and by .get only for a record that lacks one.

_INF = math.inf


def check_users(records: Iterable[Any]) -> list[tuple]:
    """(valid id or None, email key or None, row, reasons or None) per record."""
    out: list[tuple] = []
    append = out.append
    email_ok = _EMAIL.fullmatch
    unstorable = _UNSTORABLE.search
    for r in records:
        if type(r) is not dict:
            append((None, None, None, [invalid_record(r)]))
            continue
        try:
            rid = r["id"]
            name = r["name"]
            email = r["email"]
        except KeyError:
            rid, name, email = r.get("id"), r.get("name"), r.get("email")
        reasons = None
        if type(rid) is not int or not 0 < rid <= MAX_ID:
            reasons = [_integer_reason("id", "invalid_id", rid)]
            rid = None
        if (
            type(name) is not str
            or not name
            or name.isspace()
            or "\x00" in name
            or (not name.isascii() and unstorable(name))  # isascii is a flag lookup
        ):
            if reasons is None:
                reasons = []
            reasons.append(_name_reason(name))
        if type(email) is str and len(email) <= 254 and email_ok(email) is not None:
            key = email_key(email)
        else:
            key = None
            if reasons is None:
                reasons = []
            reasons.append(_email_reason(email))
        append((rid, key, (rid, name, email), reasons))
    return out


def check_products(records: Iterable[Any]) -> list[tuple]:
    """(valid id or None, row, reasons or None) per record."""
    out: list[tuple] = []
    append = out.append
    unstorable = _UNSTORABLE.search
    for r in records:
        if type(r) is not dict:
            append((None, None, [invalid_record(r)]))
            continue
        try:
            rid = r["id"]
            name = r["name"]
            price = r["price"]
        except KeyError:
            rid, name, price = r.get("id"), r.get("name"), r.get("price")
        reasons = None
        if type(rid) is not int or not 0 < rid <= MAX_ID:
            reasons = [_integer_reason("id", "invalid_id", rid)]
            rid = None
        if (
            type(name) is not str
            or not name
            or name.isspace()
            or "\x00" in name
            or (not name.isascii() and unstorable(name))  # isascii is a flag lookup
        ):
            if reasons is None:
                reasons = []
            reasons.append(_name_reason(name))
        if type(price) is float:
            ok = 0.0 < price < _INF
        elif type(price) is int:
            # Stored in a REAL column: SQLite would turn the int into the same float.
            try:
                price = float(price)
                ok = 0.0 < price < _INF
            except OverflowError:
                ok = False
        else:
            ok = False
        if not ok:
            if reasons is None:
                reasons = []
            reasons.append(_price_reason(r.get("price")))
        append((rid, (rid, name, price), reasons))
    return out


def check_orders(records: Iterable[Any]) -> list[tuple]:
    """(valid id, valid user_id, valid product_id (each or None), row, reasons or None)."""
    out: list[tuple] = []
    append = out.append
    for r in records:
        if type(r) is not dict:
            append((None, None, None, None, [invalid_record(r)]))
            continue
        try:
            rid = r["id"]
            uid = r["user_id"]
            pid = r["product_id"]
            qty = r["quantity"]
        except KeyError:
            rid, uid = r.get("id"), r.get("user_id")
            pid, qty = r.get("product_id"), r.get("quantity")
        reasons = None
        if type(rid) is not int or not 0 < rid <= MAX_ID:
            reasons = [_integer_reason("id", "invalid_id", rid)]
            rid = None
        if type(uid) is not int or not 0 < uid <= MAX_ID:
            if reasons is None:
                reasons = []
            reasons.append(_integer_reason("user_id", "invalid_user_id", uid))
            uid = None
        if type(pid) is not int or not 0 < pid <= MAX_ID:
            if reasons is None:
                reasons = []
            reasons.append(_integer_reason("product_id", "invalid_product_id", pid))
            pid = None
        if type(qty) is not int or not 0 < qty <= MAX_ID:
            if reasons is None:
                reasons = []
            reasons.append(_integer_reason("quantity", "invalid_quantity", qty))
        append((rid, uid, pid, (rid, uid, pid, qty), reasons))
    return out


# --- step 2: against what is stored, in input order -------------------------------------------


class Decision(NamedTuple):
    """What a chunk comes to: rows to insert, and per record its reasons (None: inserted)."""

    rows: list[tuple]
    reasons: list[list[Reason] | None]
    ids: list[int]  # ids of the inserted rows
    email_keys: list[str]  # users only: email keys of the inserted users


def _field_order(table: str) -> Callable[[Reason], int]:
    order = {name: i for i, name in enumerate(("record", *TABLES[table].fields))}
    return lambda reason: order[reason.field]


_ORDER = {name: _field_order(name) for name in TABLES}


# A Reason made straight from its tuple: NamedTuple's own constructor is a Python function,
# which counts for the reasons the decisions make by the million (a rerun).
_reason = partial(tuple.__new__, Reason)


def _duplicate_id(rid: int) -> Reason:
    return _reason(("id", "duplicate_id", f"id {rid} is already stored"))


def _stored(ids: IdSet, checked: list[tuple], column: int) -> set[int]:
    """The ids named in `column` of `checked` that `ids` holds: a set the loop can grow."""
    return ids.found_in([c[column] for c in checked if c[column] is not None])


def decide_users(checked: list[tuple], ids: IdSet, holders: dict[str, int]) -> Decision:
    """`ids`: stored user ids; `holders`: stored email key -> id of the user holding it.

    The keys of the users accepted here are added to `holders` at once (they are needed for
    the next records); the caller removes them again if the chunk is not committed.
    """
    taken = _stored(ids, checked, 0)  # grows with the ids accepted in this chunk
    rows: list[tuple] = []
    keys: list[str] = []
    out: list[list[Reason] | None] = []
    for rid, key, row, reasons in checked:
        if rid is not None and rid in taken:
            reasons = [_duplicate_id(rid)] if reasons is None else [_duplicate_id(rid), *reasons]
        if key is not None:
            holder = holders.get(key)
            if holder is not None:
                reasons = reasons or []
                reasons.append(
                    _reason(
                        (
                            "email",
                            "duplicate_email",
                            f"{visible(row[2])} is already used by user {holder}",
                        )
                    )
                )
        # (In field order already: the check's reasons are, a duplicate id comes first and a
        # duplicate email, only for a valid email, last.)
        if reasons is None:
            rows.append(row)
            taken.add(rid)
            holders[key] = rid
            keys.append(key)
        out.append(reasons)
    return Decision(rows, out, [row[0] for row in rows], keys)


def decide_products(checked: list[tuple], ids: IdSet) -> Decision:
    taken = _stored(ids, checked, 0)
    rows: list[tuple] = []
    out: list[list[Reason] | None] = []
    for rid, row, reasons in checked:
        if rid is not None and rid in taken:  # first, as the id is the first field
            reasons = [_duplicate_id(rid)] if reasons is None else [_duplicate_id(rid), *reasons]
        if reasons is None:
            rows.append(row)
            taken.add(rid)
        out.append(reasons)
    return Decision(rows, out, [row[0] for row in rows], [])


def decide_orders(
    checked: list[tuple], ids: IdSet, known_users: set[int], known_products: set[int]
) -> Decision:
    """`known_users` and `known_products`: the ids these orders name that are stored in those
    tables, as the engine proved them under the reference locks."""
    taken = _stored(ids, checked, 0)
    rows: list[tuple] = []
    out: list[list[Reason] | None] = []
    for rid, uid, pid, row, reasons in checked:
        if rid is not None and rid in taken:
            reasons = [_duplicate_id(rid)] if reasons is None else [_duplicate_id(rid), *reasons]
        if uid is not None and uid not in known_users:
            reasons = reasons or []
            reasons.append(_reason(("user_id", "unknown_user", f"no stored user has id {uid}")))
        if pid is not None and pid not in known_products:
            reasons = reasons or []
            reasons.append(
                _reason(("product_id", "unknown_product", f"no stored product has id {pid}"))
            )
        if reasons is None:
            rows.append(row)
            taken.add(rid)
        else:
            reasons.sort(key=_ORDER["orders"])
        out.append(reasons)
    return Decision(rows, out, [row[0] for row in rows], [])


def decide(
    table: Table,
    checked: list[tuple],
    ids: IdSet,
    holders: dict[str, int],
    found: dict[str, set[int]],
) -> Decision:
    """A chunk of `table` against what is stored, as its declaration asks: duplicate ids
    always, its folded-unique field (users' emails) and the references it makes (orders'
    users and products: `found`, the ids named that are stored, per table)."""
    if table.folded_unique is not None:
        return decide_users(checked, ids, holders)
    if table.references:
        users, products = (found[other] for _, other in table.references)
        return decide_orders(checked, ids, users, products)
    return decide_products(checked, ids)


CHECKS: dict[str, Callable[[Iterable[Any]], list[tuple]]] = {
    "users": check_users,
    "products": check_products,
    "orders": check_orders,
}
