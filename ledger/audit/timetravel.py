"""Time travel: an enterprise's standing as of a date (valid time) as the ledger knew
it at a moment (``known_at``, transaction time), fast on long histories.

Every ``EVERY`` events of an enterprise, the hash tree's catch-up stores its folded
policy `Facts` (policy-independent) in ``audit_states``, with the bounds needed to
choose one: the latest CST day and the latest ``recorded_at`` of the events folded so
far. A query
starts from the latest state that holds only events known at ``known_at`` and occurred
by ``as_of``, and folds the few events after it that qualify: the answer is exactly
``evaluate(known(events, known_at), as_of)``.

"Known at" a moment: an enterprise's events in version order up to the first one
recorded after that moment. With a clock that never steps back this is every event
with ``recorded_at <= known_at``; if one did, a later version is still never known
before an earlier one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from datetime import datetime, timedelta, timezone

from ledger.errors import EnterpriseNotFound
from ledger.policy.facts import Facts, Record, apply
from ledger.storage.db import Database, Tx
from ledger.storage.eventlog import EventLog
from ledger.storage.events import LoggedEvent
from ledger.values import day_of

EVERY = 64
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# States written under another shape of `Facts` are ignored (and rewritten as it goes).
SHAPE = hashlib.sha256(
    (",".join(f.name for f in fields(Facts)) + "|" + ",".join(f.name for f in fields(Record)))
    .encode()
).hexdigest()[:12]


def micros(moment: datetime | str) -> int:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return (moment.astimezone(timezone.utc) - EPOCH) // timedelta(microseconds=1)


class StateStore:
    """Writes states inside the tree's catch-up transaction; answers time-travel folds."""

    def __init__(self, db: Database, log: EventLog, every: int = EVERY) -> None:
        self.db = db
        self.log = log
        self.every = every

    # -- writing (inside the tree's transaction) ---------------------------------------------

    def record(self, tx: Tx, events: list[LoggedEvent]) -> None:
        for event in events:
            if event.version % self.every == 0:
                self._store(tx, event)

    def _store(self, tx: Tx, event: LoggedEvent) -> None:
        prev = tx.one(
            "SELECT version, recorded_max, last_day, facts FROM audit_states "
            "WHERE uscc = ? AND shape = ? AND version < ? ORDER BY version DESC LIMIT 1",
            (event.uscc, SHAPE, event.version),
        )
        facts: Facts | None = None
        start, recorded_max, last_day = 0, None, ""
        if prev is not None:
            start, recorded_max, last_day = int(prev[0]), int(prev[1]), prev[2]
            facts = Facts.from_json(json.loads(prev[3]))
        segment = self.log.of_enterprise(tx, event.uscc, start, event.version)
        recorded = [micros(e.recorded_at) for e in segment]
        for e in segment:
            facts = apply(facts, e)
            last_day = max(last_day, day_of(e.occurred_at))
        if facts is None:  # never: the segment ends with `event` itself
            return
        tx.execute(
            "INSERT INTO audit_states (uscc, version, position, recorded_min, recorded_max, "
            "last_day, shape, facts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.uscc, event.version, event.position, min(recorded),
                max([*recorded, *([recorded_max] if recorded_max is not None else [])]),
                last_day, SHAPE,
                json.dumps(facts.to_json(), separators=(",", ":"), ensure_ascii=False),
            ),
        )

    # -- reading -----------------------------------------------------------------------------

    def fold(self, tx: Tx, uscc: str, day: str, cut: int | None) -> Facts | None:
        """The facts of the events known at ``cut`` (epoch µs; None: all) that occurred
        by ``day``, folded as `evaluate` does. Raises EnterpriseNotFound when the
        enterprise has no event at all."""
        # The latest state that holds only events known by `cut` and occurred by `day`
        # (both bounds only grow with the version), and the version of the next state.
        row = tx.one(
            "SELECT s.version, s.facts, (SELECT MIN(n.version) FROM audit_states n "
            "WHERE n.uscc = s.uscc AND n.shape = s.shape AND n.version > s.version) "
            "FROM audit_states s WHERE s.uscc = ? AND s.shape = ? AND s.last_day <= ? "
            "AND s.recorded_max <= ? ORDER BY s.version DESC LIMIT 1",
            (uscc, SHAPE, day, cut if cut is not None else 2**62),
        )
        facts: Facts | None = None
        after, upto, stored = 0, None, True
        if row is not None:
            after, upto = int(row[0]), (int(row[2]) if row[2] is not None else None)
            facts = Facts.from_json(json.loads(row[1]))
        else:
            first = tx.value(
                "SELECT MIN(version) FROM audit_states WHERE uscc = ? AND shape = ?",
                (uscc, SHAPE),
            )
            upto, stored = (int(first), True) if first is not None else (None, False)
        # The first event past `cut` or `day` lies at or before the next state.
        events = self.log.of_enterprise(tx, uscc, after, upto)
        if not events and not stored:
            raise EnterpriseNotFound(uscc)
        for event in events:
            if cut is not None and micros(event.recorded_at) > cut:
                break
            if day_of(event.occurred_at) > day:
                break
            facts = apply(facts, event)
        return facts


def known(events: list[LoggedEvent], known_at: datetime | None) -> list[LoggedEvent]:
    """The events the ledger knew at ``known_at``: an enterprise's events in version
    order up to the first one recorded after it (a later version is only ever known
    after the earlier ones, even if a clock stepped back between them)."""
    if known_at is None:
        return events
    cut = micros(known_at)
    for i, event in enumerate(events):
        if micros(event.recorded_at) > cut:
            return events[:i]
    return events
