"""The composition root: builds the application, the stores, the runners and the
services from settings. Nothing connects to a database at import time, and nothing in
``ledger/`` below the entrypoints (``cli/``) imports this module: the services it wires
take what they need (a database, the log, a policy lookup) as arguments."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import StoredEvent
from psycopg.rows import tuple_row

from ledger.audit.service import Audit
from ledger.policy.credit import Policy, get_policy
from ledger.projections import stats
from ledger.projections.sets import Projections
from ledger.services.application import Clock, Ledger, Written
from ledger.services.commitments import LetterDesk
from ledger.services.reads import Reads
from ledger.services.replica import ReadSide, ReadSides
from ledger.services.sessions import Sessions
from ledger.services.standing import Standings
from ledger.settings import Settings
from ledger.storage.db import Database, Tx
from ledger.storage.eventlog import EventLog
from ledger.storage.events import decode
from ledger.storage.gapless import GaplessPostgresApplicationRecorder
from ledger.storage.migrations import migrate


@dataclass
class Services:
    settings: Settings
    db: Database
    ledger: Ledger
    log: EventLog
    projections: Projections
    audit: Audit = None  # type: ignore[assignment]  # the hash tree, checkpoints, proofs
    standing: Standings = None  # type: ignore[assignment]  # as_of / known_at standings
    reads: Reads = None  # type: ignore[assignment]  # lists, search, queue, feed
    letters: LetterDesk = None  # type: ignore[assignment]  # committing through a letter
    sessions: Sessions = None  # type: ignore[assignment]  # regulators' web sessions
    read: ReadSides = None  # type: ignore[assignment]  # where reads go: primary or replica
    replica_db: Database | None = None  # LEDGER_REPLICA_URL's database, read-only

    def policy(self, version: str) -> Policy:
        return get_policy(version).with_settings(self.settings.verification_days)

    def live_policy(self) -> Policy:
        """The policy of the live projection set (its kept parameters)."""
        return self.standing.live_policy()

    def close(self) -> None:
        self.ledger.close()
        if self.read is not None:
            self.read.close()
        if self.replica_db is not None:
            self.replica_db.close()
        self.db.close()


def bootstrap(
    settings: Settings | None = None, *, clock: Clock | None = None, sync_projections: bool = True
) -> Services:
    """Migrate, open the store and wire the projections; with ``sync_projections`` a
    command returns only once the live projections include it."""
    settings = settings or Settings()
    db = Database(settings)
    db.create_schema()
    migrate(db)
    log = EventLog(db)
    ledger = Ledger(env=settings.eventsourcing_env(), clock=clock)
    services = Services(settings, db, ledger, log, None)  # type: ignore[arg-type]
    services.projections = Projections(db, log, services.policy)
    services.projections.ensure_live(settings.policy)
    stats.backfill(db, log)  # once, for sets older than the statistics (migration 012)
    services.audit = Audit(db, log, settings, ledger.clock)
    services.projections.followers.append(services.audit.catch_up)  # the tree keeps up too
    services.standing = Standings(
        db, log, services.projections, services.audit.states, services.policy, settings
    )
    services.reads = Reads(db, log)
    services.letters = LetterDesk(ledger, db, log, settings)
    services.sessions = Sessions(db)
    services.read = read_sides(services)
    if sync_projections:
        derived = DerivedInInsert(services)
        if isinstance(ledger.recorder, GaplessPostgresApplicationRecorder):
            ledger.recorder.after_insert = derived
        ledger.after_write = derived.after_write
    return services


def read_sides(services: Services) -> ReadSides:
    """The primary's read services and, with ``LEDGER_REPLICA_URL``, the same services
    over the hot standby (a second, read-only database with short timeouts, so that a
    replica that does not answer hands the read to the primary within a second)."""
    s = services
    primary = ReadSide("primary", s.db, s.standing, s.reads, s.audit)
    replica_settings = s.settings.replica()
    if replica_settings is None:
        return ReadSides(primary, None, s.settings.replica_wait)
    rdb = s.replica_db = Database(replica_settings, pool_timeout=1.0, connect_timeout=1)
    rlog = EventLog(rdb)
    raudit = s.audit.reading_from(rdb, rlog)
    rstanding = Standings(
        rdb, rlog, Projections(rdb, rlog, s.policy), raudit.states, s.policy, s.settings
    )
    replica = ReadSide("replica", rdb, rstanding, Reads(rdb, rlog), raudit)
    return ReadSides(primary, replica, s.settings.replica_wait)


class DerivedInInsert:
    """Keeps the read models and the hash tree up with this process's writes.

    On PostgreSQL they are written inside the very transaction that stores the events
    (one commit per write, and they can never disagree with the log); a set or tree not
    exactly before the new events (another process wrote without them) is left to the
    catch-up that runs after the save, as it always does on SQLite."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.included_upto = 0  # every set and the tree include the log up to here
        self._lock = threading.Lock()

    def __call__(self, conn: Any, stored: Sequence[StoredEvent], ids: Sequence[int]) -> None:
        if self.services.ledger.after_write is None:
            return  # this ledger writes without waiting for its read models
        events = [
            decode(i, e.originator_id, e.originator_version, e.topic, e.state)
            for i, e in zip(ids, stored, strict=True)
        ]
        with conn.cursor(row_factory=tuple_row) as cursor:
            tx = Tx(cursor, postgres=True, pipelined=True)
            if self.services.settings.database_schema:  # the library's connection
                tx.execute(f'SET LOCAL search_path TO "{self.services.settings.database_schema}"')
            sets = self.services.projections.apply_stored(tx, events)
            tree = self.services.audit.tree.apply_stored(tx, events)
        if sets and tree:
            with self._lock:
                self.included_upto = max(self.included_upto, events[-1].position)

    def after_write(self, written: Written) -> None:
        if written.position > self.included_upto:  # else included when it was stored
            self.services.projections.catch_up(upto=written.position, known=written.events)
        self.services.read.primary.reached(written.position)
