"""A witness: from any machine, keeps the ledger honest about its past.

Each run fetches the latest signed checkpoint over HTTP, checks its signature, and
checks a consistency proof from the checkpoint kept in the state file (RFC 9162
§2.1.4.2): the new tree must extend the old one. Only then is the new checkpoint kept.
A log rewritten after the kept checkpoint (a fork) is caught even when the forger
signed with the ledger's own key, because no proof can link the two roots.

The state file is JSON: ``{"checkpoint": {...}, "public_keys": {key_id: base64}}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ledger.audit.merkle import verify_consistency
from ledger.audit.signing import Checkpoint, key_id_of, verify_signature


class WitnessError(Exception):
    """The ledger's answer cannot be trusted (exit 1)."""


class Fork(WitnessError):
    """The log was rewritten: the kept checkpoint is not a prefix of the new one."""


class BadState(Exception):
    """The state file is not a witness state (exit 2)."""


@dataclass(frozen=True)
class Observed:
    previous: Checkpoint | None
    latest: Checkpoint

    def message(self) -> str:
        new = describe(self.latest)
        if self.previous is None:
            return f"ok: first checkpoint kept: {new}"
        return f"ok: {new} is consistent with {describe(self.previous)}"


def describe(cp: Checkpoint) -> str:
    return f"checkpoint of tree size {cp.tree_size} (root {cp.root_hash}, signed {cp.timestamp})"


def load_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"checkpoint": None, "public_keys": {}}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("checkpoint") is not None:
            Checkpoint.from_json(doc["checkpoint"])
        dict(doc.get("public_keys") or {})
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise BadState(f"{path}: not a witness state file ({e})") from None
    return doc  # type: ignore[no-any-return]


def save_state(path: Path, checkpoint: Checkpoint, public_keys: dict[str, str]) -> None:
    """Replace the state atomically (a crash leaves the old state or the new one)."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(
        json.dumps({"checkpoint": checkpoint.to_json(), "public_keys": public_keys}, indent=1),
        encoding="utf-8",
    )
    os.replace(temp, path)


def get(client: httpx.Client, path: str, **params: int) -> dict[str, Any]:
    try:
        response = client.get(path, params=params)
    except httpx.HTTPError as e:
        raise WitnessError(f"cannot reach the ledger: {e}") from None
    if response.status_code != 200:
        raise WitnessError(f"GET {path}: HTTP {response.status_code}: {response.text[:200]}")
    return response.json()  # type: ignore[no-any-return]


def observe(client: httpx.Client, state_path: Path) -> Observed:
    """One witness run (``client`` carries the base URL and the audit:read key).
    Raises ``Fork`` naming both checkpoints when the log was rewritten, and
    ``WitnessError`` when the ledger's answer does not verify; the state is then
    left as it was."""
    state = load_state(state_path)
    previous = (
        Checkpoint.from_json(state["checkpoint"]) if state.get("checkpoint") else None
    )
    keys: dict[str, str] = dict(state.get("public_keys") or {})
    latest = Checkpoint.from_json(get(client, "/v1/audit/checkpoint"))
    if latest.key_id not in keys:
        current = get(client, "/v1/audit/public-key")
        try:
            raw = base64.b64decode(current["public_key"], validate=True)
        except (binascii.Error, KeyError, TypeError, ValueError):
            raise WitnessError("the ledger's public key is not base64") from None
        if key_id_of(raw) != current.get("key_id") or current["key_id"] != latest.key_id:
            raise WitnessError(
                f"the checkpoint is signed by key {latest.key_id}, which the ledger does not "
                "serve as its public key"
            )
        keys[latest.key_id] = current["public_key"]
    if not verify_signature(latest, base64.b64decode(keys[latest.key_id])):
        raise WitnessError(f"bad signature on the {describe(latest)}")
    if previous is not None:
        check_extends(client, previous, latest)
    save_state(state_path, latest, keys)
    return Observed(previous, latest)


def check_extends(client: httpx.Client, previous: Checkpoint, latest: Checkpoint) -> None:
    fork = Fork(
        f"the log was rewritten (a fork): the kept {describe(previous)} is not a prefix of "
        f"the latest {describe(latest)}"
    )
    if latest.tree_size < previous.tree_size:
        raise fork
    if latest.tree_size == previous.tree_size:
        if latest.root_hash != previous.root_hash:
            raise fork
        return
    proof = get(
        client, "/v1/audit/proofs/consistency",
        first=previous.tree_size, second=latest.tree_size,
    )
    try:
        path = [bytes.fromhex(h) for h in proof["proof"]]
        ok = verify_consistency(
            previous.tree_size, latest.tree_size, bytes.fromhex(previous.root_hash),
            bytes.fromhex(latest.root_hash), path,
        )
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise fork
