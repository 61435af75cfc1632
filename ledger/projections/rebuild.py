"""Rebuilding a projection set from the log, in segments claimed by leases.

A rebuild plans a new set (state ``building``) at the head of the log and splits the
log up to there into S segments by the enterprise id, a uuid5 of the USCC: segment k
holds the enterprises whose id, as a 128-bit number, lies in ``[k, k+1) * 2**128 / S``
(a hash partition, and one range scan of the log's primary key). Workers (this
process, local processes, or ``ledger projections work`` on any machine that reaches
the database) claim segments with leases stored in ``rebuild_segments``: a worker
reads its segment enterprise by enterprise, folds each one's whole timeline once,
and writes the segment's rows in the transaction that marks it done, if its lease
token still owns the segment. A worker killed at any point therefore leaves nothing
behind; its lease expires (``LEDGER_LEASE_SECONDS``) and another worker redoes the
segment; a worker that merely lost its lease cannot commit. The transaction that
marks the last segment done makes the set ready at the planned position; it then
follows the log from there like any set, and is swapped live when asked.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import queue
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from ledger.errors import InvalidInput, LedgerError
from ledger.policy.credit import Policy
from ledger.policy.facts import Facts
from ledger.projections.sets import Projections
from ledger.projections.standing import Row, Segment, StandingProjection, advance, count
from ledger.projections.stats import StatsDelta
from ledger.settings import Settings
from ledger.storage.db import Database, Tx
from ledger.storage.eventlog import EventLog
from ledger.storage.outage import Failures

LOCK_REBUILD = 7_120_003
SEGMENT_EVENTS = 20_000  # default segment size: its rows wait in memory for its commit, and
# a worker folds the next segment while the last one is written
MAX_SEGMENTS = 4096
PARALLEL_FROM = 50_000  # events: below this, starting worker processes costs more than it saves
logger = logging.getLogger("ledger.projections")

Progress = Callable[[int, int], None]


class RebuildRunning(LedgerError):
    """Another rebuild holds the rebuild lock of this store."""


class LeaseLost(LedgerError):
    """The segment was claimed by another worker after this one's lease expired."""


def default_workers(events: int) -> int:
    """Worker processes for a rebuild: none besides this one on small logs or small
    machines (reading, inserting and shipping rows already take about one core, so on
    two cores folding elsewhere is slower, measured), else one per spare core up to
    four."""
    cores = os.cpu_count() or 1
    return min(cores - 1, 4) if events >= PARALLEL_FROM and cores >= 4 else 0


