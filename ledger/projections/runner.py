"""The projection runner: follows the event log exactly once into each projection set.

Tracking: a set's ``position`` is updated in the same transaction as the rows that
the events up to it produced, under a lock on the set's row (PostgreSQL) or the
database write lock (SQLite), so any number of processes may call ``catch_up`` and
each event is applied once. ``rebuild`` builds a new set from the events in primary-
key order (constant memory), then follows the log from where it started and, when
asked, swaps it live in one transaction.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from ledger.db import Database, Tx
from ledger.eventlog import LoggedEvent
from ledger.eventstore import EventLog
from ledger.policy.credit import Policy, get_policy
from ledger.projections.standing import Segment, StandingProjection, advance
from ledger.policy.facts import Facts

ACTIVE = ("live", "ready")


@dataclass(frozen=True)
class SetStatus:
    id: str
    policy: str
    state: str
    position: int
    head: int

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat()


class Projections:
    def __init__(
        self, db: Database, log: EventLog, policy_for: Callable[[str], Policy] = get_policy
    ) -> None:
        self.db = db
        self.log = log
        self.policy_for = policy_for
        self.batch = 2000
        # Other followers of the log (the audit hash tree) that catch up with the sets.
        self.followers: list[Callable[[int | None], int]] = []

    # -- sets -----------------------------------------------------------------------------

    def ensure_live(self, policy: str) -> None:
        """Create the live set at first start (a fresh store follows from position 0)."""
        self.policy_for(policy)
        with self.db.transaction(write=True) as tx:
            self.db.lock(tx, 7_120_002)
            if tx.value("SELECT id FROM projection_sets WHERE state = 'live'") is None:
                self._create(tx, policy, "live")

    def _create(self, tx: Tx, policy: str, state: str) -> str:
        set_id = f"{policy}-{uuid.uuid4().hex[:8]}"
        tx.execute(
            "INSERT INTO projection_sets (id, policy, state, position, created_at) "
            "VALUES (?, ?, ?, 0, ?)",
            (set_id, policy, state, utcnow()),
        )
        return set_id

    def status(self) -> list[SetStatus]:
        with self.db.transaction() as tx:
            head = self.log.head(tx)
            rows = tx.all(
                "SELECT id, policy, state, position FROM projection_sets "
                "WHERE state != 'retired' ORDER BY created_at"
            )
        return [SetStatus(r[0], r[1], r[2], r[3], head) for r in rows]

    def live(self) -> SetStatus | None:
        return next((s for s in self.status() if s.state == "live"), None)

    # -- following ---------------------------------------------------------------------------

    def catch_up(self, upto: int | None = None) -> int:
        """Apply what each active set has not seen (up to ``upto`` when given: a writer
        waits only for its own events). Returns the number of events applied."""
        with self.db.transaction() as tx:
            sets = tx.all(
                "SELECT id, policy FROM projection_sets WHERE state IN ('live', 'ready')"
            )
        applied = sum(
            self._follow(set_id, self.policy_for(policy), upto) for set_id, policy in sets
        )
        for follow in self.followers:
            follow(upto)
        return applied

    def _follow(self, set_id: str, policy: Policy, upto: int | None) -> int:
        projection = StandingProjection(policy)
        applied = 0
        while True:
            with self.db.transaction(write=True) as tx:
                position = tx.value(
                    "SELECT position FROM projection_sets WHERE id = ?"
                    + (" FOR UPDATE" if self.db.postgres else ""),
                    (set_id,),
                )
                if position is None or (upto is not None and position >= upto):
                    return applied
                events = self.log.read(tx, position, self.batch)
                if not events:
                    return applied
                projection.apply(tx, set_id, events)
                tx.execute(
                    "UPDATE projection_sets SET position = ? WHERE id = ?",
                    (events[-1].position, set_id),
                )
                applied += len(events)

    def follow_forever(self, stop: threading.Event, interval: float) -> None:
        """The background runner of ``ledger serve``: poll (SQLite) or wait for the
        library's NOTIFY (PostgreSQL), then catch up. Errors are not swallowed
        silently: they are logged and retried, and the position never moves past them."""
        import logging

        logger = logging.getLogger("ledger.projections")
        wake = self._listener(stop) if self.db.postgres else None
        while not stop.is_set():
            try:
                self.catch_up()
            except Exception:
                logger.exception("projection catch-up failed; retrying")
                stop.wait(1.0)
            if wake is not None:
                wake.wait(interval * 20)
                wake.clear()
            else:
                stop.wait(interval)

    def _listener(self, stop: threading.Event) -> threading.Event:
        """A thread that LISTENs on the library's channel and sets an event per NOTIFY."""
        import psycopg

        wake = threading.Event()

        def listen() -> None:
            while not stop.is_set():
                try:
                    with psycopg.connect(
                        self.db.settings.postgres_conninfo, autocommit=True
                    ) as conn:
                        conn.execute("LISTEN stored_events")
                        while not stop.is_set():
                            for _ in conn.notifies(timeout=0.5, stop_after=1):
                                wake.set()
                except Exception:
                    stop.wait(1.0)

        threading.Thread(target=listen, name="ledger-listen", daemon=True).start()
        return wake

    # -- rebuilding --------------------------------------------------------------------------

    def rebuild(
        self,
        policy: str,
        swap: bool,
        progress: Callable[[int, int], None] | None = None,
        flush_rows: int = 20_000,
    ) -> str:
        """Build a new set for ``policy`` from the events beside the live one; swap it
        live when ``swap``. Returns the new set's id."""
        chosen = self.policy_for(policy)
        projection = StandingProjection(chosen)
        with self.db.transaction(write=True) as tx:
            self._drop_stale(tx)
            head = self.log.head(tx)
            set_id = self._create(tx, policy, "building")
        done = 0
        pending: list[tuple[Facts, list[Segment]]] = []
        pending_rows = 0
        for facts, segments, count in self._fold_all(chosen, head):
            pending.append((facts, segments))
            pending_rows += len(segments) + 1
            done += count
            if pending_rows >= flush_rows:
                self._flush(projection, set_id, pending)
                pending, pending_rows = [], 0
                if progress:
                    progress(done, head)
        self._flush(projection, set_id, pending)
        if progress:
            progress(done, head)
        with self.db.transaction(write=True) as tx:
            tx.execute(
                "UPDATE projection_sets SET state = 'ready', position = ? WHERE id = ?",
                (head, set_id),
            )
        self._follow(set_id, chosen, None)
        if swap:
            self.swap(set_id)
        return set_id

    def _fold_all(
        self, policy: Policy, head: int
    ) -> Iterator[tuple[Facts, list[Segment], int]]:
        group: list[LoggedEvent] = []
        for batch in self.log.by_enterprise(head):
            for event in batch:
                if group and event.enterprise_id != group[0].enterprise_id:
                    facts, _, segments = advance(policy, None, group)
                    yield facts, segments, len(group)
                    group = []
                group.append(event)
        if group:
            facts, _, segments = advance(policy, None, group)
            yield facts, segments, len(group)

    def _flush(
        self, projection: StandingProjection, set_id: str, results: list[tuple[Facts, list[Segment]]]
    ) -> None:
        if results:
            with self.db.transaction(write=True) as tx:
                projection.write(tx, set_id, results, upsert=False)

    def swap(self, set_id: str) -> None:
        """Make ``set_id`` the live set in one transaction, then drop the old one."""
        with self.db.transaction(write=True) as tx:
            self.db.lock(tx, 7_120_002)
            state = tx.value(
                "SELECT state FROM projection_sets WHERE id = ?"
                + (" FOR UPDATE" if self.db.postgres else ""),
                (set_id,),
            )
            if state not in ACTIVE:
                raise ValueError(f"projection set {set_id} is {state}, not ready")
            tx.execute("UPDATE projection_sets SET state = 'retired' WHERE state = 'live'")
            tx.execute(
                "UPDATE projection_sets SET state = 'live', swapped_at = ? WHERE id = ?",
                (utcnow(), set_id),
            )
        with self.db.transaction(write=True) as tx:
            self._drop_stale(tx)

    def _drop_stale(self, tx: Tx) -> None:
        """Retired sets and builds that never finished leave no rows behind."""
        stale = [
            r[0]
            for r in tx.all(
                "SELECT id FROM projection_sets WHERE state IN ('retired', 'building')"
            )
        ]
        for set_id in stale:
            for table in ("standing_segments", "enterprise_facts"):
                tx.execute(f"DELETE FROM {table} WHERE set_id = ?", (set_id,))
            tx.execute("DELETE FROM projection_sets WHERE id = ?", (set_id,))
