"""The Enterprise aggregate and every rule of domain.md: pure unit tests, no I/O.

A refused command must leave the aggregate as it was: no pending event and the same
version (what the application would have saved is nothing)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ledger.aggregates.enterprise import Enterprise, enterprise_id
from ledger.errors import InvalidInput, LedgerError, RuleViolation
from ledger.policy.facts import Record

NOW = datetime(2026, 1, 1, 4, 0, tzinfo=timezone.utc)  # as the tests' FixedClock
USCC = "922301094JURQ283F3"


def licensed(**overrides) -> Enterprise:
    fields = {
        "uscc": USCC,
        "name": "Songbei Riverside Barbershop",
        "place_type": "barbershop",
        "address": "18 Chuangxin Road, Songbei District, Harbin",
        "district": "230109",
        "legal_representative": "Wang Li",
        "occurred_at": "2025-01-02T09:00:00+08:00",
        "now": NOW,
    }
    fields.update(overrides)
    return Enterprise.license(**fields)


def commit(e: Enterprise, at: str = "2025-01-03T09:00:00+08:00", **kw) -> None:
    e.commit(occurred_at=at, signatory=kw.pop("signatory", "Wang Li"), now=kw.pop("now", NOW), **kw)


def inspect(e: Enterprise, at: str, outcome: str = "compliant", score: int = 95, **kw) -> None:
    e.inspect(
        occurred_at=at, inspector=kw.pop("inspector", "Inspector Zhao"), score=score,
        outcome=outcome, now=kw.pop("now", NOW), **kw,
    )


def rectify(e: Enterprise, at: str, **kw) -> None:
    e.rectify(occurred_at=at, verified_by=kw.pop("verified_by", "Inspector Zhao"),
              now=kw.pop("now", NOW), **kw)


def ban(e: Enterprise, at: str, **kw) -> None:
    e.ban(occurred_at=at, reason=kw.pop("reason", "unlicensed pool"), now=kw.pop("now", NOW), **kw)


def repair(e: Enterprise, at: str, record: str, **kw) -> None:
    e.repair(occurred_at=at, record=record, approved_by=kw.pop("approved_by", "Director Sun"),
             now=kw.pop("now", NOW))


def saved(e: Enterprise) -> Enterprise:
    """As if stored: the pending events are taken away (what a save does)."""
    e.collect_events()
    return e


def refused(e: Enterprise, error: type[LedgerError], command, *args, **kw) -> LedgerError:
    """Run a command that must be refused; the aggregate gains nothing."""
    version = e.version
    with pytest.raises(error) as caught:
        command(e, *args, **kw)
    assert e.version == version
    assert e.collect_events() == []
    return caught.value


def rule(e: Enterprise, command, *args, **kw) -> str:
    return refused(e, RuleViolation, command, *args, **kw).rule  # type: ignore[attr-defined]


def invalid(e: Enterprise, command, *args, **kw) -> tuple[str, str]:
    err = refused(e, InvalidInput, command, *args, **kw)
    return err.field, err.reason  # type: ignore[attr-defined]


def types(events) -> list[str]:
    return [type(ev).__name__ for ev in events]


def with_overdue_record() -> Enterprise:
    """Licensed, committed, ordered to rectify by 2025-02-15, rectified late on 03-01:
    record ``rectification_overdue-3`` since 2025-02-16, repairable from 2025-05-16,
    shown until 2026-02-16."""
    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-02-15")
    rectify(e, "2025-03-01T10:00:00+08:00")
    return saved(e)


# -- Licensed: first and only once ------------------------------------------------------------


def test_a_licence_records_licensed_with_its_data():
    e = licensed(uscc="91440101ma5cjq4n59")
    (ev,) = e.collect_events()
    assert type(ev).__name__ == "Licensed"
    assert ev.uscc == "91440101MA5CJQ4N59"  # stored compact, upper case
    assert ev.occurred_at == "2025-01-02T09:00:00+08:00"
    assert (ev.name, ev.place_type, ev.district) == (
        "Songbei Riverside Barbershop", "barbershop", "230109"
    )
    assert e.version == 1
    assert e.id == enterprise_id("91440101MA5CJQ4N59")


def test_the_id_is_derived_from_the_uscc():
    assert enterprise_id(USCC) == enterprise_id(USCC)
    assert enterprise_id(USCC) != enterprise_id("91350200776049653A")
    assert licensed().id == enterprise_id(USCC)


@pytest.mark.parametrize("place_type", ["hotel", "bathhouse", "beauty_salon", "barbershop"])
def test_each_place_type_of_the_four_small_is_accepted(place_type):
    assert licensed(place_type=place_type).facts.place_type == place_type


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"uscc": "92230109"}, "uscc", "length"),
        ({"uscc": "922301094JURQ283FO"}, "uscc", "format"),
        ({"uscc": "922301094JURQ283F4"}, "uscc", "checksum"),
        ({"place_type": "karaoke"}, "place_type", "unknown"),
        ({"name": "  "}, "name", "required"),
        ({"name": "x" * 201}, "name", "too_long"),
        ({"address": ""}, "address", "required"),
        ({"district": "23010"}, "district", "format"),
        ({"legal_representative": None}, "legal_representative", "required"),
        ({"occurred_at": "2025-01-02T09:00:00"}, "licensed_at", "offset"),
        ({"occurred_at": "2025-01-02"}, "licensed_at", "offset"),
        ({"occurred_at": "yesterday"}, "licensed_at", "format"),
        ({"occurred_at": "0001-01-01T00:00:00+09:00"}, "licensed_at", "range"),
        ({"occurred_at": "1899-12-31T23:59:59+08:00"}, "licensed_at", "range"),
    ],
)
def test_a_licence_with_invalid_input_names_the_field(overrides, field, reason):
    with pytest.raises(InvalidInput) as caught:
        licensed(**overrides)
    assert (caught.value.field, caught.value.reason) == (field, reason)
    assert field in str(caught.value)


def test_a_licence_more_than_five_minutes_ahead_of_the_ledger_is_refused():
    with pytest.raises(RuleViolation) as caught:
        licensed(occurred_at=NOW + timedelta(minutes=5, microseconds=1))
    assert caught.value.rule == "occurred_at_future"
    assert licensed(occurred_at=NOW + timedelta(minutes=5)).version == 1


# -- Committed: needs a licence (the aggregate exists) and no ban --------------------------------


def test_a_commitment_records_committed():
    e = saved(licensed())
    commit(e, letter_id="L-1", channel="qr", conditions=["ventilation", "disinfection"])
    (ev,) = e.collect_events()
    assert type(ev).__name__ == "Committed"
    assert (ev.letter_id, ev.channel, ev.conditions) == ("L-1", "qr", ["ventilation",
                                                                     "disinfection"])
    assert ev.signatory == "Wang Li"
    assert e.version == 2


def test_a_commitment_defaults_to_the_counter_and_a_derived_letter_id():
    e = saved(licensed())
    commit(e)
    (ev,) = e.collect_events()
    assert ev.channel == "counter"
    assert ev.letter_id == f"CL-{USCC}-V1"  # the letter for version 1, as letters print it


def test_a_renewed_commitment_is_allowed_any_time_before_a_ban():
    e = saved(licensed())
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00")
    commit(e, "2025-03-01T10:00:00+08:00")
    commit(e, "2025-03-01T10:00:00+08:00")
    assert types(e.collect_events()) == ["Committed", "Inspected", "Committed", "Committed"]


@pytest.mark.parametrize(
    ("kw", "field", "reason"),
    [
        ({"signatory": ""}, "signatory", "required"),
        ({"channel": "fax"}, "channel", "unknown"),
        ({"letter_id": 12}, "letter_id", "type"),
        ({"conditions": "ventilation"}, "conditions", "type"),
        ({"conditions": [1]}, "conditions", "type"),
        ({"at": "2025-01-03 09:00"}, "committed_at", "offset"),
        ({"at": "2025-13-03T09:00:00+08:00"}, "committed_at", "format"),
    ],
)
def test_a_commitment_with_invalid_input_names_the_field(kw, field, reason):
    e = saved(licensed())
    assert invalid(e, commit, **kw) == (field, reason)


# -- Inspected: needs a commitment; rectify needs a deadline after the inspection date ------------


def test_an_inspection_needs_a_commitment():
    e = saved(licensed())
    assert rule(e, inspect, "2025-02-01T10:00:00+08:00") == "inspection_needs_commitment"


def test_an_inspection_records_its_data():
    e = licensed()
    commit(e)
    saved(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 72, rectification_deadline="2025-02-15",
            findings="no ventilation log")
    (ev,) = e.collect_events()
    assert type(ev).__name__ == "Inspected"
    assert (ev.score, ev.outcome, ev.rectification_deadline, ev.findings) == (
        72, "rectify", "2025-02-15", "no ventilation log"
    )
    assert ev.inspector == "Inspector Zhao"


@pytest.mark.parametrize(
    ("kw", "field", "reason"),
    [
        ({"score": 101}, "score", "range"),
        ({"score": -1}, "score", "range"),
        ({"score": 90.5}, "score", "range"),
        ({"score": "90"}, "score", "range"),
        ({"score": True}, "score", "range"),
        ({"outcome": "pass"}, "outcome", "unknown"),
        ({"inspector": " "}, "inspector", "required"),
        ({"outcome": "rectify"}, "rectification_deadline", "required"),
        ({"outcome": "rectify", "rectification_deadline": "2025-02-01"},
         "rectification_deadline", "not_after_inspection"),
        ({"outcome": "rectify", "rectification_deadline": "2025-01-20"},
         "rectification_deadline", "not_after_inspection"),
        ({"outcome": "rectify", "rectification_deadline": "15/02/2025"},
         "rectification_deadline", "format"),
        ({"outcome": "compliant", "rectification_deadline": "2025-02-15"},
         "rectification_deadline", "unexpected"),
        ({"at": "2025-02-01T10:00:00"}, "inspected_at", "offset"),
        ({"outcome": "ban", "decision_no": "x" * 101}, "decision_no", "too_long"),
        ({"outcome": "rectify", "rectification_deadline": "9999-12-31"},
         "rectification_deadline", "range"),
        ({"outcome": "rectify", "rectification_deadline": "3000-01-01"},
         "rectification_deadline", "range"),
    ],
)
def test_an_inspection_with_invalid_input_names_the_field(kw, field, reason):
    e = licensed()
    commit(e)
    saved(e)
    kw = dict(kw)
    at = kw.pop("at", "2025-02-01T10:00:00+08:00")
    assert invalid(e, inspect, at, **kw) == (field, reason)


def test_the_deadline_is_compared_with_the_inspection_day_in_china_standard_time():
    e = licensed()
    commit(e)
    saved(e)
    # 2025-02-01T20:00Z is already 2025-02-02 04:00 in Harbin: a deadline that day is not after
    assert invalid(
        e, inspect, "2025-02-01T20:00:00+00:00", "rectify", 60,
        rectification_deadline="2025-02-02",
    ) == ("rectification_deadline", "not_after_inspection")
    inspect(e, "2025-02-01T20:00:00+00:00", "rectify", 60, rectification_deadline="2025-02-03")
    assert types(e.collect_events()) == ["Inspected"]


def test_a_ban_outcome_records_the_inspection_and_the_ban_together():
    e = licensed()
    commit(e)
    saved(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "ban", 20, findings="sewage", decision_no="HB-7")
    inspected, banned = e.collect_events()
    assert types([inspected, banned]) == ["Inspected", "Banned"]
    assert (inspected.originator_version, banned.originator_version) == (3, 4)
    assert banned.occurred_at == inspected.occurred_at
    assert (banned.reason, banned.decision_no) == ("sewage", "HB-7")
    assert e.banned


def test_a_ban_outcome_without_findings_still_gives_a_reason_without_the_inspector():
    e = licensed()
    commit(e)
    saved(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "ban", 20)
    _, banned = e.collect_events()
    assert banned.reason == "the inspection found the conditions not met"
    assert "Zhao" not in banned.reason  # the inspector is personal data


def test_a_refused_ban_outcome_records_neither_event():
    e = licensed()
    commit(e)
    saved(e)
    refused(e, InvalidInput, inspect, "2025-02-01T10:00:00+08:00", "ban", 20,
            decision_no="x" * 101)
    assert not e.banned


# -- Rectified: needs an open order; late allowed, and the lateness stays ------------------------


def test_a_rectification_needs_an_open_order():
    e = licensed()
    commit(e)
    saved(e)
    assert rule(e, rectify, "2025-02-01T10:00:00+08:00") == "rectification_needs_order"
    inspect(e, "2025-02-01T10:00:00+08:00")
    saved(e)
    assert rule(e, rectify, "2025-02-02T10:00:00+08:00") == "rectification_needs_order"


def test_a_rectification_closes_the_order():
    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-02-15")
    rectify(e, "2025-02-10T10:00:00+08:00", note="fans installed")
    ev = e.collect_events()[-1]
    assert (type(ev).__name__, ev.verified_by, ev.note) == ("Rectified", "Inspector Zhao",
                                                           "fans installed")
    assert e.facts.order is None and e.facts.records == []
    assert rule(e, rectify, "2025-02-11T10:00:00+08:00") == "rectification_needs_order"


def test_a_rectification_on_the_deadline_day_is_on_time():
    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-02-15")
    rectify(e, "2025-02-15T23:59:00+08:00")
    assert e.facts.records == []


def test_a_late_rectification_is_allowed_and_leaves_an_overdue_record():
    e = with_overdue_record()
    assert e.facts.order is None
    assert e.facts.records == [
        Record("rectification_overdue-3", "rectification_overdue", "2025-02-16",
               fixed_on="2025-03-01")
    ]


def test_a_new_inspection_closes_an_open_order_and_keeps_a_missed_deadline():
    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-02-15")
    inspect(e, "2025-03-01T10:00:00+08:00", "rectify", 65, rectification_deadline="2025-03-20")
    assert e.facts.order == [4, "2025-03-20"]
    (record,) = e.facts.records
    assert (record.id, record.since, record.fixed_on) == (
        "rectification_overdue-3", "2025-02-16", None
    )


# -- Banned: terminal ------------------------------------------------------------------------


def test_a_ban_records_banned():
    e = licensed()
    saved(e)
    ban(e, "2025-01-05T10:00:00+08:00", decision_no="HB-1")
    (ev,) = e.collect_events()
    assert (type(ev).__name__, ev.reason, ev.decision_no) == ("Banned", "unlicensed pool", "HB-1")


def test_a_ban_needs_a_reason():
    e = saved(licensed())
    assert invalid(e, ban, "2025-01-05T10:00:00+08:00", reason="") == ("reason", "required")


def test_a_ban_closes_an_open_order():
    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-02-15")
    ban(e, "2025-02-05T10:00:00+08:00")
    assert e.facts.order is None


@pytest.mark.parametrize(
    "command",
    [
        lambda e: commit(e, "2025-03-01T10:00:00+08:00"),
        lambda e: inspect(e, "2025-03-01T10:00:00+08:00"),
        lambda e: inspect(e, "2025-03-01T10:00:00+08:00", "ban", 10),
        lambda e: rectify(e, "2025-03-01T10:00:00+08:00"),
        lambda e: ban(e, "2025-03-01T10:00:00+08:00"),
        lambda e: repair(e, "2025-09-01T10:00:00+08:00", "rectification_overdue-3"),
        lambda e: repair(e, "2025-09-01T10:00:00+08:00", "banned-5"),
    ],
    ids=["commit", "inspect", "inspect-ban", "rectify", "ban", "repair", "repair-the-ban"],
)
def test_every_command_on_a_banned_enterprise_is_refused(command):
    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-02-15")
    ban(e, "2025-02-20T10:00:00+08:00")
    saved(e)
    assert rule(e, command) == "banned_is_terminal"


def test_a_banned_enterprise_replays_from_its_events():
    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "ban", 10)
    replayed = None
    for ev in e.collect_events():
        replayed = ev.mutate(replayed)
    assert replayed is not None and replayed.banned and replayed.version == 4


# -- CreditRepaired --------------------------------------------------------------------------


def recommitted() -> Enterprise:
    e = with_overdue_record()
    commit(e, "2025-03-02T10:00:00+08:00")
    return saved(e)


def test_a_repair_after_the_minimum_period_with_a_new_commitment_is_recorded():
    e = recommitted()
    repair(e, "2025-05-16T00:00:00+08:00", "rectification_overdue-3")
    (ev,) = e.collect_events()
    assert (type(ev).__name__, ev.record, ev.approved_by) == (
        "CreditRepaired", "rectification_overdue-3", "Director Sun"
    )
    assert e.facts.records[0].repaired_on == "2025-05-16"


def test_a_repair_before_the_minimum_publicity_period_is_refused():
    e = recommitted()
    assert rule(e, repair, "2025-05-15T23:59:00+08:00", "rectification_overdue-3") == (
        "minimum_publicity_period"
    )


def test_a_repair_needs_a_commitment_made_after_the_record_started():
    e = with_overdue_record()  # its only commitment dates from 2025-01-03
    assert rule(e, repair, "2025-06-01T10:00:00+08:00", "rectification_overdue-3") == (
        "repair_needs_new_commitment"
    )


def test_a_commitment_on_the_day_the_record_started_counts():
    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-02-15")
    commit(e, "2025-02-16T08:00:00+08:00")
    rectify(e, "2025-02-17T10:00:00+08:00")
    saved(e)
    repair(e, "2025-06-01T10:00:00+08:00", "rectification_overdue-3")
    assert types(e.collect_events()) == ["CreditRepaired"]


def test_a_repair_needs_the_problem_rectified():
    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-02-15")
    inspect(e, "2025-03-01T10:00:00+08:00", "rectify", 65, rectification_deadline="2025-09-20")
    commit(e, "2025-03-02T10:00:00+08:00")
    saved(e)
    assert rule(e, repair, "2025-06-01T10:00:00+08:00", "rectification_overdue-3") == (
        "record_not_rectified"
    )


def test_a_later_compliance_rectifies_an_earlier_problem():
    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-02-15")
    inspect(e, "2025-03-01T10:00:00+08:00", "rectify", 65, rectification_deadline="2025-03-20")
    rectify(e, "2025-03-10T10:00:00+08:00")
    commit(e, "2025-03-11T10:00:00+08:00")
    saved(e)
    repair(e, "2025-06-01T10:00:00+08:00", "rectification_overdue-3")
    assert types(e.collect_events()) == ["CreditRepaired"]


def test_an_overdue_order_still_open_cannot_be_repaired():
    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-02-15")
    commit(e, "2025-03-02T10:00:00+08:00")
    saved(e)
    assert rule(e, repair, "2025-06-01T10:00:00+08:00", "rectification_overdue-3") == (
        "record_not_rectified"
    )


def test_an_open_order_is_an_unrectified_record_from_the_day_after_its_deadline():
    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-02-15")
    saved(e)
    assert rule(e, repair, "2025-02-15T23:59:59+08:00", "rectification_overdue-3") == (
        "record_unknown"  # on the deadline day there is no record yet
    )
    assert rule(e, repair, "2025-02-16T00:00:00+08:00", "rectification_overdue-3") == (
        "record_not_rectified"
    )


def test_a_record_cannot_be_repaired_twice():
    e = recommitted()
    repair(e, "2025-05-16T10:00:00+08:00", "rectification_overdue-3")
    saved(e)
    assert rule(e, repair, "2025-05-17T10:00:00+08:00", "rectification_overdue-3") == (
        "record_already_repaired"
    )


def test_an_expired_record_cannot_be_repaired():
    e = recommitted()
    later = datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert rule(e, repair, "2026-02-16T00:00:00+08:00", "rectification_overdue-3",
                now=later) == "record_expired"
    repair(e, "2026-02-15T23:59:00+08:00", "rectification_overdue-3", now=later)
    assert types(e.collect_events()) == ["CreditRepaired"]


def test_an_unknown_record_cannot_be_repaired():
    e = recommitted()
    assert rule(e, repair, "2025-06-01T10:00:00+08:00", "rectification_overdue-2") == (
        "record_unknown"
    )


def test_a_ban_record_is_not_repairable():
    e = recommitted()  # not banned: the name alone says it is a ban record
    assert rule(e, repair, "2025-06-01T10:00:00+08:00", "banned-3") == "record_not_repairable"


@pytest.mark.parametrize(
    ("kw", "field"), [({"record": ""}, "record"), ({"approved_by": ""}, "approved_by")]
)
def test_a_repair_with_invalid_input_names_the_field(kw, field):
    e = recommitted()
    kw = dict(kw)
    record = kw.pop("record", "rectification_overdue-3")
    assert invalid(e, repair, "2025-06-01T10:00:00+08:00", record, **kw)[0] == field


def test_the_aggregate_decides_on_the_facts_the_policy_folds_from_the_stored_events():
    """One fold: the aggregate's state, live and replayed, is what the policy folds from
    the same events as stored (positions aside, which the aggregate does not know)."""
    from eventsourcing.application import Application

    from ledger.policy.facts import fold
    from ledger.storage.events import decode

    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-02-15")
    rectify(e, "2025-03-01T10:00:00+08:00")
    commit(e, "2025-03-02T10:00:00+08:00")
    inspect(e, "2025-04-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-04-15")
    inspect(e, "2025-05-01T10:00:00+08:00", "compliant", 92)
    repair(e, "2025-06-01T10:00:00+08:00", "rectification_overdue-3")
    ban(e, "2025-07-01T10:00:00+08:00", decision_no="HB-9")
    events = e.collect_events()
    replayed = None
    for ev in events:
        replayed = ev.mutate(replayed)
    mapper = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper
    logged = []
    for ev in events:
        stored = mapper.to_stored_event(ev)
        logged.append(decode(0, stored.originator_id, stored.originator_version, stored.topic,
                             stored.state))
    facts = fold(logged)
    assert facts is not None and replayed is not None
    assert [(r.id, r.repaired_on, r.fixed_on) for r in facts.records] == [
        ("rectification_overdue-3", "2025-06-01", "2025-03-01"),
        ("rectification_overdue-6", None, "2025-05-01"),
        ("banned-9", None, None),
    ]
    assert replayed.facts.to_json() == facts.to_json() == e.facts.to_json()


# -- occurred_at: never before the previous event, never > 5 minutes after recorded_at -------------


@pytest.mark.parametrize(
    "command",
    [
        lambda e, at: commit(e, at),
        lambda e, at: inspect(e, at),
        lambda e, at: ban(e, at),
    ],
    ids=["commit", "inspect", "ban"],
)
def test_an_event_before_the_previous_one_is_refused(command):
    e = licensed()
    commit(e, "2025-01-03T09:00:00+08:00")
    saved(e)
    assert rule(e, command, "2025-01-03T08:59:59+08:00") == "occurred_at_order"
    assert rule(e, command, "2025-01-03T00:59:59+00:00") == "occurred_at_order"  # same instant-1s
    command(e, "2025-01-03T01:00:00+00:00")  # the same instant as the previous event is fine
    assert e.collect_events()


def test_rectify_and_repair_before_the_previous_event_are_refused():
    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-02-15")
    saved(e)
    assert rule(e, rectify, "2025-02-01T09:00:00+08:00") == "occurred_at_order"
    e = recommitted()
    assert rule(e, repair, "2025-03-01T10:00:00+08:00", "rectification_overdue-3") == (
        "occurred_at_order"
    )


@pytest.mark.parametrize(
    "command",
    [
        lambda e, at, now: commit(e, at, now=now),
        lambda e, at, now: inspect(e, at, now=now),
        lambda e, at, now: ban(e, at, now=now),
    ],
    ids=["commit", "inspect", "ban"],
)
def test_an_event_more_than_five_minutes_ahead_of_recorded_at_is_refused(command):
    e = licensed()
    commit(e)
    saved(e)
    now = datetime(2025, 6, 1, 2, 0, tzinfo=timezone.utc)
    ahead = (now + timedelta(minutes=5, seconds=1)).astimezone(timezone(timedelta(hours=8)))
    assert rule(e, command, ahead.isoformat(), now) == "occurred_at_future"
    command(e, (now + timedelta(minutes=5)).isoformat(), now)
    assert e.collect_events()


def test_a_back_dated_event_is_accepted():
    e = licensed()
    commit(e, "2025-01-03T09:00:00+08:00", now=NOW)  # a year before the ledger's now
    assert types(e.collect_events()) == ["Licensed", "Committed"]


def test_an_old_history_still_loads_whatever_the_clock_says():
    """Rules live before the event: replaying events runs no guard."""
    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-02-15")
    events = e.collect_events()
    replayed = None
    for ev in events:
        replayed = ev.mutate(replayed)
    assert replayed is not None
    assert replayed.version == 3
    assert replayed.facts.order == [3, "2025-02-15"]


def test_events_stored_before_strict_timestamps_still_load_under_their_topics():
    """Offsets past ±14:00 and rewritten fractions were stored before v2; the stored
    events keep their classes, names, fields and topics, and load as they are."""
    import json

    from eventsourcing.application import Application
    from eventsourcing.persistence import StoredEvent

    e = licensed()
    commit(e)
    inspect(e, "2025-02-01T10:00:00+08:00", "rectify", 60, rectification_deadline="2025-02-15")
    mapper = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper
    old_forms = ["2025-01-02T09:00:00+23:59", "2025-01-03T09:00:00.500000+08:00",
                 "2025-02-01T10:00:00+14:30"]
    replayed = None
    for ev, old in zip(e.collect_events(), old_forms, strict=True):
        stored = mapper.to_stored_event(ev)
        assert stored.topic == f"ledger.aggregates.enterprise:Enterprise.{type(ev).__name__}"
        state = json.loads(stored.state)
        state["occurred_at"] = old
        stored = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                             json.dumps(state).encode())
        replayed = mapper.to_domain_event(stored).mutate(replayed)
    assert replayed is not None and replayed.version == 3
    assert replayed.facts.order == [3, "2025-02-15"]
    assert replayed.facts.licensed_on == "2025-01-01"  # 09:00 at +23:59: 17:01 CST the day before
    for name in ("Licensed", "Committed", "Inspected", "Rectified", "Banned", "CreditRepaired"):
        assert getattr(Enterprise, name).__qualname__ == f"Enterprise.{name}"


def test_the_years_1900_to_2999_are_accepted():
    e = licensed(occurred_at="1900-01-01T00:00:00+08:00")
    commit(e, "1900-01-01T00:00:00-05:00")
    inspect(e, "1900-01-02T00:00:00+08:00", "rectify", 60, rectification_deadline="2999-12-31")
    assert types(e.collect_events()) == ["Licensed", "Committed", "Inspected"]