def default_segments(events: int) -> int:
    return min(max(1, -(-events // SEGMENT_EVENTS)), MAX_SEGMENTS)


def check_segments(segments: int) -> None:
    if not 1 <= segments <= MAX_SEGMENTS:
        raise InvalidInput(
            "segments", "range", f"--segments: {segments} is not between 1 and {MAX_SEGMENTS}"
        )


# -- the coordinator ------------------------------------------------------------------------


def rebuild(
    projections: Projections,
    policy: str | Policy,
    swap: bool,
    progress: Progress | None = None,
    flush_rows: int = 20_000,
    workers: int | None = None,
    segments: int | None = None,
) -> str:
    """Build a new set for ``policy`` from the events beside the live one, in
    ``segments`` (default: one per 20k events) worked by ``workers`` local processes
    (this one included; default: see `default_workers`), then follow the log and
    swap it live when ``swap``. Returns the new set's id. One rebuild at a time per
    store (`RebuildRunning` otherwise); a killed rebuild leaves nothing the next one
    does not clear, and until then ``ledger projections work`` can finish it."""
    chosen = projections.policy_for(policy) if isinstance(policy, str) else policy
    if segments is not None:
        check_segments(segments)
    db = projections.db
    with rebuild_lock(db):
        set_id, head = plan(projections, chosen, segments)
        if progress:
            progress(0, head)
        count = workers if workers is not None else default_workers(head)
        work_locally(projections, set_id, chosen, max(count, 1), progress, flush_rows)
    projections.follow(set_id)
    if swap:
        projections.swap(set_id)
    return set_id


def plan(
    projections: Projections, policy: str | Policy, segments: int | None = None
) -> tuple[str, int]:
    """A new building set for ``policy`` at the head of the log, with its segments;
    clears what earlier rebuilds left (call under `rebuild_lock`)."""
    if isinstance(policy, str):
        policy = projections.policy_for(policy)
    with projections.db.transaction(write=True) as tx:
        projections.drop_stale(tx, ("retired", "building"))
        head = projections.log.head(tx)
        count = segments if segments is not None else default_segments(head)
        set_id = projections.create(tx, policy, "building")
        tx.many(
            "INSERT INTO rebuild_segments (set_id, segment, segments, upto) VALUES (?, ?, ?, ?)",
            [(set_id, k, count, head) for k in range(count)],
        )
    return set_id, head


def work_locally(
    projections: Projections,
    set_id: str,
    policy: Policy,
    processes: int,
    progress: Progress | None = None,
    flush_rows: int = 20_000,
) -> int:
    """Work the set's segments with ``processes`` local processes, this one included,
    until every segment is done (by them or by workers elsewhere)."""
    settings = projections.db.settings
    # forked from a server process that imported the ledger once (no threads are
    # inherited, and a second rebuild in this process starts its workers at once)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    children = [
        context.Process(
            target=work_in_child, args=(settings, set_id, policy, flush_rows),
            name=f"ledger-rebuild-{i}", daemon=True,
        )
        for i in range(processes - 1)
    ]
    for child in children:
        child.start()
    done = False
    try:
        built = Worker(projections, set_id, policy, flush_rows, progress).run()
        done = True
        return built
    finally:
        for child in children:  # done: they exit as soon as they see it
            if not done:
                child.terminate()
            child.join()


def work_in_child(settings: Settings, set_id: str, policy: Policy, flush_rows: int) -> None:
    db = Database(settings)
    try:
        Worker(Projections(db, EventLog(db)), set_id, policy, flush_rows).run()
    finally:
        db.close()


@contextmanager
def rebuild_lock(db: Database) -> Iterator[None]:
    """Held for a whole rebuild: a PostgreSQL session advisory lock (per schema),
    or an exclusive lock on a file beside the SQLite database. Both vanish with
    the process, so a killed rebuild never blocks the next."""
    if db.postgres:
        import psycopg

        schema = db.settings.database_schema or "public"
        key = LOCK_REBUILD * 1_000_000 + zlib.crc32(schema.encode()) % 1_000_000
        with psycopg.connect(db.settings.postgres_conninfo, autocommit=True) as conn:
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if not (got and got[0]):
                raise RebuildRunning("another rebuild of the projections is running")
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return
    import fcntl

    with open(f"{db.settings.sqlite_path}.rebuild-lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RebuildRunning("another rebuild of the projections is running") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def joinable(projections: Projections, set_id: str | None = None) -> str | None:
    """The building set a worker can join (``set_id``, or the oldest with segments
    not done); None when there is nothing to do. `LedgerError` for an unknown set."""
    with projections.db.reading() as tx:
        if set_id is not None:
            state = tx.value("SELECT state FROM projection_sets WHERE id = ?", (set_id,))
            if state is None:
                raise LedgerError(f"no projection set {set_id}")
            return set_id if state == "building" else None
        return tx.value(
            "SELECT s.id FROM projection_sets s WHERE s.state = 'building' AND EXISTS "
            "(SELECT 1 FROM rebuild_segments r WHERE r.set_id = s.id AND r.state = 'todo') "
            "ORDER BY s.created_at LIMIT 1"
        )


# -- a worker ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    segment: int
    segments: int
    upto: int
    token: str

    @property
    def bounds(self) -> tuple[int, int | None]:
        """The segment's enterprise ids, as 128-bit numbers: ``[first, end)``."""
        first = self.segment * 2**128 // self.segments
        end = (self.segment + 1) * 2**128 // self.segments
        return first, (end if self.segment + 1 < self.segments else None)


class Worker:
    """Claims the segments of one building set, one at a time, until all are done:
    reads and folds a segment here while a second thread commits the previous one;
    a third renews the leases it holds."""

    def __init__(
        self,
        projections: Projections,
        set_id: str,
        policy: Policy,
        flush_rows: int = 20_000,
        progress: Progress | None = None,
    ) -> None:
        self.sets = projections
        self.db: Database = projections.db
        self.log: EventLog = projections.log
        self.set_id = set_id
        self.policy = policy
        self.projection = StandingProjection(policy)
        self.page = max(min(flush_rows, 20_000), 1)
        self.lease = self.db.settings.lease_seconds
        self.progress = progress
        self.held: dict[int, str] = {}  # segment -> lease token, renewed by the heartbeat
        self.built = 0  # segments this worker committed
        self.events = 0  # events this worker folded
        self.committed_events = 0
        self._others = 0  # events of the segments other workers committed
        self._reported = 0
        self._lock = threading.Lock()

    def run(self) -> int:
        """Work until every segment of the set is done (or the set is gone); returns
        the number of segments this worker built."""
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(stop,), name="ledger-lease")
        beat.start()
        try:
            with paused_gc(), SegmentWriter(self) as writer:
                while True:
                    claim = self.claim()
                    if claim is None:
                        writer.drain()
                        left, upto = self.remaining()
                        self._report(upto)
                        if not left:
                            return self.built
                        stop.wait(min(self.lease / 4, 0.25))
                        continue
                    writer.put(claim, *self.fold(claim))
        finally:
            stop.set()
            beat.join()
            self.db.close_thread()

    # -- leases -------------------------------------------------------------------------------

    def claim(self) -> Claim | None:
        """A segment not done whose lease is free or expired, now leased to this worker."""
        token = uuid.uuid4().hex
        with self.db.transaction(write=True) as tx:
            row = tx.one(
                "SELECT segment, segments, upto FROM rebuild_segments "
                f"WHERE set_id = ? AND state = 'todo' AND (lease_until IS NULL OR "
                f"lease_until < {self.db.epoch_now}) ORDER BY segment LIMIT 1"
                + (" FOR UPDATE SKIP LOCKED" if self.db.postgres else ""),
                (self.set_id,),
            )
            if row is None:
                return None
            tx.execute(
                f"UPDATE rebuild_segments SET owner = ?, lease_until = {self.db.epoch_now} + ?, "
                "attempts = attempts + 1 WHERE set_id = ? AND segment = ?",
                (token, self.lease, self.set_id, row[0]),
            )
        with self._lock:
            self.held[row[0]] = token
        return Claim(int(row[0]), int(row[1]), int(row[2]), token)

    def _heartbeat(self, stop: threading.Event) -> None:
        """Renew the leases held, a few times per lease period. A renewal that fails
        (the database away for a moment) is tried again at the next beat: a lease lost
        meanwhile only costs the segment's work (the commit's token check is the guard)."""
        failures = Failures(logger, "renewing rebuild leases")
        try:
            while not stop.wait(self.lease / 3):
                with self._lock:
                    held = list(self.held.items())
                if not held:
                    continue
                try:
                    with self.db.transaction(write=True) as tx:
                        tx.many(
                            f"UPDATE rebuild_segments SET lease_until = {self.db.epoch_now} + ? "
                            "WHERE set_id = ? AND segment = ? AND owner = ? "
                            "AND state = 'todo'",
                            [(self.lease, self.set_id, k, token) for k, token in held],
                        )
                    failures.succeeded()
                except Exception:
                    failures.failed()
        finally:
            self.db.close_thread()

    def remaining(self) -> tuple[int, int]:
        """Segments of the set not done yet (0 when the set is gone), and the planned
        position."""
        with self.db.reading() as tx:
            row = tx.one(
                "SELECT COUNT(*) - SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END), MAX(upto), "
                "SUM(CASE WHEN state = 'done' THEN events ELSE 0 END) "
                "FROM rebuild_segments WHERE set_id = ?",
                (self.set_id,),
            )
        if row is None or row[1] is None:
            return 0, 0
        self._others = int(row[2] or 0) - self.committed_events
        return int(row[0] or 0), int(row[1])

    # -- folding and committing -------------------------------------------------------------

    def fold(self, claim: Claim) -> tuple[list[Row], list[Row], StatsDelta, int]:
        """All the rows of the segment's enterprises, their statistics, the events."""
        first, end = claim.bounds
        pages = self.log.rows_by_enterprise(claim.upto, self.page, first, end)
        facts_rows: list[Row] = []
        segment_rows: list[Row] = []
        facts_row, segment_rows_of = self.projection.facts_row, self.projection.segment_rows
        stats = StatsDelta()
        events = 0
        for facts, segments, group in fold_stored(self.policy, self._counted(pages, claim.upto)):
            facts_rows.append(facts_row(self.set_id, facts))
            segment_rows.extend(segment_rows_of(self.set_id, facts.uscc, segments))
            count(stats, facts, segments, group)
            events += len(group)
        return facts_rows, segment_rows, stats, events

    def _counted(self, pages: Iterable[list[Any]], upto: int) -> Iterator[list[Any]]:
        for rows in pages:
            yield rows
            self.events += len(rows)
            self._report(upto)

    def _report(self, total: int) -> None:
        if self.progress is None:
            return
        done = min(self.events + self._others, total)
        if done >= self._reported:
            self._reported = done
            self.progress(done, total)

    def commit(
        self, claim: Claim, facts_rows: list[Row], segment_rows: list[Row], stats: StatsDelta,
        count: int,
    ) -> None:
        """The segment's rows and its done mark in one transaction, if this worker's
        lease token still owns the segment; the last segment done makes the set ready."""
        lock = " FOR UPDATE" if self.db.postgres else ""
        with self.db.transaction(write=True) as tx:
            owner = tx.value(
                "SELECT owner FROM rebuild_segments WHERE set_id = ? AND segment = ? "
                "AND state = 'todo'" + lock,
                (self.set_id, claim.segment),
            )
            if owner != claim.token:
                raise LeaseLost(f"segment {claim.segment} of {self.set_id} was claimed again")
            self.projection.write_new(tx, facts_rows, segment_rows)
            stats.write(tx, self.set_id)  # added to the other segments' (same transaction)
            tx.execute(
                "UPDATE rebuild_segments SET state = 'done', owner = NULL, lease_until = NULL, "
                "events = ? WHERE set_id = ? AND segment = ?",
                (count, self.set_id, claim.segment),
            )
            self._finish_if_last(tx, claim.upto)
        with self._lock:
            self.held.pop(claim.segment, None)
            self.built += 1
            self.committed_events += count

    def _finish_if_last(self, tx: Tx, upto: int) -> None:
        # the set's row lock orders the commits of its last segments (PostgreSQL):
        # the count after it sees every segment committed before
        state = tx.value(
            "SELECT state FROM projection_sets WHERE id = ?"
            + (" FOR UPDATE" if self.db.postgres else ""),
            (self.set_id,),
        )
        if state != "building":
            raise LeaseLost(f"projection set {self.set_id} is no longer being built")
        left = tx.value(
            "SELECT COUNT(*) FROM rebuild_segments WHERE set_id = ? AND state != 'done'",
            (self.set_id,),
        )
        if not left:
            self.sets.make_ready(tx, self.set_id, upto)


class SegmentWriter:
    """Commits a worker's segments from a second thread, so the database works while
    the next segment is folded; at most one segment waits (memory: two segments'
    rows). A lost lease drops the segment; any other error surfaces in the caller."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.segments: queue.Queue[
            tuple[Claim, list[Row], list[Row], StatsDelta, int] | None
        ] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="ledger-rebuild-writer")

    def __enter__(self) -> SegmentWriter:
        self.thread.start()
        return self

    def put(
        self, claim: Claim, facts_rows: list[Row], segment_rows: list[Row], stats: StatsDelta,
        n: int,
    ) -> None:
        self._check()
        self.segments.put((claim, facts_rows, segment_rows, stats, n))

    def drain(self) -> None:
        """Wait until every segment handed over is committed (or dropped)."""
        self.segments.join()
        self._check()

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            while (item := self.segments.get()) is not None:
                try:
                    if self.error is None:  # drain without writing once something failed
                        self.worker.commit(*item)
                except LeaseLost as e:
                    logger.warning("%s; its rows are dropped", e)
                    with self.worker._lock:
                        self.worker.held.pop(item[0].segment, None)
                except BaseException as e:  # handed over to the caller
                    self.error = e
                finally:
                    self.segments.task_done()
            self.segments.task_done()
        finally:
            self.worker.db.close_thread()

    def __exit__(self, kind: Any, value: Any, trace: Any) -> None:
        self.segments.put(None)
        self.thread.join()
        if kind is None:
            self._check()


# -- folding the stored rows ----------------------------------------------------------------


class Stored(NamedTuple):
    """An event as a rebuild folds it: decoded straight from its stored row, with the
    fields the fold reads (the same names as `LoggedEvent`)."""

    position: int
    uscc: str
    type: str
    version: int
    occurred_at: str
    data: dict[str, Any]


def fold_stored(
    policy: Policy, batches: Iterable[Sequence[Any]]
) -> Iterator[tuple[Facts, list[Segment], list[Stored]]]:
    """Each enterprise's facts and whole timeline from stored rows ``(position,
    originator_id, version, topic, state)`` in primary-key order (an enterprise may
    span batches); only what the fold reads is decoded."""
    loads = orjson.loads
    kinds: dict[str, str] = {}
    group: list[Stored] = []
    current: Any = None
    for rows in batches:
        for position, originator, version, topic, state in rows:
            if originator != current:
                if group:
                    facts, _, segments = advance(policy, None, group)
                    yield facts, segments, group
                    group = []
                current = originator
            kind = kinds.get(topic)
            if kind is None:
                kind = kinds[topic] = topic.rsplit(".", 1)[-1]
            body = loads(state)
            group.append(Stored(position, body["uscc"], kind, version, body["occurred_at"], body))
    if group:
        facts, _, segments = advance(policy, None, group)
        yield facts, segments, group


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
