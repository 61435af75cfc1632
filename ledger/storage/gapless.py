"""A PostgreSQL recorder whose notification ids have no gaps.

The library's recorder draws positions from the ``notification_id`` sequence, and a
sequence value is never given back: a version already taken (the unique violation), an
in-transaction hook that refuses or a connection dropped before COMMIT would each leave
a hole, and after a crash PostgreSQL restarts a sequence up to 32 values ahead. The log
would then have holes, and the audit tree's rule "leaf i is the event at position i+1"
would break.

So this recorder does not use the sequence: under the library's own EXCLUSIVE table
lock (which serialises every insert) the new events take ``MAX(notification_id) + 1,
+ 2, ...``, which a rollback or a crash undoes with the rows, so positions stay 1, 2,
3, ... A taken version fails the INSERT on the table's unique key and the whole
transaction rolls back, burning nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresFactory,
)
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from ledger.storage.db import Tx
from ledger.storage.events import LoggedEvent
from ledger.storage.hooked import InTx, run_in_tx

InsertHook = Callable[[Any, Sequence[StoredEvent], Sequence[int]], None]


class GaplessPostgresApplicationRecorder(PostgresApplicationRecorder):
    """Also runs a write's own ``in_tx(tx, events)`` hook (see ``ledger.storage.hooked``)
    and then ``after_insert(connection, stored_events, notification_ids)`` inside the
    inserting transaction, so derived rows commit (or roll back) with the events."""

    after_insert: InsertHook | None = None
    supports_in_tx = True

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        # positions numbered here, under the table lock, rather than by the sequence
        self.insert_events_statement = SQL(
            "INSERT INTO {schema}.{table} AS t "
            "(originator_id, originator_version, topic, state, notification_id) "
            "SELECT u.originator_id, u.originator_version, u.topic, u.state, "
            "(SELECT COALESCE(MAX(notification_id), 0) FROM {schema}.{table}) + u.n "
            "FROM unnest(%s::{schema}.{stored_event_type}[]) WITH ORDINALITY "
            "AS u(originator_id, originator_version, topic, state, n) "
            "ORDER BY u.n RETURNING notification_id"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(events_table_name),
            stored_event_type=Identifier(self.stored_event_type_name),
        )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, in_tx: InTx | None = None,
        **kwargs: Any,
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
            if in_tx is not None:
                with conn.cursor(row_factory=tuple_row) as cursor:
                    tx = Tx(cursor, postgres=True, pipelined=True)
                    # the library's connection names its tables with their schema
                    tx.execute(f'SET LOCAL search_path TO "{self.datastore.schema}"')
                    hook = in_tx

                    def synced(tx: Tx, events: list[LoggedEvent]) -> None:
                        hook(tx, events)
                        pipeline.sync()  # the hook's errors surface here, not at COMMIT

                    run_in_tx(synced, tx, stored_events, ids)
            if self.after_insert is not None and ids:
                self.after_insert(conn, stored_events, ids)
        return ids

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # A version already taken fails the INSERT on the table's unique key: the
        # transaction rolls back whole, and as positions are numbered from the rows
        # (not drawn from a sequence) the refusal leaves no hole. No look-up first:
        # it cost a round trip per write.
        self._lock_table(curs)
        self._notify_channel(curs)
        # its rows are read after ``pipeline.sync()``, which delivers every queued result
        # in order, so this statement's are the cursor's last
        curs.execute(
            self.insert_events_statement,
            ([
                self.construct_pg_stored_event(
                    e.originator_id, e.originator_version, e.topic, e.state
                )
                for e in stored_events
            ],),
            prepare=False,
        )


class GaplessPostgresFactory(PostgresFactory):
    application_recorder_class = GaplessPostgresApplicationRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        # With several hosts (failover), ``target_session_attrs=read-write`` from the
        # URL makes libpq skip a standby; the library has no setting of its own for it.
        wanted = self.env.get("POSTGRES_TARGET_SESSION_ATTRS")
        kwargs = self.datastore.pool.kwargs
        if wanted and isinstance(kwargs, dict):
            kwargs["target_session_attrs"] = wanted
