"""The log's hash tree, stored and maintained incrementally like a projection.

``audit_nodes`` holds the hash of every perfect subtree (level 0: the leaves), written
as the log grows: appending leaf ``i`` writes it and the subtrees it completes (two
rows per leaf on average). ``audit_tree.size`` (the number of log positions hashed) is
the tree's tracked position: the one follower of the log (`ledger.projections.follower`)
updates it in the same transaction as the nodes, so any number of processes may call
``catch_up`` and each event becomes a leaf exactly once.
Roots and proofs read O(log n) stored nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from ledger.audit.encoding import event_leaf_hash
from ledger.audit.merkle import Frontier, NodeReader, needed_nodes
from ledger.audit.merkle import root as merkle_root
from ledger.errors import LedgerError
from ledger.projections.follower import Follower
from ledger.storage.db import Database, Tx
from ledger.storage.eventlog import EventLog
from ledger.storage.events import LoggedEvent

T = TypeVar("T")


class TreeError(LedgerError):
    """The log or the stored tree is not what the tree needs (a gap, a missing node)."""


class StateRecorder(Protocol):
    def record(self, tx: Tx, events: list[LoggedEvent]) -> None: ...


class TreeStore:
    def __init__(
        self, db: Database, log: EventLog, states: StateRecorder | None = None, batch: int = 2000
    ) -> None:
        self.db = db
        self.log = log
        self.states = states
        self.follower = Follower(db, log, batch)
        self._cached: Frontier | None = None
        self._size_sql = "SELECT size FROM audit_tree WHERE id = 1"
        self._lock_sql = self._size_sql + (" FOR UPDATE" if db.postgres else "")

    # -- reading -------------------------------------------------------------------------

    @staticmethod
    def size(tx: Tx) -> int:
        return int(tx.value("SELECT size FROM audit_tree WHERE id = 1") or 0)

    @staticmethod
    def nodes(tx: Tx, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Stored nodes by ``(level, index)``, a few hundred per query, each an index
        lookup (one ``level = ? AND idx IN (...)`` group per level)."""
        keys = sorted(set(keys))
        found: dict[tuple[int, int], bytes] = {}
        for i in range(0, len(keys), 500):
            by_level: dict[int, list[int]] = {}
            for level, idx in keys[i : i + 500]:
                by_level.setdefault(level, []).append(idx)
            where = " OR ".join(
                f"(level = ? AND idx IN ({','.join('?' * len(ids))}))" for ids in by_level.values()
            )
            params = [v for level, ids in by_level.items() for v in (level, *ids)]
            for level, idx, h in tx.all(
                f"SELECT level, idx, hash FROM audit_nodes WHERE {where}", params
            ):
                found[(int(level), int(idx))] = bytes(h)
        return found

    @staticmethod
    def level_range(tx: Tx, level: int, first: int, last: int) -> dict[int, bytes]:
        """Stored nodes of one level with index in ``[first, last]``."""
        return {
            int(idx): bytes(h)
            for idx, h in tx.all(
                "SELECT idx, hash FROM audit_nodes WHERE level = ? AND idx >= ? AND idx <= ?",
                (level, first, last),
            )
        }

    def compute(self, tx: Tx, compute: Callable[[NodeReader], T]) -> T:
        """Run a tree computation over stored nodes, fetched in one round trip."""
        found = self.nodes(tx, needed_nodes(compute))

        def node(level: int, index: int) -> bytes:
            try:
                return found[(level, index)]
            except KeyError:
                raise TreeError(
                    f"the hash tree has no node at level {level}, index {index}"
                ) from None

        return compute(node)

    def root(self, tx: Tx, size: int) -> bytes:
        return self.compute(tx, lambda node: merkle_root(size, node))

    def frontier(self, tx: Tx, size: int) -> Frontier:
        cached = self._cached
        if cached is not None and cached.size == size:
            return cached.copy()
        return self.compute(tx, lambda node: Frontier.load(size, node))

    # -- following the log (a tracked model of the one follower) --------------------------

    def position(self, tx: Tx, lock: bool = False) -> int:
        """The log positions hashed (with ``lock``, under the tree's row lock)."""
        return int(tx.value(self._lock_sql if lock else self._size_sql) or 0)

    def apply(self, tx: Tx, size: int, events: list[LoggedEvent]) -> None:
        """Append ``events`` as leaves after ``size`` (no position may be missing)."""
        frontier = self.frontier(tx, size)
        rows: list[tuple[int, int, bytes]] = []
        for expected, event in enumerate(events, size + 1):
            if event.position != expected:
                raise TreeError(
                    f"log position {expected} is missing (the next stored event "
                    f"is at {event.position}); the hash tree cannot skip it"
                )
            rows.extend(frontier.append(event_leaf_hash(event)))
        tx.many("INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)", rows)
        if self.states is not None:
            self.states.record(tx, events)
        tx.execute("UPDATE audit_tree SET size = ? WHERE id = 1", (frontier.size,))
        # remembered before the commit: a frontier whose size the table does not hold
        # (the transaction failed) is never used (see `frontier`)
        self._cached = frontier.copy()

    def catch_up(self, upto: int | None = None, known: Sequence[LoggedEvent] = ()) -> int:
        """Hash what the tree has not seen (up to position ``upto`` when given: a writer
        waits only for its own events, handed over as ``known``). Returns the number
        of leaves appended."""
        return self.follower.catch_up(self, upto, known)

    def apply_stored(self, tx: Tx, events: Sequence[LoggedEvent]) -> bool:
        """Inside the transaction that stores ``events`` (PostgreSQL): hash them when the
        tree is exactly before them. True when the tree now includes them."""
        return self.follower.apply_stored(tx, self, events)

    def lag(self) -> tuple[int, int]:
        """``(tree size, head of the log)`` read together."""
        with self.db.reading() as tx:  # two reads, each a snapshot: size <= head holds
            return self.size(tx), self.log.head(tx)
