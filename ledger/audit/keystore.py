"""The ledger's signing key lives outside the database it signs: in
``LEDGER_SIGNING_KEY`` or in a key file (``LEDGER_SIGNING_KEY_FILE``, by default
``ledger-signing.key`` beside the SQLite file, or in the working directory for
PostgreSQL), created with mode 0600 at first start when missing. ``audit_keys`` keeps
public keys only (every key that ever signed, so old checkpoints still verify).

Whoever can write the database can no longer sign a rewritten history with it; a
witness (``ledger audit witness``) that kept an older checkpoint catches even a forger
who also holds the key.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.audit.signing import (
    ALGORITHM,
    SigningKey,
    key_id_of,
    parse_private_key,
    private_raw,
    public_raw,
)
from ledger.errors import InvalidInput
from ledger.storage.db import Database, Tx

KEY_LOCK = 7_120_006
logger = logging.getLogger("ledger.audit.keystore")


def load_signing_key(
    db: Database, configured: str | None, key_file: Path | None = None
) -> SigningKey:
    """The configured key, else the one in ``key_file`` (made on first call); its
    public part recorded in ``audit_keys``. Safe when several processes start at once.
    A private key still kept in the database (before v2) is moved to ``key_file``."""
    if configured:
        key, source = parse_private_key(configured), "configured"
    else:
        if key_file is None:
            raise InvalidInput(
                "signing_key_file", "required", "no LEDGER_SIGNING_KEY and no key file"
            )
        message = move_private_keys_out(db, key_file)
        if message:
            logger.warning("%s", message)
        key, source = read_or_create_key_file(key_file), "file"
    pub = public_raw(key)
    with db.transaction(write=True) as tx:
        db.lock(tx, KEY_LOCK)
        _record(tx, key_id_of(pub), pub, source)
    return SigningKey(key_id_of(pub), pub, key)


def read_or_create_key_file(path: Path) -> Ed25519PrivateKey:
    """The key in ``path`` (base64 of the 32 raw bytes), made with mode 0600 when the
    file is missing (atomically: of processes starting together, one key wins)."""
    if not path.exists():
        _write_new(path, Ed25519PrivateKey.generate())
    for _ in range(50):
        text = path.read_text().strip()
        if text:
            break
        time.sleep(0.01)
    try:
        return parse_private_key(text)
    except InvalidInput as e:
        raise InvalidInput(
            "signing_key_file", e.reason, f"{path}: {str(e).split(': ', 1)[-1]}"
        ) from None


def _write_new(path: Path, key: Ed25519PrivateKey) -> bool:
    """Write ``key`` to ``path`` unless it exists; True when this call made it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(private_raw(key)).decode() + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temp, path)  # fails if another process made it first
        except FileExistsError:
            return False
        return True
    finally:
        temp.unlink(missing_ok=True)


def move_private_keys_out(db: Database, key_file: Path) -> str | None:
    """Before v2 a generated key was kept whole in ``audit_keys``: write the newest one
    to ``key_file`` (when that does not exist yet) and delete every private key from
    the database. A message saying what was done, or None when nothing was there."""
    with db.transaction(write=True) as tx:
        db.lock(tx, KEY_LOCK)
        rows = tx.all(
            "SELECT key_id, private_key FROM audit_keys WHERE private_key IS NOT NULL "
            "ORDER BY created_at DESC"
        )
        if not rows:
            return None
        key_id, secret = rows[0]
        wrote = False
        if not key_file.exists():
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(secret))
            wrote = _write_new(key_file, key)
        tx.execute("UPDATE audit_keys SET private_key = NULL WHERE private_key IS NOT NULL")
    if wrote:
        return (
            f"moved the signing key {key_id} out of the database into {key_file} "
            "(mode 0600); the database keeps public keys only"
        )
    return (
        f"deleted {len(rows)} private key(s) from the database ({key_file} already "
        "exists and is the signing key now); the database keeps public keys only"
    )


def _record(tx: Tx, key_id: str, pub: bytes, source: str) -> None:
    tx.execute(
        "INSERT INTO audit_keys (key_id, algorithm, public_key, private_key, source, created_at) "
        "VALUES (?, ?, ?, NULL, ?, ?) ON CONFLICT (key_id) DO NOTHING",
        (
            key_id, ALGORITHM, base64.b64encode(pub).decode(), source,
            datetime.now(timezone.utc).isoformat(),
        ),
    )


def public_keys(tx: Tx) -> dict[str, bytes]:
    """Every key that may have signed a checkpoint, by key id."""
    return {
        key_id: base64.b64decode(public)
        for key_id, public in tx.all("SELECT key_id, public_key FROM audit_keys")
    }
