"""Projection sets: the read models of one credit policy each, and their lifecycle.

A set is ``live`` (serving reads), ``ready`` (built beside the live one, following the
log), ``building`` (a rebuild in progress, see `ledger.projections.rebuild`) or
``retired`` (its rows are being dropped). Live and ready sets are tracked models of the
one follower (`ledger.projections.follower`): a set's ``position`` commits with its
rows. Swapping a ready set live is one transaction: readers see the old set or the new
one, never a mix.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ledger.errors import LedgerError
from ledger.policy.credit import Policy, get_policy
from ledger.projections.follower import Follower, follow_forever
from ledger.projections.standing import StandingProjection
from ledger.storage.db import Database, Tx
from ledger.storage.eventlog import EventLog
from ledger.storage.events import LoggedEvent

if TYPE_CHECKING:
    from ledger.projections.rebuild import Progress

ACTIVE = ("live", "ready")
LOCK_SETS = 7_120_002
logger = logging.getLogger("ledger.projections")


@dataclass(frozen=True)
class SegmentProgress:
    """How far the segments of a set being built are (see `ledger.projections.rebuild`)."""

    total: int
    done: int
    leased: int  # not done, and held by a worker whose lease has not expired
    events_done: int  # the events of the segments done
    upto: int  # the log position the set is built up to


@dataclass(frozen=True)
class SetStatus:
    id: str
    policy: str
    state: str
    position: int
    head: int
    created_at: str = ""
    swapped_at: str | None = None
    parameters: dict[str, Any] | None = None  # the policy's (None: a set from before 011)
    segments: SegmentProgress | None = None  # a building set's

    @property
    def lag(self) -> int:
        """Events in the log the set has not applied yet (a set being built has no
        position until it is ready)."""
        return max(self.head - self.position, 0)


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat()


class ProjectionSet:
    """One live or ready set as a tracked model: its rows and its position."""

    def __init__(self, db: Database, set_id: str, policy: Policy) -> None:
        self.id = set_id
        self.projection = StandingProjection(policy)
        self._position_sql = (
            "SELECT position FROM projection_sets WHERE id = ? AND state IN ('live', 'ready')"
        )
        self._lock_sql = self._position_sql + (" FOR UPDATE" if db.postgres else "")

    def position(self, tx: Tx, lock: bool = False) -> int | None:
        return tx.value(self._lock_sql if lock else self._position_sql, (self.id,))

    def apply(self, tx: Tx, position: int, events: list[LoggedEvent]) -> None:
        self.projection.apply(tx, self.id, events)
        tx.execute(
            "UPDATE projection_sets SET position = ? WHERE id = ?", (events[-1].position, self.id)
        )


class Projections:
    def __init__(
        self, db: Database, log: EventLog, policy_for: Callable[[str], Policy] = get_policy
    ) -> None:
        self.db = db
        self.log = log
        self.policy_for = policy_for
        self._policies: dict[tuple[str, str], Policy] = {}
        self.follower = Follower(db, log)
        # Other followers of the log (the audit hash tree) that catch up with the sets.
        self.followers: list[Callable[[int | None, Sequence[LoggedEvent]], int]] = []

    # -- sets -----------------------------------------------------------------------------

    def ensure_live(self, policy: str) -> None:
        """Create the live set at first start (a fresh store follows from position 0)."""
        chosen = self.policy_for(policy)
        with self.db.transaction(write=True) as tx:
            self.db.lock(tx, LOCK_SETS)
            if tx.value("SELECT id FROM projection_sets WHERE state = 'live'") is None:
                self.create(tx, chosen, "live")

    def create(self, tx: Tx, policy: Policy, state: str) -> str:
        """A new set, keeping its policy's parameters (every fold of it uses them)."""
        set_id = f"{policy.version}-{uuid.uuid4().hex[:8]}"
        tx.execute(
            "INSERT INTO projection_sets (id, policy, state, position, created_at, parameters) "
            "VALUES (?, ?, ?, 0, ?, ?)",
            (set_id, policy.version, state, utcnow(), json.dumps(policy.parameters())),
        )
        return set_id

    def policy_from(self, version: str, parameters: str | None) -> Policy:
        """The policy a set was built under: its kept parameters (parsed once per
        process: writers ask on every write), else (a set from before they were kept)
        the built-in version of that name."""
        if parameters is None:
            return self.policy_for(version)
        found = self._policies.get((version, parameters))
        if found is None:
            found = Policy.from_parameters(version, json.loads(parameters), self.policy_for("v1"))
            self._policies[(version, parameters)] = found
        return found

    def policy_of(self, tx: Tx, set_id: str) -> Policy:
        """The policy a set folds with (`LedgerError` when there is no such set)."""
        row = tx.one("SELECT policy, parameters FROM projection_sets WHERE id = ?", (set_id,))
        if row is None:
            raise LedgerError(f"no projection set {set_id}")
        return self.policy_from(row[0], row[1])

    def live_policy(self) -> Policy | None:
        """The live set's policy (None before the first start)."""
        with self.db.reading() as tx:
            set_id = tx.value("SELECT id FROM projection_sets WHERE state = 'live'")
            return self.policy_of(tx, set_id) if set_id is not None else None

    def status(self) -> list[SetStatus]:
        with self.db.transaction() as tx:
            head = self.log.head(tx)
            rows = tx.all(
                "SELECT id, policy, state, position, created_at, swapped_at, parameters "
                "FROM projection_sets WHERE state != 'retired' ORDER BY created_at"
            )
            progress = {
                r[0]: SegmentProgress(*(int(v or 0) for v in r[1:])) for r in tx.all(
                    "SELECT set_id, COUNT(*), SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END), "
                    "SUM(CASE WHEN state = 'todo' AND lease_until >= "
                    f"{self.db.epoch_now} THEN 1 ELSE 0 END), "
                    "SUM(CASE WHEN state = 'done' THEN events ELSE 0 END), MAX(upto) "
                    "FROM rebuild_segments WHERE set_id IN (SELECT id FROM projection_sets "
                    "WHERE state = 'building') GROUP BY set_id"
                )
            }
        return [
            SetStatus(r[0], r[1], r[2], r[3], head, r[4], r[5],
                      json.loads(r[6]) if r[6] else None, progress.get(r[0]))
            for r in rows
        ]

    def live(self) -> SetStatus | None:
        return next((s for s in self.status() if s.state == "live"), None)

    def _active(self, tx: Tx, lock: bool = False) -> list[tuple[ProjectionSet | None, int]]:
        """The live and ready sets as tracked models (None: a set of a policy this
        release does not know, built beside by a newer one), with their positions
        (with ``lock``, read under their row locks, held to the end of ``tx``)."""
        found: list[tuple[ProjectionSet | None, int]] = []
        for set_id, version, state, parameters, position in tx.all(
            "SELECT id, policy, state, parameters, position FROM projection_sets "
            "WHERE state IN ('live', 'ready') ORDER BY id"
            + (" FOR UPDATE" if lock and self.db.postgres else "")
        ):
            try:
                policy = self.policy_from(version, parameters)
            except LedgerError:
                if state == "live":
                    raise
                logger.warning("set %s: unknown policy %s; not followed", set_id, version)
                found.append((None, position))
                continue
            found.append((ProjectionSet(self.db, set_id, policy), position))
        return found

    # -- following --------------------------------------------------------------------------

    def catch_up(self, upto: int | None = None, known: Sequence[LoggedEvent] = ()) -> int:
        """Apply what each active set has not seen (up to ``upto`` when given: a writer
        waits only for its own events, and hands them over as ``known`` so that they
        need not be read back when they are exactly what comes next), then let the
        other followers catch up. Returns the number of events applied to the sets."""
        with self.db.reading() as tx:
            sets = self._active(tx)
        applied = 0
        for model, _ in sets:
            if model is not None:
                applied += self.follower.catch_up(model, upto, known)
        for follow in self.followers:
            follow(upto, known)
        return applied

    def follow(self, set_id: str) -> int:
        """Catch one set up with the head of the log."""
        with self.db.reading() as tx:
            policy = self.policy_of(tx, set_id)
        return self.follower.catch_up(ProjectionSet(self.db, set_id, policy))

    def apply_stored(self, tx: Tx, events: Sequence[LoggedEvent]) -> bool:
        """Inside the transaction that stores ``events`` (PostgreSQL): apply them to each
        active set that is exactly before them. True when every set now includes them."""
        included = True
        for model, position in self._active(tx, lock=True):  # one round trip for all
            step = model is not None and self.follower.apply_stored(tx, model, events, position)
            included = included and step
        return included

    def follow_forever(self, stop: threading.Event, interval: float) -> None:
        """The background runner of ``ledger serve`` (see `follower.follow_forever`)."""
        follow_forever(self.db.settings, self.catch_up, stop, interval)

    # -- rebuilding (`ledger.projections.rebuild`) --------------------------------------------

    def rebuild(
        self,
        policy: str | Policy,
        swap: bool,
        progress: Progress | None = None,
        flush_rows: int = 20_000,
        workers: int | None = None,
        segments: int | None = None,
    ) -> str:
        """Build a new set for ``policy`` beside the live one; swap it live when
        ``swap``. See `ledger.projections.rebuild.rebuild`."""
        from ledger.projections.rebuild import rebuild

        return rebuild(self, policy, swap, progress, flush_rows, workers, segments)

    # -- swapping and dropping ------------------------------------------------------------------

    def swap(self, set_id: str) -> None:
        """Make the ready set ``set_id`` the live one in one transaction (readers see
        the old set or the new one, never a mix), then drop the old one."""
        with self.db.transaction() as tx:
            state = tx.value("SELECT state FROM projection_sets WHERE id = ?", (set_id,))
        if state is None:
            raise LedgerError(f"no projection set {set_id}")
        if state == "live":
            return
        if state != "ready":
            raise LedgerError(f"projection set {set_id} is {state}, not ready")
        self.follow(set_id)  # swap in caught up
        with self.db.transaction(write=True) as tx:
            self.db.lock(tx, LOCK_SETS)
            state = tx.value(
                "SELECT state FROM projection_sets WHERE id = ?"
                + (" FOR UPDATE" if self.db.postgres else ""),
                (set_id,),
            )
            if state != "ready":
                raise LedgerError(f"projection set {set_id} is {state}, not ready")
            tx.execute("UPDATE projection_sets SET state = 'retired' WHERE state = 'live'")
            tx.execute(
                "UPDATE projection_sets SET state = 'live', swapped_at = ? WHERE id = ?",
                (utcnow(), set_id),
            )
        with self.db.transaction(write=True) as tx:
            self.drop_stale(tx, ("retired",))

    def make_ready(self, tx: Tx, set_id: str, position: int) -> None:
        """A built set becomes ready at ``position``, superseding an older set of the
        same policy built beside."""
        self.db.lock(tx, LOCK_SETS)
        policy = tx.value("SELECT policy FROM projection_sets WHERE id = ?", (set_id,))
        tx.execute(
            "UPDATE projection_sets SET state = 'retired' "
            "WHERE state = 'ready' AND policy = ? AND id != ?",
            (policy, set_id),
        )
        tx.execute(
            "UPDATE projection_sets SET state = 'ready', position = ? WHERE id = ?",
            (position, set_id),
        )
        self.drop_stale(tx, ("retired",))

    def discard(self, set_id: str) -> None:
        """Drop a set built beside the live one (a comparison no longer wanted)."""
        with self.db.transaction(write=True) as tx:
            self.db.lock(tx, LOCK_SETS)
            state = tx.value("SELECT state FROM projection_sets WHERE id = ?", (set_id,))
            if state is None:
                raise LedgerError(f"no projection set {set_id}")
            if state != "ready":
                raise LedgerError(f"projection set {set_id} is {state}: only a ready set "
                                  "built beside can be discarded")
            tx.execute("UPDATE projection_sets SET state = 'retired' WHERE id = ?", (set_id,))
            self.drop_stale(tx, ("retired",))

    def drop_stale(self, tx: Tx, states: tuple[str, ...]) -> None:
        """Retired sets (and, under the rebuild lock, builds that never finished)
        leave no rows behind (nor rebuild segments)."""
        marks = ",".join("?" * len(states))
        stale = [
            r[0] for r in tx.all(f"SELECT id FROM projection_sets WHERE state IN ({marks})", states)
        ]
        for set_id in stale:
            for table in (
                "standing_segments", "enterprise_facts", "rebuild_segments", "stats_day",
                "stats_month", "stats_pending",
            ):
                tx.execute(f"DELETE FROM {table} WHERE set_id = ?", (set_id,))
            tx.execute("DELETE FROM projection_sets WHERE id = ?", (set_id,))
