"""Personal data (contract.md, "Personal data"): the fields that name a natural person
never reach the event log in clear.

At write time each personal value gets a random 16-byte salt and the event stores the
commitment ``"sha256:" + hex(SHA-256(salt || UTF-8 value))`` in its place; the value and
the salt go to ``personal_data``, in the same transaction as the event. Auditors
(``audit:read``) get them back beside the event and can check the commitment; everyone
else sees the commitment or nothing. An erasure deletes the values and salts for good:
the log, its hash tree, checkpoints and proofs are untouched (a commitment without its
salt reveals nothing), so every proof still verifies.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ledger import values
from ledger.errors import EnterpriseNotFound, InvalidInput
from ledger.services.redaction import PERSONAL_FIELDS, is_commitment
from ledger.storage.db import Database, Tx
from ledger.storage.eventlog import EventLog
from ledger.storage.events import LoggedEvent

PREFIX = "sha256:"
SALT_BYTES = 16
MAX_LENGTH = 100  # as the aggregate's limit on a name


def commitment(value: str, salt: bytes) -> str:
    """``"sha256:" + hex(SHA-256(salt || UTF-8 value))``."""
    return PREFIX + hashlib.sha256(salt + value.encode("utf-8")).hexdigest()


def check(value: str, salt_hex: str, stored: str) -> bool:
    """Does ``value`` with ``salt_hex`` open the commitment ``stored``?"""
    try:
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    return commitment(value, salt) == stored


@dataclass
class Sealed:
    """The personal values of one write, by the commitment that replaces each in its
    event; ``record`` stores them beside the events once their positions are known."""

    values: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)

    def seal(self, name: str, value: Any) -> Any:
        """The commitment to ``value`` (stripped, as the aggregate keeps names). A value
        the aggregate would refuse is passed through unchanged, so the aggregate
        refuses it with its usual error and nothing is stored."""
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_LENGTH:
            return value
        value = value.strip()
        salt = os.urandom(SALT_BYTES)
        sealed = commitment(value, salt)
        self.values[sealed] = (name, value, salt)
        return sealed

    def __bool__(self) -> bool:
        return bool(self.values)

    def rows(self, events: Iterable[LoggedEvent]) -> list[tuple[Any, ...]]:
        out = []
        for event in events:
            for name in PERSONAL_FIELDS:
                found = self.values.get(event.data.get(name))  # type: ignore[arg-type]
                if found is not None and found[0] == name:
                    out.append((
                        event.position, name, event.uscc, event.version,
                        event.data[name], found[1], found[2].hex(),
                    ))
        return out

    def record(self, tx: Tx, events: Sequence[LoggedEvent]) -> None:
        """Store the values and salts of ``events`` (inside the events' transaction)."""
        tx.many(
            "INSERT INTO personal_data (position, field, uscc, version, commitment, value, "
            "salt) VALUES (?, ?, ?, ?, ?, ?, ?)",
            self.rows(events),
        )


# -- readers ---------------------------------------------------------------------------------


def personal_of(
    tx: Tx, uscc: str, events: Sequence[LoggedEvent]
) -> dict[int, dict[str, dict[str, Any]]]:
    """For auditors: by position, each personal field of ``events`` as
    ``{"value", "salt"}`` (salt hex), or ``{"erased": true}`` once erased."""
    stored = {
        (position, name): (value, salt)
        for position, name, value, salt in tx.all(
            "SELECT position, field, value, salt FROM personal_data WHERE uscc = ?", (uscc,)
        )
    }
    out: dict[int, dict[str, dict[str, Any]]] = {}
    for event in events:
        mine: dict[str, dict[str, Any]] = {}
        for name in PERSONAL_FIELDS:
            if name not in event.data:
                continue
            found = stored.get((event.position, name))
            if found is not None:
                mine[name] = {"value": found[0], "salt": found[1]}
            elif is_commitment(event.data[name]):
                mine[name] = {"erased": True}
        out[event.position] = mine
    return out


def legal_representative(tx: Tx, uscc: str) -> str | None:
    """The legal representative in clear (for audit:read), None once erased."""
    row = tx.one(
        "SELECT value FROM personal_data WHERE uscc = ? AND field = 'legal_representative' "
        "ORDER BY position DESC LIMIT 1",
        (uscc,),
    )
    return None if row is None else str(row[0])


def legal_representative_of(db: Database, uscc: str) -> str | None:
    with db.reading() as tx:
        return legal_representative(tx, uscc)


def reveal(tx: Tx, value: Any) -> Any:
    """The clear value behind a commitment (None once erased); anything else as it is."""
    if not is_commitment(value):
        return value
    return tx.value("SELECT value FROM personal_data WHERE commitment = ?", (value,))


# -- erasure -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erasure:
    uscc: str
    fields: list[str]
    positions: list[int]
    erased_at: str
    erased_by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "uscc": self.uscc, "fields": self.fields, "positions": self.positions,
            "erased_at": self.erased_at, "erased_by": self.erased_by,
        }


