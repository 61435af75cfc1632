"""What an enterprise's events establish, folded once, in order: the input of every
credit policy and the state the Enterprise aggregate decides on (its guards read these
facts, its events apply them), so each rule of the domain is written here once.
Pure: no I/O, no clock; serialisable so projections can keep it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Protocol

from ledger.policy.records import BANNED, RECTIFICATION_OVERDUE, overdue_since, record_id
from ledger.values import day_of


class Event(Protocol):
    """What the fold reads of an event: a `LoggedEvent`, or a lighter record with the
    same fields that a rebuild decodes straight from the stored rows."""

    @property
    def position(self) -> int: ...
    @property
    def uscc(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def occurred_at(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...


@dataclass
class Record:
    id: str
    kind: str
    since: str  # ISO dates, so facts round-trip through JSON unchanged
    reason: str = ""
    decision_no: str = ""
    repaired_on: str | None = None
    fixed_on: str | None = None  # the problem behind it was rectified (a repair needs it)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "since": self.since, "reason": self.reason,
            "decision_no": self.decision_no, "repaired_on": self.repaired_on,
            "fixed_on": self.fixed_on,
        }


@dataclass
class Facts:
    uscc: str
    name: str
    place_type: str
    district: str
    address: str
    legal_representative: str
    licensed_on: str
    version: int = 0
    position: int = 0
    last_on: str = ""  # CST day of the latest event
    base: str = "licensed"  # licensed | committed | compliant | rectify | banned
    first_committed_on: str | None = None
    last_committed_on: str | None = None
    first_inspection_on: str | None = None
    inspections: list[list[Any]] = field(default_factory=list)  # every one: [day, score, outcome]
    order: list[Any] | None = None  # open rectification order: [version, deadline]
    records: list[Record] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        # by hand rather than dataclasses.asdict: rebuilds call this once per enterprise
        return {
            "uscc": self.uscc, "name": self.name, "place_type": self.place_type,
            "district": self.district, "address": self.address,
            "legal_representative": self.legal_representative,
            "licensed_on": self.licensed_on, "version": self.version,
            "position": self.position, "last_on": self.last_on, "base": self.base,
            "first_committed_on": self.first_committed_on,
            "last_committed_on": self.last_committed_on,
            "first_inspection_on": self.first_inspection_on,
            "inspections": [list(i) for i in self.inspections],
            "order": list(self.order) if self.order is not None else None,
            "records": [r.to_json() for r in self.records],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Facts:
        doc = dict(doc)
        doc["records"] = [Record(**r) for r in doc["records"]]
        return cls(**doc)


def start(event: Event, day: str | None = None) -> Facts:
    d = event.data
    day = day or day_of(event.occurred_at)
    return Facts(
        uscc=event.uscc,
        name=d["name"],
        place_type=d["place_type"],
        district=d["district"],
        address=d["address"],
        legal_representative=d["legal_representative"],
        licensed_on=day,
        version=event.version,
        position=event.position,
        last_on=day,
    )


def apply(facts: Facts | None, event: Event, day: str | None = None) -> Facts:
    """Fold one more event (in version order) into the facts; ``day`` is the event's
    CST day when the caller already knows it."""
    if facts is None:
        return start(event, day)
    day = day or day_of(event.occurred_at)
    facts.version, facts.position, facts.last_on = event.version, event.position, day
    kind, d = event.type, event.data
    if kind == "Committed":
        if facts.first_committed_on is None:
            facts.first_committed_on = day
        facts.last_committed_on = day
        if facts.base == "licensed":
            facts.base = "committed"
    elif kind == "Inspected":
        close_order(facts, day, fixed=d["outcome"] == "compliant")
        facts.first_inspection_on = facts.first_inspection_on or day
        facts.inspections.append([day, d["score"], d["outcome"]])
        if d["outcome"] == "compliant":
            facts.base = "compliant"
        elif d["outcome"] == "rectify":
            facts.base = "rectify"
            facts.order = [event.version, d["rectification_deadline"]]
    elif kind == "Rectified":
        close_order(facts, day, fixed=True)
        facts.base = "compliant"
    elif kind == "Banned":
        close_order(facts, day)
        facts.base = "banned"
        facts.records.append(
            Record(
                record_id(BANNED, event.version), BANNED.name, day,
                d.get("reason", ""), d.get("decision_no", ""),
            )
        )
    elif kind == "CreditRepaired":
        for r in facts.records:
            if r.id == d["record"]:
                r.repaired_on = day
    return facts


def close_order(facts: Facts, day: str, fixed: bool = False) -> None:
    """An order ends with its rectification, the next inspection or a ban; a deadline
    missed before that leaves an overdue record for good. Compliance (a verified
    rectification or a compliant inspection, ``fixed``) fixes every earlier problem."""
    if facts.order is not None:
        version, deadline = facts.order
        if day > deadline:
            facts.records.append(pending_record(version, deadline))
        facts.order = None
    if fixed:
        for r in facts.records:
            if r.fixed_on is None and r.kind == RECTIFICATION_OVERDUE.name:
                r.fixed_on = day


def pending_record(version: int, deadline: str) -> Record:
    """The overdue record an order leaves when its deadline passes unmet."""
    return Record(
        record_id(RECTIFICATION_OVERDUE, version), RECTIFICATION_OVERDUE.name,
        _overdue_since(deadline),
    )


@lru_cache(maxsize=65536)
def _overdue_since(deadline: str) -> str:
    return overdue_since(date.fromisoformat(deadline)).isoformat()


def fold(events: Iterable[Event]) -> Facts | None:
    facts: Facts | None = None
    for event in events:
        facts = apply(facts, event)
    return facts
