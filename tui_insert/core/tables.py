"""The three datasets: their databases, tables and fields (SPEC §2)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    # (column, kind) in table order, kind one of "integer" (64-bit), "text", "real" (double
    # precision); each kind of store names them in its own SQL. The first is the key.
    columns: tuple[tuple[str, str], ...]
    # Fields that must be whole numbers (CSV cells are converted to int when they are).
    integer_fields: frozenset[str] = frozenset()
    # Fields that must be decimal numbers (CSV cells are converted to float when they are).
    decimal_fields: frozenset[str] = frozenset()
    # (field, table): the field names a row of that other table, which must be stored.
    references: tuple[tuple[str, str], ...] = ()
    # A field no two stored rows may share, compared case-insensitively (rules.email_key).
    folded_unique: str | None = None

    @property
    def database(self) -> str:
        return f"{self.name}.db"

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def key(self) -> str:
        """The primary key: the only constraint a store holds."""
        return self.columns[0][0]


USERS = Table(
    "users",
    (("id", "integer"), ("name", "text"), ("email", "text")),
    frozenset({"id"}),
    folded_unique="email",
)
PRODUCTS = Table(
    "products",
    (("id", "integer"), ("name", "text"), ("price", "real")),
    frozenset({"id"}),
    frozenset({"price"}),
)
ORDERS = Table(
    "orders",
    (("id", "integer"), ("user_id", "integer"), ("product_id", "integer"), ("quantity", "integer")),
    frozenset({"id", "user_id", "product_id", "quantity"}),
    references=(("user_id", "users"), ("product_id", "products")),
)

# Input order of the three datasets everywhere: reports, panels, summaries.
TABLES: dict[str, Table] = {t.name: t for t in (USERS, PRODUCTS, ORDERS)}

# Tables whose rows others refer to: their stores have a reference lock (see `locks.py`).
REFERENCED: tuple[str, ...] = tuple(
    name
    for name in TABLES
    if any(name == other for table in TABLES.values() for _, other in table.references)
)

# tui-insert's bookkeeping beside each table: how many resets emptied it (and, where the store
# has no version of its own, a version every writer bumps). It holds no validation; it tells a
# node that what it saw in the store before may be gone.
STATE_TABLE = "tui_insert_state"
