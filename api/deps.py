"""What routes depend on: the app's state, the caller's API key with its scope, and
request bodies parsed only once the key is checked (so 401/403 precede 422 for any
body, even one that is not JSON)."""


import functools
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError

from api.errors import ApiProblem
from api.fields import DayQuery
from api.fields import UsccPath as UsccPath  # routes take it from here
from api.metrics import Metrics
from api.strict import check_json_body, repeated_query, repeated_query_error
from ledger import values
from ledger.bootstrap import Services
from ledger.errors import InvalidInput
from ledger.services.access import AccessLog, ApiKey, ApiKeys, Idempotency, RateLimiter
from ledger.services.application import Ledger
from ledger.services.replica import ReadView
from ledger.values import today_cst

M = TypeVar("M", bound=BaseModel)

MAX_BODY = 1_000_000  # bytes; a bulk lookup of 1000 USCCs is about 25 kB
READ_SCOPES = frozenset({"credit:read", "audit:read"})


@dataclass
class ApiState:
    """Everything the routes need, built once per app."""

    services: Services
    keys: ApiKeys
    idempotency: Idempotency
    access_log: AccessLog
    limiter: RateLimiter
    metrics: Metrics

    @classmethod
    def build(cls, services: Services) -> "ApiState":
        return cls(
            services=services,
            keys=ApiKeys(services.db),
            idempotency=Idempotency(services.db),
            access_log=AccessLog(services.db),
            limiter=RateLimiter(),
            metrics=Metrics(services.projections.status, services.read.replica_health),
        )

    @property
    def default_rate(self) -> float:
        return self.services.settings.rate_limit

    def today(self) -> str:
        return today_cst(self.services.ledger.clock()).isoformat()


def state_of(request: Request) -> ApiState:
    state: ApiState | None = getattr(request.app.state, "api", None)
    if state is None:  # only before start-up completed
        raise ApiProblem(503, "unavailable", "the ledger is starting; retry shortly",
                         headers={"Retry-After": "1"})
    return state


# Dependencies that do no I/O are coroutines: FastAPI runs them on the event loop
# instead of sending each to the thread pool.


async def get_state(request: Request) -> ApiState:
    return state_of(request)


async def get_services(request: Request) -> Services:
    return state_of(request).services


async def get_ledger(request: Request) -> Ledger:
    return state_of(request).services.ledger


StateDep = Annotated[ApiState, Depends(get_state)]
ServicesDep = Annotated[Services, Depends(get_services)]
LedgerDep = Annotated[Ledger, Depends(get_ledger)]

# -- where a read is served ---------------------------------------------------------------

MAX_POSITION = 2**63 - 1
MinPosition = Annotated[
    int | None,
    Query(
        ge=0, le=MAX_POSITION,
        description="read your writes: the answer reflects at least this log position (the "
        "`position` of a write's response). A replica answers once it is there (waiting up "
        "to LEDGER_REPLICA_WAIT seconds), else the primary. The response's `Ledger-Position` "
        "header says the position the answer reflects.",
        examples=[42],
    ),
]


async def read_view(request: Request, min_position: MinPosition = None) -> ReadView:
    """The one place a read's database is chosen (the replica when set and there, else
    the primary); the app adds ``Ledger-Position`` to the response from it. Chosen here
    when a fresh position is known; else at the view's first use, in the route's thread
    (where a position is read or waited for in the same hop as the query)."""
    view = state_of(request).services.read.deferred(min_position)
    request.state.read_view = view
    return view


ReadFrom = Annotated[ReadView, Depends(read_view)]


def ledger_position(scope_state: dict[str, Any] | None) -> bytes | None:
    """The ``Ledger-Position`` header value of a read's response, if it was a read."""
    view = (scope_state or {}).get("read_view")
    return None if view is None else str(view.known_position()).encode()


# -- authentication ------------------------------------------------------------------------

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="`Authorization: Bearer <key>`, a key from `ledger keys create`. Scopes: "
    "`ledger:write` (regulator writes), `credit:read` (standings, lists, feed), "
    "`audit:read` (histories, proofs, personal data, the access log).",
)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ledger"'}


def unauthorized(detail: str, error: str | None = None) -> ApiProblem:
    challenge = 'Bearer realm="ledger"' + (f', error="{error}"' if error else "")
    return ApiProblem(401, "unauthorized", detail, headers={"WWW-Authenticate": challenge})


