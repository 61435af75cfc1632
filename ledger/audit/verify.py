"""``ledger audit verify``: recompute the hash tree from the stored events and check it
against the stored tree and every stored checkpoint.

Streams the log in position order (constant memory). The first problem found, in
position order, is reported: a missing position, an event that cannot be decoded or
whose leaf differs from the tree's, a stored tree node that differs from the
recomputed one, a checkpoint whose root or signature does not hold, an event beyond
the hash tree (appended behind the ledger's back), or the tree reaching past the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ledger.audit.encoding import event_leaf_hash
from ledger.audit.keystore import public_keys
from ledger.audit.merkle import EMPTY_ROOT, Frontier
from ledger.audit.signing import Checkpoint, verify_signature
from ledger.audit.tree import TreeStore
from ledger.storage.db import Database, Tx
from ledger.storage.events import decode

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Problem:
    position: int | None  # the first bad log position, when one can be named
    reason: str

    def __str__(self) -> str:
        return f"position {self.position}: {self.reason}" if self.position else self.reason


@dataclass(frozen=True)
class Report:
    events: int
    tree_size: int
    checkpoints: int
    root_hash: str
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


class Found(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def settle(tree: TreeStore, wait: float) -> tuple[int, int]:
    """``(tree size, head)``, after waiting up to ``wait`` seconds for the tree to
    include writes in flight (they are hashed right after they commit)."""
    deadline = time.monotonic() + wait
    size, head = tree.lag()
    while head > size and time.monotonic() < deadline:
        time.sleep(0.05)
        size, head = tree.lag()
    return size, head


class Verifier:
    def __init__(self, db: Database, tree: TreeStore, batch: int = 5000) -> None:
        self.db = db
        self.tree = tree
        self.batch = batch

    def run(self, wait: float = 2.0, progress: Progress | None = None) -> Report:
        tree_size, head = settle(self.tree, wait)
        with self.db.transaction() as tx:
            tree_size = max(tree_size, self.tree.size(tx))
            checkpoints = [
                (int(r[0]), Checkpoint(int(r[1]), r[2], r[3], r[4], r[5]))
                for r in tx.all(
                    "SELECT seq, tree_size, root_hash, timestamp, key_id, signature "
                    "FROM audit_checkpoints ORDER BY tree_size, seq"
                )
            ]
            keys = public_keys(tx)
        frontier = Frontier()
        state = _State(checkpoints, keys)
        try:
            state.check_checkpoints(frontier)  # checkpoints of the empty tree
            after = 0
            while True:
                with self.db.transaction() as tx:
                    rows = self.tree.log.rows_after(tx, after, self.batch)
                    if not rows:
                        break
                    self._check_batch(tx, rows, frontier, tree_size, state)
                after = int(rows[-1][0])
                if progress:
                    progress(frontier.size, max(head, after))
            if frontier.size < tree_size:
                raise Found(Problem(
                    frontier.size + 1,
                    f"missing from the log, which ends at {frontier.size}; "
                    f"the hash tree holds {tree_size} events",
                ))
            state.check_rest(frontier)
        except Found as found:
            return Report(
                frontier.size, tree_size, state.checked, frontier.root().hex(), found.problem
            )
        return Report(frontier.size, tree_size, state.checked, frontier.root().hex(), None)

    def _check_batch(
        self, tx: Tx, rows: list, frontier: Frontier, tree_size: int, state: _State
    ) -> None:
        first = frontier.size  # leaf index of the batch's first event
        last = min(first + len(rows), tree_size) - 1
        stored_leaves = self.tree.level_range(tx, 0, first, last) if last >= first else {}
        made: list[tuple[int, int, bytes]] = []
        for row in rows:
            position = int(row[0])
            expected = frontier.size + 1
            if position != expected:
                raise Found(Problem(
                    expected, f"missing from the log (the next stored event is at {position})"
                ))
            try:
                leaf = event_leaf_hash(decode(*row))
            except Exception as e:  # noqa: BLE001 - any decoding failure is tampering
                raise Found(Problem(position, f"the stored event cannot be decoded ({e})")) from e
            if position > tree_size:
                raise Found(Problem(
                    position,
                    f"stored event is not in the hash tree (the tree holds {tree_size} events): "
                    "appended behind the ledger's back",
                ))
            stored = stored_leaves.get(position - 1)
            if stored is None:
                raise Found(Problem(position, "the hash tree has no leaf for this event"))
            if stored != leaf:
                raise Found(Problem(
                    position,
                    f"the stored event does not match the hash tree's leaf "
                    f"(recomputed {leaf.hex()}, tree holds {stored.hex()})",
                ))
            made.extend(n for n in frontier.append(leaf) if n[0] > 0)
            state.check_checkpoints(frontier)
        self._check_nodes(tx, made, tree_size)

    def _check_nodes(self, tx: Tx, made: list[tuple[int, int, bytes]], tree_size: int) -> None:
        by_level: dict[int, list[tuple[int, bytes]]] = {}
        for level, idx, h in made:
            if (idx + 1) << level <= tree_size:
                by_level.setdefault(level, []).append((idx, h))
        bad: list[Problem] = []
        for level, nodes in by_level.items():
            stored = self.tree.level_range(tx, level, nodes[0][0], nodes[-1][0])
            for idx, h in nodes:
                if stored.get(idx) != h:
                    first, last = (idx << level) + 1, (idx + 1) << level
                    bad.append(Problem(
                        first,
                        f"the hash tree's node over positions {first}..{last} (level {level}) "
                        "differs from the one recomputed from the events",
                    ))
                    break
        if bad:
            raise Found(min(bad, key=lambda p: p.position or 0))


class _State:
    """Checkpoints in tree-size order, checked as the recomputed tree reaches them."""

    def __init__(self, checkpoints: list[tuple[int, Checkpoint]], keys: dict[str, bytes]) -> None:
        self.pending = checkpoints
        self.keys = keys
        self.checked = 0
        self.good_size = 0  # the largest size at which a checkpoint matched

    def check_checkpoints(self, frontier: Frontier) -> None:
        while self.pending and self.pending[0][1].tree_size == frontier.size:
            seq, cp = self.pending.pop(0)
            self._check(seq, cp, frontier.root() if frontier.size else EMPTY_ROOT)

    def _check(self, seq: int, cp: Checkpoint, recomputed: bytes) -> None:
        label = f"checkpoint #{seq} (tree size {cp.tree_size}, {cp.timestamp})"
        key = self.keys.get(cp.key_id)
        if key is None:
            raise Found(Problem(None, f"{label}: signed by unknown key {cp.key_id}"))
        if not verify_signature(cp, key):
            raise Found(Problem(None, f"{label}: the signature does not verify"))
        if cp.root_hash != recomputed.hex():
            first = self.good_size + 1
            raise Found(Problem(
                first,
                f"{label} does not match the events (recomputed root {recomputed.hex()}); "
                f"an event among positions {first}..{cp.tree_size} was altered",
            ))
        self.good_size = cp.tree_size
        self.checked += 1

    def check_rest(self, frontier: Frontier) -> None:
        if self.pending:
            seq, cp = self.pending[0]
            raise Found(Problem(
                frontier.size + 1,
                f"missing from the log, which ends at {frontier.size}; checkpoint #{seq} "
                f"signs {cp.tree_size} events",
            ))
