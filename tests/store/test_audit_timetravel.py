"""Time travel on both stores: the standing as of a date (valid time) as the ledger knew
it at a moment (known_at), from stored states, equal to replaying every event."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from itertools import takewhile

import pytest

from ledger.audit.encoding import event_leaf_hash
from ledger.audit.timetravel import micros
from ledger.errors import EnterpriseNotFound
from ledger.policy.credit import evaluate
from tests.factories import licence, random_uscc

T0 = datetime(2026, 1, 1, 4, 0, tzinfo=timezone.utc)


def replayed(services, uscc: str, day: str, known_at: datetime | None):
    """The brute-force answer: every event the ledger knew, folded by the policy."""
    with services.db.transaction() as tx:
        events = services.log.of_enterprise(tx, uscc)
    if known_at is not None:
        events = list(takewhile(lambda e: micros(e.recorded_at) <= micros(known_at), events))
    return evaluate(events, day, services.policy("v1"))


def policy_part(doc):
    if doc is None:
        return None
    drop = ("uscc", "name", "place_type", "district", "version", "position", "as_of",
            "known_at", "policy", "legal_representative",
            "reward_since", "punishment")  # the lists' fields: not in the standing document
    return {k: v for k, v in doc.items() if k not in drop}


@pytest.fixture
def backdated(services, clock):
    """Compliant since 2025-03-01 as recorded at T0; on 2026-01-10 a paper inspection of
    2025-12-20 that banned the place is entered (back-dated)."""
    uscc = random_uscc()
    services.ledger.license(**licence(uscc))
    services.ledger.commit(uscc, committed_at="2025-01-05T10:00:00+08:00", signatory="Wang Li")
    services.ledger.inspect(uscc, inspected_at="2025-03-01T10:00:00+08:00", inspector="Zhao",
                            score=95, outcome="compliant")
    clock.now = T0 + timedelta(days=9)
    services.ledger.inspect(uscc, inspected_at="2025-12-20T10:00:00+08:00", inspector="Zhao",
                            score=20, outcome="ban", findings="no disinfection log",
                            decision_no="HB-2025-77")
    return uscc


def test_known_at_answers_differ_from_as_of_answers_for_a_back_dated_event(services, backdated):
    before_entry = T0 + timedelta(days=1)
    knew_then = services.standing.known(backdated, "2026-01-05", before_entry)
    knows_now = services.standing.known(backdated, "2026-01-05", None)
    assert (knew_then["status"], knew_then["credit_class"]) == ("compliant", "B")
    assert (knows_now["status"], knows_now["credit_class"]) == ("banned", "D")
    assert knows_now["on_punishment_list"] and not knew_then["on_punishment_list"]
    # as_of moves valid time only: before the ban occurred it is compliant either way
    assert services.standing.known(backdated, "2025-12-19", None)["status"] == "compliant"
    assert (knew_then["version"], knows_now["version"]) == (3, 5)
    for doc, known_at in ((knew_then, before_entry), (knows_now, None)):
        assert policy_part(doc) == policy_part(
            replayed(services, backdated, "2026-01-05", known_at)
        )


def test_the_history_as_known_at_a_moment_leaves_out_later_entries(services, backdated):
    then = services.audit.events(backdated, T0 + timedelta(days=1))
    now = services.audit.events(backdated, None)
    assert [e["type"] for e in then] == ["Licensed", "Committed", "Inspected"]
    assert [e["type"] for e in now] == ["Licensed", "Committed", "Inspected", "Inspected",
                                        "Banned"]
    with services.db.transaction() as tx:
        logged = services.log.of_enterprise(tx, backdated)
    assert [e["leaf_hash"] for e in now] == [event_leaf_hash(e).hex() for e in logged]
    assert now[0]["personal"]["legal_representative"]["value"] == "Wang Li"


def test_before_the_licence_was_known_there_is_no_standing(services, backdated):
    assert services.standing.known(backdated, "2026-01-05", T0 - timedelta(seconds=1)) is None
    assert services.standing.known(backdated, "2024-12-31", None) is None


def test_an_unknown_enterprise_is_not_found(services):
    with pytest.raises(EnterpriseNotFound):
        services.standing.known(random_uscc(), "2026-01-05", None)
    with pytest.raises(EnterpriseNotFound):
        services.audit.events(random_uscc(), None)


def long_history(services, clock, events: int, seed: int = 5) -> tuple[str, list[datetime]]:
    """A valid history of about ``events`` events, recorded_at moving mostly forward and
    sometimes back (clocks do), occurred_at sometimes back-dated by weeks."""
    rng = random.Random(seed)
    uscc = random_uscc(rng)
    day = datetime(2025, 1, 2, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    services.ledger.license(**licence(uscc, licensed_at=day.isoformat()))
    moments = [clock.now]
    order_open = False
    while True:
        with services.db.transaction() as tx:
            if services.log.head(tx) >= events:
                break
        day += timedelta(days=rng.randint(0, 9))
        clock.now += timedelta(minutes=rng.choice([-30, 5, 60, 600]))
        moments.append(clock.now)
        at = day.isoformat()
        if order_open and rng.random() < 0.5:
            services.ledger.rectify(uscc, rectified_at=at, verified_by="Sun")
            order_open = False
        elif rng.random() < 0.4:
            services.ledger.commit(uscc, committed_at=at, signatory="Wang Li")
        elif rng.random() < 0.7 or order_open:
            services.ledger.commit(uscc, committed_at=at, signatory="Wang Li")
            services.ledger.inspect(uscc, inspected_at=at, inspector="Zhao",
                                    score=rng.randint(60, 100), outcome="compliant")
            order_open = False
        else:
            services.ledger.commit(uscc, committed_at=at, signatory="Wang Li")
            deadline = (day.date() + timedelta(days=rng.randint(1, 30))).isoformat()
            services.ledger.inspect(uscc, inspected_at=at, inspector="Zhao", score=65,
                                    outcome="rectify", rectification_deadline=deadline)
            order_open = True
    return uscc, moments


def test_time_travel_from_stored_states_equals_replaying_every_event(services, clock):
    services.audit.states.every = 4
    uscc, moments = long_history(services, clock, events=60)
    with services.db.transaction() as tx:
        states = tx.value("SELECT COUNT(*) FROM audit_states WHERE uscc = ?", (uscc,))
        last = services.log.of_enterprise(tx, uscc)[-1]
    assert states == last.version // 4
    first = date(2025, 1, 1)
    end = date.fromisoformat(last.occurred_on) + timedelta(days=400)
    rng = random.Random(11)
    days = sorted({first + timedelta(days=rng.randint(0, (end - first).days)) for _ in range(12)})
    knowns = [None, *rng.sample(moments, 10), *(m - timedelta(microseconds=1)
                                               for m in rng.sample(moments, 4))]
    for day in days:
        for known_at in knowns:
            got = services.standing.known(uscc, day.isoformat(), known_at)
            want = replayed(services, uscc, day.isoformat(), known_at)
            assert policy_part(got) == policy_part(want), (day, known_at)


def test_a_query_on_a_long_history_reads_only_the_events_after_a_state(
    services, clock, monkeypatch
):
    services.audit.states.every = 16
    uscc, _ = long_history(services, clock, events=120)
    read: list[int] = []
    real = services.log.of_enterprise

    def counting(tx, uscc, after=0, upto=None):
        found = real(tx, uscc, after, upto)
        read.append(len(found))
        return found

    monkeypatch.setattr(services.log, "of_enterprise", counting)
    doc = services.standing.known(uscc, "2030-01-01", None)
    assert doc is not None and read and sum(read) < 16
    read.clear()
    services.standing.known(uscc, "2025-03-01", clock.now)
    assert sum(read) <= 2 * 16


def test_states_are_written_every_n_events_of_an_enterprise(services, clock):
    services.audit.states.every = 3
    uscc = random_uscc()
    services.ledger.license(**licence(uscc))
    for i in range(7):
        services.ledger.commit(uscc, committed_at=f"2025-01-{10 + i}T10:00:00+08:00",
                               signatory="Wang Li")
    with services.db.transaction() as tx:
        rows = tx.all("SELECT version, position FROM audit_states WHERE uscc = ? "
                      "ORDER BY version", (uscc,))
    assert [tuple(r) for r in rows] == [(3, 3), (6, 6)]
