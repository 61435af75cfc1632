"""The application's commands on both stores: what they store, what they refuse, and
that a refusal stores nothing (log head and the enterprise's events unchanged)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ledger.aggregates.enterprise import enterprise_id
from ledger.errors import (
    ConcurrentWrite,
    EnterpriseNotFound,
    InvalidInput,
    RuleViolation,
    VersionConflict,
)
from ledger.policy.credit import evaluate
from tests.factories import in_clear, licence, random_uscc

CST = timezone(timedelta(hours=8))


def stored(services, uscc: str | None = None):
    """The log head and, for an enterprise, its events as (version, type)."""
    with services.db.transaction() as tx:
        head = services.log.head(tx)
        events = services.log.of_enterprise(tx, uscc) if uscc else []
    return head, [(e.version, e.type) for e in events]


def events_of(services, uscc: str):
    with services.db.transaction() as tx:
        return services.log.of_enterprise(tx, uscc)


def positions(services) -> list[int]:
    with services.db.transaction() as tx:
        return [e.position for e in services.log.read(tx, 0, 100_000)]


def unchanged(services, uscc, error, command, /, **kw):
    before = stored(services, uscc)
    with pytest.raises(error) as caught:
        command(**kw)
    assert stored(services, uscc) == before
    return caught.value


@pytest.fixture
def uscc(services):
    code = random_uscc()
    services.ledger.license(**licence(code))
    return code


@pytest.fixture
def committed(services, uscc):
    services.ledger.commit(uscc, committed_at="2025-01-03T09:00:00+08:00", signatory="Wang Li")
    return uscc


def inspect(services, uscc, at, outcome="compliant", score=95, **kw):
    return services.ledger.inspect(
        uscc, inspected_at=at, inspector="Inspector Zhao", score=score, outcome=outcome, **kw
    )


# -- licence ---------------------------------------------------------------------------------


def test_a_licence_is_stored_with_both_timestamps(services, clock):
    code = random_uscc()
    written = services.ledger.license(**licence(code.lower()))
    assert (written.uscc, written.version, written.position) == (code, 1, 1)
    (ev,) = written.events
    assert (ev.type, ev.uscc, ev.version, ev.position) == ("Licensed", code, 1, 1)
    assert ev.occurred_at == "2025-01-02T09:00:00+08:00"
    assert datetime.fromisoformat(ev.recorded_at) == clock.now
    assert ev.data["place_type"] == "barbershop"
    assert events_of(services, code) == written.events


def test_the_enterprise_id_is_derived_from_the_uscc(services, uscc):
    (ev,) = events_of(services, uscc)
    assert ev.enterprise_id == str(enterprise_id(uscc))
    assert services.ledger.enterprise(uscc.lower()).id == enterprise_id(uscc)


def test_recorded_at_is_the_ledgers_clock_in_utc_to_the_microsecond(services, clock):
    clock.now = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=CST)
    written = services.ledger.license(**licence(random_uscc()))
    assert written.events[0].recorded_at == "2026-01-01T04:00:00.123456+00:00"


def test_a_licence_comes_only_once(services, uscc):
    err = unchanged(services, uscc, RuleViolation, services.ledger.license,
                    **licence(uscc, name="Another name"))
    assert err.rule == "licensed_once"
    err = unchanged(services, uscc, RuleViolation, services.ledger.license,
                    **licence(uscc.lower()))
    assert err.rule == "licensed_once"


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"uscc": "92230109"}, "uscc", "length"),
        ({"uscc": "92230109O00000000X"}, "uscc", "format"),
        ({"uscc": "91350200776049653B"}, "uscc", "checksum"),
        ({"place_type": "karaoke"}, "place_type", "unknown"),
        ({"licensed_at": "2025-01-02T09:00:00"}, "licensed_at", "offset"),
        ({"licensed_at": "2025-02-30T09:00:00+08:00"}, "licensed_at", "format"),
        ({"district": "Songbei"}, "district", "format"),
    ],
)
def test_an_invalid_licence_is_refused_naming_the_field(services, overrides, field, reason):
    fields = {**licence(random_uscc()), **overrides}
    err = unchanged(services, None, InvalidInput, services.ledger.license, **fields)
    assert (err.field, err.reason) == (field, reason)
    assert stored(services) == (0, [])


def test_a_licence_from_the_future_is_refused(services, clock):
    at = (clock.now + timedelta(minutes=6)).isoformat()
    err = unchanged(services, None, RuleViolation, services.ledger.license,
                    **licence(random_uscc(), licensed_at=at))
    assert err.rule == "occurred_at_future"


# -- commitment ------------------------------------------------------------------------------


def test_a_commitment_is_stored(services, uscc):
    written = services.ledger.commit(
        uscc, committed_at="2025-01-03T09:00:00+08:00", signatory="Wang Li", channel="qr",
        letter_id="L-7", conditions=["ventilation"],
    )
    assert (written.version, written.position) == (2, 2)
    (ev,) = written.events
    assert (ev.type, ev.data["channel"], ev.data["letter_id"], ev.data["conditions"]) == (
        "Committed", "qr", "L-7", ["ventilation"]
    )


def test_a_command_on_an_unknown_enterprise_is_not_found(services, uscc):
    other = random_uscc()
    err = unchanged(services, uscc, EnterpriseNotFound, services.ledger.commit, uscc=other,
                    committed_at="2025-01-03T09:00:00+08:00", signatory="Wang Li")
    assert err.uscc == other
    for command, kw in [
        (services.ledger.inspect, {"inspected_at": "2025-02-01T09:00:00+08:00",
                                   "inspector": "Zhao", "score": 90, "outcome": "compliant"}),
        (services.ledger.rectify, {"rectified_at": "2025-02-01T09:00:00+08:00",
                                   "verified_by": "Zhao"}),
        (services.ledger.ban, {"banned_at": "2025-02-01T09:00:00+08:00", "reason": "r"}),
        (services.ledger.repair, {"repaired_at": "2025-02-01T09:00:00+08:00",
                                  "record": "rectification_overdue-3", "approved_by": "Sun"}),
    ]:
        unchanged(services, uscc, EnterpriseNotFound, command, uscc=other, **kw)


def test_a_command_with_a_bad_uscc_is_refused_naming_the_uscc(services, uscc):
    err = unchanged(services, uscc, InvalidInput, services.ledger.commit,
                    uscc=uscc[:-1] + ("0" if uscc[-1] != "0" else "1"),
                    committed_at="2025-01-03T09:00:00+08:00", signatory="Wang Li")
    assert (err.field, err.reason) == ("uscc", "checksum")


def test_a_commitment_without_an_offset_is_refused(services, uscc):
    err = unchanged(services, uscc, InvalidInput, services.ledger.commit, uscc=uscc,
                    committed_at="2025-01-03T09:00:00", signatory="Wang Li")
    assert (err.field, err.reason) == ("committed_at", "offset")


def test_a_renewed_commitment_after_an_inspection_leaves_the_status_unchanged(services, committed):
    inspect(services, committed, "2025-02-01T10:00:00+08:00")
    assert evaluate(events_of(services, committed), "2025-03-01")["status"] == "compliant"
    services.ledger.commit(committed, committed_at="2025-03-01T10:00:00+08:00", signatory="W")
    assert evaluate(events_of(services, committed), "2025-03-01")["status"] == "compliant"


def test_a_renewed_commitment_leaves_a_rectification_order_standing(services, committed):
    inspect(services, committed, "2025-02-01T10:00:00+08:00", "rectify", 60,
            rectification_deadline="2025-02-15")
    services.ledger.commit(committed, committed_at="2025-02-05T10:00:00+08:00", signatory="W")
    events = events_of(services, committed)
    assert evaluate(events, "2025-02-05")["status"] == "rectifying"
    assert evaluate(events, "2025-02-16")["status"] == "overdue"


def test_a_first_commitment_moves_licensed_to_committed(services, uscc):
    assert evaluate(events_of(services, uscc), "2025-01-03")["status"] == "licensed"
    services.ledger.commit(uscc, committed_at="2025-01-03T09:00:00+08:00", signatory="W")
    assert evaluate(events_of(services, uscc), "2025-01-03")["status"] == "committed"


# -- versions --------------------------------------------------------------------------------


def test_an_expected_version_that_differs_is_a_version_conflict(services, committed):
    err = unchanged(services, committed, VersionConflict, services.ledger.commit, uscc=committed,
                    committed_at="2025-03-01T10:00:00+08:00", signatory="W", expected_version=1)
    assert not isinstance(err, ConcurrentWrite)
    assert (err.expected, err.actual) == (1, 2)
    written = services.ledger.commit(
        committed, committed_at="2025-03-01T10:00:00+08:00", signatory="W", expected_version=2
    )
    assert written.version == 3


class Interleaving:
    """The ledger's clock, but the first call first runs another command: the outer
    command has loaded the enterprise and lost the race by the time it saves."""

    def __init__(self, clock, interloper) -> None:
        self.clock, self.interloper = clock, interloper

    def __call__(self):
        if self.interloper is not None:
            run, self.interloper = self.interloper, None
            run()
        return self.clock()


def test_a_lost_race_is_decided_again_on_the_new_version(services, committed, clock):
    ledger = services.ledger
    ledger.clock = Interleaving(clock, lambda: ledger.commit(
        committed, committed_at="2025-03-01T10:00:00+08:00", signatory="winner"))
    written = ledger.commit(committed, committed_at="2025-03-02T10:00:00+08:00",
                            signatory="second")
    assert (written.version, written.position) == (4, 4)
    events = events_of(services, committed)
    assert [(e.version, in_clear(services, e, "signatory")) for e in events[1:]] == [
        (2, "Wang Li"), (3, "winner"), (4, "second")]
    assert positions(services) == [1, 2, 3, 4]


def test_a_lost_race_with_an_expected_version_is_a_version_conflict(
    services, committed, clock
):
    ledger = services.ledger
    ledger.clock = Interleaving(clock, lambda: ledger.commit(
        committed, committed_at="2025-03-01T10:00:00+08:00", signatory="winner"))
    with pytest.raises(VersionConflict) as caught:
        ledger.commit(committed, committed_at="2025-03-02T10:00:00+08:00", signatory="loser",
                      expected_version=2)
    assert not isinstance(caught.value, ConcurrentWrite)  # 412, not 409
    assert (caught.value.expected, caught.value.actual) == (2, 3)
    assert positions(services) == [1, 2, 3]


def test_a_race_lost_past_retry_for_is_a_concurrent_write_and_stores_nothing(
    services, committed, clock
):
    ledger = services.ledger
    ledger.retry_for = 0.0
    winner = []
    ledger.clock = Interleaving(clock, lambda: winner.append(ledger.commit(
        committed, committed_at="2025-03-01T10:00:00+08:00", signatory="winner")))
    with pytest.raises(ConcurrentWrite) as caught:
        ledger.commit(committed, committed_at="2025-03-02T10:00:00+08:00", signatory="loser")
    assert "retry" in str(caught.value)
    events = events_of(services, committed)
    assert [(e.version, in_clear(services, e, "signatory")) for e in events[1:]] == [
        (2, "Wang Li"), (3, "winner")
    ]
    assert positions(services) == [1, 2, 3]  # no position burnt by the conflict
    written = ledger.commit(committed, committed_at="2025-03-02T10:00:00+08:00", signatory="W")
    assert (written.version, written.position) == (4, 4)


def test_a_refused_licence_burns_no_position(services, uscc):
    with pytest.raises(RuleViolation):
        services.ledger.license(**licence(uscc))
    written = services.ledger.license(**licence(random_uscc()))
    assert written.position == 2
    assert positions(services) == [1, 2]


# -- inspection ------------------------------------------------------------------------------


def test_an_inspection_needs_a_commitment(services, uscc):
    err = unchanged(services, uscc, RuleViolation, inspect, services=services, uscc=uscc,
                    at="2025-02-01T10:00:00+08:00")
    assert err.rule == "inspection_needs_commitment"


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"score": 101}, "score"),
        ({"outcome": "pass"}, "outcome"),
        ({"outcome": "rectify"}, "rectification_deadline"),
        ({"outcome": "rectify", "rectification_deadline": "2025-01-31"},
         "rectification_deadline"),
        ({"outcome": "rectify", "rectification_deadline": "2025-02-01"},
         "rectification_deadline"),
        ({"at": "2025-02-01T10:00:00"}, "inspected_at"),
    ],
)
def test_an_invalid_inspection_is_refused_naming_the_field(services, committed, kw, field):
    kw = dict(kw)
    at = kw.pop("at", "2025-02-01T10:00:00+08:00")
    err = unchanged(services, committed, InvalidInput, inspect, services=services,
                    uscc=committed, at=at, **kw)
    assert err.field == field


def test_a_ban_outcome_stores_inspected_and_banned_in_one_save(services, committed):
    written = inspect(services, committed, "2025-02-01T10:00:00+08:00", "ban", 12,
                      findings="sewage", decision_no="HB-9")
    assert [(e.type, e.version, e.position) for e in written.events] == [
        ("Inspected", 3, 3), ("Banned", 4, 4)
    ]
    assert (written.version, written.position) == (4, 4)
    assert written.events[0].recorded_at == written.events[1].recorded_at
    assert stored(services, committed)[1][2:] == [(3, "Inspected"), (4, "Banned")]
    assert evaluate(events_of(services, committed), "2025-02-01")["status"] == "banned"


def test_a_ban_outcome_is_all_or_nothing(services, committed, clock):
    """When the Banned event's version is taken, the Inspected event is not stored either."""
    ledger = services.ledger
    loser = ledger.enterprise(committed)
    loser.inspect(occurred_at="2025-02-01T10:00:00+08:00", inspector="Z", score=5,
                  outcome="ban", now=clock.now)
    interloper = ledger.enterprise(committed)
    interloper.commit(occurred_at="2025-02-01T10:00:00+08:00", signatory="a", now=clock.now)
    interloper.commit(occurred_at="2025-02-01T10:00:00+08:00", signatory="b", now=clock.now)
    ledger.save(interloper.collect_events()[1])  # version 4 taken, version 3 free
    head, _ = stored(services)
    with pytest.raises(ConcurrentWrite):
        ledger._save(loser, clock.now)
    assert stored(services, committed) == (head, [(1, "Licensed"), (2, "Committed"),
                                                  (4, "Committed")])


