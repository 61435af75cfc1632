"""Who may call the HTTP API, and what it remembers about them: API keys (only their
hashes are stored), idempotency records of writes, the access log of partner reads,
and a rate limiter per key.

These live in the service's own tables (migration 002), never in the event log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ledger.errors import InvalidInput
from ledger.storage.db import Database, Tx
from ledger.storage.events import LoggedEvent
from ledger.storage.hooked import InTx
from ledger.storage.outage import Failures

SCOPES = ("ledger:write", "credit:read", "audit:read")
KEY_PREFIX = "lk_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

logger = logging.getLogger("ledger.services.access")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def stamp(moment: datetime | None = None) -> str:
    """A UTC timestamp with microseconds: stored this way, text order is time order."""
    return (moment or utcnow()).astimezone(timezone.utc).isoformat(timespec="microseconds")


# -- API keys ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKey:
    name: str
    scopes: frozenset[str]
    rate_limit: float | None  # requests per second; None = the service default
    prefix: str
    created_at: str
    revoked_at: str | None = None

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scopes": sorted(self.scopes),
            "rate_limit": self.rate_limit,
            "prefix": self.prefix,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def hash_key(token: str) -> str:
    """Keys are 256-bit random tokens, so one SHA-256 is enough (no salt or stretching
    is needed against guessing a high-entropy secret)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


_KEY_COLUMNS = "name, scopes, rate_limit, prefix, created_at, revoked_at"


KEY_CACHE_SECONDS = 1.0
_LIVE_KEYS: dict[tuple[int, str], tuple[float, ApiKey]] = {}  # (database, key hash) -> key


def _key(row: Any) -> ApiKey:
    return ApiKey(row[0], frozenset(row[1].split()), row[2], row[3], row[4], row[5])


