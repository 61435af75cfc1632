"""The projection runner: follows the event log exactly once into each projection set.

Tracking: a set's ``position`` is updated in the same transaction as the rows that
the events up to it produced, under a lock on the set's row (PostgreSQL) or the
database write lock (SQLite), so any number of processes may call ``catch_up``, a
runner killed at any point resumes from its last commit, and each event is applied
once. ``rebuild`` builds a new set from the stored rows in primary-key order (constant
memory, large batches, written by a second thread while the next batch is folded),
then follows the log from where it started and, when asked, swaps it live in one
transaction; until then the live set keeps serving.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import queue
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

from ledger.errors import LedgerError
from ledger.policy.credit import Policy, get_policy
from ledger.policy.facts import Facts
from ledger.projections.standing import Row, Segment, StandingProjection, advance
from ledger.storage.db import Database, Tx
from ledger.storage.eventlog import EventLog, next_known
from ledger.storage.events import LoggedEvent

ACTIVE = ("live", "ready")
LOCK_SETS = 7_120_002
LOCK_REBUILD = 7_120_003
logger = logging.getLogger("ledger.projections")


@dataclass(frozen=True)
class SetStatus:
    id: str
    policy: str
    state: str
    position: int
    head: int
    created_at: str = ""
    swapped_at: str | None = None

    @property
    def lag(self) -> int:
        """Events in the log the set has not applied yet (a set being built has no
        position until it is ready)."""
        return max(self.head - self.position, 0)


class RebuildRunning(LedgerError):
    """Another rebuild holds the rebuild lock of this store."""


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat()


class Stored(NamedTuple):
    """An event as a rebuild folds it: decoded straight from its stored row, with the
    fields the fold reads (the same names as `LoggedEvent`)."""

    position: int
    uscc: str
    type: str
    version: int
    occurred_at: str
    data: dict[str, Any]


class Projections:
    def __init__(
        self, db: Database, log: EventLog, policy_for: Callable[[str], Policy] = get_policy
    ) -> None:
        self.db = db
        self.log = log
        self.policy_for = policy_for
        self.batch = 2000
        # Other followers of the log (the audit hash tree) that catch up with the sets.
        self.followers: list[Callable[[int | None, Sequence[LoggedEvent]], int]] = []

    # -- sets -----------------------------------------------------------------------------

    def ensure_live(self, policy: str) -> None:
        """Create the live set at first start (a fresh store follows from position 0)."""
        self.policy_for(policy)
        with self.db.transaction(write=True) as tx:
            self.db.lock(tx, LOCK_SETS)
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
                "SELECT id, policy, state, position, created_at, swapped_at "
                "FROM projection_sets WHERE state != 'retired' ORDER BY created_at"
            )
        return [SetStatus(r[0], r[1], r[2], r[3], head, r[4], r[5]) for r in rows]

    def live(self) -> SetStatus | None:
        return next((s for s in self.status() if s.state == "live"), None)

    # -- following ---------------------------------------------------------------------------

    def catch_up(self, upto: int | None = None, known: Sequence[LoggedEvent] = ()) -> int:
        """Apply what each active set has not seen (up to ``upto`` when given: a writer
        waits only for its own events, and hands them over as ``known`` so that they
        need not be read back when they are exactly what comes next). Returns the
        number of events applied."""
        with self.db.reading() as tx:
            sets = tx.all(
                "SELECT id, policy, state FROM projection_sets WHERE state IN ('live', 'ready')"
            )
        applied = 0
        for set_id, version, state in sets:
            try:
                policy = self.policy_for(version)
            except LedgerError:
                if state == "live":
                    raise
                # a set built beside by a newer release: leave it to that release
                logger.warning("set %s: unknown policy %s; not followed", set_id, version)
                continue
            applied += self._follow(set_id, policy, upto, known)
        for follow in self.followers:
            follow(upto, known)
        return applied

    def _follow(
        self, set_id: str, policy: Policy, upto: int | None, known: Sequence[LoggedEvent] = ()
    ) -> int:
        projection = StandingProjection(policy)
        applied = 0
        if upto is None and self._caught_up(set_id):
            return applied  # a follower's poll: no write lock when there is nothing to do
        while True:
            with self.db.transaction(write=True, pipeline=True) as tx:
                if self.db.postgres:
                    # Derived data: a crash may lose the last commits, never half of one
                    # (rows and position commit together), and the events are applied
                    # again; the commit is visible at once, so a writer's read sees it.
                    tx.execute("SET LOCAL synchronous_commit TO OFF")
                events = self._step(tx, set_id, projection, upto, known)
                if not events:
                    return applied
                applied += len(events)
            if len(events) < self.batch or (upto is not None and events[-1].position >= upto):
                return applied  # nothing more was there: spare a transaction to find out

    def _step(
        self,
        tx: Tx,
        set_id: str,
        projection: StandingProjection,
        upto: int | None,
        known: Sequence[LoggedEvent] = (),
        only_known: bool = False,
    ) -> list[LoggedEvent]:
        """Apply the next batch to one set in the caller's transaction, under the set's
        row lock; returns what was applied (nothing when the set is there already, or,
        with ``only_known``, when ``known`` is not exactly what comes next)."""
        position = tx.value(
            "SELECT position FROM projection_sets WHERE id = ? AND state IN ('live', 'ready')"
            + (" FOR UPDATE" if self.db.postgres else ""),
            (set_id,),
        )
        if position is None or (upto is not None and position >= upto):
            return []
        events = next_known(known, position, upto)
        if not events and not only_known:
            events = self.log.read(tx, position, self.batch)
        if events:
            projection.apply(tx, set_id, events)
            tx.execute(
                "UPDATE projection_sets SET position = ? WHERE id = ?",
                (events[-1].position, set_id),
            )
        return events

    def apply_stored(self, tx: Tx, events: Sequence[LoggedEvent]) -> bool:
        """Inside the transaction that stores ``events`` (PostgreSQL): apply them to each
        active set that is exactly before them. True when every set now includes them."""
        upto = events[-1].position
        included = True
        for set_id, version, state in tx.all(
            "SELECT id, policy, state FROM projection_sets WHERE state IN ('live', 'ready') "
            "ORDER BY id"
        ):
            try:
                policy = self.policy_for(version)
            except LedgerError:
                if state == "live":
                    raise
                included = False
                continue
            step = self._step(tx, set_id, StandingProjection(policy), upto, events, True)
            included = included and bool(step)
        return included

    def _caught_up(self, set_id: str) -> bool:
        with self.db.reading() as tx:
            row = tx.one(
                "SELECT position, (SELECT MAX(" + self.log.position_column + ") FROM "
                "stored_events) FROM projection_sets WHERE id = ?",
                (set_id,),
            )
        return row is None or row[0] >= (row[1] or 0)

    def follow_forever(self, stop: threading.Event, interval: float) -> None:
        """The background runner of ``ledger serve``: poll (SQLite) or wait for the
        library's NOTIFY (PostgreSQL), then catch up. Errors are not swallowed
        silently: they are logged and retried, and the position never moves past them."""
        wake = self._listener(stop) if self.db.postgres else None
        while not stop.is_set():
            try:
                self.catch_up()
            except Exception:
                logger.exception("projection catch-up failed; retrying")
                stop.wait(1.0)
            if wake is not None:
                wake.wait(interval * 20)
                # This process's writers catch up themselves: a few milliseconds let a
                # burst of NOTIFYs cost one catch-up, not one each, and keep lag low.
                stop.wait(min(interval, 0.005))
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
                        wake.set()  # catch up on what was written while not listening
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
        workers: int | None = None,
    ) -> str:
        """Build a new set for ``policy`` from the events beside the live one; swap it
        live when ``swap``. Returns the new set's id. One rebuild at a time per store
        (`RebuildRunning` otherwise); a killed rebuild leaves nothing the next one
        does not clear. ``workers`` processes fold the events (0: this process;
        default: see `default_workers`)."""
        chosen = self.policy_for(policy)
        projection = StandingProjection(chosen)
        with self._rebuild_lock():
            with self.db.transaction(write=True) as tx:
                self._drop_stale(tx, ("retired", "building"))
                head = self.log.head(tx)
                set_id = self._create(tx, policy, "building")
            if progress:
                progress(0, head)
            if workers is None:
                workers = default_workers(head)
            batches = self.log.rows_by_enterprise(head)
            done = 0
            with paused_gc(), BatchWriter(self.db, projection) as writer:
                if workers >= 2:
                    built = folded_in_workers(chosen, set_id, batches, flush_rows, workers)
                else:
                    built = build_rows(chosen, set_id, batches, flush_rows)
                for facts_rows, segment_rows, count in built:
                    writer.put(facts_rows, segment_rows)
                    done += count
                    if progress:
                        progress(done, head)
            with self.db.transaction(write=True) as tx:
                self.db.lock(tx, LOCK_SETS)
                # an older set of the same policy built beside is superseded by this one
                tx.execute(
                    "UPDATE projection_sets SET state = 'retired' "
                    "WHERE state = 'ready' AND policy = ? AND id != ?",
                    (policy, set_id),
                )
                tx.execute(
                    "UPDATE projection_sets SET state = 'ready', position = ? WHERE id = ?",
                    (head, set_id),
                )
                self._drop_stale(tx, ("retired",))
        self._follow(set_id, chosen, None)
        if swap:
            self.swap(set_id)
        return set_id

    @contextmanager
    def _rebuild_lock(self) -> Iterator[None]:
        """Held for a whole rebuild: a PostgreSQL session advisory lock (per schema),
        or an exclusive lock on a file beside the SQLite database. Both vanish with
        the process, so a killed rebuild never blocks the next."""
        if self.db.postgres:
            import psycopg

            schema = self.db.settings.database_schema or "public"
            key = LOCK_REBUILD * 1_000_000 + zlib.crc32(schema.encode()) % 1_000_000
            with psycopg.connect(self.db.settings.postgres_conninfo, autocommit=True) as conn:
                got = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if not (got and got[0]):
                    raise RebuildRunning("another rebuild of the projections is running")
                try:
                    yield
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            return
        import fcntl

        with open(f"{self.db.settings.sqlite_path}.rebuild-lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RebuildRunning("another rebuild of the projections is running") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def swap(self, set_id: str) -> None:
        """Make the ready set ``set_id`` the live one in one transaction (readers see
        the old set or the new one, never a mix), then drop the old one."""
        with self.db.transaction() as tx:
            row = tx.one("SELECT policy, state FROM projection_sets WHERE id = ?", (set_id,))
        if row is None:
            raise LedgerError(f"no projection set {set_id}")
        if row[1] == "live":
            return
        if row[1] != "ready":
            raise LedgerError(f"projection set {set_id} is {row[1]}, not ready")
        self._follow(set_id, self.policy_for(row[0]), None)  # swap in caught up
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
            self._drop_stale(tx, ("retired",))

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
            self._drop_stale(tx, ("retired",))

    def _drop_stale(self, tx: Tx, states: tuple[str, ...]) -> None:
        """Retired sets (and, under the rebuild lock, builds that never finished)
        leave no rows behind."""
        marks = ",".join("?" * len(states))
        stale = [
            r[0] for r in tx.all(f"SELECT id FROM projection_sets WHERE state IN ({marks})", states)
        ]
        for set_id in stale:
            for table in ("standing_segments", "enterprise_facts"):
                tx.execute(f"DELETE FROM {table} WHERE set_id = ?", (set_id,))
            tx.execute("DELETE FROM projection_sets WHERE id = ?", (set_id,))


# -- folding the stored rows (in this process or in workers) -----------------------------------

PARALLEL_FROM = 50_000  # events: below this, starting worker processes costs more than it saves


def default_workers(events: int) -> int:
    """Worker processes for a rebuild: none on small logs or small machines (reading,
    inserting and shipping rows already take about one core, so on two cores folding
    elsewhere is slower, measured), else one per spare core up to four."""
    cores = os.cpu_count() or 1
    return min(cores - 1, 4) if events >= PARALLEL_FROM and cores >= 4 else 0


def fold_stored(
    policy: Policy, batches: Iterable[Sequence[Any]]
) -> Iterator[tuple[Facts, list[Segment], int]]:
    """Each enterprise's facts and whole timeline from stored rows ``(position,
    originator_id, version, topic, state)`` in primary-key order (an enterprise may
    span batches); only what the fold reads is decoded."""
    decode = json.JSONDecoder().raw_decode  # a stored state is one JSON document
    kinds: dict[str, str] = {}
    group: list[Stored] = []
    current: Any = None
    for rows in batches:
        for position, originator, version, topic, state in rows:
            if originator != current:
                if group:
                    facts, _, segments = advance(policy, None, group)
                    yield facts, segments, len(group)
                group, current = [], originator
            kind = kinds.get(topic)
            if kind is None:
                kind = kinds[topic] = topic.rsplit(".", 1)[-1]
            body = decode(state if isinstance(state, str) else bytes(state).decode())[0]
            group.append(Stored(position, body["uscc"], kind, version, body["occurred_at"], body))
    if group:
        facts, _, segments = advance(policy, None, group)
        yield facts, segments, len(group)


def build_rows(
    policy: Policy, set_id: str, batches: Iterable[Sequence[Any]], flush_rows: int
) -> Iterator[tuple[list[Row], list[Row], int]]:
    """The set's rows, about ``flush_rows`` at a time, with the number of events."""
    projection = StandingProjection(policy)
    facts_rows: list[Row] = []
    segment_rows: list[Row] = []
    count = 0
    for facts, segments, n in fold_stored(policy, batches):
        facts_rows.append(projection.facts_row(set_id, facts))
        segment_rows.extend(projection.segment_rows(set_id, facts.uscc, segments))
        count += n
        if len(segment_rows) + len(facts_rows) >= flush_rows:
            yield facts_rows, segment_rows, count
            facts_rows, segment_rows, count = [], [], 0
    if count:
        yield facts_rows, segment_rows, count


