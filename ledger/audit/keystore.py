"""The ledger's signing keys in ``audit_keys``: the configured one (public part only)
or one generated on first start (kept whole: the database is then the key's home)."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.audit.signing import (
    ALGORITHM,
    SigningKey,
    key_id_of,
    parse_private_key,
    private_raw,
    public_raw,
)
from ledger.storage.db import Database, Tx

KEY_LOCK = 7_120_006


def load_signing_key(db: Database, configured: str | None) -> SigningKey:
    """The configured key (its public part recorded), else the generated one, made and
    stored on first call. Safe when several processes start at once."""
    key = parse_private_key(configured) if configured else None
    with db.transaction(write=True) as tx:
        db.lock(tx, KEY_LOCK)
        if key is None:
            row = tx.one(
                "SELECT private_key FROM audit_keys WHERE source = 'generated' "
                "AND private_key IS NOT NULL ORDER BY created_at DESC LIMIT 1"
            )
            if row is not None:
                key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(row[0]))
                pub = public_raw(key)
                return SigningKey(key_id_of(pub), pub, key)
            key = Ed25519PrivateKey.generate()
            source, secret = "generated", base64.b64encode(private_raw(key)).decode()
        else:
            source, secret = "configured", None
        pub = public_raw(key)
        _record(tx, key_id_of(pub), pub, secret, source)
    return SigningKey(key_id_of(pub), pub, key)


def _record(tx: Tx, key_id: str, pub: bytes, secret: str | None, source: str) -> None:
    tx.execute(
        "INSERT INTO audit_keys (key_id, algorithm, public_key, private_key, source, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key_id) DO NOTHING",
        (
            key_id, ALGORITHM, base64.b64encode(pub).decode(), secret, source,
            datetime.now(timezone.utc).isoformat(),
        ),
    )


def public_keys(tx: Tx) -> dict[str, bytes]:
    """Every key that may have signed a checkpoint, by key id."""
    return {
        key_id: base64.b64decode(public)
        for key_id, public in tx.all("SELECT key_id, public_key FROM audit_keys")
    }
