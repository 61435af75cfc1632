"""The in-transaction write hook: work that must commit, or roll back, with the events.

Every command of ``Ledger`` takes ``in_tx``, a callable ``in_tx(tx, events)`` run inside
the very transaction that stores the command's events, after they are inserted, with
``tx`` the ledger's :class:`~ledger.storage.db.Tx` on that transaction and ``events`` the
new events decoded (:class:`~ledger.storage.events.LoggedEvent`, positions included). If
the hook raises, nothing is stored and the command raises the hook's exception.

The recorders here (SQLite) and in ``gapless``/``groupcommit`` (PostgreSQL, group
commit) run it. Under group commit the leader writes other writers' saves in one
transaction and runs each save's hook on that save's events; should any hook (or any
version check) fail, each save of the group is written again alone, so a hook may run
more than once but only one run's transaction ever commits: keep its effects to ``tx``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder

from ledger.storage.db import Tx
from ledger.storage.events import LoggedEvent, decode

InTx = Callable[[Tx, list[LoggedEvent]], None]


class InTxFailed(Exception):  # noqa: N818 - a carrier, unwrapped by Ledger
    """The hook raised ``error``: carried through the library's error translation (which
    would turn a hook's own database error into a version conflict) and unwrapped by
    ``Ledger``."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error


def logged_events(stored: Sequence[StoredEvent], ids: Sequence[int]) -> list[LoggedEvent]:
    return [
        decode(i, e.originator_id, e.originator_version, e.topic, e.state)
        for i, e in zip(ids, stored, strict=True)
    ]


def run_in_tx(
    in_tx: InTx, tx: Tx, stored: Sequence[StoredEvent], ids: Sequence[int] | None
) -> None:
    """Call the hook; whatever it raises comes out as :class:`InTxFailed`."""
    if not ids:
        raise InTxFailed(RuntimeError("the recorder returned no notification ids"))
    try:
        in_tx(tx, logged_events(stored, ids))
    except InTxFailed:
        raise
    except Exception as e:
        raise InTxFailed(e) from e


class HookedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, running ``in_tx`` in the inserting transaction
    (the same hook as ``GaplessPostgresApplicationRecorder``)."""

    supports_in_tx = True

    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, in_tx: InTx | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        with self.datastore.transaction(commit=True) as c:
            ids = self._insert_events(c, stored_events, **kwargs)
            if in_tx is not None and stored_events:
                cursor = c.sqlite_cursor.connection.cursor()
                cursor.row_factory = None  # plain tuples, as the ledger's own Tx gives
                try:
                    run_in_tx(in_tx, Tx(cursor, postgres=False), stored_events, ids)
                finally:
                    cursor.close()
        return ids