def check_fields(fields: Sequence[str] | None) -> list[str]:
    if not fields:
        return list(PERSONAL_FIELDS)
    unknown = [f for f in fields if f not in PERSONAL_FIELDS]
    if unknown:
        raise InvalidInput(
            "fields", "unknown",
            f"fields: {unknown[0]} is not a personal field ({', '.join(PERSONAL_FIELDS)})",
        )
    return list(dict.fromkeys(fields))


def erase(
    db: Database, log: EventLog, uscc: str, fields: Sequence[str] | None, erased_by: str
) -> Erasure:
    """Delete the enterprise's personal values and salts (of ``fields``, default all)
    for good, and record that it happened (who, when, which fields and positions; never
    the values). On SQLite the freed bytes are overwritten and the WAL truncated, so
    the values leave the files too. The log, its tree and checkpoints are untouched."""
    uscc = values.uscc(uscc)
    names = check_fields(fields)
    marks = ", ".join("?" * len(names))
    at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    with db.transaction(write=True) as tx:
        if not log.of_enterprise(tx, uscc, upto=1):
            raise EnterpriseNotFound(uscc)
        if not db.postgres:
            tx.execute("PRAGMA secure_delete = ON")  # takes effect on this connection
        positions = sorted({
            int(r[0]) for r in tx.all(
                f"SELECT position FROM personal_data WHERE uscc = ? AND field IN ({marks})",
                (uscc, *names),
            )
        })
        tx.execute(
            f"DELETE FROM personal_data WHERE uscc = ? AND field IN ({marks})", (uscc, *names)
        )
        # a request's hash covers its body, names included: no longer kept for replay
        tx.execute(
            "UPDATE idempotency_records SET request_hash = 'erased' WHERE body LIKE ?",
            (f'%"uscc":"{uscc}"%',),
        )
        tx.execute(
            "INSERT INTO personal_erasures (at, uscc, fields, positions, erased_by) "
            "VALUES (?, ?, ?, ?, ?)",
            (at, uscc, json.dumps(names), json.dumps(positions), erased_by),
        )
    if not db.postgres:
        scrub_sqlite_files(db)
    return Erasure(uscc, names, positions, at, erased_by)


def scrub_sqlite_files(db: Database, attempts: int = 50) -> None:
    """Move every page into the database file and truncate the WAL to zero bytes, so
    the deleted values' old page images leave the WAL (readers in other connections
    may delay it briefly)."""
    with db.reading() as tx:
        for _ in range(attempts):
            busy = tx.one("PRAGMA wal_checkpoint(TRUNCATE)")[0]
            if not busy:
                return
            time.sleep(0.05)


def erasures(db: Database, uscc: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The recorded erasures, newest first."""
    with db.reading() as tx:
        return _erasures(tx, uscc, limit)


def _erasures(tx: Tx, uscc: str | None, limit: int) -> list[dict[str, Any]]:
    sql = "SELECT at, uscc, fields, positions, erased_by FROM personal_erasures"
    params: tuple[Any, ...] = ()
    if uscc is not None:
        sql, params = sql + " WHERE uscc = ?", (uscc,)
    rows = tx.all(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
    return [
        {"erased_at": at, "uscc": u, "fields": json.loads(f), "positions": json.loads(p),
         "erased_by": by}
        for at, u, f, p, by in rows
    ]
