"""The read side: query functions over the live read models, on both stores."""

from __future__ import annotations

import random

import pytest

from ledger.bootstrap import bootstrap
from ledger.errors import InvalidInput
from ledger.projections import queries
from tests.factories import licence, random_uscc


def at(day: str) -> str:
    return f"{day}T10:00:00+08:00"


def banned(services, uscc: str, day: str = "2025-03-01", **fields) -> None:
    services.ledger.license(**licence(uscc, **fields))
    services.ledger.ban(uscc, banned_at=at(day), reason="false commitment", decision_no="HB-1")


def committed(services, uscc: str, day: str = "2025-01-10", **fields) -> None:
    services.ledger.license(**licence(uscc, **fields))
    services.ledger.commit(uscc, committed_at=at(day), signatory="Wang Li")


# -- standings ------------------------------------------------------------------------------


def test_standing_of_an_unknown_enterprise_is_none(services):
    with services.db.transaction() as tx:
        assert queries.standing(tx, random_uscc(), "2025-06-01") is None


def test_standing_carries_the_contract_fields_and_the_legal_representatives_commitment(
    services,
):
    """The read model holds the name's commitment only; the standing service opens it
    for audit:read keys from personal_data."""
    uscc = random_uscc()
    committed(services, uscc)
    with services.db.transaction() as tx:
        st = queries.standing(tx, uscc, "2025-06-01")
    commitment = st.pop("legal_representative")
    assert commitment.startswith("sha256:") and len(commitment) == 7 + 64
    assert st == {
        "uscc": uscc, "name": "Songbei Riverside Barbershop", "place_type": "barbershop",
        "district": "230109", "status": "committed", "credit_class": "B",
        "hygiene_grade": None, "on_reward_list": False, "on_punishment_list": False,
        "records": [], "verification_due": "2025-03-11", "rectification_deadline": None,
        "version": 2, "position": 2, "as_of": "2025-06-01",
    }


def test_standing_version_and_position_are_those_of_the_last_event_by_then(services):
    uscc, other = random_uscc(), random_uscc()
    services.ledger.license(**licence(uscc))
    services.ledger.license(**licence(other))
    services.ledger.commit(uscc, committed_at=at("2025-01-10"), signatory="Wang Li")
    with services.db.transaction() as tx:
        then = queries.standing(tx, uscc, "2025-01-09")
        now = queries.standing(tx, uscc, "2025-01-10")
    assert (then["version"], then["position"]) == (1, 1)
    assert (now["version"], now["position"]) == (2, 3)


def test_a_malformed_date_is_invalid_input(services):
    with services.db.transaction() as tx, pytest.raises(InvalidInput) as e:
        queries.standing(tx, random_uscc(), "2025-13-01")
    assert e.value.field == "as_of"


def test_standings_in_bulk_leave_out_the_unknown_and_the_not_yet_licensed(services):
    known = [random_uscc() for _ in range(3)]
    for uscc in known:
        services.ledger.license(**licence(uscc))
    late = random_uscc()
    services.ledger.license(**licence(late, licensed_at=at("2025-07-01")))
    unknown = random_uscc()
    with services.db.transaction() as tx:
        found = queries.standings(tx, [*known, late, unknown, known[0]], "2025-06-01")
    assert set(found) == set(known)
    assert all(found[u]["uscc"] == u and found[u]["status"] == "licensed" for u in known)


def test_standings_in_bulk_answer_a_thousand_codes(services):
    uscc = random_uscc()
    services.ledger.license(**licence(uscc))
    rng = random.Random(5)
    codes = [random_uscc(rng) for _ in range(999)] + [uscc]
    with services.db.transaction() as tx:
        assert list(queries.standings(tx, codes, "2025-06-01")) == [uscc]


def test_verification_due_follows_the_configured_days(store_settings, clock):
    s = bootstrap(store_settings.model_copy(update={"verification_days": 30}), clock=clock)
    try:
        uscc = random_uscc()
        committed(s, uscc)
        with s.db.transaction() as tx:
            assert queries.standing(tx, uscc, "2025-01-10")["verification_due"] == "2025-02-09"
            items, _ = queries.supervision_queue(tx, "2025-02-01", 14)
        assert [(i["uscc"], i["due_on"]) for i in items] == [(uscc, "2025-02-09")]
    finally:
        s.close()


# -- the lists ------------------------------------------------------------------------------


