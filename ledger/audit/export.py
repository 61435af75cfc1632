"""``ledger audit export``: the log (or one enterprise's events) with positions, the
hash tree's leaf hashes and the checkpoint they add up to, as JSON Lines (format in
`ledger.audit.offline`). Events are read as stored: one that cannot be decoded is
written with an ``error`` so the auditor sees it; events the hash tree does not hold
are written too, and `verify-export` reports them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import IO, TYPE_CHECKING, Any

from ledger import values
from ledger.aggregates.enterprise import enterprise_id
from ledger.audit.encoding import event_leaf_hash, leaf_fields
from ledger.audit.merkle import NodeReader, inclusion_path
from ledger.audit.offline import header
from ledger.audit.signing import Checkpoint
from ledger.audit.tree import TreeError
from ledger.audit.verify import settle
from ledger.errors import EnterpriseNotFound
from ledger.storage.events import decode

if TYPE_CHECKING:
    from ledger.audit.service import Audit


@dataclass(frozen=True)
class ExportSummary:
    events: int
    checkpoint: Checkpoint
    beyond_tree: int  # events written that the hash tree does not hold


def _line(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def _event_doc(row: Any, stored_leaf: bytes | None) -> dict[str, Any]:
    position = int(row[0])
    try:
        event = decode(*row)
    except Exception as e:  # noqa: BLE001 - written as found, for the auditor to see
        return {
            "position": position,
            "leaf_hash": stored_leaf.hex() if stored_leaf else None,
            "error": f"cannot decode the stored event ({e})",
        }
    leaf = stored_leaf or event_leaf_hash(event)
    return {"position": position, "leaf_hash": leaf.hex(), **leaf_fields(event)}


def _paths(positions: list[int], size: int, node: NodeReader) -> list[list[bytes]]:
    return [inclusion_path(p - 1, size, node) for p in positions]


def write_export(
    audit: Audit,
    out: IO[str],
    uscc: str | None = None,
    wait: float = 2.0,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 5000,
) -> ExportSummary:
    """Sign a checkpoint first when the tree has grown past the latest one, then write."""
    if uscc is not None:
        uscc = values.uscc(uscc)
    settle(audit.tree, wait)
    checkpoint = audit.checkpoint(catch_up=False, only_if_grown=True) or audit.latest_checkpoint()
    if checkpoint is None:  # never: only_if_grown signs one when there is none
        raise TreeError("no checkpoint to export against")
    db, tree = audit.db, audit.tree
    pos = "notification_id" if db.postgres else "rowid"
    cols = f"{pos}, originator_id, originator_version, topic, state FROM stored_events"
    size = checkpoint.tree_size
    if uscc is None:
        with db.transaction() as tx:
            head = audit.log.head(tx)
        out.write(_line(header(checkpoint, audit.key.public(), None, head, None)))
        after, written, beyond = 0, 0, 0
        while True:
            with db.transaction() as tx:
                rows = tx.all(
                    f"SELECT {cols} WHERE {pos} > ? AND {pos} <= ? ORDER BY {pos} LIMIT ?",
                    (after, head, batch),
                )
                if not rows:
                    break
                first, last = int(rows[0][0]) - 1, min(int(rows[-1][0]), size) - 1
                leaves = tree.level_range(tx, 0, first, last) if last >= first else {}
            for row in rows:
                out.write(_line(_event_doc(row, leaves.get(int(row[0]) - 1))))
                beyond += int(row[0]) > size
            written += len(rows)
            after = int(rows[-1][0])
            if progress:
                progress(after, head)
        return ExportSummary(written, checkpoint, beyond)

    with db.transaction() as tx:
        rows = tx.all(
            f"SELECT {cols} WHERE originator_id = ? ORDER BY originator_version",
            (audit.log.key(enterprise_id(uscc)),),
        )
    if not rows:
        raise EnterpriseNotFound(uscc)
    out.write(_line(header(checkpoint, audit.key.public(), uscc, None, len(rows))))
    beyond = 0
    for i in range(0, len(rows), 256):
        chunk = rows[i : i + 256]
        inside = [int(r[0]) for r in chunk if int(r[0]) <= size]
        with db.transaction() as tx:
            found = tree.nodes(tx, [(0, p - 1) for p in inside])
            paths = tree.compute(tx, partial(_paths, inside, size))
        by_position = dict(zip(inside, paths, strict=True))
        for row in chunk:
            position = int(row[0])
            doc = _event_doc(row, found.get((0, position - 1)))
            if position in by_position:
                doc["audit_path"] = [h.hex() for h in by_position[position]]
            else:
                beyond += 1
            out.write(_line(doc))
        if progress:
            progress(i + len(chunk), len(rows))
    return ExportSummary(len(rows), checkpoint, beyond)
