"""Keys, scopes and rate limits through the real ASGI app, on both stores."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.bootstrap import bootstrap
from ledger.services.access import ApiKeys, RateLimiter, hash_key
from tests.apiclient import PROBLEM, Api, api_fixture, bearer  # noqa: F401
from tests.factories import licence, random_uscc

STANDING = "/v1/enterprises/91350200776049653A/standing"


def test_a_request_without_a_key_is_401_with_a_bearer_challenge(api: Api) -> None:
    response = api.client.get(STANDING)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and "missing API key" in body["detail"]


def test_an_unknown_key_is_401(api: Api) -> None:
    response = api.client.get(STANDING, headers=bearer("lk_not-a-key"))
    assert response.status_code == 401
    assert "invalid_token" in response.headers["www-authenticate"]


def test_a_key_sent_with_another_scheme_is_401(api: Api) -> None:
    token = api.tokens["partner"]
    response = api.client.get(STANDING, headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 401


def test_a_revoked_key_is_401(api: Api) -> None:
    headers = api.key("leaving", "credit:read")
    assert api.client.get("/v1/feed", headers=headers).status_code == 200
    ApiKeys(api.services.db).revoke(api.names["leaving"])
    response = api.client.get("/v1/feed", headers=headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_a_key_without_the_scope_is_403(api: Api) -> None:
    with api.stores_nothing():
        write = api.client.post(
            "/v1/enterprises", json=licence(random_uscc()), headers=api.reader
        )
    assert write.status_code == 403
    assert write.json()["required_scope"] == "ledger:write"
    read = api.client.get("/v1/feed", headers=api.writer)
    assert read.status_code == 403
    audit = api.client.get("/v1/audit/access-log", headers=api.reader)
    assert audit.status_code == 403


def test_401_takes_precedence_over_a_body_that_is_not_json(api: Api) -> None:
    response = api.client.post(
        "/v1/enterprises", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401


def test_401_takes_precedence_over_an_invalid_body_and_query(api: Api) -> None:
    response = api.client.post(
        "/v1/enterprises/nope/inspections?x=1", json={"score": "high"},
        headers={"If-Match": "garbage", "Idempotency-Key": " "},
    )
    assert response.status_code == 401
    assert api.client.get(STANDING, params={"as_of": "yesterday"}).status_code == 401


def test_403_takes_precedence_over_an_invalid_body(api: Api) -> None:
    response = api.client.post(
        "/v1/enterprises", content=b"[[[", headers={**api.reader, "Content-Type": "text/plain"}
    )
    assert response.status_code == 403
    lookup = api.client.post("/v1/standings:lookup", content=b"nope", headers=api.writer)
    assert lookup.status_code == 403


def test_known_at_needs_audit_read(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    response = api.standing(uscc, known_at="2026-01-01T00:00:00+08:00")
    assert response.status_code == 403
    assert response.json()["required_scope"] == "audit:read"
    allowed = api.standing(uscc, headers=api.auditor, known_at="2026-01-01T12:00:00+08:00")
    assert allowed.status_code == 200


def test_403_for_known_at_takes_precedence_over_a_bad_as_of(api: Api) -> None:
    response = api.standing(
        "91350200776049653A", as_of="not-a-date", known_at="2026-01-01T00:00:00+08:00"
    )
    assert response.status_code == 403


def test_past_its_rate_limit_a_key_gets_429_with_retry_after(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.state.limiter, "clock", lambda: 100.0)  # no refill
    headers = api.key("slow", "credit:read", rate_limit=2)
    assert [api.client.get("/v1/feed", headers=headers).status_code for _ in range(2)] == [200, 200]
    response = api.client.get("/v1/feed", headers=headers)
    assert response.status_code == 429
    assert response.headers["content-type"] == PROBLEM
    assert int(response.headers["retry-after"]) >= 1
    # other keys have their own buckets
    assert api.client.get("/v1/feed", headers=api.reader).status_code == 200


def test_a_key_without_its_own_limit_gets_the_default(store_settings, clock) -> None:
    services = bootstrap(store_settings.model_copy(update={"rate_limit": 3.0}), clock=clock)
    try:
        app = create_app(services=services)
        app.state.api.limiter.clock = lambda: 5.0
        _, token = ApiKeys(services.db).create("partner", ["credit:read"])
        with TestClient(app) as client:
            codes = [client.get("/v1/feed", headers=bearer(token)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
    finally:
        services.close()


def test_keys_are_stored_as_hashes_only(api: Api) -> None:
    token = api.tokens["partner"]
    with api.services.db.transaction() as tx:
        rows = tx.all("SELECT name, key_hash, prefix, scopes FROM api_keys")
    assert all(token not in " ".join(str(v) for v in row) for row in rows)
    assert (api.names["partner"], hash_key(token)) in [(r[0], r[1]) for r in rows]


# -- the token bucket itself (no I/O) ------------------------------------------------------


def test_the_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.take("k", 2) for _ in range(3)] == [0.0, 0.0, 0.5]
    now[0] = 0.5  # one token back
    assert limiter.take("k", 2) == 0.0
    assert limiter.take("k", 2) > 0


def test_the_bucket_holds_at_most_one_second_of_requests() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    limiter.take("k", 5)
    now[0] = 1000.0
    assert sum(limiter.take("k", 5) == 0.0 for _ in range(10)) == 5


def test_a_slow_key_waits_whole_seconds() -> None:
    limiter = RateLimiter(clock=lambda: 0.0)
    assert limiter.take("k", 0.1) == 0.0
    assert limiter.take("k", 0.1) == 10.0
