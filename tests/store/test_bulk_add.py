"""Tx.bulk_add on both stores: rows with a new key are inserted, rows whose key is taken
add their values to the stored ones; many rows on PostgreSQL go through COPY and one
upsert, few (or inside a pipeline) row by row, with the same result."""

from __future__ import annotations

import pytest

from ledger.projections.stats import LEVELS

COLUMNS = ("set_id", "day", "district", "place_type", *LEVELS)


def row(day: int, n: int) -> tuple[object, ...]:
    return ("t-set", f"2025-01-{day:02d}", "230102", "hotel", *([n] * len(LEVELS)))


@pytest.mark.parametrize("many", [60, 3])
def test_bulk_add_inserts_new_keys_and_adds_to_taken_ones(services, many):
    db = services.db
    first = [row(d, 1) for d in range(1, many + 1)]
    again = [row(d, 2) for d in range(many // 2 + 1, many + many // 2 + 1)]  # half overlap
    with db.transaction(write=True) as tx:
        tx.bulk_add("stats_day", COLUMNS, 4, first)
    with db.transaction(write=True) as tx:
        tx.bulk_add("stats_day", COLUMNS, 4, again)
        tx.bulk_add("stats_day", COLUMNS, 4, [row(1, 5)])  # one row: the other path
    with db.transaction() as tx:
        got = {str(r[0]): r[1] for r in tx.all(
            f"SELECT day, {LEVELS[0]} FROM stats_day WHERE set_id = 't-set'")}
    expected = {f"2025-01-{d:02d}": 0 for d in range(1, many + many // 2 + 1)}
    for r in (*first, *again, row(1, 5)):
        expected[str(r[1])] += int(r[4])  # type: ignore[call-overload]
    assert got == expected
