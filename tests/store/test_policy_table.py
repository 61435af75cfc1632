"""Every row of domain.md's credit policy v1 on fixed dates, on both stores: each
scenario is written through the application (the projections follow synchronously),
and each row checks the read model (`queries.standing`) and the pure policy
(`evaluate` over the enterprise's events) against the expected standing.

One store per backend for the module: the scenarios are written once, the rows only
read. Dates: the policy evaluates at the end of the CST day ``as_of``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ledger.bootstrap import Services, bootstrap
from ledger.policy.credit import V1, V2, evaluate
from ledger.projections import queries
from ledger.services.application import Ledger
from ledger.settings import Settings
from tests.conftest import POSTGRES_URL, STORES, FixedClock, need_postgres
from tests.factories import licence, random_uscc

CLOCK = datetime(2031, 1, 1, tzinfo=timezone.utc)


def at(day: str, clock: str = "10:00:00+08:00") -> str:
    return f"{day}T{clock}"


# -- scenarios: commands on fixed dates ----------------------------------------------------

Scenario = Callable[[Ledger, str], None]


def licensed(ledger: Ledger, u: str, day: str = "2025-01-02") -> None:
    ledger.license(**licence(u, licensed_at=at(day)))


def committed(ledger: Ledger, u: str, lic: str = "2025-01-02", day: str = "2025-01-10") -> None:
    licensed(ledger, u, lic)
    ledger.commit(u, committed_at=at(day), signatory="Wang Li")


def inspect(ledger: Ledger, u: str, day: str, score: int, outcome: str = "compliant",
            **kw: Any) -> None:
    ledger.inspect(u, inspected_at=at(day), inspector="Li", score=score, outcome=outcome, **kw)


def s_compliant(ledger: Ledger, u: str) -> None:
    committed(ledger, u)
    inspect(ledger, u, "2025-02-01", 85)


def s_rectify_missed(ledger: Ledger, u: str) -> None:
    committed(ledger, u)
    inspect(ledger, u, "2025-02-01", 65, "rectify", rectification_deadline="2025-02-15")


def s_rectified_on_time(ledger: Ledger, u: str) -> None:
    s_rectify_missed(ledger, u)
    ledger.rectify(u, rectified_at=at("2025-02-15", "18:00:00+08:00"), verified_by="Zhao")


def s_rectified_late(ledger: Ledger, u: str) -> None:
    s_rectify_missed(ledger, u)
    ledger.rectify(u, rectified_at=at("2025-02-20"), verified_by="Zhao")


def s_rectified_late_in_cst(ledger: Ledger, u: str) -> None:
    # 17:30 UTC on the deadline is 01:30 the next day in China Standard Time: late
    s_rectify_missed(ledger, u)
    ledger.rectify(u, rectified_at="2025-02-15T17:30:00+00:00", verified_by="Zhao")


def s_rectified_in_time_in_cst(ledger: Ledger, u: str) -> None:
    # 15:30 UTC on the deadline is 23:30 the same day in CST: in time
    s_rectify_missed(ledger, u)
    ledger.rectify(u, rectified_at="2025-02-15T15:30:00+00:00", verified_by="Zhao")


def s_repaired(ledger: Ledger, u: str) -> None:
    s_rectified_late(ledger, u)  # record rectification_overdue-3 since 2025-02-16
    ledger.commit(u, committed_at=at("2025-05-10"), signatory="Wang Li")
    ledger.repair(u, repaired_at=at("2025-05-16"), record="rectification_overdue-3",
                  approved_by="Sun")


def s_leap_day_record(ledger: Ledger, u: str) -> None:
    committed(ledger, u, "2024-01-02", "2024-01-10")
    inspect(ledger, u, "2024-02-01", 65, "rectify", rectification_deadline="2024-02-28")


def s_banned_by_inspection(ledger: Ledger, u: str) -> None:
    committed(ledger, u)
    inspect(ledger, u, "2025-02-01", 20, "ban", findings="no ventilation", decision_no="HB-1")


def s_banned_by_decision(ledger: Ledger, u: str) -> None:
    committed(ledger, u)
    ledger.ban(u, banned_at=at("2025-03-01"), reason="false commitment", decision_no="HB-9")


def s_banned_after_missed_deadline(ledger: Ledger, u: str) -> None:
    s_rectify_missed(ledger, u)
    ledger.ban(u, banned_at=at("2025-03-01"), reason="never rectified", decision_no="HB-7")


def s_reward(ledger: Ledger, u: str) -> None:
    committed(ledger, u, "2024-01-02", "2024-01-05")
    inspect(ledger, u, "2024-02-01", 92)
    inspect(ledger, u, "2024-05-01", 95)  # 90 days after 2024-02-01 (a leap year)
    inspect(ledger, u, "2024-09-01", 91)


def s_reward_gap_89(ledger: Ledger, u: str) -> None:
    committed(ledger, u, "2024-01-02", "2024-01-05")
    inspect(ledger, u, "2024-02-01", 95)
    inspect(ledger, u, "2024-04-30", 95)


def s_reward_score_89(ledger: Ledger, u: str) -> None:
    committed(ledger, u, "2024-01-02", "2024-01-05")
    inspect(ledger, u, "2024-02-01", 95)
    inspect(ledger, u, "2024-05-01", 89)


def s_reward_after_clean_years(ledger: Ledger, u: str) -> None:
    committed(ledger, u, "2024-01-02", "2024-01-05")
    inspect(ledger, u, "2024-02-01", 65, "rectify", rectification_deadline="2024-02-15")
    ledger.rectify(u, rectified_at=at("2024-02-20"), verified_by="Zhao")  # record 2024-02-16
    inspect(ledger, u, "2024-06-01", 95)
    inspect(ledger, u, "2024-10-01", 95)


def s_reward_lost(ledger: Ledger, u: str) -> None:
    s_reward(ledger, u)
    inspect(ledger, u, "2024-10-01", 96)  # only 30 days after the previous one


def s_grades(ledger: Ledger, u: str) -> None:
    committed(ledger, u, "2024-01-02", "2024-01-05")
    for day, score in [("2024-02-01", 50), ("2024-03-01", 95), ("2024-05-01", 90),
                       ("2024-08-01", 89), ("2024-11-01", 70), ("2025-02-01", 69),
                       ("2025-05-01", 60), ("2025-08-01", 59)]:
        inspect(ledger, u, day, score)


SCENARIOS: dict[str, Scenario] = {
    "licensed": licensed,
    "committed": committed,
    "compliant": s_compliant,
    "rectify_missed": s_rectify_missed,
    "rectified_on_time": s_rectified_on_time,
    "rectified_late": s_rectified_late,
    "rectified_late_in_cst": s_rectified_late_in_cst,
    "rectified_in_time_in_cst": s_rectified_in_time_in_cst,
    "repaired": s_repaired,
    "leap_day_record": s_leap_day_record,
    "banned_by_inspection": s_banned_by_inspection,
    "banned_by_decision": s_banned_by_decision,
    "banned_after_missed_deadline": s_banned_after_missed_deadline,
    "reward": s_reward,
    "reward_gap_89": s_reward_gap_89,
    "reward_score_89": s_reward_score_89,
    "reward_after_clean_years": s_reward_after_clean_years,
    "reward_lost": s_reward_lost,
    "grades": s_grades,
}


def uscc_of(name: str) -> str:
    return random_uscc(random.Random(name))


def overdue(rid: str, since: str, until: str, repairable_from: str) -> dict[str, Any]:
    return {"id": rid, "kind": "rectification_overdue", "severity": "general", "since": since,
            "until": until, "repairable": True, "repairable_from": repairable_from}


def banned(rid: str, since: str, until: str) -> dict[str, Any]:
    return {"id": rid, "kind": "banned", "severity": "serious", "since": since, "until": until,
            "repairable": False, "repairable_from": None}


B = {"credit_class": "B", "on_reward_list": False, "on_punishment_list": False, "records": []}
OVERDUE_3 = overdue("rectification_overdue-3", "2025-02-16", "2026-02-16", "2025-05-16")

# (scenario, as_of, expected fields; None: no standing)
ROWS: list[tuple[str, str, dict[str, Any] | None]] = [
    # status
    ("licensed", "2025-01-01", None),  # before the licence: not in the ledger yet
    ("licensed", "2025-01-02", {**B, "status": "licensed", "hygiene_grade": None,
                                "verification_due": None, "rectification_deadline": None,
                                "version": 1}),
    ("committed", "2025-01-09", {**B, "status": "licensed", "verification_due": None,
                                 "version": 1}),
    # verification due 60 days after the commitment, shown until the first inspection
    ("committed", "2025-01-10", {**B, "status": "committed", "verification_due": "2025-03-11",
                                 "version": 2}),
    ("committed", "2025-06-01", {**B, "status": "committed", "verification_due": "2025-03-11"}),
    ("compliant", "2025-02-01", {**B, "status": "compliant", "verification_due": None,
                                 "hygiene_grade": None}),
    # rectification: deadline day still rectifying, the day after overdue with a record
    ("rectify_missed", "2025-02-01", {**B, "status": "rectifying",
                                      "rectification_deadline": "2025-02-15"}),
    ("rectify_missed", "2025-02-15", {**B, "status": "rectifying",
                                      "rectification_deadline": "2025-02-15"}),
    ("rectify_missed", "2025-02-16", {"status": "overdue", "credit_class": "C",
                                      "rectification_deadline": "2025-02-15",
                                      "records": [OVERDUE_3], "on_punishment_list": False}),
    # a general record is shown at most one year, then expires with no new event
    ("rectify_missed", "2026-02-15", {"status": "overdue", "credit_class": "C",
                                      "records": [OVERDUE_3]}),
    ("rectify_missed", "2026-02-16", {**B, "status": "overdue"}),
    ("rectified_on_time", "2025-02-15", {**B, "status": "compliant",
                                         "rectification_deadline": None}),
    ("rectified_on_time", "2025-12-31", {**B, "status": "compliant"}),
    ("rectified_late", "2025-02-19", {"status": "overdue", "credit_class": "C",
                                      "records": [OVERDUE_3]}),
    # late rectification: compliant again, the record stays for its display period
    ("rectified_late", "2025-02-20", {"status": "compliant", "credit_class": "C",
                                      "records": [OVERDUE_3], "rectification_deadline": None}),
    ("rectified_late", "2026-02-15", {"status": "compliant", "credit_class": "C"}),
    ("rectified_late", "2026-02-16", {**B, "status": "compliant"}),
    ("rectified_late_in_cst", "2025-02-16", {"status": "compliant", "credit_class": "C",
                                             "records": [OVERDUE_3]}),
    ("rectified_in_time_in_cst", "2025-02-15", {**B, "status": "compliant"}),
    ("rectified_in_time_in_cst", "2025-02-16", {**B, "status": "compliant"}),
    # repair after the minimum period ends the record's display on the repair day
    ("repaired", "2025-05-15", {"status": "compliant", "credit_class": "C",
                                "records": [OVERDUE_3]}),
    ("repaired", "2025-05-16", {**B, "status": "compliant", "version": 6}),
    ("repaired", "2025-01-31", {**B, "status": "committed", "version": 2}),
    # calendar months: a record from 2024-02-29 is shown until 2025-02-28
    ("leap_day_record", "2024-02-29", {
        "status": "overdue", "credit_class": "C",
        "records": [overdue("rectification_overdue-3", "2024-02-29", "2025-02-28",
                            "2024-05-29")]}),
    ("leap_day_record", "2025-02-27", {"status": "overdue", "credit_class": "C"}),
    ("leap_day_record", "2025-02-28", {**B, "status": "overdue"}),
    # bans: a serious record for three years, on the punishment list, class D
    ("banned_by_inspection", "2025-01-31", {**B, "status": "committed"}),
    ("banned_by_inspection", "2025-02-01", {
        "status": "banned", "credit_class": "D", "on_punishment_list": True,
        "on_reward_list": False, "hygiene_grade": None, "verification_due": None,
        "records": [banned("banned-4", "2025-02-01", "2028-02-01")], "version": 4}),
    ("banned_by_inspection", "2028-01-31", {"status": "banned", "credit_class": "D",
                                            "on_punishment_list": True}),
    ("banned_by_inspection", "2028-02-01", {**B, "status": "banned"}),
    ("banned_by_decision", "2025-03-01", {
        "status": "banned", "credit_class": "D", "on_punishment_list": True,
        "records": [banned("banned-3", "2025-03-01", "2028-03-01")]}),
    ("banned_after_missed_deadline", "2025-03-01", {
        "status": "banned", "credit_class": "D", "on_punishment_list": True,
        "rectification_deadline": None,
        "records": [OVERDUE_3, banned("banned-4", "2025-03-01", "2028-03-01")]}),
    ("banned_after_missed_deadline", "2026-02-16", {
        "status": "banned", "credit_class": "D",
        "records": [banned("banned-4", "2025-03-01", "2028-03-01")]}),
    # reward list: compliant, two compliant inspections >= 90 and >= 90 days apart, clean
    ("reward", "2024-04-30", {**B, "status": "compliant", "hygiene_grade": None}),
    ("reward", "2024-05-01", {"status": "compliant", "credit_class": "A", "on_reward_list": True,
                              "hygiene_grade": "A", "records": []}),
    ("reward", "2024-09-01", {"credit_class": "A", "on_reward_list": True, "version": 5}),
    ("reward_gap_89", "2024-04-30", {**B, "status": "compliant", "hygiene_grade": None}),
    ("reward_score_89", "2024-05-01", {**B, "status": "compliant", "hygiene_grade": "B"}),
    ("reward_after_clean_years", "2024-10-01", {"status": "compliant", "credit_class": "C",
                                                "on_reward_list": False}),
    ("reward_after_clean_years", "2025-02-16", {**B, "status": "compliant"}),
    ("reward_after_clean_years", "2027-02-15", {**B, "status": "compliant"}),
    ("reward_after_clean_years", "2027-02-16", {"credit_class": "A", "on_reward_list": True}),
    ("reward_lost", "2024-10-01", {**B, "status": "compliant", "hygiene_grade": "A"}),
    # hygiene grade: from the latest score once two inspections lie >= 90 days apart
    ("grades", "2024-03-01", {"hygiene_grade": None}),
    ("grades", "2024-04-30", {"hygiene_grade": None}),
    ("grades", "2024-05-01", {"hygiene_grade": "A"}),
    ("grades", "2024-08-01", {"hygiene_grade": "B"}),
    ("grades", "2024-11-01", {"hygiene_grade": "B"}),
    ("grades", "2025-02-01", {"hygiene_grade": "C"}),
    ("grades", "2025-05-01", {"hygiene_grade": "C"}),
    ("grades", "2025-08-01", {"hygiene_grade": None}),
]

# (scenario, as_of, reward since) for the lists
REWARD_SINCE = [
    ("reward", "2024-05-01", "2024-05-01"),
    ("reward", "2024-09-01", "2024-05-01"),  # an unbroken membership keeps its start
    ("reward_after_clean_years", "2027-02-16", "2027-02-16"),
]


@pytest.fixture(scope="module", params=STORES)
def table(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Services]:
    """A store per backend with every scenario written once."""
    schema = None
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("policy") / "ledger.db"
        settings = Settings(database_url=f"sqlite:///{path}")
    else:
        need_postgres()
        schema = f"t_{uuid.uuid4().hex[:12]}"
        settings = Settings(database_url=POSTGRES_URL, database_schema=schema, pool_size=2)
    services = bootstrap(settings, clock=FixedClock(CLOCK))
    try:
        for name, scenario in SCENARIOS.items():
            scenario(services.ledger, uscc_of(name))
        yield services
    finally:
        services.close()
        if schema:
            import psycopg

            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def subset(standing: dict[str, Any] | None, expected: dict[str, Any] | None) -> Any:
    if standing is None or expected is None:
        return standing
    return {k: standing[k] for k in expected}


@pytest.mark.parametrize(("scenario", "as_of", "expected"), ROWS,
                         ids=[f"{s}@{d}" for s, d, _ in ROWS])
def test_policy_row(table: Services, scenario: str, as_of: str, expected: Any) -> None:
    uscc = uscc_of(scenario)
    with table.db.transaction() as tx:
        stored = queries.standing(tx, uscc, as_of)
        events = table.log.of_enterprise(tx, uscc)
    assert subset(stored, expected) == expected
    policy_fields = {k: v for k, v in (expected or {}).items() if k not in ("version", "position")}
    pure = evaluate(events, as_of, V1)
    assert subset(pure, policy_fields) == (policy_fields if expected is not None else None)
    if stored is not None:
        assert stored["as_of"] == as_of and stored["uscc"] == uscc


@pytest.mark.parametrize(("scenario", "as_of", "since"), REWARD_SINCE)
def test_reward_list_names_the_day_the_enterprise_qualified(
    table: Services, scenario: str, as_of: str, since: str
) -> None:
    with table.db.transaction() as tx:
        items, _ = queries.reward_list(tx, as_of, limit=1000)
    found = {i["uscc"]: i for i in items}
    assert found[uscc_of(scenario)]["since"] == since


def test_the_lists_as_of_a_date_hold_exactly_the_policy_members(table: Services) -> None:
    with table.db.transaction() as tx:
        for as_of in ("2024-05-01", "2025-02-16", "2025-03-01", "2027-02-16", "2028-02-01"):
            reward = {i["uscc"] for i in queries.reward_list(tx, as_of, limit=1000)[0]}
            punish = {i["uscc"] for i in queries.punishment_list(tx, as_of, limit=1000)[0]}
            expected_reward, expected_punish = set(), set()
            for name in SCENARIOS:
                st = evaluate(table.log.of_enterprise(tx, uscc_of(name)), as_of)
                if st and st["on_reward_list"]:
                    expected_reward.add(uscc_of(name))
                if st and st["on_punishment_list"]:
                    expected_punish.add(uscc_of(name))
            assert (reward, punish) == (expected_reward, expected_punish), as_of


def test_punishment_list_items_carry_the_record_and_the_decision(table: Services) -> None:
    with table.db.transaction() as tx:
        items, cursor = queries.punishment_list(tx, "2025-03-01", limit=1000)
    found = {i["uscc"]: i for i in items}
    assert cursor is None
    assert found[uscc_of("banned_by_inspection")] == {
        "uscc": uscc_of("banned_by_inspection"), "name": "Songbei Riverside Barbershop",
        "place_type": "barbershop", "district": "230109", "kind": "banned",
        "since": "2025-02-01", "until": "2028-02-01", "reason": "no ventilation",
        "decision_no": "HB-1",
    }
    assert found[uscc_of("banned_by_decision")]["reason"] == "false commitment"
    assert found[uscc_of("banned_by_decision")]["decision_no"] == "HB-9"


def test_time_passing_changes_the_answer_with_no_new_event(table: Services) -> None:
    uscc = uscc_of("rectify_missed")
    with table.db.transaction() as tx:
        position = table.log.head(tx)
        answers = [queries.standing(tx, uscc, d)["credit_class"]
                   for d in ("2025-02-15", "2025-02-16", "2026-02-16")]
        assert table.log.head(tx) == position
    assert answers == ["B", "C", "B"]


# -- policy v2 (pure: the rebuild tests show the same function feeds a v2 set) -----------

V2_ROWS = [
    ("reward", "2024-09-01", False),  # 91 < 95
    ("reward_after_clean_years", "2027-02-16", False),  # 122 days < 180
]


@pytest.mark.parametrize(("scenario", "as_of", "on_reward"), V2_ROWS)
def test_policy_v2_asks_more_of_the_reward_list(
    table: Services, scenario: str, as_of: str, on_reward: bool
) -> None:
    with table.db.transaction() as tx:
        events = table.log.of_enterprise(tx, uscc_of(scenario))
    assert evaluate(events, as_of, V1)["on_reward_list"] is True
    assert evaluate(events, as_of, V2)["on_reward_list"] is on_reward
