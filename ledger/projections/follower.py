"""The one tracked follower of the event log, for every model derived from it.

A tracked model (a projection set, the audit hash tree) records the last log position
it applied in the same transaction as the rows those events produced, read under a
lock held to the transaction's end (a row lock on PostgreSQL, the database write lock
on SQLite). So any number of processes may follow at once, a follower killed at any
point resumes from its last commit, and each event is applied exactly once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from ledger.settings import Settings
from ledger.storage.db import Database, Tx
from ledger.storage.eventlog import EventLog, next_known
from ledger.storage.events import LoggedEvent
from ledger.storage.outage import Failures

logger = logging.getLogger("ledger.projections")


class Tracked(Protocol):
    """A model derived from the log that tracks how far it has applied it."""

    def position(self, tx: Tx, lock: bool = False) -> int | None:
        """The last log position applied (with ``lock``, under a lock held to the end
        of ``tx``); None when the model is no longer followed."""
        ...

    def apply(self, tx: Tx, position: int, events: list[LoggedEvent]) -> None:
        """Apply ``events`` (those after ``position``, the tracked one) and record the
        new position, in ``tx``."""
        ...


class Follower:
    """Applies the log to tracked models in batches, one transaction each."""

    def __init__(self, db: Database, log: EventLog, batch: int = 2000) -> None:
        self.db = db
        self.log = log
        self.batch = batch

    def catch_up(
        self, model: Tracked, upto: int | None = None, known: Sequence[LoggedEvent] = ()
    ) -> int:
        """Apply what ``model`` has not seen (up to ``upto`` when given: a writer waits
        only for its own events, and hands them over as ``known`` so that they need not
        be read back when they are exactly what comes next). Returns the number of
        events applied."""
        applied = 0
        if upto is None and not self.behind(model):
            return applied  # a follower's poll: no write lock when there is nothing to do
        while True:
            with self.db.transaction(write=True, pipeline=True) as tx:
                if self.db.postgres:
                    # Derived data: a crash may lose the last commits, never half of one
                    # (rows and position commit together), and the events are applied
                    # again; the commit is visible at once, so a writer's read sees it.
                    # (A checkpoint, a normal commit later in the WAL, makes the hash
                    # tree it signs durable first.)
                    tx.execute("SET LOCAL synchronous_commit TO OFF")
                events = self.step(tx, model, upto, known)
                if not events:
                    return applied
            applied += len(events)
            if len(events) < self.batch or (upto is not None and events[-1].position >= upto):
                return applied  # nothing more was there: spare a transaction to find out

    def step(
        self,
        tx: Tx,
        model: Tracked,
        upto: int | None,
        known: Sequence[LoggedEvent] = (),
        only_known: bool = False,
    ) -> list[LoggedEvent]:
        """Apply the next batch to ``model`` in the caller's transaction, under the
        model's lock; returns what was applied (nothing when the model is there
        already, or, with ``only_known``, when ``known`` is not exactly what comes
        next)."""
        position = model.position(tx, lock=True)
        if position is None or (upto is not None and position >= upto):
            return []
        return self._after(tx, model, position, upto, known, only_known)

    def _after(
        self, tx: Tx, model: Tracked, position: int, upto: int | None,
        known: Sequence[LoggedEvent], only_known: bool,
    ) -> list[LoggedEvent]:
        events = next_known(known, position, upto)
        if not events and not only_known:
            events = self.log.read(tx, position, self.batch)
        if events:
            model.apply(tx, position, events)
        return events

    def apply_stored(
        self, tx: Tx, model: Tracked, events: Sequence[LoggedEvent], position: int | None = None
    ) -> bool:
        """Inside the transaction that stores ``events`` (PostgreSQL): apply them when
        ``model`` is exactly before them (``position``: the model's, when the caller has
        read it under the model's lock in ``tx``). True when the model now includes them."""
        upto = events[-1].position
        if position is None:
            return bool(self.step(tx, model, upto, events, only_known=True))
        return bool(self._after(tx, model, position, upto, events, only_known=True))

    def behind(self, model: Tracked) -> bool:
        """Whether the log holds events the model has not applied (two reads, each a
        snapshot, position first: a position is never ahead of the head it is read
        with)."""
        with self.db.reading() as tx:
            position = model.position(tx)
            if position is None:
                return False
            return position < self.log.head(tx)


def follow_forever(
    settings: Settings, catch_up: Callable[[], object], stop: threading.Event, interval: float
) -> None:
    """The background runner of ``ledger serve``: poll (SQLite) or wait for the
    library's NOTIFY (PostgreSQL), then ``catch_up``. Errors are not swallowed
    silently: they are logged and retried, and no position moves past them."""
    wake = listener(settings, stop) if settings.is_postgres else None
    failures = Failures(logger, "projection catch-up")
    while not stop.is_set():
        try:
            catch_up()
            failures.succeeded()
        except Exception:
            failures.failed()
            stop.wait(1.0)
        if wake is not None:
            wake.wait(interval * 20)
            # This process's writers catch up themselves: a few milliseconds let a
            # burst of NOTIFYs cost one catch-up, not one each, and keep lag low.
            stop.wait(min(interval, 0.005))
            wake.clear()
        else:
            stop.wait(interval)


def listener(settings: Settings, stop: threading.Event) -> threading.Event:
    """A thread that LISTENs on the library's channel and sets an event per NOTIFY."""
    import psycopg

    wake = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            try:
                with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
                    conn.execute("LISTEN stored_events")
                    wake.set()  # catch up on what was written while not listening
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            wake.set()
            except Exception:
                stop.wait(1.0)

    threading.Thread(target=listen, name="ledger-listen", daemon=True).start()
    return wake
