"""Regulators' web sessions: stored by a hash of their id, checked against the key
behind them on every request (a revoked key or a lost scope ends the session)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from ledger.storage.db import Database

SESSION_HOURS = 8


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Sessions:
    def __init__(self, db: Database) -> None:
        self.db = db

    def open(self, sid: str, key_name: str, now: datetime) -> None:
        """Store the session ``sid`` of ``key_name`` for SESSION_HOURS (and drop expired
        ones)."""
        with self.db.transaction(write=True) as tx:
            tx.execute("DELETE FROM web_sessions WHERE expires_at < ?", (now.isoformat(),))
            tx.execute(
                "INSERT INTO web_sessions (id_hash, key_name, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (sha256_hex(sid), key_name, now.isoformat(),
                 (now + timedelta(hours=SESSION_HOURS)).isoformat()),
            )

    def close(self, sid: str) -> None:
        with self.db.transaction(write=True) as tx:
            tx.execute("DELETE FROM web_sessions WHERE id_hash = ?", (sha256_hex(sid),))

    def key_of(self, sid: str, now: datetime, scope: str) -> str | None:
        """The key name behind a live session whose key is unrevoked and still has
        ``scope``, else None."""
        found = self.key_and_rate_of(sid, now, scope)
        return found[0] if found is not None else None

    def key_and_rate_of(
        self, sid: str, now: datetime, scope: str
    ) -> tuple[str, float | None] | None:
        """Like `key_of`, with the key's own rate limit (None: the default), so a
        signed-in page is charged to the key's bucket."""
        with self.db.reading() as tx:
            row = tx.one(
                "SELECT k.name, k.scopes, k.revoked_at, k.rate_limit FROM web_sessions s "
                "JOIN api_keys k ON k.name = s.key_name "
                "WHERE s.id_hash = ? AND s.expires_at > ?",
                (sha256_hex(sid), now.astimezone(timezone.utc).isoformat()),
            )
        if row is None or row[2] is not None or scope not in row[1].split():
            return None
        return str(row[0]), None if row[3] is None else float(row[3])
