"""Standings as partners see them: read from the live read models (or, for auditors,
recomputed from what the ledger knew at a moment), with exactly the documented fields
and the legal representative only for keys with audit:read."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from api.errors import ApiProblem
from ledger.bootstrap import Services
from ledger.errors import EnterpriseNotFound
from ledger.projections import queries
from ledger.storage.db import Tx

FIELDS = (
    "uscc", "name", "place_type", "district", "status", "credit_class", "hygiene_grade",
    "on_reward_list", "on_punishment_list", "records", "verification_due",
    "rectification_deadline", "version", "position", "as_of",
)
RECORD_FIELDS = ("id", "kind", "severity", "since", "until", "repairable", "repairable_from")


def public(doc: dict[str, Any], with_personal: bool) -> dict[str, Any]:
    out = {k: doc[k] for k in FIELDS}
    out["records"] = [{k: r.get(k) for k in RECORD_FIELDS} for r in doc["records"]]
    if with_personal:
        out["legal_representative"] = doc.get("legal_representative")
    return out


def exists(tx: Tx, uscc: str) -> bool:
    return tx.value(
        "SELECT 1 FROM enterprise_facts WHERE set_id = ? AND uscc = ?",
        (queries.live_set(tx), uscc),
    ) is not None


def not_yet(uscc: str, day: str, known_at: datetime | None = None) -> ApiProblem:
    knew = f" as the ledger knew it at {known_at.isoformat()}" if known_at else ""
    return ApiProblem(
        404, "enterprise-not-found",
        f"enterprise {uscc} was not licensed yet at the end of {day}{knew}", uscc=uscc,
    )


def live_standing(services: Services, uscc: str, day: str, with_personal: bool) -> dict[str, Any]:
    with services.db.reading() as tx:  # one statement (two for a 404)
        doc = queries.standing(tx, uscc, day)
        if doc is None:
            if exists(tx, uscc):
                raise not_yet(uscc, day)
            raise EnterpriseNotFound(uscc)
    return public(doc, with_personal)


def live_standings(
    services: Services, usccs: list[str], day: str, with_personal: bool
) -> dict[str, dict[str, Any]]:
    with services.db.transaction() as tx:
        found = queries.standings(tx, usccs, day)
    return {u: public(doc, with_personal) for u, doc in found.items()}


def known_standing(
    services: Services, uscc: str, day: str, known_at: datetime, with_personal: bool
) -> dict[str, Any]:
    """The standing at the end of ``day`` from the events recorded by ``known_at``."""
    doc = _known(services, uscc, day, known_at)
    if doc is None:
        raise not_yet(uscc, day, known_at)
    out = public(doc, False)
    if with_personal:
        with services.db.transaction() as tx:
            facts = tx.value(
                "SELECT facts FROM enterprise_facts WHERE set_id = ? AND uscc = ?",
                (queries.live_set(tx), uscc),
            )
        out["legal_representative"] = json.loads(facts)["legal_representative"] if facts else None
    out["known_at"] = known_at.isoformat()
    return out


def _known(
    services: Services, uscc: str, day: str, known_at: datetime
) -> dict[str, Any] | None:
    if getattr(services, "audit", None) is not None:
        try:
            from ledger.audit.timetravel import standing_known_at
        except ImportError:  # pragma: no cover - the audit package is optional here
            pass
        else:
            return standing_known_at(services, uscc, day, known_at)
    from ledger.policy.credit import evaluate
    from ledger.services.history import known_events

    events = known_events(services, uscc, known_at)
    live = services.projections.live()
    policy = services.policy(live.policy if live else services.settings.policy)
    standing = evaluate(events, day, policy) if events else None
    if standing is None:
        return None
    last = [e for e in events if e.occurred_on <= day][-1]
    first = events[0].data
    return {
        "uscc": uscc, "name": first["name"], "place_type": first["place_type"],
        "district": first["district"], **standing, "version": last.version,
        "position": last.position, "as_of": day,
    }
