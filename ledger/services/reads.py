"""Reads other than a standing, as the API and the pages share them: the joint lists,
search, the supervision queue and the change feed. Each opens its own short read over
the query functions of ``ledger.projections.queries`` (or the event log); entrypoints
never open a transaction or run SQL themselves. Standings: ``ledger.services.standing``.
"""

from __future__ import annotations

from typing import Any

from ledger.projections import compare as comparison
from ledger.projections import queries, stats
from ledger.services.redaction import redact
from ledger.storage.db import Database
from ledger.storage.eventlog import EventLog

Page = tuple[list[dict[str, Any]], str | None]


class Reads:
    def __init__(self, db: Database, log: EventLog) -> None:
        self.db = db
        self.log = log

    def punishment_list(
        self, day: str, place_type: str | None = None, district: str | None = None,
        limit: int = 100, cursor: str | None = None,
    ) -> Page:
        with self.db.reading() as tx:
            return queries.punishment_list(tx, day, place_type, district, limit, cursor)

    def reward_list(
        self, day: str, place_type: str | None = None, district: str | None = None,
        limit: int = 100, cursor: str | None = None,
    ) -> Page:
        with self.db.reading() as tx:
            return queries.reward_list(tx, day, place_type, district, limit, cursor)

    def stats(
        self, day: str, district: str | None = None, place_type: str | None = None
    ) -> dict[str, Any]:
        """Counts as of ``day`` (``GET /v1/stats``, the dashboard)."""
        with self.db.reading() as tx:
            return stats.stats(tx, day, district, place_type)

    def monthly(
        self, first: str, last: str, district: str | None = None, place_type: str | None = None
    ) -> list[dict[str, Any]]:
        """The month-by-month series (``GET /v1/stats/monthly``, the dashboard)."""
        with self.db.reading() as tx:
            return stats.monthly(tx, first, last, district, place_type)

    def stats_split(
        self, day: str, by: str, district: str | None = None, place_type: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """Counts as of ``day`` per district or per place type (the dashboard)."""
        with self.db.reading() as tx:
            return stats.split(tx, day, by, district, place_type)

    def search(self, q: str, limit: int) -> list[dict[str, Any]]:
        with self.db.reading() as tx:
            return queries.search(tx, q, limit)

    def supervision_queue(
        self, today: str, horizon_days: int, limit: int = 100, cursor: str | None = None
    ) -> Page:
        with self.db.reading() as tx:
            return queries.supervision_queue(tx, today, horizon_days, limit, cursor)

    def feed(
        self, after: int, limit: int, personal: bool
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Up to ``limit`` events after log position ``after``, redacted by scope, and
        the position to continue after (None at the head of the log)."""
        with self.db.reading() as tx:
            events = self.log.read(tx, after, limit + 1)
        more = len(events) > limit
        events = events[:limit]
        return (
            [redact(e.public(), personal) for e in events],
            events[-1].position if more else None,
        )

    def compare(self, a: str, b: str, day: str) -> dict[str, Any]:
        """Two projection sets compared as of ``day`` (`ledger.projections.compare`)."""
        return comparison.compare_sets(self.db, a, b, day)

    def comparable_sets(self) -> list[dict[str, Any]]:
        """The live set and the sets built beside it."""
        return comparison.active_sets(self.db)
