"""A PostgreSQL recorder whose notification ids have no gaps.

The library's recorder lets PostgreSQL raise the unique violation when a version is
taken, which burns a value of the ``notification_id`` sequence: the log would then
have holes, and the audit tree's rule "leaf i is the event at position i+1" would
break. Under the library's own EXCLUSIVE table lock we look for the versions first
and refuse before the sequence is touched, so positions stay 1, 2, 3, ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
)
from psycopg.sql import SQL, Identifier

InsertHook = Callable[[Any, Sequence[StoredEvent], Sequence[int]], None]


class GaplessPostgresApplicationRecorder(PostgresApplicationRecorder):
    """Also runs ``after_insert(connection, stored_events, notification_ids)`` inside
    the inserting transaction, so derived rows commit (or roll back) with the events."""

    after_insert: InsertHook | None = None

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.sql_version_taken = SQL(
            "SELECT 1 FROM {schema}.{table} t "
            "JOIN unnest(%s::uuid[], %s::bigint[]) AS n(id, v) "
            "ON t.originator_id = n.id AND t.originator_version = n.v LIMIT 1"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(events_table_name))

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert, except that any error, the hook's included, rolls the
        whole transaction back (the library's own catches errors inside it)."""
        if not stored_events:
            return []
        with (
            self.datastore.get_connection() as conn,
            conn.pipeline() as pipeline,
            conn.transaction(),
        ):
            with conn.cursor() as curs:
                self._insert_stored_events(curs, stored_events, **kwargs)
                pipeline.sync()
                ids = self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
            if self.after_insert is not None and ids:
                self.after_insert(conn, stored_events, ids)
        return ids

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        self._lock_table(curs)
        curs.execute(
            self.sql_version_taken,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
            ),
        )
        if curs.fetchone() is not None:
            raise IntegrityError("an aggregate version is already taken")
        self._notify_channel(curs)
        PostgresAggregateRecorder._insert_stored_events(self, curs, stored_events, **kwargs)


class GaplessPostgresFactory(PostgresFactory):
    application_recorder_class = GaplessPostgresApplicationRecorder
