"""Filtered lists walk the enterprises of a district/type (migration 005): the pages
must be exactly the full list filtered, in USCC order, across cursors."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.projections import queries
from ledger.services.demo import seed_city

UNTIL = date(2026, 1, 1)


def all_pages(services, func, **filters):
    items, cursor = [], None
    while True:
        with services.db.transaction() as tx:
            page, cursor = func(tx, UNTIL.isoformat(), limit=3, cursor=cursor, **filters)
        items += page
        if cursor is None:
            return items


@pytest.mark.parametrize("func", [queries.reward_list, queries.punishment_list])
def test_filtered_pages_are_the_full_list_filtered(services, func):
    seed_city(services, 160, seed=2, until=UNTIL)
    with services.db.transaction() as tx:
        full, _ = func(tx, UNTIL.isoformat(), limit=1000)
    assert full
    for filters in (
        {"district": full[0]["district"]},
        {"place_type": full[-1]["place_type"]},
        {"district": full[0]["district"], "place_type": full[0]["place_type"]},
    ):
        expected = [i for i in full if all(i[k] == v for k, v in filters.items())]
        assert all_pages(services, func, **filters) == expected


def test_the_list_indexes_exist(services):
    with services.db.transaction() as tx:
        if services.db.postgres:
            names = {r[0] for r in tx.all(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            )}
        else:
            names = {r[0] for r in tx.all("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"standing_segments_reward_range", "enterprise_facts_district_type"} <= names
