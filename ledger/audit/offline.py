"""The export format and its offline verification (no database: an auditor runs
``ledger audit verify-export FILE`` anywhere, with only this package installed).

An export is JSON Lines. Line 1 is the header::

    {"format": "ledger-audit-export/v1", "uscc": null | "<USCC>",
     "head": <last log position exported>, "versions": <events exported, --uscc only>,
     "checkpoint": {tree_size, root_hash, timestamp, key_id, signature},
     "public_key": {key_id, algorithm: "ed25519", public_key}}

Every other line is one event: ``position``, ``leaf_hash`` (as the ledger's hash tree
holds it) and the leaf's fields (``enterprise_id``, ``uscc``, ``type``, ``version``,
``occurred_at``, ``recorded_at``, ``data``); in an export of one enterprise each
event also carries ``audit_path``, its inclusion proof in the checkpoint's tree.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ledger.audit.encoding import LEAF_FIELDS, event_leaf_hash
from ledger.audit.merkle import EMPTY_ROOT, Frontier, verify_inclusion
from ledger.audit.signing import ALGORITHM, Checkpoint, key_id_of, verify_signature

FORMAT = "ledger-audit-export/v1"


class ExportFormatError(ValueError):
    """The file is not an export this tool can read (bad input, exit 2)."""


@dataclass(frozen=True)
class ExportProblem:
    position: int | None
    reason: str

    def __str__(self) -> str:
        return f"position {self.position}: {self.reason}" if self.position else self.reason


@dataclass(frozen=True)
class ExportReport:
    uscc: str | None
    events: int
    checkpoint: Checkpoint
    key_id: str
    problem: ExportProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


class _Bad(Exception):
    def __init__(self, position: int | None, reason: str) -> None:
        self.problem = ExportProblem(position, reason)


def header(checkpoint: Checkpoint, public_key: dict[str, str], uscc: str | None,
           head: int | None, versions: int | None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "uscc": uscc,
        "head": head,
        "versions": versions,
        "checkpoint": checkpoint.to_json(),
        "public_key": public_key,
    }


def _read_header(line: str | None) -> tuple[dict[str, Any], Checkpoint, bytes]:
    if line is None:
        raise ExportFormatError("the file is empty")
    try:
        doc = json.loads(line)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ExportFormatError(f"not a ledger audit export (format {FORMAT!r} expected)")
        checkpoint = Checkpoint.from_json(doc["checkpoint"])
        key = doc["public_key"]
        if key.get("algorithm") != ALGORITHM:
            raise ExportFormatError(f"unknown key algorithm {key.get('algorithm')!r}")
        public = base64.b64decode(key["public_key"], validate=True)
    except ExportFormatError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as e:
        raise ExportFormatError(f"line 1 is not an export header ({e!s})") from None
    return doc, checkpoint, public


def verify_export(
    lines: Iterable[str],
    trusted_key: bytes | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Check an export against its checkpoint and public key (or ``trusted_key``, the
    raw key the auditor got by other means). Raises ExportFormatError when the input
    is not an export at all; returns the first problem otherwise."""
    it: Iterator[str] = iter(lines)
    doc, checkpoint, public = _read_header(next(it, None))
    uscc = doc.get("uscc")
    count = 0
    try:
        if trusted_key is not None and public != trusted_key:
            raise _Bad(None, "the export is signed by a key other than the trusted one")
        if key_id_of(public) != checkpoint.key_id:
            raise _Bad(None, f"the checkpoint names key {checkpoint.key_id}, "
                             f"the export carries key {key_id_of(public)}")
        if not verify_signature(checkpoint, public):
            raise _Bad(None, "the checkpoint's signature does not verify")
        check = _Whole(checkpoint, doc.get("head")) if uscc is None else _One(
            checkpoint, uscc, doc.get("versions")
        )
        for number, line in enumerate(it, 2):
            if not line.strip():
                continue
            check.event(number, _parse(number, line, check.expected))
            count += 1
            if progress and count % 10_000 == 0:
                progress(count)
        check.finish()
    except _Bad as bad:
        return ExportReport(uscc, count, checkpoint, checkpoint.key_id, bad.problem)
    return ExportReport(uscc, count, checkpoint, checkpoint.key_id, None)


