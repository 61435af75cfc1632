"""Versioned SQL migrations for the service's own tables (``migrations/<dialect>/NNN_*.sql``).

Idempotent: each file runs once, in order, recorded in ``schema_migrations``; on
PostgreSQL an advisory lock keeps two processes from migrating at once.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from ledger.storage.db import Database

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
LOCK_KEY = 7_120_001


def pending_files(dialect: str) -> list[Path]:
    return sorted((MIGRATIONS / dialect).glob("[0-9][0-9][0-9]_*.sql"))


def split_statements(sql: str) -> list[str]:
    """Statements end with ``;`` at the end of a line (no procedural bodies here)."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip().rstrip(";").strip()]


def migrate(db: Database) -> list[str]:
    """Apply what is missing; returns the names applied now."""
    applied_now: list[str] = []
    with db.transaction(write=True) as tx:
        db.lock(tx, LOCK_KEY)
        tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in tx.all("SELECT version FROM schema_migrations")}
        for path in pending_files(db.dialect):
            if path.stem in done:
                continue
            for statement in split_statements(path.read_text()):
                tx.execute(statement.rstrip(";"))
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (path.stem, datetime.now(timezone.utc).isoformat()),
            )
            applied_now.append(path.stem)
    return applied_now