# -- rectification ---------------------------------------------------------------------------


def test_a_rectification_needs_an_open_order(services, committed):
    err = unchanged(services, committed, RuleViolation, services.ledger.rectify, uscc=committed,
                    rectified_at="2025-02-01T10:00:00+08:00", verified_by="Zhao")
    assert err.rule == "rectification_needs_order"


def test_a_late_rectification_is_stored_and_the_overdue_record_stays(services, committed):
    inspect(services, committed, "2025-02-01T10:00:00+08:00", "rectify", 60,
            rectification_deadline="2025-02-15")
    written = services.ledger.rectify(committed, rectified_at="2025-03-01T10:00:00+08:00",
                                      verified_by="Zhao", note="late")
    assert written.events[0].type == "Rectified"
    standing = evaluate(events_of(services, committed), "2025-03-01")
    assert standing["status"] == "compliant"
    assert [(r["id"], r["since"]) for r in standing["records"]] == [
        ("rectification_overdue-3", "2025-02-16")
    ]
    assert standing["credit_class"] == "C"


def test_a_timely_rectification_leaves_no_record(services, committed):
    inspect(services, committed, "2025-02-01T10:00:00+08:00", "rectify", 60,
            rectification_deadline="2025-02-15")
    services.ledger.rectify(committed, rectified_at="2025-02-15T18:00:00+08:00", verified_by="Z")
    assert evaluate(events_of(services, committed), "2025-03-01")["records"] == []