class ApiKeys:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self, name: str, scopes: Iterable[str], rate_limit: float | None = None
    ) -> tuple[ApiKey, str]:
        """Store a new key; returns it with the token, which is shown once and never stored."""
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise InvalidInput(
                "name", "format",
                "name: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
        chosen = sorted(set(scopes))
        if not chosen:
            raise InvalidInput("scope", "required", "scope: give at least one scope")
        for scope in chosen:
            if scope not in SCOPES:
                raise InvalidInput(
                    "scope", "unknown",
                    f"scope: unknown scope {scope!r} (known: {', '.join(SCOPES)})",
                )
        if rate_limit is not None and not (
            isinstance(rate_limit, int | float) and math.isfinite(rate_limit) and rate_limit > 0
        ):
            raise InvalidInput("rate_limit", "range", "rate_limit: must be a positive number")
        token = new_token()
        key = ApiKey(
            name, frozenset(chosen), None if rate_limit is None else float(rate_limit),
            token[:10], stamp(),
        )
        with self.db.transaction(write=True) as tx:
            inserted = tx.execute(
                "INSERT INTO api_keys (name, key_hash, prefix, scopes, rate_limit, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (name, hash_key(token), key.prefix, " ".join(chosen), key.rate_limit,
                 key.created_at),
            ).rowcount
        if inserted != 1:
            raise InvalidInput(
                "name", "taken",
                f"name: a key named {name!r} exists already (revoked keys keep their names, "
                "so the access log stays unambiguous)",
            )
        return key, token

    def list(self) -> list[ApiKey]:
        with self.db.transaction() as tx:
            rows = tx.all(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at, name")
        return [_key(r) for r in rows]

    def revoke(self, name: str) -> ApiKey:
        """Revoke a key (idempotent: revoking a revoked key changes nothing)."""
        _LIVE_KEYS.clear()
        with self.db.transaction(write=True) as tx:
            tx.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (stamp(), name),
            )
            row = tx.one(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE name = ?", (name,))
        _LIVE_KEYS.clear()  # again: a request may have remembered it meanwhile
        if row is None:
            raise InvalidInput("name", "unknown", f"name: no key named {name!r}")
        return _key(row)

    def remembered(self, token: str, digest: str | None = None) -> ApiKey | None:
        """The live key of ``token`` if this process remembers it (no I/O), else None."""
        cached = _LIVE_KEYS.get((id(self.db), digest or hash_key(token)))
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return None

    def authenticate(self, token: str, tx: Tx | None = None) -> ApiKey | None:
        """The key a token belongs to (revoked or not), or None for an unknown token.

        A live key found is remembered for ``KEY_CACHE_SECONDS`` in this process, so a
        busy partner costs no key lookup per request; a revocation here clears that
        memory at once, one made by another process applies within those seconds."""
        digest = hash_key(token)
        cached = self.remembered(token, digest)
        if cached is not None:
            return cached
        sql = f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_hash = ?"
        if tx is not None:
            row = tx.one(sql, (digest,))
        else:
            with self.db.reading() as own:  # one statement: one round trip
                row = own.one(sql, (digest,))
        key = None if row is None else _key(row)
        if key is not None and not key.revoked:
            _LIVE_KEYS[(id(self.db), digest)] = (time.monotonic() + KEY_CACHE_SECONDS, key)
        return key


# -- rate limiting -------------------------------------------------------------------------


class RateLimiter:
    """A token bucket per key, refilled at the key's rate, holding at most one second's
    worth of requests. Buckets live in this process: with ``--workers N`` each worker
    allows a key its full rate."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, name: str, rate: float) -> float:
        """Spend one token: returns 0 when allowed, else the seconds until one is free."""
        capacity = max(rate, 1.0)
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(name, (capacity, now))
            tokens = min(capacity, tokens + max(now - last, 0.0) * rate)
            if tokens >= 1.0:
                self._buckets[name] = (tokens - 1.0, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1.0 - tokens) / rate


# -- idempotency ---------------------------------------------------------------------------


class IdempotencyMismatch(InvalidInput):
    """The Idempotency-Key was used before for a different request (422)."""

    def __init__(self) -> None:
        super().__init__(
            "Idempotency-Key", "reused",
            "Idempotency-Key: already used for a different request (method, path, If-Match "
            "or body differ); use a new key for a new request",
        )


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


def request_hash(*parts: str, body: Any) -> str:
    """What makes two requests "the same": the given parts and the JSON body in a
    canonical form (key order and whitespace do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256("\n".join([*parts, canonical]).encode("utf-8")).hexdigest()


class IdempotentReplay(Exception):  # noqa: N818 - not an error: the answer is known
    """Raised inside a write's transaction when its key's record is already there (a
    concurrent duplicate stored first): the write rolls back and the caller replays."""

    def __init__(self, response: StoredResponse) -> None:
        super().__init__("already done")
        self.response = response


class Idempotency:
    """Records of writes sent with an ``Idempotency-Key`` (contract.md), stored by the
    write's own ``in_tx`` hook in the transaction that stores its events: a crash at
    any moment leaves both or neither, so there is no pending state to get stuck in.

    Concurrent duplicates wait on the database's own lock: every insert into the event
    log holds its write lock (PostgreSQL: the log's EXCLUSIVE table lock; SQLite: the
    database write lock) until it commits, and the hook reads the key's record under
    it, so the second finds the first's record, rolls back and replays it. Errors are
    not recorded (nothing was stored): a retry runs the command again.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def find(self, key_name: str, idem_key: str, digest: str) -> StoredResponse | None:
        """The stored response for this key, or None; 422 if the key was used for a
        different request."""
        with self.db.reading() as tx:
            row = tx.one(
                "SELECT request_hash, status, body, headers FROM idempotency_records "
                "WHERE key_name = ? AND idem_key = ?",
                (key_name, idem_key),
            )
        return self._answer(row, digest)

    @staticmethod
    def _answer(row: Any, digest: str) -> StoredResponse | None:
        if row is None:
            return None
        if row[0] != digest:
            raise IdempotencyMismatch()
        return StoredResponse(int(row[1]), row[2], json.loads(row[3]))

    def in_tx(
        self, key_name: str, idem_key: str, digest: str,
        respond: Callable[[list[LoggedEvent]], StoredResponse],
    ) -> InTx:
        """The hook that stores ``respond(events)`` under the key with the write, or
        refuses the write (:class:`IdempotentReplay`, or 422 for a different request)
        when the key's record is already stored."""

        def hook(tx: Tx, events: list[LoggedEvent]) -> None:
            row = tx.one(
                "SELECT request_hash, status, body, headers FROM idempotency_records "
                "WHERE key_name = ? AND idem_key = ?",
                (key_name, idem_key),
            )
            done = self._answer(row, digest)
            if done is not None:
                raise IdempotentReplay(done)
            response = respond(events)
            tx.execute(
                "INSERT INTO idempotency_records (key_name, idem_key, request_hash, state, "
                "status, body, headers, created_at) VALUES (?, ?, ?, 'done', ?, ?, ?, ?)",
                (key_name, idem_key, digest, response.status, response.body,
                 json.dumps(response.headers), stamp()),
            )

        return hook


# -- access log ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """One partner read: who (key name), what (route, target, USCCs), when, and the
    status it got."""

    at: str
    key_name: str
    method: str
    route: str
    target: str
    status: int
    subjects: tuple[str, ...] = ()


class AccessLog:
    """Partner reads, buffered in memory and written in batches by a background thread
    (every ``interval`` seconds, and at shutdown), so a read costs no write transaction.
    ``query`` flushes this process's buffer first."""

    def __init__(self, db: Database, interval: float = 0.25, max_buffer: int = 5000) -> None:
        self.db = db
        self.interval = interval
        self.max_buffer = max_buffer
        self._buffer: list[Access] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, access: Access) -> None:
        with self._lock:
            self._buffer.append(access)
            full = len(self._buffer) >= self.max_buffer
        if full:
            self.flush()

    def flush(self) -> int:
        with self._flush_lock:
            with self._lock:
                pending, self._buffer = self._buffer, []
            if not pending:
                return 0
            try:
                with self.db.transaction(write=True) as tx:
                    tx.many(
                        "INSERT INTO access_log (at, key_name, method, route, target, status, "
                        "subjects) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [(a.at, a.key_name, a.method, a.route, a.target, a.status,
                          " ".join(a.subjects)) for a in pending],
                    )
            except Exception:
                with self._lock:  # keep them for the next flush rather than lose them
                    self._buffer[:0] = pending
                raise
            return len(pending)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()

        def run() -> None:
            failures = Failures(logger, "access log flush")
            while not self._stop.wait(self.interval):
                try:
                    self.flush()
                    failures.succeeded()
                except Exception:
                    failures.failed()

        self._thread = threading.Thread(target=run, name="ledger-access-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.flush()

    def query(
        self,
        *,
        key_name: str | None = None,
        uscc: str | None = None,
        since: str | None = None,
        until: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Entries in the order they were written, filtered; returns them and the id to
        continue after (None at the end). ``since``/``until`` are UTC ISO timestamps."""
        self.flush()
        where: list[str] = ["id > ?"]
        params: list[Any] = [after_id]
        if key_name is not None:
            where.append("key_name = ?")
            params.append(key_name)
        if uscc is not None:
            where.append("(' ' || subjects || ' ') LIKE ?")
            params.append(f"% {uscc} %")
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if until is not None:
            where.append("at < ?")
            params.append(until)
        with self.db.transaction() as tx:
            rows = tx.all(
                "SELECT id, at, key_name, method, route, target, status, subjects FROM access_log "
                f"WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
                (*params, limit + 1),
            )
        more = len(rows) > limit
        rows = rows[:limit]
        items = [
            {
                "id": r[0], "at": r[1], "key": r[2], "method": r[3], "route": r[4],
                "target": r[5], "status": r[6], "subjects": r[7].split(),
            }
            for r in rows
        ]
        return items, (rows[-1][0] if more else None)
