"""The exact bytes that are hashed and signed, documented in the README so that a third
party can recompute them. Pure, and importable without a database.

Leaf bytes of the event at log position ``p`` (leaf index ``p - 1``): the UTF-8 of the
canonical JSON of the stored event's fields::

    {"data":{...},"enterprise_id":"<uuid>","occurred_at":"...","position":p,
     "recorded_at":"...","type":"Licensed","uscc":"...","version":1}

keys sorted (at every depth), separators ``,`` and ``:`` with no spaces, non-ASCII
characters written as themselves (``ensure_ascii=False``), strings exactly as stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ledger.audit.merkle import leaf_hash

LEAF_FIELDS = (
    "position", "enterprise_id", "uscc", "type", "version", "occurred_at", "recorded_at", "data",
)
CHECKPOINT_PREFIX = "ledger-checkpoint/v1"


def canonical_json(doc: Any) -> bytes:
    return json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def leaf_fields(event: Any) -> dict[str, Any]:
    """The leaf's fields of a `LoggedEvent` (or of a mapping holding them)."""
    if isinstance(event, Mapping):
        return {name: event[name] for name in LEAF_FIELDS}
    return {name: getattr(event, name) for name in LEAF_FIELDS}


def leaf_bytes(event: Any) -> bytes:
    return canonical_json(leaf_fields(event))


def event_leaf_hash(event: Any) -> bytes:
    return leaf_hash(leaf_bytes(event))


def checkpoint_text(tree_size: int, root_hash: str, timestamp: str) -> bytes:
    """What a checkpoint's Ed25519 signature covers (contract.md)."""
    return f"{CHECKPOINT_PREFIX}\n{tree_size}\n{root_hash}\n{timestamp}\n".encode()