# -- ban -------------------------------------------------------------------------------------


def test_a_ban_is_terminal_and_the_history_stays_readable(services, committed):
    services.ledger.ban(committed, banned_at="2025-02-01T10:00:00+08:00", reason="fire exits",
                        decision_no="HB-1")
    at = "2025-03-01T10:00:00+08:00"
    for command, kw in [
        (services.ledger.commit, {"committed_at": at, "signatory": "W"}),
        (services.ledger.inspect, {"inspected_at": at, "inspector": "Z", "score": 99,
                                   "outcome": "compliant"}),
        (services.ledger.rectify, {"rectified_at": at, "verified_by": "Z"}),
        (services.ledger.ban, {"banned_at": at, "reason": "again"}),
        (services.ledger.repair, {"repaired_at": at, "record": "banned-3",
                                  "approved_by": "Sun"}),
    ]:
        err = unchanged(services, committed, RuleViolation, command, uscc=committed, **kw)
        assert err.rule == "banned_is_terminal"
    assert [e.type for e in events_of(services, committed)] == ["Licensed", "Committed",
                                                                "Banned"]
    assert services.ledger.enterprise(committed).banned


# -- credit repair ---------------------------------------------------------------------------


@pytest.fixture
def overdue(services, committed):
    """Record rectification_overdue-3 since 2025-02-16 (repairable from 2025-05-16)."""
    inspect(services, committed, "2025-02-01T10:00:00+08:00", "rectify", 60,
            rectification_deadline="2025-02-15")
    services.ledger.rectify(committed, rectified_at="2025-03-01T10:00:00+08:00", verified_by="Z")
    return committed


