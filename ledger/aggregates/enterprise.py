"""The Enterprise aggregate: one "four small" public place, identified by its USCC.

Each public method checks the rules of domain.md through named guards and only then
records a past-tense event; the ``@event`` bodies only apply state, because they run
again every time the enterprise is replayed from the store.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.dates import cst_date
from ledger.errors import InvalidInput, RuleViolation
from ledger.policy.records import (
    BANNED,
    KINDS,
    RECTIFICATION_OVERDUE,
    display_until,
    overdue_since,
    record_id,
    repairable_from,
)
from ledger.uscc import validate_uscc

PLACE_TYPES = ("hotel", "bathhouse", "beauty_salon", "barbershop")
OUTCOMES = ("compliant", "rectify", "ban")
CHANNELS = ("qr", "counter")
CLOCK_SKEW = timedelta(minutes=5)
MIN_YEAR, MAX_YEAR = 1900, 2999  # as the API's schemas: every policy date stays computable
D = TypeVar("D", bound=date)
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


def aware(value: Any, field: str) -> datetime:
    """A moment with a UTC offset; a naive timestamp is refused."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(field, "format", f"{field}: not an ISO 8601 timestamp") from None
    if not isinstance(value, datetime):
        raise InvalidInput(field, "type", f"{field}: must be an ISO 8601 timestamp")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, "offset", f"{field}: needs a UTC offset (e.g. +08:00)")
    return in_range(value, field)


def a_date(value: Any, field: str) -> date:
    if isinstance(value, str):
        try:
            return in_range(date.fromisoformat(value), field)
        except ValueError:
            raise InvalidInput(field, "format", f"{field}: not a YYYY-MM-DD date") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        return in_range(value, field)
    raise InvalidInput(field, "type", f"{field}: must be a YYYY-MM-DD date")