@pytest.fixture
def listed(services):
    """Seven banned enterprises over two districts and two place types, one licensed."""
    rng = random.Random(42)
    members = []
    for i in range(7):
        district = "230109" if i % 2 else "230102"
        place = "hotel" if i % 3 else "bathhouse"
        uscc = random_uscc(rng, district)
        banned(services, uscc, district=district, place_type=place)
        members.append((uscc, district, place))
    services.ledger.license(**licence(random_uscc(rng)))
    return sorted(members)


def test_punishment_list_pages_by_uscc_with_a_stable_cursor(services, listed):
    seen, cursor, pages = [], None, 0
    with services.db.transaction() as tx:
        while True:
            items, cursor = queries.punishment_list(tx, "2025-06-01", limit=3, cursor=cursor)
            seen.extend(i["uscc"] for i in items)
            pages += 1
            if cursor is None:
                break
    assert seen == [u for u, _, _ in listed]
    assert pages == 3


def test_a_cursor_stays_valid_when_members_join_before_it(services, listed):
    with services.db.transaction() as tx:
        first, cursor = queries.punishment_list(tx, "2025-06-01", limit=3)
    banned(services, "91350200776049653A")  # sorts before every code in the fixture
    with services.db.transaction() as tx:
        rest, _ = queries.punishment_list(tx, "2025-06-01", limit=100, cursor=cursor)
    assert [i["uscc"] for i in first + rest] == [u for u, _, _ in listed]


def test_the_last_page_has_no_next_cursor(services, listed):
    with services.db.transaction() as tx:
        items, cursor = queries.punishment_list(tx, "2025-06-01", limit=7)
    assert len(items) == 7 and cursor is None


FILTERS = [("hotel", None), (None, "230109"), ("bathhouse", "230102"), ("barbershop", None)]


def test_lists_filter_by_place_type_and_district(services, listed):
    for place_type, district in FILTERS:
        expected = [u for u, d, p in listed if (place_type is None or p == place_type)
                    and (district is None or d == district)]
        seen, cursor = [], None
        with services.db.transaction() as tx:
            while True:
                items, cursor = queries.punishment_list(
                    tx, "2025-06-01", place_type=place_type, district=district, limit=2,
                    cursor=cursor,
                )
                seen.extend(items)
                if cursor is None:
                    break
        assert [i["uscc"] for i in seen] == expected, (place_type, district)
        assert all(i["place_type"] == (place_type or i["place_type"]) for i in seen)
        assert all(i["district"] == (district or i["district"]) for i in seen)


def test_lists_as_of_a_date_before_the_bans_are_empty(services, listed):
    with services.db.transaction() as tx:
        assert queries.punishment_list(tx, "2025-02-28") == ([], None)


@pytest.mark.sqlite_only  # validation happens before any SQL
@pytest.mark.parametrize("cursor", ["", "!!!", "bm90LWEtdXNjYw", "MjAyNS0wMS0wMXw5MTM1"])
def test_a_malformed_cursor_is_invalid_input(services, cursor):
    with services.db.transaction() as tx, pytest.raises(InvalidInput) as e:
        queries.reward_list(tx, "2025-06-01", cursor=cursor)
    assert e.value.field == "cursor"


@pytest.mark.sqlite_only
@pytest.mark.parametrize("limit", [0, 1001, -1])
def test_a_limit_out_of_range_is_invalid_input(services, limit):
    with services.db.transaction() as tx, pytest.raises(InvalidInput) as e:
        queries.punishment_list(tx, "2025-06-01", limit=limit)
    assert e.value.field == "limit"


def test_reward_list_items_carry_the_qualifying_day(services):
    uscc = random_uscc()
    committed(services, uscc, "2024-01-05", licensed_at=at("2024-01-02"), place_type="hotel")
    for day in ("2024-02-01", "2024-05-01"):
        services.ledger.inspect(uscc, inspected_at=at(day), inspector="Li", score=95,
                                outcome="compliant")
    with services.db.transaction() as tx:
        items, cursor = queries.reward_list(tx, "2024-12-31")
        assert queries.reward_list(tx, "2024-04-30") == ([], None)
    assert items == [{"uscc": uscc, "name": "Songbei Riverside Barbershop",
                      "place_type": "hotel", "district": "230109", "since": "2024-05-01"}]
    assert cursor is None


# -- the supervision queue ------------------------------------------------------------------


