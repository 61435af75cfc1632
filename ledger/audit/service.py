"""The audit toolkit's service: one object on `Services` (``services.audit``) that keeps
the hash tree and time-travel states up with the log, signs checkpoints, serves
proofs, verifies the store and writes exports. Entry points stay thin over it."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from ledger import values
from ledger.audit.encoding import event_leaf_hash
from ledger.audit.export import ExportSummary, write_export
from ledger.audit.keystore import load_signing_key
from ledger.audit.merkle import consistency_proof, inclusion_path
from ledger.audit.signing import Checkpoint
from ledger.audit.timetravel import StateStore, known
from ledger.audit.tree import TreeStore
from ledger.audit.verify import Progress, Report, Verifier
from ledger.errors import BeyondLog, EnterpriseNotFound, InvalidInput, LedgerError
from ledger.services.privacy import personal_of
from ledger.storage.db import Database, Tx
from ledger.storage.eventlog import EventLog
from ledger.storage.events import LoggedEvent
from ledger.storage.outage import Failures

if TYPE_CHECKING:
    from ledger.services.application import Clock
    from ledger.settings import Settings

CHECKPOINT_LOCK = 7_120_007
logger = logging.getLogger("ledger.audit")


class NoCheckpoint(LedgerError):
    """No checkpoint has been signed yet (404)."""

    def __init__(self) -> None:
        super().__init__("no checkpoint has been signed yet")


class Audit:
    def __init__(self, db: Database, log: EventLog, settings: Settings, clock: Clock) -> None:
        self.db = db
        self.log = log
        self.clock = clock
        self.interval = settings.checkpoint_interval
        self.states = StateStore(db, log)
        self.tree = TreeStore(db, log, self.states)
        self.key = load_signing_key(db, settings.signing_key, settings.signing_key_path)

    def reading_from(self, db: Database, log: EventLog) -> Audit:
        """This service over another database that holds the same log (a hot standby):
        checkpoints, proofs and histories read from there. Its key is this one's (it
        stores none); signing and catching up belong to the primary's service."""
        other = copy.copy(self)
        other.db, other.log = db, log
        other.states = StateStore(db, log)
        other.tree = TreeStore(db, log, other.states)
        return other

    # -- keeping up --------------------------------------------------------------------------

    def catch_up(self, upto: int | None = None, known: Sequence[LoggedEvent] = ()) -> int:
        return self.tree.catch_up(upto, known)

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint(self, catch_up: bool = True, only_if_grown: bool = False) -> Checkpoint | None:
        """Sign and store a checkpoint of the tree (brought up to the head of the log
        first, with ``catch_up``). With ``only_if_grown``, None when the latest
        checkpoint already covers the tree."""
        if catch_up:
            self.tree.catch_up()
        with self.db.transaction(write=True) as tx:
            self.db.lock(tx, CHECKPOINT_LOCK)
            size = self.tree.size(tx)
            latest = self._latest(tx)
            if only_if_grown and latest is not None and latest.tree_size >= size:
                return None
            checkpoint = self.key.sign(size, self.tree.root(tx, size).hex(), self.clock())
            seq = int(tx.value("SELECT MAX(seq) FROM audit_checkpoints") or 0) + 1
            tx.execute(
                "INSERT INTO audit_checkpoints (seq, tree_size, root_hash, timestamp, key_id, "
                "signature) VALUES (?, ?, ?, ?, ?, ?)",
                (seq, checkpoint.tree_size, checkpoint.root_hash, checkpoint.timestamp,
                 checkpoint.key_id, checkpoint.signature),
            )
        return checkpoint

    @staticmethod
    def _latest(tx: Tx) -> Checkpoint | None:
        row = tx.one(
            "SELECT tree_size, root_hash, timestamp, key_id, signature FROM audit_checkpoints "
            "ORDER BY seq DESC LIMIT 1"
        )
        return None if row is None else Checkpoint(int(row[0]), *row[1:])

    def latest_checkpoint(self) -> Checkpoint | None:
        with self.db.transaction() as tx:
            return self._latest(tx)

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint ever signed, oldest first."""
        with self.db.transaction() as tx:
            rows = tx.all(
                "SELECT tree_size, root_hash, timestamp, key_id, signature "
                "FROM audit_checkpoints ORDER BY seq"
            )
        return [Checkpoint(int(r[0]), *r[1:]) for r in rows]

    def public_key(self) -> dict[str, str]:
        return self.key.public()

    # -- proofs --------------------------------------------------------------------------------

    def _tree_size(self, tx: Tx, wanted: int | None, field: str, covers: int) -> int:
        """The tree to prove against: ``wanted``, or by default the latest checkpoint's
        when it covers ``covers``, else the whole hash tree now (a write is hashed
        before it returns, so a proof asked right after it is answered at once; a
        checkpoint of at least that size follows within LEDGER_CHECKPOINT_INTERVAL, and
        a consistency proof links the two). Beyond the tree: `BeyondLog` (404)."""
        size = self.tree.size(tx)
        if wanted is None:
            latest = self._latest(tx)
            wanted = latest.tree_size if latest is not None and latest.tree_size >= covers else size
        if wanted > size:
            raise BeyondLog(field, wanted, size)
        return wanted

    def inclusion(self, position: int, tree_size: int | None = None) -> dict[str, Any]:
        """The audit path of the event at ``position`` in the tree of ``tree_size``
        leaves (default: the latest checkpoint's, or the current tree when the event is
        newer than it)."""
        if tree_size is not None and tree_size < 1:
            raise InvalidInput("tree_size", "range", "tree_size: must be at least 1")
        if position < 1:
            raise InvalidInput("position", "range", "position: must be at least 1")
        with self.db.transaction() as tx:
            size = self._tree_size(tx, tree_size, "tree_size", position)
            if position > size:
                if tree_size is None:
                    raise BeyondLog("position", position, size)
                raise InvalidInput(  # two valid values that do not go together
                    "position", "range",
                    f"position: {position} is not in a tree of {size} events "
                    "(ask with a larger tree_size, or none)",
                )
            leaf = self.tree.nodes(tx, [(0, position - 1)])[(0, position - 1)]
            path = self.tree.compute(tx, lambda node: inclusion_path(position - 1, size, node))
        return {
            "position": position,
            "leaf_index": position - 1,
            "tree_size": size,
            "leaf_hash": leaf.hex(),
            "audit_path": [h.hex() for h in path],
        }

    def consistency(self, first: int, second: int | None = None) -> dict[str, Any]:
        """The proof that the tree of ``second`` leaves (default: the latest
        checkpoint's, or the current tree when ``first`` is larger) extends the tree
        of ``first`` leaves."""
        if first < 1:
            raise InvalidInput("first", "range", "first: must be at least 1")
        with self.db.transaction() as tx:
            second = self._tree_size(tx, second, "second", first)
            if first > second:
                if second == self.tree.size(tx):
                    raise BeyondLog("first", first, second)
                raise InvalidInput(
                    "first", "range", f"first: larger than second ({second})"
                )
            proof = self.tree.compute(tx, lambda node: consistency_proof(first, second, node))
        return {"first": first, "second": second, "proof": [h.hex() for h in proof]}

    # -- an enterprise's history with its leaves ----------------------------------------------

    def events(self, uscc: str, known_at: datetime | None = None) -> list[dict[str, Any]]:
        """An enterprise's events known at ``known_at`` (default: all) in version order,
        each with its ``enterprise_id`` and its leaf hash as the hash tree holds it
        (computed from the event when the tree has not reached it yet): every field of
        the leaf, so an auditor can recompute it, and ``personal``: each personal field's
        value and salt (or ``{"erased": true}``), which open the commitment in ``data``.
        Not redacted: for audit:read."""
        uscc = values.uscc(uscc)
        with self.db.transaction() as tx:
            events = self.log.of_enterprise(tx, uscc)
            if not events:
                raise EnterpriseNotFound(uscc)
            events = known(events, known_at)
            size = self.tree.size(tx)
            stored = self.tree.nodes(
                tx, [(0, e.position - 1) for e in events if e.position <= size]
            )
            personal = personal_of(tx, uscc, events)
        out = []
        for e in events:
            leaf = stored.get((0, e.position - 1)) or event_leaf_hash(e)
            doc = e.public()
            doc["enterprise_id"] = e.enterprise_id
            doc["leaf_hash"] = leaf.hex()
            doc["personal"] = personal.get(e.position, {})
            out.append(doc)
        return out

    # -- verification and export ------------------------------------------------------------

    def verify(self, wait: float = 2.0, progress: Progress | None = None) -> Report:
        return Verifier(self.db, self.tree).run(wait=wait, progress=progress)

    def export(
        self,
        out: IO[str],
        uscc: str | None = None,
        wait: float = 2.0,
        progress: Callable[[int, int], None] | None = None,
    ) -> ExportSummary:
        return write_export(self, out, uscc=uscc, wait=wait, progress=progress)


def start_checkpointer(
    audit: Audit,
    stop: threading.Event,
    interval: float | None = None,
    follow_every: float = 0.5,
) -> threading.Thread:
    """The background job of ``ledger serve``: keep the hash tree up with the log
    (writes from other processes; this process's own writes are hashed before they
    return) and, every ``LEDGER_CHECKPOINT_INTERVAL`` seconds when the log has grown,
    sign a checkpoint (and one at start). Errors are logged and retried, never skipped."""
    every = interval if interval is not None else audit.interval
    poll = follow_every

    def run() -> None:
        due = time.monotonic()
        failures = Failures(logger, "audit follower")
        while not stop.is_set():
            try:
                size, head = audit.tree.lag()
                if head > size:
                    audit.catch_up()
                if time.monotonic() >= due:
                    audit.checkpoint(catch_up=False, only_if_grown=True)
                    due = time.monotonic() + every
                failures.succeeded()
            except Exception:
                failures.failed()
                stop.wait(1.0)
            stop.wait(min(poll, every))

    thread = threading.Thread(target=run, name="ledger-checkpointer", daemon=True)
    thread.start()
    return thread
