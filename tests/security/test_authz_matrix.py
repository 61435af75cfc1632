"""The authorization matrix, generated from the app's own routes: every API route
(``/v1``) × no key / unknown key / revoked key / a key of each scope, and every page
that is not on the short list of public pages × no credential / a key without
``ledger:write`` / a regulator's key. A route added later is in the matrix at once, so
it cannot ship unprotected: a route with no scope check fails here."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi.routing import APIRoute

from api.app import create_app
from ledger.services.access import SCOPES, ApiKeys
from tests.apiclient import Api, api_fixture, bearer  # noqa: F401  (the fixture)

EXAMPLE = "91350200776049653A"
# Pages anyone may see (their cost is limited per address instead).
PUBLIC_PAGES = {
    "/", "/enterprises/{uscc}", "/lists/reward", "/lists/punishment", "/commit/{token}",
    "/signin", "/signout", "/healthz", "/metrics", "/openapi.json", "/docs",
}


def scopes_of(dependant: Any) -> set[str]:
    """The scopes a route's dependencies demand (``api.deps.require``)."""
    found: set[str] = set()
    call = getattr(dependant, "call", None)
    name = getattr(call, "__name__", "")
    if name.startswith("require_"):
        found.add(name.removeprefix("require_").replace("_", ":", 1))
    for sub in dependant.dependencies:
        found |= scopes_of(sub)
    return found


def flat_routes(app: Any) -> list[Any]:
    """The app's routes with included routers flattened (FastAPI >= 0.16x keeps them
    nested until the first request)."""
    try:
        from fastapi.routing import _iter_included_route_candidates
    except ImportError:  # older FastAPI: app.routes is already flat
        return list(app.routes)
    return list(_iter_included_route_candidates(app.routes))


def routes() -> list[tuple[str, str, Any]]:
    app = create_app()
    return [
        (method, route.path, route)
        for route in flat_routes(app) if isinstance(getattr(route, "methods", None), set)
        for method in sorted(route.methods) if method != "HEAD"
    ]


API_ROUTES = [r for r in routes() if r[1].startswith("/v1/")]
PAGE_ROUTES = [r for r in routes() if not r[1].startswith("/v1/") and r[1] not in PUBLIC_PAGES]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: EXAMPLE if m.group(0) == "{uscc}" else "x", path)


def call(api: Api, method: str, path: str, headers: dict[str, str]) -> Any:
    for _ in range(3):
        response = api.client.request(
            method, concrete(path), headers={**headers, "Accept": "application/json"},
            json={} if method in ("POST", "PUT", "PATCH") else None, follow_redirects=False,
        )
        if response.status_code != 429:  # the public pages' per-address limit: not under
            return response              # test here (the matrix sends many requests)
        time.sleep(float(response.headers.get("Retry-After", "1")))
    return response


def test_every_api_route_demands_a_scope() -> None:
    unprotected = [
        f"{m} {p}" for m, p, r in API_ROUTES
        if not isinstance(r, APIRoute) or not scopes_of(r.dependant)
    ]
    assert not unprotected, f"API routes with no key check: {unprotected}"
    assert len(API_ROUTES) >= 14


@pytest.fixture(scope="module")
def keys(api: Api) -> dict[str, dict[str, str]]:
    found = {scope: api.key(f"only-{scope.replace(':', '-')}", scope, rate_limit=1e6)
             for scope in SCOPES}
    found["unknown"] = bearer("lk_" + "x" * 40)
    revoked = api.key("revoked", *SCOPES, rate_limit=1e6)
    ApiKeys(api.services.db).revoke(api.names["revoked"])
    found["revoked"] = revoked
    return found


@pytest.mark.parametrize(("method", "path", "route"), API_ROUTES,
                         ids=[f"{m} {p}" for m, p, _ in API_ROUTES])
def test_api_route_matrix(api: Api, keys: dict[str, dict[str, str]], method: str, path: str,
                          route: APIRoute) -> None:
    needed = scopes_of(route.dependant)
    for who, headers in [("no key", {}), ("unknown", keys["unknown"]),
                         ("revoked", keys["revoked"])]:
        response = call(api, method, path, headers)
        assert response.status_code == 401, (who, response.text)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for scope in SCOPES:
        response = call(api, method, path, keys[scope])
        if needed <= {scope}:
            assert response.status_code not in (401, 403), (scope, response.text)
        else:
            assert response.status_code == 403, (scope, response.text)


def test_every_non_public_page_is_in_the_matrix() -> None:
    assert {p for _, p, _ in PAGE_ROUTES} >= {"/letters/{uscc}", "/supervision"}


@pytest.mark.parametrize(("method", "path", "route"), PAGE_ROUTES,
                         ids=[f"{m} {p}" for m, p, _ in PAGE_ROUTES])
def test_page_matrix(api: Api, keys: dict[str, dict[str, str]], method: str, path: str,
                     route: APIRoute) -> None:
    """A page off the public list wants a regulator: without a credential 401 (or a
    redirect to the sign-in form), with a key that may not write 403 (or 401 for an
    unknown or revoked one); a regulator's key gets past."""
    response = call(api, method, path, {})
    assert response.status_code == 401 or (
        response.status_code == 303 and response.headers["location"].startswith("/signin")
    ), response.text
    for who in ("unknown", "revoked"):
        assert call(api, method, path, keys[who]).status_code == 401, who
    for scope in SCOPES:
        status = call(api, method, path, keys[scope]).status_code
        if scope == "ledger:write":
            assert status not in (401, 403), scope
        else:
            assert status == 403, scope