def repair(services, uscc, at, record="rectification_overdue-3"):
    return services.ledger.repair(uscc, repaired_at=at, record=record, approved_by="Sun")


def test_a_credit_repair_is_stored_and_ends_the_record(services, overdue):
    services.ledger.commit(overdue, committed_at="2025-03-02T10:00:00+08:00", signatory="W")
    written = repair(services, overdue, "2025-05-20T10:00:00+08:00")
    assert (written.events[0].type, written.events[0].data["record"]) == (
        "CreditRepaired", "rectification_overdue-3"
    )
    events = events_of(services, overdue)
    assert evaluate(events, "2025-05-19")["credit_class"] == "C"
    assert evaluate(events, "2025-05-20")["records"] == []


def test_a_credit_repair_needs_a_new_commitment(services, overdue):
    err = unchanged(services, overdue, RuleViolation, repair, services=services, uscc=overdue,
                    at="2025-05-20T10:00:00+08:00")
    assert err.rule == "repair_needs_new_commitment"


def test_a_credit_repair_needs_the_minimum_publicity_period(services, overdue):
    services.ledger.commit(overdue, committed_at="2025-03-02T10:00:00+08:00", signatory="W")
    err = unchanged(services, overdue, RuleViolation, repair, services=services, uscc=overdue,
                    at="2025-05-15T10:00:00+08:00")
    assert err.rule == "minimum_publicity_period"


