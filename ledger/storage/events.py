"""Events as the rest of the ledger reads them: plain records decoded straight from the
stored rows (fast enough for rebuilds, feeds and audits), whatever wrote them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from ledger.values import day_of

_INTERNAL = ("timestamp", "originator_topic", "uscc", "occurred_at")
TOPIC_PREFIX = "ledger.aggregates.enterprise:Enterprise."
EVENT_TYPES = ("Licensed", "Committed", "Inspected", "Rectified", "Banned", "CreditRepaired")


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One stored event: what happened (``occurred_at``), when the ledger stored it
    (``recorded_at``), where it stands in the log (``position``) and its data."""

    position: int
    enterprise_id: str
    uscc: str
    type: str
    version: int
    occurred_at: str
    recorded_at: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def occurred_on(self) -> str:
        """The CST calendar day of ``occurred_at`` (policy dates are CST)."""
        return day_of(self.occurred_at)

    def public(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "uscc": self.uscc,
            "type": self.type,
            "version": self.version,
            "occurred_at": self.occurred_at,
            "recorded_at": self.recorded_at,
            "data": self.data,
        }


def decode(
    position: int, originator_id: Any, version: int, topic: str, state: bytes | memoryview
) -> LoggedEvent:
    """Decode one stored row (as `eventsourcing` wrote it with its JSON transcoder)."""
    body = json.loads(bytes(state))
    recorded_at = body.pop("timestamp")["_data_"]
    uscc = body.pop("uscc")
    occurred_at = body.pop("occurred_at")
    body.pop("originator_topic", None)
    return LoggedEvent(
        position=position,
        enterprise_id=str(
            originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
        ),
        uscc=uscc,
        type=topic.rsplit(".", 1)[-1],
        version=version,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        data=body,
    )
