"""Replaying one enterprise: its events (optionally only those the ledger knew at a
moment) and its standing at the end of a day, computed by the policy itself."""

from __future__ import annotations

from datetime import datetime, timezone
from itertools import takewhile
from typing import Any

from ledger.bootstrap import Services
from ledger.dates import today_cst
from ledger.errors import EnterpriseNotFound
from ledger.policy.credit import evaluate
from ledger.storage.events import LoggedEvent
from ledger.uscc import validate_uscc


def known_events(s: Services, uscc: str, known_at: datetime | None) -> list[LoggedEvent]:
    uscc = validate_uscc(uscc)
    with s.db.transaction() as tx:
        events = s.log.of_enterprise(tx, uscc)
    if not events:
        raise EnterpriseNotFound(uscc)
    if known_at is not None:  # the versions recorded by then (as ledger.audit.timetravel)
        cutoff = known_at.astimezone(timezone.utc)
        events = list(takewhile(lambda e: datetime.fromisoformat(e.recorded_at) <= cutoff, events))
    return events


def replay(
    s: Services, uscc: str, as_of: str | None = None, known_at: datetime | None = None
) -> dict[str, Any]:
    events = known_events(s, uscc, known_at)
    day = as_of or today_cst().isoformat()
    events = [e for e in events if e.occurred_on <= day]  # what had happened by then
    live = s.projections.live()
    policy = s.policy(live.policy if live else s.settings.policy)
    first = events[0].data if events else {}
    return {
        "uscc": validate_uscc(uscc),
        "name": first.get("name"),
        "place_type": first.get("place_type"),
        "district": first.get("district"),
        "as_of": day,
        "known_at": known_at.isoformat() if known_at else None,
        "policy": policy.version,
        "events": [e.public() for e in events],
        "standing": evaluate(events, day, policy) if events else None,
    }
