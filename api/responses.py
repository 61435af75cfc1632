"""Refusals made by middleware, before any route runs: a problem+json document for API
clients, a small HTML page (escaped, under the pages' CSP) for browsers."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from starlette.responses import HTMLResponse, Response
from starlette.types import Scope

from api.errors import TITLES, problem

# The pages' policy, without the letter's print-button hash: these pages run no script.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def wants_html(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            return b"text/html" in value
    return False


def refusal(
    scope: Scope,
    status: int,
    slug: str,
    detail: str,
    *,
    errors: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if not wants_html(scope):
        return problem(status, slug, detail, errors=errors, headers=headers)
    title = TITLES.get(status, "Error")
    body = (
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        f"<title>{status} {html.escape(title)}</title></head><body>"
        f"<h1>{status} {html.escape(title)}</h1><p>{html.escape(detail)}</p>"
        "<p><a href=\"/\">Home 首页</a></p></body></html>"
    )
    response = HTMLResponse(body, status_code=status, headers=headers)
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["Cache-Control"] = "no-store"
    return response