def test_supervision_queue_lists_deadlines_near_or_past_oldest_first(services):
    rng = random.Random(9)
    early, late, far, rectifying = (random_uscc(rng) for _ in range(4))
    committed(services, early, "2025-01-10")  # verification due 2025-03-11
    committed(services, late, "2025-02-20")  # due 2025-04-21
    committed(services, far, "2025-03-20")  # due 2025-05-19: beyond the horizon
    committed(services, rectifying, "2025-01-10")
    services.ledger.inspect(rectifying, inspected_at=at("2025-03-01"), inspector="Li", score=60,
                            outcome="rectify", rectification_deadline="2025-04-01")
    done = random_uscc(rng)
    committed(services, done, "2025-01-10")
    services.ledger.inspect(done, inspected_at=at("2025-02-01"), inspector="Li", score=90,
                            outcome="compliant")
    with services.db.transaction() as tx:
        items, cursor = queries.supervision_queue(tx, "2025-04-10", horizon_days=14)
    assert cursor is None
    assert [(i["uscc"], i["due_kind"], i["due_on"], i["status"], i["days_overdue"])
            for i in items] == [
        (early, "verification", "2025-03-11", "committed", 30),
        (rectifying, "rectification", "2025-04-01", "overdue", 9),
        (late, "verification", "2025-04-21", "committed", 0),
    ]
    assert set(items[0]) == {"uscc", "name", "place_type", "district", "due_kind", "due_on",
                             "status", "days_overdue"}


def test_supervision_queue_pages_by_due_date_then_uscc(services):
    rng = random.Random(3)
    codes = [random_uscc(rng) for _ in range(5)]
    for i, uscc in enumerate(codes):
        committed(services, uscc, "2025-01-10" if i < 3 else "2025-01-11")
    seen, cursor = [], None
    with services.db.transaction() as tx:
        while True:
            items, cursor = queries.supervision_queue(tx, "2025-06-01", 0, limit=2, cursor=cursor)
            seen.extend((i["due_on"], i["uscc"]) for i in items)
            if cursor is None:
                break
    assert seen == sorted(seen) and len(seen) == 5


def test_a_rectification_before_its_deadline_is_rectifying_in_the_queue(services):
    uscc = random_uscc()
    committed(services, uscc)
    services.ledger.inspect(uscc, inspected_at=at("2025-03-01"), inspector="Li", score=60,
                            outcome="rectify", rectification_deadline="2025-04-01")
    with services.db.transaction() as tx:
        items, _ = queries.supervision_queue(tx, "2025-03-25", 14)
    assert [(i["status"], i["days_overdue"]) for i in items] == [("rectifying", 0)]


# -- search ---------------------------------------------------------------------------------


def test_search_finds_by_exact_uscc_or_name_substring_case_insensitively(services):
    rng = random.Random(1)
    salon, bath = random_uscc(rng), random_uscc(rng)
    services.ledger.license(**licence(salon, name="Golden Scissors Beauty Salon"))
    services.ledger.license(**licence(bath, name="North Star Bathhouse"))
    with services.db.transaction() as tx:
        assert [i["uscc"] for i in queries.search(tx, "scissors")] == [salon]
        assert [i["uscc"] for i in queries.search(tx, "NORTH star")] == [bath]
        assert [i["uscc"] for i in queries.search(tx, salon.lower())] == [salon]
        assert queries.search(tx, "") == []
        assert queries.search(tx, "%") == [] and queries.search(tx, "_") == []
        assert queries.search(tx, "Songbei") == []


def test_queries_read_only_the_live_set(services):
    uscc = random_uscc()
    banned(services, uscc)
    services.projections.rebuild("v2", swap=False)  # a ready set beside, same rows
    with services.db.transaction() as tx:
        assert [i["uscc"] for i in queries.punishment_list(tx, "2025-06-01")[0]] == [uscc]
        assert list(queries.standings(tx, [uscc], "2025-06-01")) == [uscc]
        assert len(queries.search(tx, uscc)) == 1



@pytest.mark.sqlite_only
def test_days_past_the_years_the_ledger_computes_with_are_out_of_range(services):
    """Reads take the days the API takes (`ledger.values.day`: 1900-2999)."""
    for day in ("3000-01-01", "1899-12-31", "9999-12-31"):
        with services.db.transaction() as tx, pytest.raises(InvalidInput) as e:
            queries.standing(tx, random_uscc(), day)
        assert e.value.reason == "range"
    with services.db.transaction() as tx:
        assert queries.standing(tx, random_uscc(), "2999-12-31") is None
        assert queries.standing(tx, random_uscc(), "1900-01-01") is None
