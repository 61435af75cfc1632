"""Limits on the cost of requests that carry no API key check of their own.

- `PublicLimits`: every request outside the API (``/v1``), the operations endpoints
  and the static assets is charged to a token bucket: a regulator's (an
  ``Authorization: Bearer`` key or a signed-in session that may write) to that key's own
  bucket, the one its API requests use; anyone else's to its client address
  (``LEDGER_PUBLIC_RATE_LIMIT`` per second, bursts of ``LEDGER_PUBLIC_BURST``). Past
  it: 429 with ``Retry-After``. Behind a reverse proxy listed in
  ``LEDGER_TRUSTED_PROXIES`` the client is the right-most address of
  ``X-Forwarded-For`` that is not a trusted proxy.
- `PublicCache`: the public pages change only when the log (or the live projection
  set) moves or the day changes, so they carry an ``ETag`` made of those, the path, the
  query and the language asked for (``Accept-Language``, the ``lang`` cookie); a
  request with a matching ``If-None-Match`` gets 304 for one cheap read instead of the
  page.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import i18n, page_auth
from api.responses import refusal
from ledger.projections.freshness import freshness
from ledger.services import letters
from ledger.services.sessions import Sessions
from ledger.values import today_cst

API_PREFIX = "/v1/"
UNLIMITED = ("/healthz", "/metrics")  # monitoring scrapes; cheap and bounded
UNLIMITED_PREFIXES = ("/static/", "/docs/assets/")  # files on disk
PUBLIC_PAGES = ("/lists/", "/enterprises/")  # and "/": answers cached by ETag
MAX_BUCKETS = 100_000


class AddressLimiter:
    """Token buckets per client address: ``rate`` tokens a second, at most
    ``capacity``. Buckets that have refilled are dropped when there are too many, so
    memory stays bounded whatever the number of addresses."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, address: str, rate: float, capacity: float) -> float:
        """Spend one token: 0 when allowed, else the seconds until one is free."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(address, (capacity, now))
            tokens = min(capacity, tokens + max(now - last, 0.0) * rate)
            if tokens >= 1.0:
                self._buckets[address] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[address] = (tokens, now)
                wait = (1.0 - tokens) / rate
            if len(self._buckets) > MAX_BUCKETS:
                self._prune(now, rate, capacity)
            return wait

    def _prune(self, now: float, rate: float, capacity: float) -> None:
        full = [a for a, (t, last) in self._buckets.items() if t + (now - last) * rate >= capacity]
        for address in full:
            del self._buckets[address]
        if len(self._buckets) > MAX_BUCKETS:  # a flood of distinct addresses: start over
            self._buckets.clear()


def header(scope: Scope, name: bytes) -> str | None:
    values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == name]
    return ", ".join(values) if values else None


def client_address(scope: Scope, proxies: tuple[Any, ...]) -> str:
    """The client's address: the peer, or behind trusted proxies the right-most
    ``X-Forwarded-For`` entry that is not itself a trusted proxy."""
    peer = scope["client"][0] if scope.get("client") else "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    forwarded = header(scope, b"x-forwarded-for")
    if not forwarded:
        return peer
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a forged or broken header: the proxy is the client we know
    return hops[0] if hops else peer


def _trusted(address: str, proxies: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def bearer_token(scope: Scope) -> str | None:
    value = header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def cookie(scope: Scope, name: str) -> str | None:
    raw = header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.replace(",", ";").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def limited(path: str) -> bool:
    return not (
        path.startswith(API_PREFIX) or path in UNLIMITED or path.startswith(UNLIMITED_PREFIXES)
    )


class PublicLimits:
    def __init__(self, app: ASGIApp, owner: Any) -> None:
        self.app = app
        self.owner = owner
        self.addresses = AddressLimiter()
        self._secrets: dict[int, bytes] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = getattr(self.owner.state, "api", None)
        if scope["type"] != "http" or state is None or not limited(scope["path"]):
            await self.app(scope, receive, send)
            return
        settings = state.services.settings
        regulator = await self.regulator_key(state, scope)
        if regulator is not None:
            name, rate = regulator
            rate = rate or state.default_rate
            wait = state.limiter.take(name, rate)
            detail = f"API key {name!r} is past its rate limit of {rate:g} requests per second"
        else:
            address = client_address(scope, settings.proxy_networks)
            rate = settings.public_rate_limit
            wait = self.addresses.take(address, rate, settings.public_capacity)
            detail = (f"this address is past the public pages' limit of {rate:g} requests "
                      "per second")
        if wait > 0:
            response = refusal(
                scope, 429, "rate-limited", detail,
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def regulator_key(self, state: Any, scope: Scope) -> tuple[str, float | None] | None:
        """The regulator's key behind the request's credential, if it is one that may
        write (the page itself still checks it): its name and own rate limit."""
        token = bearer_token(scope)
        services = state.services
        if token is not None:
            key = await self._io(services, state.keys.authenticate, token)
            if key is None or key.revoked or not key.has(page_auth.WRITE_SCOPE):
                return None
            return key.name, key.rate_limit
        value = cookie(scope, page_auth.SESSION_COOKIE)
        if not value:
            return None
        sid = page_auth.session_id(self.secret(services), value)  # no I/O for a forgery
        if sid is None:
            return None
        now = services.ledger.clock()
        sessions = Sessions(services.db)
        found: tuple[str, float | None] | None = await self._io(
            services, sessions.key_and_rate_of, sid, now, page_auth.WRITE_SCOPE
        )
        return found

    def secret(self, services: Any) -> bytes:
        secret = self._secrets.get(id(services))
        if secret is None:
            secret = letters.secret_key(services.db, services.settings.secret_key)
            self._secrets = {id(services): secret}
        return secret

    @staticmethod
    async def _io(services: Any, fn: Callable[..., Any], *args: Any) -> Any:
        if services.db.postgres:
            return await run_in_threadpool(fn, *args)
        return fn(*args)


# -- conditional answers for the public pages ---------------------------------------------


def public_page(path: str) -> bool:
    return path == "/" or path.startswith(PUBLIC_PAGES)


def etag_matches(if_none_match: str, etag: str) -> bool:
    opaque = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == opaque:
            return True
    return False


class PublicCache:
    def __init__(self, app: ASGIApp, owner: Any) -> None:
        self.app = app
        self.owner = owner
        self.boot = secrets.token_hex(8)  # a new deployment may render pages differently

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = getattr(self.owner.state, "api", None)
        if (
            scope["type"] != "http" or state is None or scope["method"] not in ("GET", "HEAD")
            or not public_page(scope["path"])
            or header(scope, b"authorization") is not None
            or cookie(scope, page_auth.SESSION_COOKIE) is not None
        ):
            await self.app(scope, receive, send)
            return
        services = state.services
        # the freshness of the database that renders the page (a replica's may trail the
        # primary's): the page reads through the same view (api.pages.page_reads)
        sides = services.read
        view = sides.choose_cached(None) or await run_in_threadpool(sides.choose, None)
        scope.setdefault("state", {})["read_view"] = view

        def fresh_on_view() -> str:
            return view.run(lambda side: freshness(side.standing.log))

        if services.db.postgres:
            fresh = await run_in_threadpool(fresh_on_view)
        else:
            fresh = fresh_on_view()
        etag = self.etag(scope, fresh, today_cst(services.ledger.clock()).isoformat())
        asked = header(scope, b"if-none-match")
        if asked and etag_matches(asked, etag):
            await send({"type": "http.response.start", "status": 304, "headers": [
                (b"etag", etag.encode()), (b"cache-control", b"no-cache"),
                (b"vary", b"Accept-Language, Cookie"), (b"x-content-type-options", b"nosniff"),
            ]})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_etag(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = [
                    (k, v) for k, v in message.get("headers", [])
                    if k.lower() not in (b"cache-control", b"etag")
                ]
                headers += [(b"etag", etag.encode()), (b"cache-control", b"no-cache"),
                            (b"vary", b"Accept-Language, Cookie")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_etag)

    def etag(self, scope: Scope, fresh: str, today: str) -> str:
        parts = [
            self.boot, fresh, today, scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            header(scope, b"accept-language") or "",
            cookie(scope, i18n.COOKIE) or "",  # the language kept from an earlier ?lang=
        ]
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
        return f'W/"{digest}"'