def _parse(number: int, line: str, expected: int | None) -> dict[str, Any]:
    try:
        doc = json.loads(line)
    except ValueError:
        raise _Bad(expected, f"line {number} is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("position"), int):
        raise _Bad(expected, f"line {number} is not an event with a position")
    return doc


def _leaf(doc: dict[str, Any]) -> bytes:
    position = doc["position"]
    if "error" in doc:
        raise _Bad(position, f"the ledger could not read this stored event: {doc['error']}")
    missing = [name for name in LEAF_FIELDS if name not in doc]
    if missing:
        raise _Bad(position, f"the event lacks {', '.join(missing)}")
    try:
        leaf = event_leaf_hash(doc)
    except (TypeError, ValueError) as e:
        raise _Bad(position, f"the event cannot be encoded ({e})") from None
    if leaf.hex() != doc.get("leaf_hash"):
        raise _Bad(position, f"the event does not match its leaf hash (recomputed {leaf.hex()})")
    return leaf


class _Whole:
    """The whole log: positions 1, 2, 3, ... recomputed into the checkpoint's root."""

    def __init__(self, checkpoint: Checkpoint, head: Any) -> None:
        self.cp = checkpoint
        self.head = head if isinstance(head, int) else None
        self.frontier = Frontier()
        self.check_root()

    @property
    def expected(self) -> int:
        return self.frontier.size + 1

    def event(self, number: int, doc: dict[str, Any]) -> None:
        position = doc["position"]
        if position > self.expected:
            raise _Bad(self.expected, f"missing from the export (line {number} is at {position})")
        if position < self.expected:
            raise _Bad(
                position, f"out of order (line {number}, after position {self.expected - 1})"
            )
        leaf = _leaf(doc)
        if position > self.cp.tree_size:
            raise _Bad(position, f"not covered by the checkpoint (tree size {self.cp.tree_size})")
        self.frontier.append(leaf)
        self.check_root()

    def check_root(self) -> None:
        if self.frontier.size == self.cp.tree_size:
            root = self.frontier.root() if self.frontier.size else EMPTY_ROOT
            if root.hex() != self.cp.root_hash:
                raise _Bad(None, f"the leaf hashes of positions 1..{self.cp.tree_size} do not "
                                 "give the checkpoint's root: leaf hashes were altered")

    def finish(self) -> None:
        if self.frontier.size < self.cp.tree_size:
            raise _Bad(self.expected, f"missing from the export; the checkpoint covers "
                                      f"{self.cp.tree_size} events")
        if self.head is not None and self.frontier.size < self.head:
            raise _Bad(self.expected, f"missing from the export, which says the log ends "
                                      f"at {self.head}")


class _One:
    """One enterprise: versions 1, 2, 3, ... each proven in the checkpoint's tree."""

    def __init__(self, checkpoint: Checkpoint, uscc: str, versions: Any) -> None:
        self.cp = checkpoint
        self.uscc = uscc
        self.versions = versions if isinstance(versions, int) else None
        self.version = 0
        self.position = 0
        self.root = bytes.fromhex(checkpoint.root_hash)

    @property
    def expected(self) -> int | None:
        return None

    def event(self, number: int, doc: dict[str, Any]) -> None:
        position = doc["position"]
        if doc.get("uscc") != self.uscc:
            raise _Bad(position, f"the event belongs to {doc.get('uscc')}, not {self.uscc}")
        if doc.get("version") != self.version + 1:
            raise _Bad(position, f"version {doc.get('version')} where {self.version + 1} "
                                 "was expected (an event is missing or out of order)")
        if position <= self.position:
            raise _Bad(position, f"out of order (after position {self.position})")
        leaf = _leaf(doc)
        if position > self.cp.tree_size:
            raise _Bad(position, f"not covered by the checkpoint (tree size {self.cp.tree_size})")
        try:
            path = [bytes.fromhex(h) for h in doc["audit_path"]]
        except (KeyError, TypeError, ValueError):
            raise _Bad(position, "the event has no readable audit_path") from None
        if not verify_inclusion(position - 1, self.cp.tree_size, leaf, path, self.root):
            raise _Bad(position, "the inclusion proof does not lead to the checkpoint's root")
        self.version, self.position = self.version + 1, position

    def finish(self) -> None:
        if self.versions is not None and self.version < self.versions:
            raise _Bad(None, f"version {self.version + 1} of {self.uscc} is missing from the "
                             f"export, which says it holds {self.versions} events")
