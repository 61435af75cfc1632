"""The FastAPI app: ``create_app(settings=None, services=None)`` is the factory that
``ledger serve`` hands to uvicorn.

At start-up the lifespan bootstraps the services (unless given), starts the
projection follower (so writes from other processes show up in the read models) and
the access log's writer; at shutdown it stops both and flushes the access log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import dashboard, docs, docs_ui, errors, pages
from api.deps import ApiState, ledger_position
from api.docs_ui import SecurityHeaders
from api.limits import PublicCache, PublicLimits
from api.metrics import UNMATCHED
from api.routes import (
    access_log,
    audit,
    enterprises,
    feed,
    health,
    lists,
    lookup,
    privacy,
    stats,
)
from api.strict import StrictQuery
from ledger.audit.service import start_checkpointer
from ledger.bootstrap import Services, bootstrap
from ledger.services.access import Access, stamp
from ledger.settings import Settings

STATIC = Path(__file__).resolve().parent / "static"

logger = logging.getLogger("api")

DESCRIPTION = """\
An event-sourced credit ledger for commitment-based licensing of small public places
(hotels, bathhouses, beauty salons, barbershops).

**Keys.** Send `Authorization: Bearer <key>`; keys come from
`ledger keys create --name NAME --scope SCOPE`. Scopes: `ledger:write` (regulator
writes), `credit:read` (standings, lookups, lists, feed), `audit:read` (histories,
proofs, personal data, the access log). Missing, unknown or revoked key: 401; missing
scope: 403 (both before any check of the body). Each key has a rate limit (requests
per second, per server process): past it, 429 with `Retry-After`.

**Errors** are `application/problem+json` (RFC 9457) with `errors` naming each invalid
field and the reason (for a USCC: `length`, `format` or `checksum`).

**Writes** return 201 once the read models include them, with `ETag: "<version>"`.
Send `Idempotency-Key` to retry safely (a repeat returns the first response; the same
key with another body is 422) and `If-Match: "<version>"` to write only on that version
(412 otherwise).

**Reads** take `as_of` (YYYY-MM-DD, China Standard Time; default today). Lists page
with `limit` (default 100, at most 1000) and `cursor`; the feed with `after` and
`next_after`. Every partner read is recorded in an access log that auditors can query.
Every read takes `min_position` (read your writes: send a write's `position`) and its
response carries `Ledger-Position`, the log position the answer reflects; with a hot
standby configured, reads are served from it when it is there.
"""

TAGS = [
    {"name": "enterprises", "description": "Regulator writes and an enterprise's standing."},
    {"name": "standings", "description": "Bulk lookups."},
    {"name": "lists", "description": "The joint punishment and reward lists."},
    {"name": "stats", "description": "Counts as of a date and month by month."},
    {"name": "feed", "description": "Every event in log order, to keep a copy in sync."},
    {"name": "audit", "description": "For auditors (audit:read)."},
    {"name": "operations", "description": "Health and metrics; no key needed."},
]


class Observe:
    """Counts and times every request for /metrics, and writes partner reads (marked
    by the key dependency) to the access log once their status is known."""

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                position = ledger_position(scope.get("state"))
                if position is not None:  # a read: the log position its answer reflects
                    message["headers"] = [*message.get("headers", ()),
                                          (b"ledger-position", position)]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.record(scope, status, time.perf_counter() - start)

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        api: ApiState | None = getattr(self.owner.state, "api", None)
        if api is None:
            return
        route = scope.get("route")
        template = getattr(route, "path", None) or UNMATCHED
        method = scope["method"]
        api.metrics.observe(method, template, status, seconds)
        request_state = scope.get("state") or {}
        view = request_state.get("read_view")
        side = None if view is None else view.answered_by()
        if side is not None:
            api.metrics.served(side)
        key_name = request_state.get("access_key")
        if key_name is not None:
            query = scope.get("query_string", b"").decode("latin-1")
            target = scope["path"] + (f"?{query}" if query else "")
            api.access_log.record(Access(
                stamp(), key_name, method, template, target, status,
                tuple(request_state.get("access_subjects", ())),
            ))


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The API over ``services`` (built from ``settings`` at start-up when not given)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = getattr(app.state, "api", None) is None
        if owned:
            app.state.api = ApiState.build(bootstrap(settings or Settings()))  # type: ignore[call-arg]
        api: ApiState = app.state.api
        stop = threading.Event()
        follower = threading.Thread(
            target=api.services.projections.follow_forever,
            args=(stop, api.services.settings.poll_interval),
            name="ledger-projections", daemon=True,
        )
        follower.start()
        checkpointer = start_checkpointer(  # the hash tree and checkpoints
            api.services.audit, stop, follow_every=api.services.settings.poll_interval * 10
        )
        api.access_log.start()
        try:
            yield
        finally:
            stop.set()
            follower.join(timeout=10)
            checkpointer.join(timeout=10)
            api.access_log.stop()
            if owned:
                api.services.close()
                app.state.api = None

    app = FastAPI(
        title="Credit ledger API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        docs_url=None,  # served by docs_ui from the app's own files (no CDN)
        redoc_url=None,
    )
    app.state.api = ApiState.build(services) if services is not None else None
    errors.install(app)
    # every router, explicitly: the API's resources, operations, the auditors', the pages
    for router in (
        enterprises.router, lookup.router, lists.router, stats.router, feed.router,
        access_log.router, health.router, audit.router, privacy.router, pages.router,
        dashboard.router,
    ):
        app.include_router(router)
    # outermost last: headers on everything, metrics of everything, then the limits
    app.add_middleware(PublicCache, owner=app)
    app.add_middleware(StrictQuery)
    app.add_middleware(PublicLimits, owner=app)
    app.add_middleware(Observe, owner=app)
    app.add_middleware(SecurityHeaders)
    docs.install(app)
    docs_ui.install(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")  # charts, vendored JS
    return app


def operation_id(route: APIRoute) -> str:
    """Operation ids are the routes' function names (``get_standing``), so generated
    clients get readable method names."""
    return route.name
