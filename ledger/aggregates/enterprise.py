"""The Enterprise aggregate: one "four small" public place, identified by its USCC.

Each public method parses its input with `ledger.values`, checks the rules of
domain.md through named guards and only then records a past-tense event. The state
the guards read is the enterprise's `Facts`, folded by `ledger.policy.facts` (the
same fold the credit policy reads): each ``@event`` body only applies its event to
them, because it runs again every time the enterprise is replayed from the store.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger import values
from ledger.errors import InvalidInput, RuleViolation
from ledger.policy.facts import Facts, apply, pending_record, start
from ledger.policy.records import BANNED, KINDS, display_until, repairable_from
from ledger.values import cst_date

PLACE_TYPES = ("hotel", "bathhouse", "beauty_salon", "barbershop")
OUTCOMES = ("compliant", "rectify", "ban")
CHANNELS = ("qr", "counter")
CLOCK_SKEW = timedelta(minutes=5)
_NAMESPACE = uuid5(NAMESPACE_URL, "https://credit-ledger.example/enterprise")


def letter_id_for(uscc: str, version: int) -> str:
    """The one rule for commitment letter ids: ``CL-<uscc>-V<version>``, the letter
    issued for the enterprise as it stands at ``version``. A commitment made at the
    counter without naming a letter takes the id of the letter for the version it was
    made on, so a printed copy of that letter is then spent too."""
    return f"CL-{uscc}-V{version}"


def enterprise_id(uscc: str) -> UUID:
    """The aggregate id is derived from the USCC, so one USCC is one enterprise."""
    return uuid5(_NAMESPACE, uscc)


def required_text(value: Any, field: str, max_length: int = 500) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field, "required", f"{field}: must be a non-empty string")
    if len(value) > max_length:
        raise InvalidInput(field, "too_long", f"{field}: at most {max_length} characters")
    return value.strip()


def optional_text(value: Any, field: str, max_length: int = 2000) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(field, "type", f"{field}: must be a string")
    if len(value) > max_length:
        raise InvalidInput(field, "too_long", f"{field}: at most {max_length} characters")
    return value.strip()


def one_of(value: Any, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise InvalidInput(field, "unknown", f"{field}: must be one of {', '.join(allowed)}")
    return str(value)


class Happened(NamedTuple):
    """An event as the fold reads it (`ledger.policy.facts.Event`), from inside the
    aggregate: the log position is not known there, and the fold does not need it."""

    uscc: str
    type: str
    version: int
    occurred_at: str
    data: dict[str, Any]
    position: int = 0


class Enterprise(Aggregate):
    """Commands, guards and events; the state is the folded `Facts` (``self.facts``)
    and the moment of the latest event (``self.last_occurred_at``, for the order of
    events, which the policy does not need)."""

    @staticmethod
    def create_id(uscc: str, **_: Any) -> UUID:
        return enterprise_id(uscc)

    @classmethod
    def license(
        cls,
        *,
        uscc: str,
        name: str,
        place_type: str,
        address: str,
        district: str,
        legal_representative: str,
        occurred_at: datetime | str,
        now: datetime,
    ) -> Enterprise:
        code = values.uscc(uscc)
        given = values.moment(occurred_at, "licensed_at")
        check_not_in_future(given.at, now, "licensed_at")
        return cls(
            uscc=code,
            name=required_text(name, "name", 200),
            place_type=one_of(place_type, PLACE_TYPES, "place_type"),
            address=required_text(address, "address"),
            district=values.district(district),
            legal_representative=required_text(legal_representative, "legal_representative", 100),
            occurred_at=given.text,
        )

    @event("Licensed")
    def __init__(
        self,
        uscc: str,
        name: str,
        place_type: str,
        address: str,
        district: str,
        legal_representative: str,
        occurred_at: str,
    ) -> None:
        self.last_occurred_at = datetime.fromisoformat(occurred_at)
        self.facts: Facts = start(Happened(uscc, "Licensed", self.version, occurred_at, {
            "name": name, "place_type": place_type, "address": address, "district": district,
            "legal_representative": legal_representative,
        }))

    def _apply(self, kind: str, occurred_at: str, **data: Any) -> None:
        """Inside an event body only: fold the event into the facts (the library sets
        ``self.version`` once the body has run)."""
        self.last_occurred_at = datetime.fromisoformat(occurred_at)
        apply(self.facts, Happened(self.uscc, kind, self.version + 1, occurred_at, data))

    @property
    def uscc(self) -> str:
        return self.facts.uscc

    @property
    def banned(self) -> bool:
        return self.facts.base == "banned"

    # -- guards ---------------------------------------------------------------------------

    def check_not_banned(self) -> None:
        if self.banned:
            raise RuleViolation("banned_is_terminal", f"enterprise {self.uscc} is banned")

    def check_in_order(self, at: datetime, field: str, now: datetime) -> None:
        if at < self.last_occurred_at:
            raise RuleViolation(
                "occurred_at_order",
                f"{field} {at.isoformat()} is before the enterprise's previous event "
                f"({self.last_occurred_at.isoformat()})",
            )
        check_not_in_future(at, now, field)

    def check_committed(self) -> None:
        if self.facts.first_committed_on is None:
            raise RuleViolation("inspection_needs_commitment", "no commitment has been made")

    def check_rectification_open(self) -> None:
        if self.facts.order is None:
            raise RuleViolation("rectification_needs_order", "no open rectification order")

    def check_repairable(self, rid: str, on: date) -> None:
        """A repairable record, not repaired, still shown, past its minimum publicity
        period, its problem rectified, and a commitment made since it started."""
        facts, today = self.facts, on.isoformat()
        found = next((r for r in facts.records if r.id == rid), None)
        if found is None or not KINDS[found.kind].repairable:
            pending = pending_record(*facts.order) if facts.order is not None else None
            if pending is not None and pending.id == rid and pending.since <= today:
                raise RuleViolation("record_not_rectified", f"{rid}: the problem is not rectified")
            if found is not None or rid.startswith(BANNED.name):
                raise RuleViolation("record_not_repairable", f"{rid}: bans are not repairable")
            raise RuleViolation("record_unknown", f"{rid}: no such repairable record")
        kind, since = KINDS[found.kind], date.fromisoformat(found.since)
        if found.repaired_on is not None:
            raise RuleViolation("record_already_repaired", f"{rid}: already repaired")
        if on >= display_until(kind, since):
            raise RuleViolation("record_expired", f"{rid}: its display ended on "
                                f"{display_until(kind, since).isoformat()}")
        if on < repairable_from(kind, since):
            raise RuleViolation(
                "minimum_publicity_period",
                f"{rid}: repairable from {repairable_from(kind, since).isoformat()}",
            )
        if found.fixed_on is None:
            raise RuleViolation("record_not_rectified", f"{rid}: the problem is not rectified")
        if facts.last_committed_on is None or facts.last_committed_on < found.since:
            raise RuleViolation(
                "repair_needs_new_commitment",
                f"{rid}: needs a commitment made on or after {found.since}",
            )

    # -- commands and their events ---------------------------------------------------------------

    def commit(
        self,
        *,
        occurred_at: datetime | str,
        signatory: str,
        now: datetime,
        letter_id: str | None = None,
        channel: str | None = None,
        conditions: list[str] | None = None,
    ) -> None:
        given = values.moment(occurred_at, "committed_at")
        signatory = required_text(signatory, "signatory", 100)
        letter_id = optional_text(letter_id, "letter_id", 100)
        channel = one_of(channel or "counter", CHANNELS, "channel")
        if conditions is not None and not isinstance(conditions, (list, tuple)):
            raise InvalidInput("conditions", "type", "conditions: must be a list of strings")
        conditions = [optional_text(c, "conditions", 500) for c in (conditions or [])]
        self.check_not_banned()
        self.check_in_order(given.at, "committed_at", now)
        self._committed(
            uscc=self.uscc,
            occurred_at=given.text,
            letter_id=letter_id or letter_id_for(self.uscc, self.version),
            signatory=signatory,
            channel=channel,
            conditions=conditions,
        )

    @event("Committed")
    def _committed(
        self,
        uscc: str,
        occurred_at: str,
        letter_id: str,
        signatory: str,
        channel: str,
        conditions: list[str],
    ) -> None:
        self._apply("Committed", occurred_at, letter_id=letter_id, signatory=signatory,
                    channel=channel, conditions=conditions)

    def inspect(
        self,
        *,
        occurred_at: datetime | str,
        inspector: str,
        score: int,
        outcome: str,
        now: datetime,
        rectification_deadline: date | str | None = None,
        findings: str | None = None,
        decision_no: str | None = None,
    ) -> None:
        given = values.moment(occurred_at, "inspected_at")
        inspector = required_text(inspector, "inspector", 100)
        if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
            raise InvalidInput("score", "range", "score: must be an integer from 0 to 100")
        outcome = one_of(outcome, OUTCOMES, "outcome")
        deadline: str | None = None
        if outcome == "rectify":
            if rectification_deadline is None:
                raise InvalidInput(
                    "rectification_deadline", "required", "rectification_deadline: required "
                    "when the outcome is rectify"
                )
            by = values.day(rectification_deadline, "rectification_deadline")
            if by <= cst_date(given.at):
                raise InvalidInput(
                    "rectification_deadline", "not_after_inspection",
                    "rectification_deadline: must be after the inspection date",
                )
            deadline = by.isoformat()
        elif rectification_deadline is not None:
            raise InvalidInput(
                "rectification_deadline", "unexpected",
                "rectification_deadline: only for the outcome rectify",
            )
        findings = optional_text(findings, "findings")
        decision_no = optional_text(decision_no, "decision_no", 100)
        self.check_not_banned()
        self.check_committed()
        self.check_in_order(given.at, "inspected_at", now)
        self._inspected(
            uscc=self.uscc,
            occurred_at=given.text,
            inspector=inspector,
            score=score,
            outcome=outcome,
            rectification_deadline=deadline,
            findings=findings,
        )
        if outcome == "ban":  # stored together with the inspection, atomically
            self._banned(
                uscc=self.uscc,
                occurred_at=given.text,
                # never the inspector's name: it is personal data (a commitment here)
                reason=findings or "the inspection found the conditions not met",
                decision_no=decision_no,
            )

    @event("Inspected")
    def _inspected(
        self,
        uscc: str,
        occurred_at: str,
        inspector: str,
        score: int,
        outcome: str,
        rectification_deadline: str | None,
        findings: str,
    ) -> None:
        self._apply("Inspected", occurred_at, inspector=inspector, score=score, outcome=outcome,
                    rectification_deadline=rectification_deadline, findings=findings)

    def rectify(
        self,
        *,
        occurred_at: datetime | str,
        verified_by: str,
        now: datetime,
        note: str | None = None,
    ) -> None:
        given = values.moment(occurred_at, "rectified_at")
        verified_by = required_text(verified_by, "verified_by", 100)
        self.check_not_banned()
        self.check_rectification_open()
        self.check_in_order(given.at, "rectified_at", now)
        self._rectified(
            uscc=self.uscc,
            occurred_at=given.text,
            verified_by=verified_by,
            note=optional_text(note, "note"),
        )

    @event("Rectified")
    def _rectified(self, uscc: str, occurred_at: str, verified_by: str, note: str) -> None:
        self._apply("Rectified", occurred_at, verified_by=verified_by, note=note)

    def ban(
        self,
        *,
        occurred_at: datetime | str,
        reason: str,
        now: datetime,
        decision_no: str | None = None,
    ) -> None:
        given = values.moment(occurred_at, "banned_at")
        reason = required_text(reason, "reason", 1000)
        self.check_not_banned()
        self.check_in_order(given.at, "banned_at", now)
        self._banned(
            uscc=self.uscc,
            occurred_at=given.text,
            reason=reason,
            decision_no=optional_text(decision_no, "decision_no", 100),
        )

    @event("Banned")
    def _banned(self, uscc: str, occurred_at: str, reason: str, decision_no: str) -> None:
        self._apply("Banned", occurred_at, reason=reason, decision_no=decision_no)

    def repair(
        self, *, occurred_at: datetime | str, record: str, approved_by: str, now: datetime
    ) -> None:
        given = values.moment(occurred_at, "repaired_at")
        record = required_text(record, "record", 100)
        approved_by = required_text(approved_by, "approved_by", 100)
        self.check_not_banned()
        self.check_in_order(given.at, "repaired_at", now)
        self.check_repairable(record, cst_date(given.at))
        self._credit_repaired(
            uscc=self.uscc, occurred_at=given.text, record=record, approved_by=approved_by
        )

    @event("CreditRepaired")
    def _credit_repaired(self, uscc: str, occurred_at: str, record: str, approved_by: str) -> None:
        self._apply("CreditRepaired", occurred_at, record=record, approved_by=approved_by)


def check_not_in_future(at: datetime, now: datetime, field: str) -> None:
    if at > now + CLOCK_SKEW:
        raise RuleViolation("occurred_at_future", f"{field} {at.isoformat()} is in the future")
