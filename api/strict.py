"""Strict inputs: a query parameter given twice, a JSON object with a key given twice,
or a page form's field given twice (other than a list of checkboxes), is refused (422,
reason ``repeated``) instead of silently taking one of them.

The API routes check the query after the key (401/403 first, see `api.deps.require`);
every other path (pages, docs, operations) is checked here by `StrictQuery` before the
app runs. Nothing is ever stored on these refusals.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from api.responses import refusal

API_PREFIX = "/v1/"


def repeated_names(names: Iterable[str]) -> list[str]:
    """The names given more than once, in order of first repeat."""
    seen: set[str] = set()
    repeated: list[str] = []
    for name in names:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    return repeated


def repeated_query(query_string: bytes | str) -> list[str]:
    """The names given more than once in a query string, in order of first repeat."""
    raw = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    if not raw:
        return []
    return repeated_names(name for name, _ in parse_qsl(raw, keep_blank_values=True))


def repeated_query_error(names: list[str]) -> RequestValidationError:
    return RequestValidationError([
        {"type": "repeated", "loc": ("query", name),
         "msg": "given more than once; send each query parameter once"}
        for name in names
    ])


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _Repeated(key)
        found[key] = value
    return found


def repeated_json_key(raw: bytes | str) -> str | None:
    """The first key given twice in one JSON object of ``raw``; None when there is none
    (or when ``raw`` is not JSON at all: the model's parser reports that)."""
    try:
        json.loads(raw, object_pairs_hook=_no_repeats)
    except _Repeated as e:
        return e.key
    except (ValueError, RecursionError, TypeError):
        return None
    return None


def check_json_body(raw: bytes) -> None:
    """422 (reason ``repeated``, naming the key) for a body with a repeated key."""
    key = repeated_json_key(raw)
    if key is not None:
        raise RequestValidationError([{
            "type": "repeated", "loc": ("body", key),
            "msg": f"the key {key!r} is given more than once in one object",
        }])


class OnceEach:
    """A page form's dependency: 422 (reason ``repeated``, naming the field) when a field
    is sent more than once, except ``lists`` (checkboxes sharing one name)."""

    def __init__(self, *lists: str) -> None:
        self.lists = frozenset(lists)

    async def __call__(self, request: Request) -> None:
        form = await request.form()  # parsed once: the route's Form() fields reuse it
        names = repeated_names(k for k, _ in form.multi_items() if k not in self.lists)
        if names:
            raise RequestValidationError([
                {"type": "repeated", "loc": ("body", name),
                 "msg": "given more than once; send each form field once"}
                for name in names
            ])


class StrictQuery:
    """Refuses a repeated query parameter on every path outside the API (the API does
    it after the key check)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(API_PREFIX):
            names = repeated_query(scope.get("query_string", b""))
            if names:
                response = refusal(
                    scope, 422, "invalid-input",
                    f"{names[0]}: given more than once; send each query parameter once",
                    errors=[{"field": n, "in": "query", "reason": "repeated",
                             "message": f"{n}: given more than once"} for n in names],
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
