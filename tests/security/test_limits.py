"""Limits on abuse: public pages per client address (429 with Retry-After), behind a
trusted proxy by X-Forwarded-For, regulator pages on the key's own bucket, public list
pages capped, and public pages answered 304 while nothing changed."""

from __future__ import annotations

from ledger.services.access import ApiKeys
from tests.factories import licence, random_uscc


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def statuses(client, path: str, n: int, **kwargs) -> list[int]:
    return [client.get(path, **kwargs).status_code for _ in range(n)]


def test_public_pages_are_limited_per_client_address(make_client) -> None:
    client, _ = make_client(public_rate_limit=0.01, public_burst=3)
    assert statuses(client, "/lists/punishment", 3) == [200, 200, 200]
    refused = client.get("/lists/punishment", headers={"Accept": "text/html"})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "text/html" in refused.headers["content-type"]
    api_client = client.get("/", headers={"Accept": "application/json"})
    assert api_client.status_code == 429
    assert api_client.headers["content-type"] == "application/problem+json"
    assert client.get("/healthz").status_code == 200  # operations are not public pages


def test_each_address_has_its_own_bucket(make_client) -> None:
    first, services = make_client(public_rate_limit=0.01, public_burst=1)
    assert statuses(first, "/", 2) == [200, 429]
    from fastapi.testclient import TestClient

    second = TestClient(first.app, base_url="https://testserver", client=("192.0.2.99", 1))
    assert second.get("/").status_code == 200


def test_x_forwarded_for_counts_only_behind_a_trusted_proxy(make_client) -> None:
    direct, _ = make_client(public_rate_limit=0.01, public_burst=1)
    spoofed = [direct.get("/", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
               for i in range(3)]
    assert spoofed == [200, 429, 429]  # an untrusted peer cannot pick its address

    proxied, _ = make_client(client=("10.0.0.2", 1), public_rate_limit=0.01, public_burst=1,
                             trusted_proxies="10.0.0.0/8")
    got = [proxied.get("/", headers={"X-Forwarded-For": f"198.51.100.{i}, 10.0.0.7"})
           .status_code for i in range(3)]
    assert got == [200, 200, 200]  # three clients behind one proxy
    assert proxied.get("/", headers={"X-Forwarded-For": "198.51.100.0"}).status_code == 429


def test_regulator_pages_count_against_the_keys_own_limit(make_client) -> None:
    client, services = make_client(public_rate_limit=1000)
    _, token = ApiKeys(services.db).create(
        "slow-inspector", ["ledger:write", "credit:read"], rate_limit=0.01
    )
    assert client.get("/supervision", headers=bearer(token)).status_code == 200
    refused = client.get("/supervision", headers=bearer(token))
    assert refused.status_code == 429 and "slow-inspector" in refused.text
    assert client.get("/v1/feed", headers=bearer(token)).status_code == 429  # one bucket


def test_a_signed_in_session_counts_against_its_key(make_client) -> None:
    client, services = make_client(public_rate_limit=1000)
    _, token = ApiKeys(services.db).create("session-inspector", ["ledger:write"],
                                           rate_limit=0.01)
    form = client.get("/signin").text
    import re

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    signed = client.post("/signin", data={"csrf_token": csrf, "api_key": token,
                                          "next": "/supervision"}, follow_redirects=False)
    assert signed.status_code == 303
    assert statuses(client, "/supervision", 2) == [200, 429]  # the key's one token


def test_public_list_pages_are_capped_at_100_rows(make_client) -> None:
    client, _ = make_client()
    assert client.get("/lists/reward", params={"limit": "100"}).status_code == 200
    assert client.get("/lists/reward", params={"limit": "101"}).status_code == 422
    assert client.get("/lists/reward", params={"limit": "²"}).status_code == 422


def test_public_pages_answer_304_until_the_log_moves(make_client) -> None:
    client, services = make_client(public_rate_limit=1000)
    uscc = random_uscc()
    services.ledger.license(**licence(uscc))
    for path in ("/", f"/enterprises/{uscc}", "/lists/reward?place_type=hotel"):
        first = client.get(path)
        etag = first.headers["ETag"]
        assert first.status_code == 200 and first.headers["Cache-Control"] == "no-cache"
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
    services.ledger.commit(uscc, committed_at="2025-01-05T10:00:00+08:00", signatory="Wang")
    moved = client.get(f"/enterprises/{uscc}", headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["ETag"] != etag


def test_the_etag_changes_with_the_language_kept_in_the_cookie(make_client) -> None:
    """A page in Chinese is not 'not modified' for a browser that switched to English
    with ?lang=en (kept in the lang cookie), nor the other way round."""
    client, _ = make_client(public_rate_limit=1000)
    chinese = client.get("/lists/punishment")
    assert chinese.status_code == 200 and 'lang="zh' in chinese.text
    assert "Cookie" in chinese.headers["Vary"]
    client.get("/lists/punishment?lang=en")  # the toggle: the cookie now says en
    assert client.cookies.get("lang") == "en"
    english = client.get("/lists/punishment", headers={"If-None-Match": chinese.headers["ETag"]})
    assert english.status_code == 200 and 'lang="en' in english.text
    again = client.get("/lists/punishment", headers={"If-None-Match": english.headers["ETag"]})
    assert again.status_code == 304


def test_the_etag_changes_with_the_day_and_the_query(make_client, clock) -> None:
    from datetime import timedelta

    client, _ = make_client(public_rate_limit=1000)
    etag = client.get("/lists/punishment").headers["ETag"]
    assert client.get("/lists/punishment?limit=5").headers["ETag"] != etag
    clock.now += timedelta(days=1)
    assert client.get("/lists/punishment", headers={"If-None-Match": etag}).status_code == 200
