"""The standing projection: per enterprise, its folded facts and its timeline of
standings (date ranges in which each status, class, record and list membership holds).

The timeline is cut at every day on which an event occurred and at each day the
policy says the standing may change by itself, so "as of D" is one indexed range
lookup and time passing needs no new event. A new event (never dated before the
previous one) only replaces the timeline from its own day on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from orjson import dumps as _orjson_dumps

from ledger.policy.credit import FOREVER, Policy
from ledger.policy.facts import Event, Facts, apply
from ledger.projections.stats import StatsDelta, old_tails
from ledger.storage.db import Tx
from ledger.storage.events import LoggedEvent
from ledger.values import day_of

Segment = tuple[str, str, dict[str, Any]]


def advance(
    policy: Policy, facts: Facts | None, events: Sequence[Event]
) -> tuple[Facts, str, list[Segment]]:
    """Fold ``events`` into ``facts``; return the facts, the first day touched and the
    timeline from that day on. Pure, and the same whether events come one by one
    (live) or all at once (rebuild): after each day's last event the standing is
    computed up to the next event's day, and from the last one on for good."""
    days = [day_of(e.occurred_at) for e in events]
    segments: list[Segment] = []
    last = len(events) - 1
    for i, event in enumerate(events):
        facts = apply(facts, event, days[i])
        if i < last and days[i + 1] == days[i]:
            continue  # the timeline is cut per day, after the day's last event
        # each segment also names the last event it reflects (the standing "as of" a
        # day reflects the events that occurred on or before it)
        marks = {"version": facts.version, "position": facts.position}
        segments.extend(policy.timeline(facts, days[i + 1] if i < last else FOREVER, marks))
    if facts is None:
        raise ValueError("advance needs at least one event")
    return facts, days[0], segments


def count(
    stats: StatsDelta, facts: Facts, segments: list[Segment], events: Sequence[Event]
) -> None:
    """Add an enterprise's new timeline and events to the statistics."""
    stats.timeline(facts.district, facts.place_type, segments)
    stats.events_of(facts.district, facts.place_type, events)


def group_by_enterprise(events: Iterable[LoggedEvent]) -> dict[str, list[LoggedEvent]]:
    groups: dict[str, list[LoggedEvent]] = {}
    for event in events:
        groups.setdefault(event.uscc, []).append(event)
    return groups


def dumps(doc: Any) -> str:
    """Compact JSON, UTF-8 text as is: the same text as ``json.dumps(doc,
    separators=(",", ":"), ensure_ascii=False)`` gives, several times faster."""
    return _orjson_dumps(doc).decode()


FACT_COLUMNS = (
    "set_id", "uscc", "name", "place_type", "district", "version", "position", "due_kind",
    "due_on", "facts",
)
SEGMENT_COLUMNS = (
    "set_id", "uscc", "valid_from", "valid_until", "on_reward", "on_punishment", "standing",
)
Row = tuple[Any, ...]


class StandingProjection:
    """Writes one projection set's rows; the caller owns the transaction and tracking."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def load_facts(self, tx: Tx, set_id: str, usccs: list[str]) -> dict[str, Facts]:
        found: dict[str, Facts] = {}
        for i in range(0, len(usccs), 500):
            chunk = usccs[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for uscc, doc in tx.all(
                f"SELECT uscc, facts FROM enterprise_facts WHERE set_id = ? AND uscc IN ({marks})",
                (set_id, *chunk),
            ):
                found[uscc] = Facts.from_json(orjson.loads(doc))
        return found

    def apply(self, tx: Tx, set_id: str, events: list[LoggedEvent]) -> None:
        """Fold new events (in log order) into the set: each enterprise's timeline is
        replaced from its first new day on, its facts upserted."""
        groups = group_by_enterprise(events)
        # an enterprise whose first new event is its licence has no facts yet
        known = self.load_facts(tx, set_id, [u for u, g in groups.items() if g[0].version > 1])
        cuts: list[tuple[str, str, str]] = []
        fact_rows: list[Row] = []
        segment_rows: list[Row] = []
        # the statistics follow the timelines: the old tails replaced are taken back
        stats = StatsDelta()
        firsts = {u: day_of(groups[u][0].occurred_at) for u in known}
        tails: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        for uscc, start, until, doc in old_tails(tx, set_id, firsts):
            tails.setdefault(uscc, []).append((max(start, firsts[uscc]), until, orjson.loads(doc)))
        for uscc, tail in tails.items():
            tail.sort()
            stats.timeline(known[uscc].district, known[uscc].place_type, tail, -1)
        for uscc, group in groups.items():
            facts, first_day, segments = advance(self.policy, known.get(uscc), group)
            if uscc in known:
                cuts.append((set_id, uscc, first_day))
            fact_rows.append(self.facts_row(set_id, facts))
            segment_rows.extend(self.segment_rows(set_id, facts.uscc, segments))
            count(stats, facts, segments, group)
        tx.many(
            "DELETE FROM standing_segments WHERE set_id = ? AND uscc = ? AND valid_from >= ?",
            cuts,
        )
        tx.many(
            "UPDATE standing_segments SET valid_until = ? "
            "WHERE set_id = ? AND uscc = ? AND valid_until > ?",
            [(day, s, u, day) for s, u, day in cuts],
        )
        tx.many(
            f"INSERT INTO enterprise_facts ({', '.join(FACT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(FACT_COLUMNS))}) "
            "ON CONFLICT (set_id, uscc) DO UPDATE SET version = excluded.version, "
            "position = excluded.position, due_kind = excluded.due_kind, "
            "due_on = excluded.due_on, facts = excluded.facts",
            fact_rows,
        )
        tx.bulk_insert("standing_segments", SEGMENT_COLUMNS, segment_rows)
        stats.write(tx, set_id)

    @staticmethod
    def write_new(tx: Tx, fact_rows: list[Row], segment_rows: list[Row]) -> None:
        """Insert the rows of enterprises new to the set (a rebuild), in key order."""
        fact_rows.sort()
        segment_rows.sort()
        tx.bulk_insert("enterprise_facts", FACT_COLUMNS, fact_rows)
        tx.bulk_insert("standing_segments", SEGMENT_COLUMNS, segment_rows)

    @staticmethod
    def segment_rows(set_id: str, uscc: str, segments: list[Segment]) -> list[Row]:
        encode = _orjson_dumps
        return [
            (set_id, uscc, a, b, int(s["on_reward_list"]), int(s["on_punishment_list"]),
             encode(s).decode())
            for a, b, s in segments
        ]

    def facts_row(self, set_id: str, facts: Facts) -> Row:
        due_kind, due_on = None, None
        if facts.order is not None:
            due_kind, due_on = "rectification", facts.order[1]
        elif (verification := self.policy.verification_due(facts)) is not None:
            due_kind, due_on = "verification", verification
        return (
            set_id, facts.uscc, facts.name, facts.place_type, facts.district, facts.version,
            facts.position, due_kind, due_on, dumps(facts.to_json()),
        )