def test_a_credit_repair_needs_the_problem_rectified(services, committed):
    inspect(services, committed, "2025-02-01T10:00:00+08:00", "rectify", 60,
            rectification_deadline="2025-02-15")
    inspect(services, committed, "2025-03-01T10:00:00+08:00", "rectify", 60,
            rectification_deadline="2025-09-01")
    services.ledger.commit(committed, committed_at="2025-03-02T10:00:00+08:00", signatory="W")
    err = unchanged(services, committed, RuleViolation, repair, services=services,
                    uscc=committed, at="2025-06-01T10:00:00+08:00")
    assert err.rule == "record_not_rectified"


def test_a_record_is_repaired_once(services, overdue):
    services.ledger.commit(overdue, committed_at="2025-03-02T10:00:00+08:00", signatory="W")
    repair(services, overdue, "2025-05-20T10:00:00+08:00")
    err = unchanged(services, overdue, RuleViolation, repair, services=services, uscc=overdue,
                    at="2025-05-21T10:00:00+08:00")
    assert err.rule == "record_already_repaired"


def test_an_expired_record_is_not_repaired(services, overdue, clock):
    services.ledger.commit(overdue, committed_at="2025-03-02T10:00:00+08:00", signatory="W")
    clock.now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    err = unchanged(services, overdue, RuleViolation, repair, services=services, uscc=overdue,
                    at="2026-02-16T10:00:00+08:00")
    assert err.rule == "record_expired"


