"""The validation rules of SPEC.md section 4, checked through rules.check_* and rules.decide_*.

`check_*` looks at each record alone; `decide_*` adds what is stored (ids, emails, references).
The helpers below run both steps, as the engine does for one chunk, so every test reads as
"these records, with this already stored, give these outcomes".
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tui_insert.core.idset import IdSet
from tui_insert.core.jsonio import BigInteger
from tui_insert.core.rules import (
    _HIDDEN,
    BadRecord,
    Decision,
    Reason,
    check_orders,
    check_products,
    check_users,
    decide_orders,
    decide_products,
    decide_users,
    visible,
)

MAX_ID = 2**63 - 1
ABSENT = object()  # a field left out of the record altogether


# --- helpers -------------------------------------------------------------------------------------


def _record(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not ABSENT}


def user(id: Any = 1, name: Any = "Alice", email: Any = "alice@example.com", **extra: Any):
    return _record(id=id, name=name, email=email, **extra)


def product(id: Any = 1, name: Any = "Pen", price: Any = 2.5, **extra: Any):
    return _record(id=id, name=name, price=price, **extra)


def order(id: Any = 1, user_id: Any = 1, product_id: Any = 1, quantity: Any = 1, **extra: Any):
    return _record(id=id, user_id=user_id, product_id=product_id, quantity=quantity, **extra)


def run_users(
    records: list[Any], ids: tuple[int, ...] = (), holders: dict[str, int] | None = None
) -> Decision:
    return decide_users(check_users(records), IdSet(ids), dict(holders or {}))


def run_products(records: list[Any], ids: tuple[int, ...] = ()) -> Decision:
    return decide_products(check_products(records), IdSet(ids))


def run_orders(
    records: list[Any],
    ids: tuple[int, ...] = (),
    users: tuple[int, ...] = (1,),
    products: tuple[int, ...] = (1,),
) -> Decision:
    return decide_orders(check_orders(records), IdSet(ids), set(users), set(products))


RUN = {"users": run_users, "products": run_products, "orders": run_orders}
MAKE = {"users": user, "products": product, "orders": order}


def codes(reasons: list[Reason] | None) -> list[tuple[str, str]] | None:
    """(field, code) of each reason, in order; None for an inserted record."""
    return None if reasons is None else [(r.field, r.code) for r in reasons]


def one(table: str, record: Any, **state: Any) -> list[tuple[str, str]] | None:
    """The reasons of a single record of `table` (None: inserted)."""
    decision = RUN[table]([record], **state)
    assert len(decision.reasons) == 1
    assert len(decision.rows) == (1 if decision.reasons[0] is None else 0)
    return codes(decision.reasons[0])


# --- the record itself ---------------------------------------------------------------------------

NOT_OBJECTS = [[], [1, 2], ["id", 1], "", "a record", 0, 7, 2.5, None, True, False]


@pytest.mark.parametrize("table", ["users", "products", "orders"])
@pytest.mark.parametrize("record", NOT_OBJECTS, ids=repr)
def test_a_record_that_is_not_an_object_is_invalid_record_and_only_that(table, record):
    assert one(table, record) == [("record", "invalid_record")]


@pytest.mark.parametrize("table", ["users", "products", "orders"])
def test_a_bad_line_from_a_file_is_invalid_record_with_its_message(table):
    bad = BadRecord("line 3 is not valid JSON: Expecting value", "{oops", 3)
    decision = RUN[table]([bad])
    assert codes(decision.reasons[0]) == [("record", "invalid_record")]
    assert decision.reasons[0][0].message == "line 3 is not valid JSON: Expecting value"
    assert decision.rows == []


@pytest.mark.parametrize("table", ["users", "products", "orders"])
def test_invalid_record_stores_nothing_so_the_next_record_is_judged_alone(table):
    decision = RUN[table]([[MAKE[table]()], MAKE[table]()])
    assert codes(decision.reasons[0]) == [("record", "invalid_record")]
    assert decision.reasons[1] is None
    assert decision.ids == [1]


def test_reason_as_dict():
    reason = Reason("id", "invalid_id", "id must be a positive integer, got 0")
    assert reason.as_dict() == {
        "field": "id",
        "code": "invalid_id",
        "message": "id must be a positive integer, got 0",
    }


# --- valid records and the rows they give ---------------------------------------------------------


def test_a_valid_user_is_inserted_with_its_values_exactly():
    decision = run_users([user(1, " Ann  Lee ", "Ann.Lee@Example.COM", extra="ignored")])
    assert decision.reasons == [None]
    assert decision.rows == [(1, " Ann  Lee ", "Ann.Lee@Example.COM")]
    assert decision.ids == [1]
    assert decision.email_keys == ["ann.lee@example.com"]


def test_a_valid_product_is_inserted_with_its_values_exactly():
    decision = run_products([product(3, "\tPen ", 1.25, colour="red")])
    assert decision.reasons == [None]
    assert decision.rows == [(3, "\tPen ", 1.25)]
    assert decision.ids == [3]
    assert decision.email_keys == []


def test_a_valid_order_is_inserted_with_its_values_exactly():
    decision = run_orders([order(5, 2, 3, 4, note="x")], users=(2,), products=(3,))
    assert decision.reasons == [None]
    assert decision.rows == [(5, 2, 3, 4)]
    assert decision.ids == [5]


def test_decision_lists_every_record_in_input_order():
    records = [
        user(1),
        user(0, email="z@z.co"),
        "x",
        user(2, email="b@b.co"),
        user(1, email="c@c.co"),
    ]
    decision = run_users(records)
    assert [codes(r) for r in decision.reasons] == [
        None,
        [("id", "invalid_id")],
        [("record", "invalid_record")],
        None,
        [("id", "duplicate_id")],
    ]
    assert decision.rows == [(1, "Alice", "alice@example.com"), (2, "Alice", "b@b.co")]
    assert decision.ids == [1, 2]


# --- ids (id of every table; user_id, product_id, quantity of orders) -----------------------------

BAD_INTEGERS = [True, False, 2.0, 7.5, "7", "", 0, -1, -(2**63), 2**63, 2**64, [7], {"v": 7}]
GOOD_INTEGERS = [1, 2, 2**31, 2**32 + 1, MAX_ID]

INTEGER_FIELDS = [
    ("users", "id", "invalid_id"),
    ("products", "id", "invalid_id"),
    ("orders", "id", "invalid_id"),
    ("orders", "user_id", "invalid_user_id"),
    ("orders", "product_id", "invalid_product_id"),
    ("orders", "quantity", "invalid_quantity"),
]


@pytest.mark.parametrize(("table", "field", "code"), INTEGER_FIELDS)
@pytest.mark.parametrize("value", BAD_INTEGERS, ids=repr)
def test_a_field_that_is_not_a_positive_integer_is_invalid(table, field, code, value):
    assert one(table, MAKE[table](**{field: value})) == [(field, code)]


@pytest.mark.parametrize(("table", "field", "code"), INTEGER_FIELDS)
@pytest.mark.parametrize("value", GOOD_INTEGERS)
def test_positive_integers_up_to_2_63_minus_1_are_valid(table, field, code, value):
    state = {"users": (1, value), "products": (1, value)} if table == "orders" else {}
    assert one(table, MAKE[table](**{field: value}), **state) is None


@pytest.mark.parametrize("table", ["users", "products", "orders"])
def test_id_just_above_the_limit_is_invalid_and_at_the_limit_valid(table):
    decision = RUN[table]([MAKE[table](id=2**63), MAKE[table](id=MAX_ID)])
    assert codes(decision.reasons[0]) == [("id", "invalid_id")]
    assert decision.reasons[1] is None
    assert decision.ids == [MAX_ID]


def test_integer_field_message_shows_the_value():
    (reason,) = run_orders([order(quantity=2.0)]).reasons[0]
    assert reason == Reason("quantity", "invalid_quantity", reason.message)
    assert "2.0" in reason.message


# --- missing fields -------------------------------------------------------------------------------

ALL_FIELDS = [
    ("users", "id"),
    ("users", "name"),
    ("users", "email"),
    ("products", "id"),
    ("products", "name"),
    ("products", "price"),
    ("orders", "id"),
    ("orders", "user_id"),
    ("orders", "product_id"),
    ("orders", "quantity"),
]


@pytest.mark.parametrize(("table", "field"), ALL_FIELDS)
@pytest.mark.parametrize("missing", [ABSENT, None], ids=["absent", "null"])
def test_an_absent_or_null_field_is_missing_field(table, field, missing):
    assert one(table, MAKE[table](**{field: missing})) == [(field, "missing_field")]


@pytest.mark.parametrize("table", ["users", "products", "orders"])
def test_an_empty_object_is_missing_every_field_in_field_order(table):
    fields = [f for t, f in ALL_FIELDS if t == table]
    assert one(table, {}) == [(f, "missing_field") for f in fields]


@pytest.mark.parametrize("table", ["users", "products", "orders"])
def test_only_extra_fields_is_missing_every_field(table):
    fields = [f for t, f in ALL_FIELDS if t == table]
    assert one(table, {"ID": 1, "Name": "x", "extra": None}) == [
        (f, "missing_field") for f in fields
    ]


# --- duplicate ids --------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["users", "products", "orders"])
def test_an_id_already_stored_is_duplicate_id(table):
    decision = RUN[table]([MAKE[table](id=7)], ids=(3, 7, 2**40))
    assert codes(decision.reasons[0]) == [("id", "duplicate_id")]
    assert "7" in decision.reasons[0][0].message
    assert decision.rows == []


@pytest.mark.parametrize("table", ["users", "products", "orders"])
def test_a_huge_stored_id_is_duplicate_id(table):
    assert one(table, MAKE[table](id=MAX_ID), ids=(MAX_ID,)) == [("id", "duplicate_id")]


@pytest.mark.parametrize("table", ["users", "products", "orders"])
def test_an_id_accepted_earlier_in_the_same_chunk_is_duplicate_id(table):
    first = MAKE[table](id=4)
    second = MAKE[table](id=4)
    if table == "users":
        second["email"] = "other@example.com"
    decision = RUN[table]([first, second])
    assert decision.reasons[0] is None
    assert codes(decision.reasons[1]) == [("id", "duplicate_id")]
    assert decision.ids == [4]


@pytest.mark.parametrize("table", ["users", "products", "orders"])
def test_an_id_of_a_rejected_record_may_be_used_again(table):
    bad = MAKE[table](id=4, **{"name" if table != "orders" else "quantity": 0})
    good = MAKE[table](id=4)
    decision = RUN[table]([bad, good, MAKE[table](id=4)])
    assert decision.reasons[0] is not None
    assert decision.reasons[1] is None
    assert codes(decision.reasons[2])[0] == ("id", "duplicate_id")
    assert decision.ids == [4]


@pytest.mark.parametrize("table", ["users", "products", "orders"])
@pytest.mark.parametrize("value", [True, 7.0, "7"], ids=repr)
def test_duplicate_id_is_not_given_when_the_id_is_itself_invalid(table, value):
    # 7 and 1 are stored: a value that looks like them is still only invalid_id.
    assert one(table, MAKE[table](id=value), ids=(1, 7)) == [("id", "invalid_id")]


def test_duplicate_id_is_per_table_state_only():
    # An id stored in users says nothing about products or orders.
    assert one("products", product(id=1), ids=()) is None
    assert one("orders", order(id=1), ids=()) is None


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["users", "products"])
@pytest.mark.parametrize(
    "name",
    ["", " ", "   ", "\t\n", "\u00a0", "\u3000\r\n", 5, 0, 1.5, True, False, [], ["a"]],
    ids=repr,
)
def test_an_empty_blank_or_non_string_name_is_invalid_name(table, name):
    assert one(table, MAKE[table](name=name)) == [("name", "invalid_name")]


@pytest.mark.parametrize("table", ["users", "products"])
@pytest.mark.parametrize(
    "name", [" a ", "a", "  x\ty  ", "[bold]x[/]", "\x1b[31mred", "Zoë 🚀", "0"], ids=repr
)
def test_any_other_string_is_a_valid_name_stored_unchanged(table, name):
    decision = RUN[table]([MAKE[table](name=name)])
    assert decision.reasons == [None]
    assert decision.rows[0][1] == name


# --- emails ---------------------------------------------------------------------------------------

LOCAL_64 = "l" * 64
DOMAIN_189 = "a" * 63 + "." + "b" * 63 + "." + "c" * 61
VALID_EMAILS = [
    "a@b.co",
    "first.last+tag@sub.example.com",
    "A@B.CO",
    "x@a-b.co",
    "x@a--b.co",
    "x@1.2",
    "x@xn--bcher-kva.example",
    "é@b.co",
    "用户@example.com",
    "o'neil!#$%&*=?^_`{|}~@b.co",
    LOCAL_64 + "@b.co",
    "x@" + "d" * 63 + ".co",
    "x@" + "d" * 63 + "." + "e" * 63,
    LOCAL_64 + "@" + DOMAIN_189,  # exactly 254 characters
]
INVALID_EMAILS = [
    "",
    "a",
    "@",
    "a@",
    "@b.co",  # empty local part
    "l" * 65 + "@b.co",  # local part of 65
    LOCAL_64 + "@" + DOMAIN_189 + "c",  # 255 characters
    "x@" + "d" * 64 + ".co",  # label of 64
    "x@b.co" + "m" * 58 + "." + "d" * 64,
    "a@localhost",  # a single label
    "a@b@c.co",  # two @
    "a@@b.co",
    "a b@c.co",
    "a@b.co ",
    " a@b.co",
    "a\t@b.co",
    "a@b.co\n",
    "a\u00a0b@c.co",  # non-breaking space
    "a@b\u2003c.co",  # em space
    "a@b..co",  # empty label
    "a@.b.co",
    "a@b.co.",  # trailing dot
    "a@-b.co",
    "a@b-.co",
    "a@b.co-",
    "a@b.-co",
    "a@bé.co",  # non-ASCII in the domain
    "a@b.cö",
    "a@b_c.co",
    "a@b.c*",
    "a@[127.0.0.1]",
]


@pytest.mark.parametrize("email", VALID_EMAILS, ids=lambda e: repr(e[:40]) + str(len(e)))
def test_valid_email_addresses(email):
    decision = run_users([user(email=email)])
    assert decision.reasons == [None]
    assert decision.rows == [(1, "Alice", email)]


def test_the_length_edges_are_what_they_claim():
    assert len(LOCAL_64 + "@" + DOMAIN_189) == 254
    assert len(LOCAL_64 + "@" + DOMAIN_189 + "c") == 255


@pytest.mark.parametrize("email", INVALID_EMAILS, ids=lambda e: repr(e[:40]) + str(len(e)))
def test_invalid_email_addresses(email):
    decision = run_users([user(email=email)])
    assert codes(decision.reasons[0]) == [("email", "invalid_email")]
    assert decision.rows == []


@pytest.mark.parametrize("email", [5, 0, 1.5, True, False, ["a@b.co"], {"a": "b.co"}], ids=repr)
def test_a_non_string_email_is_invalid_email(email):
    assert one("users", user(email=email)) == [("email", "invalid_email")]


def test_invalid_email_message_names_the_address():
    (reason,) = run_users([user(email="a@localhost")]).reasons[0]
    assert reason.field == "email"
    assert "a@localhost" in reason.message


def test_duplicate_email_against_a_stored_user_case_insensitively():
    decision = run_users(
        [user(2, email="ALICE@Example.com")], ids=(1,), holders={"alice@example.com": 1}
    )
    (reason,) = decision.reasons[0]
    assert (reason.field, reason.code) == ("email", "duplicate_email")
    assert reason.message == "ALICE@Example.com is already used by user 1"
    assert decision.rows == []


def test_duplicate_email_within_one_chunk_names_the_earlier_user():
    decision = run_users([user(5, email="bob@example.com"), user(9, email="Bob@EXAMPLE.com")])
    assert decision.reasons[0] is None
    (reason,) = decision.reasons[1]
    assert (reason.field, reason.code) == ("email", "duplicate_email")
    assert reason.message.endswith("is already used by user 5")
    assert decision.ids == [5]
    assert decision.email_keys == ["bob@example.com"]


def test_decide_users_adds_the_accepted_keys_to_holders():
    holders = {"old@example.com": 1}
    decide_users(
        check_users([user(2, email="New@Example.com"), user(3, name="", email="x@y.co")]),
        IdSet([1]),
        holders,
    )
    assert holders == {"old@example.com": 1, "new@example.com": 2}


def test_the_email_of_a_rejected_user_may_be_used_again():
    decision = run_users(
        [
            user(1, name="", email="carol@example.com"),  # rejected: stores nothing
            user(2, email="Carol@example.com"),
            user(3, email="carol@EXAMPLE.com"),
        ]
    )
    assert codes(decision.reasons[0]) == [("name", "invalid_name")]
    assert decision.reasons[1] is None
    assert codes(decision.reasons[2]) == [("email", "duplicate_email")]
    assert decision.reasons[2][0].message.endswith("is already used by user 2")


def test_duplicate_email_is_given_along_with_other_reasons():
    decision = run_users(
        [user(1, name=" ", email="ALICE@example.com")], ids=(1,), holders={"alice@example.com": 1}
    )
    assert codes(decision.reasons[0]) == [
        ("id", "duplicate_id"),
        ("name", "invalid_name"),
        ("email", "duplicate_email"),
    ]


def test_duplicate_email_is_not_given_for_an_invalid_email():
    holders = {"a@localhost": 1}
    assert one("users", user(2, email="a@localhost"), holders=holders) == [
        ("email", "invalid_email")
    ]


def test_a_rejected_user_with_an_invalid_id_does_not_take_its_email():
    decision = run_users([user(0, email="d@e.fg"), user(2, email="d@e.fg")])
    assert codes(decision.reasons[0]) == [("id", "invalid_id")]
    assert decision.reasons[1] is None


# --- prices ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "price",
    [
        "5.0",
        "5",
        "",
        True,
        False,
        0,
        0.0,
        -0.0,
        -1,
        -0.01,
        float("nan"),
        float("inf"),
        float("-inf"),
        10**400,
        -(10**400),
        [5],
        {"amount": 5},
    ],
    ids=repr,
)
def test_invalid_prices(price):
    assert one("products", product(price=price)) == [("price", "invalid_price")]


@pytest.mark.parametrize(
    ("price", "stored"),
    [(0.01, 0.01), (5, 5.0), (1, 1.0), (1e308, 1e308), (5e-324, 5e-324), (2**63, 2.0**63)],
    ids=repr,
)
def test_valid_prices_are_stored_as_floats(price, stored):
    decision = run_products([product(price=price)])
    assert decision.reasons == [None]
    assert decision.rows == [(1, "Pen", stored)]
    assert type(decision.rows[0][2]) is float


def test_invalid_price_message_shows_the_value():
    (reason,) = run_products([product(price=float("nan"))]).reasons[0]
    assert reason.field == "price"
    assert "nan" in reason.message.lower()


# --- order references -----------------------------------------------------------------------------


def test_unknown_user():
    assert one("orders", order(user_id=2), users=(1,), products=(1,)) == [
        ("user_id", "unknown_user")
    ]


def test_unknown_product():
    assert one("orders", order(product_id=2), users=(1,), products=(1,)) == [
        ("product_id", "unknown_product")
    ]


def test_unknown_user_and_unknown_product_on_one_record():
    assert one("orders", order(user_id=9, product_id=8), users=(8,), products=(9,)) == [
        ("user_id", "unknown_user"),
        ("product_id", "unknown_product"),
    ]


def test_references_are_judged_against_the_given_sets_including_huge_ids():
    decision = run_orders(
        [order(1, MAX_ID, 2**40), order(2, 2**40, MAX_ID)],
        users=(MAX_ID,),
        products=(2**40,),
    )
    assert decision.reasons[0] is None
    assert codes(decision.reasons[1]) == [
        ("user_id", "unknown_user"),
        ("product_id", "unknown_product"),
    ]


def test_orders_with_no_users_or_products_stored_are_all_unknown():
    assert one("orders", order(), users=(), products=()) == [
        ("user_id", "unknown_user"),
        ("product_id", "unknown_product"),
    ]


@pytest.mark.parametrize("value", [True, 1.0, "1", 0, -1, 2**63], ids=repr)
def test_unknown_user_is_not_given_when_user_id_is_invalid(value):
    # users holds 1: a value that looks like 1 is invalid, never "known" or "unknown".
    assert one("orders", order(user_id=value), users=(1,)) == [("user_id", "invalid_user_id")]
    assert one("orders", order(user_id=value), users=()) == [("user_id", "invalid_user_id")]


@pytest.mark.parametrize("value", [True, 1.0, "1", 0, -1, 2**63], ids=repr)
def test_unknown_product_is_not_given_when_product_id_is_invalid(value):
    assert one("orders", order(product_id=value), products=()) == [
        ("product_id", "invalid_product_id")
    ]


def test_a_missing_reference_is_missing_field_not_unknown():
    assert one("orders", order(user_id=None, product_id=ABSENT), users=(), products=()) == [
        ("user_id", "missing_field"),
        ("product_id", "missing_field"),
    ]


# --- order of reasons, one reason a field, every reason ------------------------------------------


def test_reasons_come_in_field_order_for_orders():
    assert one("orders", order(user_id=5, quantity=0), users=(1,)) == [
        ("user_id", "unknown_user"),
        ("quantity", "invalid_quantity"),
    ]


def test_reasons_come_in_field_order_for_users():
    assert one("users", user(id=1, name=""), ids=(1,)) == [
        ("id", "duplicate_id"),
        ("name", "invalid_name"),
    ]


def test_reasons_come_in_field_order_for_products():
    assert one("products", product(id=1, name=5, price=0), ids=(1,)) == [
        ("id", "duplicate_id"),
        ("name", "invalid_name"),
        ("price", "invalid_price"),
    ]


def test_an_order_with_every_field_bad_gets_every_reason_in_order():
    assert one("orders", order(id=3, user_id=7, product_id=8, quantity=-2), ids=(3,)) == [
        ("id", "duplicate_id"),
        ("user_id", "unknown_user"),
        ("product_id", "unknown_product"),
        ("quantity", "invalid_quantity"),
    ]


def test_a_user_with_every_field_bad_gets_every_reason():
    assert one("users", user(id=True, name=[], email=None)) == [
        ("id", "invalid_id"),
        ("name", "invalid_name"),
        ("email", "missing_field"),
    ]


# An independent statement of SPEC §4, applied to every mix of good and bad fields below.
# Each variant: (value, expected code or None). "dup"/"unknown" need the stored state set up
# by the sweeps: stored ids {9}, stored user 9 with "taken@example.com", users {1}, products {1}.
ID_VARIANTS = [
    (1, None),
    (ABSENT, "missing_field"),
    (None, "missing_field"),
    (0, "invalid_id"),
    ("9", "invalid_id"),
    (9, "duplicate_id"),
]
NAME_VARIANTS = [
    ("N", None),
    (ABSENT, "missing_field"),
    ("  ", "invalid_name"),
    (3, "invalid_name"),
]
EMAIL_VARIANTS = [
    ("e@x.co", None),
    (None, "missing_field"),
    ("e@x", "invalid_email"),
    ("TAKEN@example.com", "duplicate_email"),
]
PRICE_VARIANTS = [
    (1.5, None),
    (ABSENT, "missing_field"),
    (0, "invalid_price"),
    ("1.5", "invalid_price"),
]


def _expected(fields: list[tuple[str, str | None]]) -> list[tuple[str, str]] | None:
    out = [(field, code) for field, code in fields if code is not None]
    return out or None


def _ref_variants(code: str, unknown: str) -> list[tuple[Any, str | None]]:
    return [(1, None), (ABSENT, "missing_field"), (1.0, code), (5, unknown)]


QTY_VARIANTS = [
    (3, None),
    (None, "missing_field"),
    (0, "invalid_quantity"),
    (False, "invalid_quantity"),
]


def test_users_every_mix_of_field_outcomes():
    for id_, name, email in itertools.product(ID_VARIANTS, NAME_VARIANTS, EMAIL_VARIANTS):
        record = user(id=id_[0], name=name[0], email=email[0])
        got = one("users", record, ids=(9,), holders={"taken@example.com": 9})
        want = _expected([("id", id_[1]), ("name", name[1]), ("email", email[1])])
        assert got == want, record


def test_products_every_mix_of_field_outcomes():
    for id_, name, price in itertools.product(ID_VARIANTS, NAME_VARIANTS, PRICE_VARIANTS):
        record = product(id=id_[0], name=name[0], price=price[0])
        got = one("products", record, ids=(9,))
        want = _expected([("id", id_[1]), ("name", name[1]), ("price", price[1])])
        assert got == want, record


def test_orders_every_mix_of_field_outcomes():
    for id_, uid, pid, qty in itertools.product(
        ID_VARIANTS,
        _ref_variants("invalid_user_id", "unknown_user"),
        _ref_variants("invalid_product_id", "unknown_product"),
        QTY_VARIANTS,
    ):
        record = order(id=id_[0], user_id=uid[0], product_id=pid[0], quantity=qty[0])
        got = one("orders", record, ids=(9,), users=(1,), products=(1,))
        want = _expected(
            [("id", id_[1]), ("user_id", uid[1]), ("product_id", pid[1]), ("quantity", qty[1])]
        )
        assert got == want, record


def test_a_long_chunk_mixing_everything_matches_record_by_record_judgement():
    # Deciding a chunk at once equals deciding its records one at a time with the state grown.
    records: list[Any] = []
    for i in range(60):
        records.append(
            user(
                id=[i % 7 + 1, 0, "3", None][i % 4],
                name=["x", "", 5][i % 3],
                email=[f"u{i % 5}@ex.co", f"U{i % 5}@EX.CO", "bad"][i % 3],
            )
        )
    together = run_users(records, ids=(2,), holders={"u0@ex.co": 2})
    ids, holders = IdSet([2]), {"u0@ex.co": 2}
    singly: list[Any] = []
    rows: list[tuple] = []
    for r in records:
        d = decide_users(check_users([r]), ids, holders)
        ids.update(d.ids)
        singly.append(d.reasons[0])
        rows.extend(d.rows)
    assert together.reasons == singly
    assert together.rows == rows
    assert 0 < len(rows) < len(records)
    assert together.ids == [r[0] for r in together.rows]
    assert len(together.ids) == len(set(together.ids))
    # each field gives at most one reason
    for reasons in together.reasons:
        if reasons:
            fields = [r.field for r in reasons]
            assert len(fields) == len(set(fields))


def test_nan_is_not_a_positive_integer():
    assert one("orders", order(quantity=float("nan"))) == [("quantity", "invalid_quantity")]


@pytest.mark.parametrize(
    ("table", "field", "code"),
    [("users", "id", "invalid_id"), ("products", "price", "invalid_price")],
)
def test_an_integer_of_5000_digits_is_invalid_not_a_crash(table, field, code):
    assert one(table, MAKE[table](**{field: 10**5000})) == [(field, code)]


def test_integers_of_too_many_digits_as_text_fields_are_said_to_be_no_strings():
    digits = BigInteger("-" + "1" * 5000)
    ((_, _, _, why),) = check_users([{"id": 1, "name": digits, "email": digits}])
    assert [r.message for r in why] == [
        "name must be a string, got -1111111111111111111… (5000 digits)",
        "email must be a string, got -1111111111111111111… (5000 digits)",
    ]


def test_visible_leaves_printable_text_alone_and_escapes_every_hidden_character() -> None:
    # visible() skips its search for text Python calls printable: every character it escapes
    # must be one that is not.
    hidden = [chr(c) for c in range(0x110000) if _HIDDEN.match(chr(c))]
    assert len(hidden) > 2100  # the controls, the invisible marks, the surrogates
    assert not any(ch.isprintable() for ch in hidden)
    for ch in hidden:
        shown = visible(f"a{ch}b")
        assert shown.isprintable() and shown != f"a{ch}b"
    assert visible("user1@example.org ✓ é") == "user1@example.org ✓ é"
