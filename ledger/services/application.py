"""The service layer: one application class with a command per business fact.

Each command loads the enterprise, lets the aggregate decide, and saves its new
events; library errors become the ledger's own. Every command takes ``in_tx``, a hook
``in_tx(tx, events)`` run inside the transaction that stores the events (see
``ledger.storage.hooked``): if it raises, nothing is stored and the command raises it.
``recorded_at`` is the events' timestamp, set by the ledger when the command is accepted.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from ledger import values
from ledger.aggregates.enterprise import Enterprise, enterprise_id
from ledger.errors import ConcurrentWrite, EnterpriseNotFound, RuleViolation, VersionConflict
from ledger.services.privacy import Sealed
from ledger.storage.db import Tx
from ledger.storage.events import LoggedEvent, decode
from ledger.storage.hooked import InTx, InTxFailed

Clock = Callable[[], datetime]
RETRY_FOR = 5.0  # seconds a write without an expected version that lost a race decides again
logger = logging.getLogger("ledger.services.application")


@dataclass(frozen=True)
class Written:
    """What a command stored: the enterprise's new version, the log position of its
    last event, and the events themselves."""

    uscc: str
    version: int
    position: int
    events: list[LoggedEvent]


class Ledger(Application[UUID]):
    name = ""  # the library then names its table `stored_events` (contract.md)
    retry_for = RETRY_FOR  # seconds a write without If-Match decides again after a lost race

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Clock | None = None,
        after_write: Callable[[Written], Any] | None = None,
    ) -> None:
        super().__init__(env)
        self.clock: Clock = clock or (lambda: datetime.now(timezone.utc))
        self.after_write = after_write

    # -- commands --------------------------------------------------------------------------

    def license(
        self,
        *,
        uscc: str,
        name: str,
        place_type: str,
        address: str,
        district: str,
        legal_representative: str,
        licensed_at: datetime | str,
        in_tx: InTx | None = None,
    ) -> Written:
        now = self.clock()
        sealed = Sealed()  # personal values: committed to before the aggregate sees them
        enterprise = Enterprise.license(
            uscc=uscc, name=name, place_type=place_type, address=address, district=district,
            legal_representative=sealed.seal("legal_representative", legal_representative),
            occurred_at=licensed_at, now=now,
        )
        try:
            return self._save(enterprise, now, self.with_personal(sealed, in_tx))
        except ConcurrentWrite:
            raise RuleViolation(
                "licensed_once", f"enterprise {enterprise.uscc} is already licensed"
            ) from None

    def commit(
        self,
        uscc: str,
        *,
        committed_at: datetime | str,
        signatory: str,
        letter_id: str | None = None,
        channel: str | None = None,
        conditions: list[str] | None = None,
        expected_version: int | None = None,
        in_tx: InTx | None = None,
    ) -> Written:
        sealed = Sealed()
        return self._act(uscc, expected_version, self.with_personal(sealed, in_tx),
                         lambda e, now: e.commit(
            occurred_at=committed_at, signatory=sealed.seal("signatory", signatory),
            letter_id=letter_id, channel=channel, conditions=conditions, now=now,
        ))

    def inspect(
        self,
        uscc: str,
        *,
        inspected_at: datetime | str,
        inspector: str,
        score: int,
        outcome: str,
        rectification_deadline: date | str | None = None,
        findings: str | None = None,
        decision_no: str | None = None,
        expected_version: int | None = None,
        in_tx: InTx | None = None,
    ) -> Written:
        sealed = Sealed()
        return self._act(uscc, expected_version, self.with_personal(sealed, in_tx),
                         lambda e, now: e.inspect(
            occurred_at=inspected_at, inspector=sealed.seal("inspector", inspector),
            score=score, outcome=outcome, rectification_deadline=rectification_deadline,
            findings=findings, decision_no=decision_no, now=now,
        ))

    def rectify(
        self,
        uscc: str,
        *,
        rectified_at: datetime | str,
        verified_by: str,
        note: str | None = None,
        expected_version: int | None = None,
        in_tx: InTx | None = None,
    ) -> Written:
        sealed = Sealed()
        return self._act(uscc, expected_version, self.with_personal(sealed, in_tx),
                         lambda e, now: e.rectify(
            occurred_at=rectified_at, verified_by=sealed.seal("verified_by", verified_by),
            note=note, now=now,
        ))

    def ban(
        self,
        uscc: str,
        *,
        banned_at: datetime | str,
        reason: str,
        decision_no: str | None = None,
        expected_version: int | None = None,
        in_tx: InTx | None = None,
    ) -> Written:
        return self._act(uscc, expected_version, in_tx, lambda e, now: e.ban(
            occurred_at=banned_at, reason=reason, decision_no=decision_no, now=now,
        ))

    def repair(
        self,
        uscc: str,
        *,
        repaired_at: datetime | str,
        record: str,
        approved_by: str,
        expected_version: int | None = None,
        in_tx: InTx | None = None,
    ) -> Written:
        return self._act(uscc, expected_version, in_tx, lambda e, now: e.repair(
            occurred_at=repaired_at, record=record, approved_by=approved_by, now=now,
        ))

    # -- plumbing ------------------------------------------------------------------------------

    def enterprise(self, uscc: str) -> Enterprise:
        uscc = values.uscc(uscc)
        try:
            return self.repository.get(enterprise_id(uscc))  # type: ignore[return-value]
        except AggregateNotFoundError:
            raise EnterpriseNotFound(uscc) from None

    def _act(
        self,
        uscc: str,
        expected_version: int | None,
        in_tx: InTx | None,
        decide: Callable[[Enterprise, datetime], None],
    ) -> Written:
        """Load, decide, save. A save that loses a race to another writer of the same
        enterprise is decided again on the new version (the rules checked again) until it
        is stored or breaks a rule, for up to ``retry_for`` seconds; with
        ``expected_version`` (If-Match) losing is final: VersionConflict (412)."""
        deadline = time.monotonic() + self.retry_for
        attempt = 0
        while True:
            enterprise = self.enterprise(uscc)
            if expected_version is not None and enterprise.version != expected_version:
                raise VersionConflict(enterprise.uscc, expected_version, enterprise.version)
            now = self.clock()
            decide(enterprise, now)
            try:
                return self._save(enterprise, now, in_tx)
            except ConcurrentWrite:
                if expected_version is not None:
                    actual = self.enterprise(uscc).version
                    raise VersionConflict(enterprise.uscc, expected_version, actual) from None
                if time.monotonic() >= deadline:
                    raise
            attempt += 1
            time.sleep(random.uniform(0, min(0.05, 0.002 * attempt)))  # no lockstep

    def _save(self, enterprise: Enterprise, now: datetime, in_tx: InTx | None = None) -> Written:
        """Store the enterprise's new events, stamped with the moment the ledger accepted
        the command (``recorded_at``, the ledger's clock, in UTC), in one transaction
        (with ``in_tx`` run inside it)."""
        if in_tx is not None and not getattr(self.recorder, "supports_in_tx", False):
            raise TypeError(f"{type(self.recorder).__name__} cannot run an in_tx hook")
        pending = enterprise.collect_events()
        recorded_at = now.astimezone(timezone.utc)
        for pending_event in pending:  # the library stamped them with the system clock
            object.__setattr__(pending_event, "timestamp", recorded_at)
        try:
            recordings = self.save(*pending, in_tx=in_tx) if in_tx else self.save(*pending)
        except IntegrityError:
            raise ConcurrentWrite(enterprise.uscc, None, None) from None
        except InTxFailed as e:
            raise e.error from None
        events = []
        for recording in recordings:
            stored = self.mapper.to_stored_event(recording.domain_event)
            events.append(
                decode(
                    recording.notification.id, stored.originator_id,
                    stored.originator_version, stored.topic, stored.state,
                )
            )
        written = Written(enterprise.uscc, enterprise.version, events[-1].position, events)
        if self.after_write is not None:
            try:
                self.after_write(written)
            except Exception:  # the events are stored: never report a stored write as failed
                logger.exception(
                    "read models did not catch up with position %s; the follower retries",
                    written.position,
                )
        return written

    # -- personal data -----------------------------------------------------------------------

    def with_personal(self, sealed: Sealed, in_tx: InTx | None) -> InTx | None:
        """``in_tx`` preceded by storing the write's personal values (``sealed``, filled
        when the command decides) in the events' transaction. A store that cannot run
        a hook (the in-memory one of unit tests) keeps only the commitments."""
        if not getattr(self.recorder, "supports_in_tx", False):
            return in_tx

        def personal_then(tx: Tx, events: list[LoggedEvent]) -> None:
            if sealed:
                sealed.record(tx, events)
            if in_tx is not None:
                in_tx(tx, events)

        return personal_then

    def store(self, pending: Sequence[Any], in_tx: InTx | None = None) -> list[LoggedEvent]:
        """Save ``pending`` events (of several enterprises, e.g. the demo's batches) with
        ``in_tx`` run in their transaction; [] when a version is taken."""
        if in_tx is not None and not getattr(self.recorder, "supports_in_tx", False):
            in_tx = None
        try:
            recordings = self.save(*pending, in_tx=in_tx) if in_tx else self.save(*pending)
        except IntegrityError:
            return []
        except InTxFailed as e:
            raise e.error from None
        events = []
        for recording in recordings:
            stored = self.mapper.to_stored_event(recording.domain_event)
            events.append(
                decode(
                    recording.notification.id, stored.originator_id,
                    stored.originator_version, stored.topic, stored.state,
                )
            )
        return events

def retrying(
    command: Callable[[int | None], Written], expected: int | None, within: float = RETRY_FOR
) -> Written:
    """Run ``command(expected)``; a write without an expected version that lost a race
    to another writer decides again on the new version (the rules are checked again)
    until it is stored or breaks a rule, for up to ``within`` seconds; with an expected
    version (If-Match) the conflict is final. (``Ledger``'s own commands already do this
    themselves; this is for services that check more before calling them.)"""
    deadline = time.monotonic() + within
    attempt = 0
    while True:
        try:
            return command(expected)
        except ConcurrentWrite:
            if expected is not None or time.monotonic() >= deadline:
                raise
        attempt += 1
        time.sleep(random.uniform(0, min(0.05, 0.002 * attempt)))  # no lockstep
