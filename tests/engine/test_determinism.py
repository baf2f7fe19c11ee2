"""Results are the same for any worker count, and equal to a one-thread run (SPEC §5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import dump, orphan_orders, run_engine
from tui_insert.core.generate import generate_dataset

ALL_CODES = {
    "users": {
        "invalid_record",
        "missing_field",
        "invalid_id",
        "duplicate_id",
        "invalid_name",
        "invalid_email",
        "duplicate_email",
    },
    "products": {
        "invalid_record",
        "missing_field",
        "invalid_id",
        "duplicate_id",
        "invalid_name",
        "invalid_price",
    },
    "orders": {
        "invalid_record",
        "missing_field",
        "invalid_id",
        "duplicate_id",
        "invalid_user_id",
        "unknown_user",
        "invalid_product_id",
        "unknown_product",
        "invalid_quantity",
    },
}


@pytest.fixture(scope="module")
def data_20k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data")
    generate_dataset(out, 20_000, invalid_share=0.2, seed=7, fmt="jsonl")
    return out


def test_same_result_for_1_4_and_32_workers(data_20k: Path, tmp_path: Path) -> None:
    results = {}
    for workers in (1, 4, 32):
        # Chunks of 500 records: many chunks, so that the workers really take turns.
        db_dir = tmp_path / f"db-{workers}"
        run, seen = run_engine(db_dir, data_20k, workers=workers, chunk_size=500)
        results[workers] = (seen.records, dump(db_dir))
        assert orphan_orders(db_dir) == []
    assert results[4] == results[1]
    assert results[32] == results[1]

    records, stored = results[1]
    for table, codes in ALL_CODES.items():
        assert [r["position"] for r in records[table]] == list(range(1, 20_001))
        seen_codes = {x["code"] for r in records[table] for x in r.get("reasons", ())}
        assert seen_codes == codes, table
        inserted = sum(1 for r in records[table] if r["status"] == "inserted")
        assert inserted == len(stored[table])