def rows_of_chunk(
    policy: Policy, set_id: str, rows: list[Any]
) -> tuple[list[Row], list[Row], int]:
    """A worker's task: all the rows of the whole enterprises in ``rows``."""
    facts_rows: list[Row] = []
    segment_rows: list[Row] = []
    count = 0
    for f, s, n in build_rows(policy, set_id, [rows], flush_rows=1 << 62):
        facts_rows, segment_rows, count = f, s, n
    return facts_rows, segment_rows, count


def chunks_of_enterprises(batches: Iterable[Sequence[Any]], size: int) -> Iterator[list[Any]]:
    """Stored rows regrouped into chunks of about ``size`` rows that each hold whole
    enterprises (rows come in primary-key order)."""
    pending: list[Any] = []
    for rows in batches:
        pending.extend(rows)
        if len(pending) < size:
            continue
        cut = len(pending) - 1
        last = pending[cut][1]
        while cut > 0 and pending[cut - 1][1] == last:
            cut -= 1
        if cut > 0:
            yield pending[:cut]
            pending = pending[cut:]
    if pending:
        yield pending


def _worker_start() -> None:
    gc.disable()  # as in the parent: the fold makes no reference cycles


def folded_in_workers(
    policy: Policy, set_id: str, batches: Iterable[Sequence[Any]], flush_rows: int, workers: int
) -> Iterator[tuple[list[Row], list[Row], int]]:
    """`build_rows` with the folding spread over ``workers`` processes; the caller
    reads and writes. At most two chunks per worker are in flight (constant memory)."""
    import multiprocessing
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start) as pool:
        flight: deque[Future[tuple[list[Row], list[Row], int]]] = deque()
        for chunk in chunks_of_enterprises(batches, max(flush_rows // 2, 1)):
            flight.append(pool.submit(rows_of_chunk, policy, set_id, chunk))
            if len(flight) >= 2 * workers:
                yield flight.popleft().result()
        while flight:
            yield flight.popleft().result()


@contextmanager
def paused_gc() -> Iterator[None]:
    """A rebuild allocates millions of small acyclic objects; the cyclic collector
    would scan them again and again for nothing (reference counting frees them)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class BatchWriter:
    """Inserts a rebuild's batches from a second thread (one transaction each), so
    the database works while the next batch is folded; at most two batches wait, so
    memory stays constant. An error in the writer surfaces in the caller."""

    def __init__(self, db: Database, projection: StandingProjection) -> None:
        self.db = db
        self.projection = projection
        self.batches: queue.Queue[tuple[list[Row], list[Row]] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="ledger-rebuild-writer")

    def __enter__(self) -> BatchWriter:
        self.thread.start()
        return self

    def put(self, facts_rows: list[Row], segment_rows: list[Row]) -> None:
        self._check()
        if facts_rows or segment_rows:
            self.batches.put((facts_rows, segment_rows))

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            while (batch := self.batches.get()) is not None:
                if self.error is not None:
                    continue  # drain without writing once something failed
                try:
                    with self.db.transaction(write=True) as tx:
                        self.projection.write_new(tx, *batch)
                except BaseException as e:  # handed over to the caller
                    self.error = e
        finally:
            self.db.close_thread()

    def __exit__(self, kind: Any, value: Any, trace: Any) -> None:
        self.batches.put(None)
        self.thread.join()
        if kind is None:
            self._check()