@functools.cache
def require(scope: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency that admits a key holding ``scope``: 401 for a missing, unknown or
    revoked key, 403 without the scope, 429 past the key's rate limit. The same
    callable per scope, so FastAPI runs it once per request however often it is used."""

    async def check_key(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> ApiKey:
        state = state_of(request)
        if credentials is None:
            raise unauthorized("missing API key: send Authorization: Bearer <key>")
        token = credentials.credentials
        # a remembered key, or an indexed lookup in a local SQLite file, costs microseconds
        # (cheaper than a thread); a round trip to PostgreSQL goes off the event loop
        key = state.keys.remembered(token)
        if key is None:
            if state.services.db.postgres:
                key = await run_in_threadpool(state.keys.authenticate, token)
            else:
                key = state.keys.authenticate(token)
        if key is None:
            raise unauthorized("unknown API key", "invalid_token")
        if key.revoked:
            raise unauthorized(f"API key {key.name!r} was revoked", "invalid_token")
        if not key.has(scope):
            raise ApiProblem(
                403, "forbidden", f"API key {key.name!r} lacks the scope {scope}",
                required_scope=scope,
            )
        wait = state.limiter.take(key.name, key.rate_limit or state.default_rate)
        if wait > 0:
            raise ApiProblem(
                429, "rate-limited",
                f"API key {key.name!r} is past its rate limit of "
                f"{key.rate_limit or state.default_rate:g} requests per second",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        reject_unknown_query(request)
        repeated = repeated_query(request.scope.get("query_string", b""))
        if repeated:
            raise repeated_query_error(repeated)
        request.state.api_key = key
        if scope in READ_SCOPES:
            request.state.access_key = key.name  # the access log records this request
        return key

    check_key.__name__ = f"require_{scope.replace(':', '_')}"
    return check_key


def query_names(dependant: Any) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= query_names(sub)
    return names


_QUERY_NAMES: dict[int, frozenset[str]] = {}


def reject_unknown_query(request: Request) -> None:
    """A query parameter the route does not know is refused (422), not ignored: a
    misspelt ``asof=`` must not silently answer for today."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.query_params:
        return
    allowed = _QUERY_NAMES.get(id(route))
    if allowed is None:
        allowed = _QUERY_NAMES[id(route)] = frozenset(query_names(dependant))
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise RequestValidationError([
            {"type": "extra_forbidden", "loc": ("query", name),
             "msg": f"unknown query parameter (known: {', '.join(sorted(allowed)) or 'none'})"}
            for name in unknown
        ])


WriteKey = Annotated[ApiKey, Security(require("ledger:write"))]
ReadKey = Annotated[ApiKey, Security(require("credit:read"))]
AuditKey = Annotated[ApiKey, Security(require("audit:read"))]


def read_subjects(request: Request, *usccs: str) -> None:
    """Name the enterprises a read concerned, for the access log."""
    request.state.access_subjects = usccs


# -- bodies --------------------------------------------------------------------------------


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        raise ApiProblem(413, "too-large", f"the body is larger than {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiProblem(413, "too-large", f"the body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def json_body(model: type[M], scope: str, optional: bool = False) -> Any:
    """``Annotated[Model, json_body(Model, scope)]``: the body, parsed after the key;
    with ``optional``, an empty body is the model's defaults (``{}``)."""

    async def parse_body(
        request: Request, _key: Annotated[ApiKey, Security(require(scope))]
    ) -> M:
        content_type = request.headers.get("content-type")
        if content_type and not is_json(content_type):
            raise ApiProblem(
                415, "unsupported-media-type", f"send application/json, not {content_type}"
            )
        raw = await read_body(request)
        if optional and not raw.strip():
            raw = b"{}"
        check_json_body(raw)  # a key given twice: 422 ``repeated``, not the last one
        try:
            return model.model_validate_json(raw)
        except ValidationError as e:
            raise RequestValidationError(
                [{**err, "loc": ("body", *err["loc"])} for err in e.errors()]
            ) from None

    parse_body.__name__ = f"parse_{model.__name__}"
    return Depends(parse_body)


# -- parameters ----------------------------------------------------------------------------

AsOf = DayQuery
Limit = Annotated[int, Query(ge=1, le=1000, description="page size (default 100, at most 1000)")]


def path_uscc(value: str) -> str:
    """The path's USCC as the schema states it (`values.uscc_form`), compact."""
    try:
        return values.uscc_form(value)
    except InvalidInput as e:
        e.location = "path"  # type: ignore[attr-defined]
        raise


def query_uscc(value: str, field: str = "uscc") -> str:
    try:
        return values.uscc_form(value, field)
    except InvalidInput as e:
        e.location = "query"  # type: ignore[attr-defined]
        raise


def query_day(value: str | None, field: str, default: str) -> str:
    """A ``YYYY-MM-DD`` query parameter (`values.day`), or ``default`` when absent."""
    if value is None:
        return default
    return values.day(value, field).isoformat()


def query_moment(value: str | None, field: str) -> datetime | None:
    """An RFC 3339 query parameter (`values.moment`), or None when absent."""
    if value is None:
        return None
    return values.moment(value, field).at


def personal(key: ApiKey) -> bool:
    """Personal data (the legal representative) only for keys with audit:read."""
    return key.has("audit:read")
