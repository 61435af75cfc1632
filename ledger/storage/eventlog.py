"""Fast reads of the event log (the library's ``stored_events`` table) by position and
by enterprise, decoded into `LoggedEvent` records. Writes go through the application."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from ledger.aggregates.enterprise import enterprise_id
from ledger.storage.db import Database, Tx
from ledger.storage.events import LoggedEvent, decode


class EventLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        pos = self.position_column = "notification_id" if db.postgres else "rowid"
        cols = f"{pos}, originator_id, originator_version, topic, state FROM stored_events"
        self._after = f"SELECT {cols} WHERE {pos} > ? ORDER BY {pos} LIMIT ?"
        self._of = (
            f"SELECT {cols} WHERE originator_id = ? AND originator_version > ? "
            "AND originator_version <= ? ORDER BY originator_version"
        )
        self._head = f"SELECT MAX({pos}) FROM stored_events"
        self._by_enterprise = (
            f"SELECT {cols} WHERE {pos} <= ? AND (originator_id > ? OR "
            "(originator_id = ? AND originator_version > ?)) "
            "ORDER BY originator_id, originator_version LIMIT ?"
        )

    def key(self, ident: UUID) -> str:
        """How the library stores an originator id: uuid on PostgreSQL, hex on SQLite."""
        return str(ident) if self.db.postgres else ident.hex

    def head(self, tx: Tx) -> int:
        return tx.value(self._head) or 0

    def rows_after(self, tx: Tx, after: int, limit: int) -> list[Any]:
        """Stored rows ``(position, originator_id, version, topic, state)`` as they are,
        for readers that must see a row that no longer decodes (verification)."""
        return tx.all(self._after, (after, limit))

    def read(self, tx: Tx, after: int, limit: int) -> list[LoggedEvent]:
        return [decode(*row) for row in self.rows_after(tx, after, limit)]

    def of_enterprise(
        self, tx: Tx, uscc: str, after: int = 0, upto: int | None = None
    ) -> list[LoggedEvent]:
        """An enterprise's events with version in ``(after, upto]``, in version order."""
        key = self.key(enterprise_id(uscc))
        rows = tx.all(self._of, (key, after, upto if upto is not None else 2**62))
        return [decode(*row) for row in rows]

    def id_bound(self, value: int) -> str:
        """The stored form of the enterprise id whose 128 bits are ``value``."""
        return self.key(UUID(int=value))

    def rows_by_enterprise(
        self, upto: int, batch: int = 20_000, first: int = 0, end: int | None = None
    ) -> Iterator[list[Any]]:
        """Every stored row ``(position, originator_id, version, topic, state)`` up to
        position ``upto`` of the enterprises whose id (as a 128-bit number) is in
        ``[first, end)`` (default: all), enterprise by enterprise (primary-key order,
        each in version order), undecoded, in batches: constant memory for rebuilds,
        which decode only what they fold. An enterprise may span two batches."""
        sql = self._by_enterprise
        bounds: tuple[str, ...] = ()
        if end is not None:  # a range of the key: one index range scan
            sql = sql.replace("WHERE ", "WHERE originator_id < ? AND ", 1)
            bounds = (self.id_bound(end),)
        last_id, last_version = self.id_bound(first), -1
        while True:
            with self.db.transaction() as tx:
                rows = tx.all(sql, (*bounds, upto, last_id, last_id, last_version, batch))
            if not rows:
                return
            last_id, last_version = rows[-1][1], rows[-1][2]
            yield rows


def next_known(
    known: Sequence[LoggedEvent], position: int, upto: int | None
) -> list[LoggedEvent]:
    """A writer's own events when they are exactly the positions after ``position`` up
    to ``upto`` (positions have no gaps), else nothing: then the log is read."""
    if (
        known and upto is not None and known[0].position == position + 1
        and known[-1].position == upto and len(known) == upto - position
    ):
        return list(known)
    return []
