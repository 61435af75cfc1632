"""``/docs`` without any CDN: Swagger UI's files come from the ``swagger-ui-py``
package and are served by the app at ``/docs/assets``; the page starts it from
``/static/docs/init.js`` (no inline script), under a strict Content-Security-Policy.
Every response also gets ``X-Content-Type-Options: nosniff``, and responses that set
no policy of their own (the API's JSON, ``/openapi.json``, ``/metrics``) a policy that
allows nothing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
NOTHING_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Credit ledger API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/docs/init.js"></script>
</body>
</html>
"""


def swagger_ui_files() -> Path:
    """The directory of Swagger UI's distribution files in the installed package."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


async def docs_page(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE, headers={
        "Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache",
        "Referrer-Policy": "no-referrer",
    })


def install(app: FastAPI) -> None:
    """Serve /docs and its assets (the app is created with ``docs_url=None``)."""
    app.add_route("/docs", docs_page, include_in_schema=False)
    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_files()), name="docs-assets")


class SecurityHeaders:
    """nosniff on every response; a policy that allows nothing where none is set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", NOTHING_CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secured)
