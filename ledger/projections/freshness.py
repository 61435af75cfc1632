"""What a public answer depends on besides the request and the day: the head of the log
and the live projection set with its position. When none of them moved, the answer is
the same, so the pages can answer a conditional request with 304 for one cheap read."""

from __future__ import annotations

from ledger.storage.eventlog import EventLog


def freshness(log: EventLog) -> str:
    """``"<log head>:<live set id>:<its position>"`` in one statement."""
    head_sql = f"SELECT MAX({log.position_column}) FROM stored_events"
    with log.db.reading() as tx:
        row = tx.one(
            f"SELECT ({head_sql}), s.id, s.position FROM projection_sets s "
            "WHERE s.state = 'live'"
        )
        if row is None:
            return f"{tx.value(head_sql) or 0}::"
    return f"{row[0] or 0}:{row[1]}:{row[2]}"
