"""The stored timeline is the policy itself: for random valid histories, the segment
that holds a day equals ``evaluate(events, day)``, and folding events one batch at a
time (live, facts round-tripped through JSON) gives the same timeline as all at once
(rebuild). Unit tests: no I/O (the ledger runs on the library's in-memory store)."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from bench.rebuild import plan_history
from ledger.policy.credit import FOREVER, V1, V2, evaluate
from ledger.policy.facts import Facts
from ledger.projections.standing import Segment, advance
from ledger.services.application import Ledger
from ledger.storage.events import LoggedEvent
from tests.factories import random_uscc

NOW = datetime(2026, 6, 30, tzinfo=timezone.utc)


def memory_ledger() -> Ledger:
    return Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW)


def history(rng: random.Random, ledger: Ledger | None = None) -> list[LoggedEvent]:
    """One random valid history written through the application, as logged events."""
    ledger = ledger or memory_ledger()
    uscc = random_uscc(rng)
    first = date(2020, 10, 1) + timedelta(days=rng.randrange(1800))
    events: list[LoggedEvent] = []
    for method, kwargs in plan_history(rng, uscc, first, date(2026, 6, 29)):
        if method == "license":
            written = ledger.license(**kwargs)
        else:
            written = getattr(ledger, method)(uscc, **kwargs)
        events.extend(written.events)
    return events


def lookup(segments: list[Segment], day: str) -> dict[str, Any] | None:
    found = [s for a, b, s in segments if a <= day < b]
    assert len(found) <= 1, "segments overlap"
    if not found:
        return None
    standing = dict(found[0])
    standing.pop("version")
    standing.pop("position")
    return standing


def sample_days(events: list[LoggedEvent], segments: list[Segment], rng: random.Random) -> set[str]:
    """Every boundary, the day before each, and random days up to ten years on."""
    days: set[str] = set()
    for a, b, _ in segments:
        for d in (a, b):
            if d != FOREVER:
                day = date.fromisoformat(d)
                days.update({d, (day - timedelta(days=1)).isoformat()})
    start = date.fromisoformat(events[0].occurred_on)
    days.update((start + timedelta(days=rng.randrange(3650))).isoformat() for _ in range(30))
    return days


@pytest.mark.parametrize("policy", [V1, V2], ids=["v1", "v2"])
def test_the_segment_holding_a_day_is_the_policy_evaluated_on_that_day(policy):
    rng = random.Random(20260101)
    ledger = memory_ledger()
    for _ in range(120):
        events = history(rng, ledger)
        _, first_day, segments = advance(policy, None, events)
        assert first_day == events[0].occurred_on
        for a, b, _ in segments:
            assert a < b
        for earlier, later in zip(segments, segments[1:], strict=False):
            assert earlier[1] == later[0], "segments leave no gap"
        assert segments[-1][1] == FOREVER
        for day in sample_days(events, segments, rng):
            assert lookup(segments, day) == evaluate(events, day, policy), (events[0].uscc, day)


def test_a_day_before_the_licence_has_no_standing():
    events = history(random.Random(3))
    _, _, segments = advance(V1, None, events)
    before = (date.fromisoformat(events[0].occurred_on) - timedelta(days=1)).isoformat()
    assert lookup(segments, before) is None
    assert evaluate(events, before) is None


def apply_in_batches(events: list[LoggedEvent], rng: random.Random) -> list[Segment]:
    """What the live projection stores: per batch, cut the stored timeline at the
    batch's first day and append the new segments; facts go through JSON between."""
    stored: list[Segment] = []
    facts: Facts | None = None
    i = 0
    while i < len(events):
        size = rng.randint(1, 3)
        batch, i = events[i : i + size], i + size
        facts, first_day, segments = advance(V1, facts, batch)
        facts = Facts.from_json(json.loads(json.dumps(facts.to_json())))
        stored = [(a, b, s) for a, b, s in stored if a < first_day]
        stored = [(a, min(b, first_day), s) for a, b, s in stored]
        stored.extend(segments)
    return stored


def test_folding_events_batch_by_batch_equals_folding_them_at_once():
    rng = random.Random(7)
    ledger = memory_ledger()
    for _ in range(150):
        events = history(rng, ledger)
        _, _, at_once = advance(V1, None, events)
        assert apply_in_batches(events, rng) == at_once, events[0].uscc


def test_facts_round_trip_through_json():
    rng = random.Random(11)
    for _ in range(30):
        facts, _, _ = advance(V1, None, history(rng))
        assert Facts.from_json(json.loads(json.dumps(facts.to_json()))) == facts
