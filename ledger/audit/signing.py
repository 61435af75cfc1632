"""Ed25519 keys and signed checkpoints (no database here: `verify-export` uses it).

The signing key comes from ``LEDGER_SIGNING_KEY`` (base64 of the 32 raw private key
bytes) or, when that is unset, from the key file (see ``keystore``), never from the
database. Every key that ever signed stays in ``audit_keys`` (public part) so old checkpoints
remain verifiable after a key change. ``key_id`` is the first 16 hex digits of
SHA-256 of the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.audit.encoding import checkpoint_text
from ledger.errors import InvalidInput

ALGORITHM = "ed25519"
RAW = serialization.Encoding.Raw


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root_hash: str
    timestamp: str
    key_id: str
    signature: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Checkpoint:
        return cls(
            tree_size=int(doc["tree_size"]), root_hash=str(doc["root_hash"]),
            timestamp=str(doc["timestamp"]), key_id=str(doc["key_id"]),
            signature=str(doc["signature"]),
        )

    def text(self) -> bytes:
        return checkpoint_text(self.tree_size, self.root_hash, self.timestamp)


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(RAW, serialization.PublicFormat.Raw)


def private_raw(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def parse_private_key(value: str) -> Ed25519PrivateKey:
    """``LEDGER_SIGNING_KEY``: base64 of the 32 raw bytes of an Ed25519 private key."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "signing_key", "format", "LEDGER_SIGNING_KEY: not base64"
        ) from None
    if len(raw) != 32:
        raise InvalidInput(
            "signing_key", "length",
            f"LEDGER_SIGNING_KEY: an Ed25519 private key is 32 bytes, not {len(raw)}",
        )
    return Ed25519PrivateKey.from_private_bytes(raw)


def verify_signature(checkpoint: Checkpoint, public_key: bytes) -> bool:
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, checkpoint.text())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    public_key: bytes
    private: Ed25519PrivateKey

    def public(self) -> dict[str, str]:
        return {
            "key_id": self.key_id,
            "algorithm": ALGORITHM,
            "public_key": base64.b64encode(self.public_key).decode(),
        }

    def sign(self, tree_size: int, root_hash: str, moment: datetime) -> Checkpoint:
        timestamp = moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
        text = checkpoint_text(tree_size, root_hash, timestamp)
        signature = base64.b64encode(self.private.sign(text)).decode()
        return Checkpoint(tree_size, root_hash, timestamp, self.key_id, signature)