def test_an_unknown_record_is_not_repaired(services, overdue):
    services.ledger.commit(overdue, committed_at="2025-03-02T10:00:00+08:00", signatory="W")
    err = unchanged(services, overdue, RuleViolation, repair, services=services, uscc=overdue,
                    at="2025-06-01T10:00:00+08:00", record="rectification_overdue-9")
    assert err.rule == "record_unknown"


# -- occurred_at against the previous event and the ledger's clock --------------------------------


def test_an_event_before_the_previous_one_is_refused(services, committed):
    err = unchanged(services, committed, RuleViolation, services.ledger.ban, uscc=committed,
                    banned_at="2025-01-03T08:59:59+08:00", reason="r")
    assert err.rule == "occurred_at_order"


def test_an_event_at_most_five_minutes_after_recorded_at_is_accepted(services, committed, clock):
    clock.now = datetime(2026, 1, 1, 4, 0, tzinfo=timezone.utc)
    too_far = (clock.now + timedelta(minutes=5, microseconds=1)).isoformat()
    err = unchanged(services, committed, RuleViolation, services.ledger.commit, uscc=committed,
                    committed_at=too_far, signatory="W")
    assert err.rule == "occurred_at_future"
    written = services.ledger.commit(
        committed, committed_at=(clock.now + timedelta(minutes=5)).isoformat(), signatory="W"
    )
    ev = written.events[0]
    assert datetime.fromisoformat(ev.occurred_at) - datetime.fromisoformat(ev.recorded_at) == (
        timedelta(minutes=5)
    )


def test_a_back_dated_event_keeps_both_timestamps(services, committed, clock):
    clock.now = datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc)
    written = inspect(services, committed, "2025-12-20T10:00:00+08:00")
    ev = written.events[0]
    assert ev.occurred_at == "2025-12-20T10:00:00+08:00"
    assert ev.recorded_at == "2026-01-10T02:00:00+00:00"


def test_each_write_is_projected_before_it_returns(services, committed):
    written = inspect(services, committed, "2025-02-01T10:00:00+08:00")
    live = services.projections.live()
    assert live is not None and live.position == written.position


@pytest.mark.parametrize(
    ("at", "deadline"),
    [("0001-01-01T00:00:00+09:00", None), ("2025-02-01T10:00:00+08:00", "9999-12-31")],
)
def test_a_date_out_of_range_is_refused_before_it_can_poison_the_projections(
    services, committed, at, deadline
):
    err = unchanged(services, committed, InvalidInput, inspect, services=services,
                    uscc=committed, at=at, outcome="rectify",
                    rectification_deadline=deadline or "2025-03-01")
    assert err.reason == "range"
    inspect(services, committed, "2025-02-01T10:00:00+08:00")  # the projections still follow
    head, _ = stored(services)
    live = services.projections.live()
    assert live is not None and live.position == head