def in_range(value: D, field: str) -> D:
    """A year the ledger can compute with (display periods, deadlines) in any offset."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise InvalidInput(field, "range", f"{field}: the year must lie in {MIN_YEAR}-{MAX_YEAR}")
    return value


def district_code(value: Any, field: str = "district") -> str:
    if not (
        isinstance(value, str) and len(value) == 6 and value.isascii() and value.isdigit()
    ):
        raise InvalidInput(field, "format", f"{field}: must be a 6-digit division code")
    return value


class Enterprise(Aggregate):
    """State here serves the rules only; credit standing is the policy's business."""

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
        uscc = validate_uscc(uscc)
        moment = aware(occurred_at, "licensed_at")
        check_not_in_future(moment, now, "licensed_at")
        return cls(
            uscc=uscc,
            name=required_text(name, "name", 200),
            place_type=one_of(place_type, PLACE_TYPES, "place_type"),
            address=required_text(address, "address"),
            district=district_code(district),
            legal_representative=required_text(legal_representative, "legal_representative", 100),
            occurred_at=moment.isoformat(),
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
        self.uscc = uscc
        self.name = name
        self.place_type = place_type
        self.district = district
        self.last_occurred_at = datetime.fromisoformat(occurred_at)
        self.banned = False
        self.committed = False
        self.last_commitment_on: date | None = None
        self.order: dict[str, Any] | None = None  # the open rectification order
        self.records: dict[str, dict[str, Any]] = {}  # repair-relevant adverse records

    # -- guards ---------------------------------------------------------------------------

    def check_not_banned(self) -> None:
        if self.banned:
            raise RuleViolation("banned_is_terminal", f"enterprise {self.uscc} is banned")

    def check_in_order(self, moment: datetime, field: str, now: datetime) -> None:
        if moment < self.last_occurred_at:
            raise RuleViolation(
                "occurred_at_order",
                f"{field} {moment.isoformat()} is before the enterprise's previous event "
                f"({self.last_occurred_at.isoformat()})",
            )
        check_not_in_future(moment, now, field)

    def check_committed(self) -> None:
        if not self.committed:
            raise RuleViolation("inspection_needs_commitment", "no commitment has been made")

    def check_rectification_open(self) -> None:
        if self.order is None:
            raise RuleViolation("rectification_needs_order", "no open rectification order")

    # -- commands ---------------------------------------------------------------------------

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
        moment = aware(occurred_at, "committed_at")
        signatory = required_text(signatory, "signatory", 100)
        letter_id = optional_text(letter_id, "letter_id", 100)
        channel = one_of(channel or "counter", CHANNELS, "channel")
        if conditions is not None and not isinstance(conditions, (list, tuple)):
            raise InvalidInput("conditions", "type", "conditions: must be a list of strings")
        conditions = [optional_text(c, "conditions", 500) for c in (conditions or [])]
        self.check_not_banned()
        self.check_in_order(moment, "committed_at", now)
        self._committed(
            uscc=self.uscc,
            occurred_at=moment.isoformat(),
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
        self.last_occurred_at = datetime.fromisoformat(occurred_at)
        self.committed = True
        self.last_commitment_on = cst_date(self.last_occurred_at)

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
        moment = aware(occurred_at, "inspected_at")
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
            day = a_date(rectification_deadline, "rectification_deadline")
            if day <= cst_date(moment):
                raise InvalidInput(
                    "rectification_deadline", "not_after_inspection",
                    "rectification_deadline: must be after the inspection date",
                )
            deadline = day.isoformat()
        elif rectification_deadline is not None:
            raise InvalidInput(
                "rectification_deadline", "unexpected",
                "rectification_deadline: only for the outcome rectify",
            )
        findings = optional_text(findings, "findings")
        decision_no = optional_text(decision_no, "decision_no", 100)
        self.check_not_banned()
        self.check_committed()
        self.check_in_order(moment, "inspected_at", now)
        self._inspected(
            uscc=self.uscc,
            occurred_at=moment.isoformat(),
            inspector=inspector,
            score=score,
            outcome=outcome,
            rectification_deadline=deadline,
            findings=findings,
        )
        if outcome == "ban":  # stored together with the inspection, atomically
            self._banned(
                uscc=self.uscc,
                occurred_at=moment.isoformat(),
                reason=findings or f"inspection by {inspector} found the conditions not met",
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
        self.last_occurred_at = datetime.fromisoformat(occurred_at)
        self._close_order(cst_date(self.last_occurred_at), problem_fixed=outcome == "compliant")
        if outcome == "rectify" and rectification_deadline:
            self.order = {  # the library sets self.version after this body runs
                "version": self.version + 1,
                "deadline": date.fromisoformat(rectification_deadline),
            }

    def rectify(
        self,
        *,
        occurred_at: datetime | str,
        verified_by: str,
        now: datetime,
        note: str | None = None,
    ) -> None:
        moment = aware(occurred_at, "rectified_at")
        verified_by = required_text(verified_by, "verified_by", 100)
        self.check_not_banned()
        self.check_rectification_open()
        self.check_in_order(moment, "rectified_at", now)
        self._rectified(
            uscc=self.uscc,
            occurred_at=moment.isoformat(),
            verified_by=verified_by,
            note=optional_text(note, "note"),
        )

    @event("Rectified")
    def _rectified(self, uscc: str, occurred_at: str, verified_by: str, note: str) -> None:
        self.last_occurred_at = datetime.fromisoformat(occurred_at)
        self._close_order(cst_date(self.last_occurred_at), problem_fixed=True)

    def ban(
        self,
        *,
        occurred_at: datetime | str,
        reason: str,
        now: datetime,
        decision_no: str | None = None,
    ) -> None:
        moment = aware(occurred_at, "banned_at")
        reason = required_text(reason, "reason", 1000)
        self.check_not_banned()
        self.check_in_order(moment, "banned_at", now)
        self._banned(
            uscc=self.uscc,
            occurred_at=moment.isoformat(),
            reason=reason,
            decision_no=optional_text(decision_no, "decision_no", 100),
        )

    @event("Banned")
    def _banned(self, uscc: str, occurred_at: str, reason: str, decision_no: str) -> None:
        self.last_occurred_at = datetime.fromisoformat(occurred_at)
        self.banned = True
        self.order = None

    def repair(
        self, *, occurred_at: datetime | str, record: str, approved_by: str, now: datetime
    ) -> None:
        moment = aware(occurred_at, "repaired_at")
        record = required_text(record, "record", 100)
        approved_by = required_text(approved_by, "approved_by", 100)
        self.check_not_banned()
        self.check_in_order(moment, "repaired_at", now)
        self.check_repairable(record, cst_date(moment))
        self._credit_repaired(
            uscc=self.uscc, occurred_at=moment.isoformat(), record=record, approved_by=approved_by
        )

    def check_repairable(self, rid: str, day: date) -> None:
        found = self.records.get(rid)
        if found is None:
            if self.order is not None and day > self.order["deadline"] and rid == record_id(
                RECTIFICATION_OVERDUE, self.order["version"]
            ):
                raise RuleViolation("record_not_rectified", f"{rid}: the problem is not rectified")
            if rid.startswith(BANNED.name):
                raise RuleViolation("record_not_repairable", f"{rid}: bans are not repairable")
            raise RuleViolation("record_unknown", f"{rid}: no such repairable record")
        kind, since = KINDS[found["kind"]], found["since"]
        if found["repaired"]:
            raise RuleViolation("record_already_repaired", f"{rid}: already repaired")
        if day >= display_until(kind, since):
            raise RuleViolation("record_expired", f"{rid}: its display ended on "
                                f"{display_until(kind, since).isoformat()}")
        if day < repairable_from(kind, since):
            raise RuleViolation(
                "minimum_publicity_period",
                f"{rid}: repairable from {repairable_from(kind, since).isoformat()}",
            )
        if not found["fixed"]:
            raise RuleViolation("record_not_rectified", f"{rid}: the problem is not rectified")
        if self.last_commitment_on is None or self.last_commitment_on < since:
            raise RuleViolation(
                "repair_needs_new_commitment",
                f"{rid}: needs a commitment made on or after {since.isoformat()}",
            )

    @event("CreditRepaired")
    def _credit_repaired(self, uscc: str, occurred_at: str, record: str, approved_by: str) -> None:
        self.last_occurred_at = datetime.fromisoformat(occurred_at)
        self.records[record]["repaired"] = True

    # -- state helpers (used inside event bodies only) ---------------------------------------

    def _close_order(self, day: date, problem_fixed: bool) -> None:
        """An order ends with its rectification or with the next inspection; a deadline
        missed before that leaves an overdue record. Compliance (a compliant inspection
        or a verified rectification) fixes every earlier problem."""
        if problem_fixed:
            for found in self.records.values():
                found["fixed"] = True
        if self.order is None:
            return
        deadline = self.order["deadline"]
        if day > deadline:
            rid = record_id(RECTIFICATION_OVERDUE, self.order["version"])
            self.records[rid] = {
                "kind": RECTIFICATION_OVERDUE.name,
                "since": overdue_since(deadline),
                "fixed": problem_fixed,
                "repaired": False,
            }
        self.order = None


def check_not_in_future(moment: datetime, now: datetime, field: str) -> None:
    if moment > now + CLOCK_SKEW:
        raise RuleViolation(
            "occurred_at_future", f"{field} {moment.isoformat()} is in the future"
        )
