"""The composition root: builds the application, the stores and the runners from
settings. Nothing connects to a database at import time."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.application import Clock, Ledger
from ledger.audit.service import Audit
from ledger.db import Database
from ledger.eventstore import EventLog
from ledger.migrations import migrate
from ledger.policy.credit import Policy, get_policy
from ledger.projections.runner import Projections
from ledger.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    ledger: Ledger
    log: EventLog
    projections: Projections
    audit: Audit = None  # type: ignore[assignment]  # the hash tree, checkpoints, time travel

    def policy(self, version: str) -> Policy:
        return get_policy(version).with_settings(self.settings.verification_days)

    def close(self) -> None:
        self.ledger.close()
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
    services.audit = Audit(db, log, settings, ledger.clock)
    services.projections.followers.append(services.audit.catch_up)  # the tree keeps up too
    if sync_projections:
        ledger.after_write = lambda written: services.projections.catch_up(
            upto=written.position, known=written.events
        )
    return services
