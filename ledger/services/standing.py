"""The one standing read service: an enterprise's standing as of a date (valid time),
optionally as the ledger knew it at a moment (``known_at``, transaction time), in the
one document shape of ``ledger.projections.queries.document``, redacted by scope.

- ``as_of`` alone reads the live read models (an indexed range lookup);
- with ``known_at`` the standing is recomputed by the live policy from the events the
  ledger had recorded by then (``ledger.audit.timetravel``: stored folded states plus
  the few events after them), never from the read models;
- ``history`` replays one enterprise for ``ledger history``: its events and the same
  standing document.

The HTTP routes, the pages and the CLI all call this service; none of them builds a
standing, looks up the live policy or removes personal data itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ledger import values
from ledger.audit.timetravel import StateStore, known, micros
from ledger.errors import EnterpriseNotFound
from ledger.policy.credit import Policy
from ledger.policy.facts import Facts, apply
from ledger.projections import queries
from ledger.projections.sets import Projections
from ledger.services import privacy
from ledger.services.redaction import redact
from ledger.settings import Settings
from ledger.storage.db import Database, Tx
from ledger.storage.eventlog import EventLog
from ledger.storage.events import LoggedEvent
from ledger.values import day_of


class NotLicensedYet(EnterpriseNotFound):
    """The enterprise is in the ledger, but was not licensed yet at the end of the day
    asked (or the ledger did not know of it yet at ``known_at``): 404."""

    def __init__(self, uscc: str, day: str, known_at: datetime | None = None) -> None:
        super().__init__(uscc)
        knew = f" as the ledger knew it at {known_at.isoformat()}" if known_at else ""
        self.args = (f"enterprise {uscc} was not licensed yet at the end of {day}{knew}",)


def standing_of(facts: Facts, day: str, policy: Policy) -> dict[str, Any]:
    """The standing document from folded facts (the events that occurred by ``day``)."""
    identity = {
        "uscc": facts.uscc, "name": facts.name, "place_type": facts.place_type,
        "district": facts.district, "legal_representative": facts.legal_representative,
    }
    standing = {**policy.standing(facts, day), "version": facts.version,
                "position": facts.position}
    return queries.document(identity, standing, day)


class Standings:
    def __init__(
        self,
        db: Database,
        log: EventLog,
        projections: Projections,
        states: StateStore,
        policy_for: Callable[[str], Policy],
        settings: Settings,
    ) -> None:
        self.db = db
        self.log = log
        self.projections = projections
        self.states = states
        self.policy_for = policy_for
        self.settings = settings

    # -- the live policy ---------------------------------------------------------------------

    def live_version(self) -> str:
        """The policy version of the live projection set (the configured one before the
        first start)."""
        live = self.projections.live()
        return live.policy if live else self.settings.policy

    def live_policy(self) -> Policy:
        """The live set's policy, with the parameters it keeps (a policy file's too)."""
        return self.projections.live_policy() or self.policy_for(self.live_version())

    # -- standings ---------------------------------------------------------------------------

    def standing(
        self, uscc: str, day: str, *, known_at: datetime | None = None, personal: bool = False
    ) -> dict[str, Any]:
        """The standing at the end of ``day`` (CST), from the read models or, with
        ``known_at``, from what the ledger had recorded by then. EnterpriseNotFound for
        an unknown USCC, NotLicensedYet before its licence (or before it was known)."""
        uscc = values.uscc(uscc)
        if known_at is None:
            with self.db.reading() as tx:  # one statement (two for a 404)
                doc = queries.standing(tx, uscc, day)
                if doc is None:
                    if queries.in_ledger(tx, uscc):
                        raise NotLicensedYet(uscc, day)
                    raise EnterpriseNotFound(uscc)
                return self.opened(tx, doc) if personal else redact(doc, personal)
        doc = self.known(uscc, day, known_at)
        if doc is None:
            raise NotLicensedYet(uscc, day, known_at)
        if personal:
            with self.db.reading() as tx:
                return self.opened(tx, doc)
        return redact(doc, personal)

    @staticmethod
    def opened(tx: Tx, doc: dict[str, Any]) -> dict[str, Any]:
        """For audit:read: the legal representative in clear (the read models keep only
        its commitment), from the personal-data table; None once erased."""
        return {**doc, "legal_representative": privacy.legal_representative(tx, doc["uscc"])}

    def known(self, uscc: str, day: str, known_at: datetime | None) -> dict[str, Any] | None:
        """The standing document computed by the live policy from the events recorded at
        or before ``known_at`` (None: all) that occurred by ``day``, with ``known_at``;
        None when there was none; EnterpriseNotFound when the
        enterprise has no event at all. Not redacted."""
        uscc = values.uscc(uscc)
        day = queries.check_day(day)
        cut = micros(known_at) if known_at is not None else None
        with self.db.transaction() as tx:
            facts = self.states.fold(tx, uscc, day, cut)
        if facts is None:
            return None
        doc = standing_of(facts, day, self.live_policy())
        doc["known_at"] = known_at.isoformat() if known_at is not None else None
        return doc

    def many(self, usccs: list[str], day: str, personal: bool = False) -> dict[str, dict[str, Any]]:
        """Standings of many enterprises from the read models, by USCC (those unknown
        or not licensed yet on ``day`` are absent)."""
        if not usccs:
            return {}
        with self.db.reading() as tx:
            found = queries.standings(tx, usccs, day)
            if personal:
                return {u: self.opened(tx, doc) for u, doc in found.items()}
        return {u: redact(doc, personal) for u, doc in found.items()}

    # -- one enterprise's history (``ledger history``) ---------------------------------------

    def events(self, uscc: str, known_at: datetime | None = None) -> list[LoggedEvent]:
        """An enterprise's events known at ``known_at`` (None: all), in version order;
        EnterpriseNotFound when it has none."""
        uscc = values.uscc(uscc)
        with self.db.reading() as tx:
            events = self.log.of_enterprise(tx, uscc)
        if not events:
            raise EnterpriseNotFound(uscc)
        return known(events, known_at)

    def history(
        self, uscc: str, day: str, known_at: datetime | None = None, personal: bool = True
    ) -> dict[str, Any]:
        """The events known at ``known_at`` that occurred by the end of ``day``, and the
        standing document they give (None before the licence)."""
        uscc = values.uscc(uscc)
        day = queries.check_day(day)
        events = [e for e in self.events(uscc, known_at) if day_of(e.occurred_at) <= day]
        policy = self.live_policy()
        facts: Facts | None = None
        for event in events:
            facts = apply(facts, event)
        standing = standing_of(facts, day, policy) if facts is not None else None
        if standing is not None and personal:
            with self.db.reading() as tx:
                standing = self.opened(tx, standing)
        first = events[0].data if events else {}
        return redact({
            "uscc": uscc,
            "name": first.get("name"),
            "place_type": first.get("place_type"),
            "district": first.get("district"),
            "as_of": day,
            "known_at": known_at.isoformat() if known_at else None,
            "policy": policy.version,
            "events": [redact(e.public(), personal) for e in events],
            "standing": redact(standing, personal) if standing is not None else None,
        }, personal)
