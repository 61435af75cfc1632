"""Every error as ``application/problem+json`` (RFC 9457): ``type``, ``title``,
``status``, ``detail`` and ``errors`` naming each invalid field with a reason.

The ledger's own errors map to status codes here, in one place; anything unexpected
becomes a 500 problem with no stack trace (and is logged).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from ledger.errors import (
    BeyondLog,
    ConcurrentWrite,
    EnterpriseNotFound,
    InvalidInput,
    LedgerError,
    RuleViolation,
    VersionConflict,
)

logger = logging.getLogger("api")

PROBLEM = "application/problem+json"
TYPE_BASE = "urn:credit-ledger:problem:"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class ProblemJSONResponse(JSONResponse):
    media_type = PROBLEM


class ApiProblem(Exception):
    """Raised by the HTTP layer itself (authentication, rate limits, media types)."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        errors: Sequence[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        self.status = status
        self.slug = slug
        self.detail = detail
        self.title = title or TITLES.get(status, "Error")
        self.headers = headers
        self.errors = list(errors) if errors is not None else None
        self.extra = extra
        super().__init__(detail)


def problem(
    status: int,
    slug: str,
    detail: str,
    *,
    title: str | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemJSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = list(errors)
    body.update(extra)
    return ProblemJSONResponse(body, status_code=status, headers=headers)


def field_error(field: str, where: str, reason: str, message: str) -> dict[str, str]:
    return {"field": field, "in": where, "reason": reason, "message": message}


# -- pydantic's error types, in the ledger's vocabulary of reasons --------------------------

_REASONS = {
    "missing": "required",
    "extra_forbidden": "unexpected",
    "json_invalid": "format",
    "json_type": "format",
    "string_pattern_mismatch": "format",
    "string_too_long": "too_long",
    "string_too_short": "required",
    "too_long": "too_long",
    "too_short": "too_short",
    "literal_error": "unknown",
    "enum": "unknown",
    "greater_than": "range",
    "greater_than_equal": "range",
    "less_than": "range",
    "less_than_equal": "range",
    "int_from_float": "type",
    "value_error": "format",
}


def reason_of(error_type: str) -> str:
    if error_type in _REASONS:
        return _REASONS[error_type]
    if error_type.endswith("_parsing"):
        return "format"
    if error_type.endswith("_type"):
        return "type"
    return error_type


def field_name(loc: Sequence[Any]) -> tuple[str, str]:
    """("body", "usccs", 3) -> ("usccs[3]", "body"); ("query", "as_of") -> ("as_of", "query")."""
    places = ("body", "query", "path", "header", "cookie")
    where = str(loc[0]) if loc and loc[0] in places else "body"
    rest = list(loc[1:] if loc and str(loc[0]) == where else loc)
    name = ""
    for part in rest:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += ("." if name else "") + str(part)
    return name or where, where


def pattern_message(pattern: str) -> str:
    from api.schemas import TEXT_PATTERN
    from ledger.values import DISTRICT_PATTERN

    return {
        TEXT_PATTERN: "must hold visible text and no control characters",
        DISTRICT_PATTERN: "must be a 6-digit division code",
    }.get(pattern, f"must match {pattern}")


def validation_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    found = []
    for e in errors:
        name, where = field_name(e.get("loc", ()))
        reason = reason_of(str(e.get("type", "invalid")))
        message = str(e.get("msg", "invalid"))
        if e.get("type") == "json_invalid":
            message = "the body is not valid JSON"
        elif e.get("type") == "string_pattern_mismatch":
            message = pattern_message(str((e.get("ctx") or {}).get("pattern", "")))
        found.append(field_error(name, where, reason, f"{name}: {message}"))
    return found


# -- handlers ------------------------------------------------------------------------------


def where_of(field: str) -> str:
    if field in ("Idempotency-Key", "If-Match"):
        return "header"
    if field in ("as_of", "known_at", "after", "limit", "cursor", "place_type", "district",
                 "since", "until", "key", "q"):
        return "query"
    return "body"


def invalid_input(request: Request, exc: InvalidInput) -> ProblemJSONResponse:
    where = getattr(exc, "location", None) or where_of(exc.field)
    return problem(
        422, "invalid-input", str(exc),
        errors=[field_error(exc.field, where, exc.reason, str(exc))],
    )


def ledger_error(request: Request, exc: Exception) -> ProblemJSONResponse:
    if isinstance(exc, InvalidInput):
        return invalid_input(request, exc)
    if isinstance(exc, BeyondLog):
        return problem(
            404, "beyond-log", str(exc), title="Beyond the log",
            errors=[field_error(exc.field, "query", "beyond_log", str(exc))],
            tree_size=exc.size,
        )
    if isinstance(exc, EnterpriseNotFound):
        return problem(404, "enterprise-not-found", str(exc), uscc=exc.uscc)
    if isinstance(exc, RuleViolation):
        return problem(
            409, "rule-violation", f"{exc.rule}: {exc.detail}", title="Rule of the domain broken",
            rule=exc.rule,
        )
    if isinstance(exc, ConcurrentWrite):
        return problem(
            409, "concurrent-write", str(exc), title="Concurrent write",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, VersionConflict):
        return problem(
            412, "version-mismatch", str(exc), expected_version=exc.expected,
            current_version=exc.actual,
            headers={"ETag": f'"{exc.actual}"'} if exc.actual is not None else None,
        )
    return problem(400, "bad-request", str(exc))


def request_validation(request: Request, exc: RequestValidationError) -> ProblemJSONResponse:
    errors = validation_errors(exc.errors())
    detail = "; ".join(e["message"] for e in errors[:5]) or "invalid request"
    if len(errors) > 5:
        detail += f"; and {len(errors) - 5} more"
    return problem(422, "invalid-input", detail, errors=errors)


def http_error(request: Request, exc: StarletteHTTPException) -> ProblemJSONResponse:
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(status, "error")
    if status == 404:  # the path percent-encoded, never echoed raw
        detail = f"no resource at {quote(request.url.path[:200], safe='/-._~')}"
    slug = {404: "not-found", 405: "method-not-allowed"}.get(status, f"http-{status}")
    return problem(status, slug, detail, headers=getattr(exc, "headers", None))


def api_problem(request: Request, exc: ApiProblem) -> ProblemJSONResponse:
    return problem(
        exc.status, exc.slug, exc.detail, title=exc.title, errors=exc.errors,
        headers=exc.headers, **exc.extra,
    )


def unexpected(request: Request, exc: Exception) -> ProblemJSONResponse:
    if is_unavailable(exc):
        logger.warning("store unavailable: %s", exc)
        return problem(
            503, "unavailable", "the ledger's database is unavailable; retry later",
            headers={"Retry-After": "5"},
        )
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, "internal", "the ledger failed to handle this request; it was logged")


def unavailable_kinds() -> tuple[type[Exception], ...]:
    """The errors by which a store says it is away (SQLite's only when locked or
    unopenable, see `is_unavailable`)."""
    import sqlite3

    import eventsourcing.persistence as es
    import psycopg
    import psycopg_pool

    return (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout,
            es.OperationalError, es.InterfaceError, sqlite3.OperationalError)


def is_unavailable(exc: Exception) -> bool:
    import sqlite3

    if isinstance(exc, sqlite3.OperationalError):
        return "locked" in str(exc) or "unable to open" in str(exc)
    return isinstance(exc, unavailable_kinds())


def install(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, ledger_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, request_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(ApiProblem, api_problem)  # type: ignore[arg-type]
    # a store that is away is an answer (503), not a crash: handled where the route's
    # errors are (a handler for Exception alone runs in Starlette's outermost
    # middleware, which re-raises after answering, so the server logs a traceback)
    for kind in unavailable_kinds():
        app.add_exception_handler(kind, unexpected)
    app.add_exception_handler(Exception, unexpected)
