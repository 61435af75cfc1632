"""Strict inputs and no 500 from any input or setting: repeated query parameters and
JSON keys (422 ``repeated``, nothing stored), out-of-range values, bad settings (one
line, exit 2), offline docs under a CSP, nosniff everywhere, a 404 that does not echo
the raw path."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ledger.services import letters
from ledger.services.access import ApiKeys
from tests.factories import licence, random_uscc

ROOT = Path(__file__).resolve().parents[2]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def head(services) -> int:
    with services.db.transaction() as tx:
        return services.log.head(tx)


@pytest.fixture
def app(make_client):
    client, services = make_client(public_rate_limit=1e6)
    _, writer = ApiKeys(services.db).create("w", ["ledger:write", "credit:read"], 1e6)
    return client, services, bearer(writer)


def test_a_repeated_query_parameter_is_422_repeated(app) -> None:
    client, services, key = app
    response = client.get("/v1/lists/reward?as_of=2022-01-01&as_of=2026-01-01", headers=key)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "as_of", "in": "query", "reason": "repeated",
         "message": "as_of: given more than once; send each query parameter once"}
    ]
    page = client.get("/lists/reward?limit=5&limit=6")
    assert page.status_code == 422 and page.json()["errors"][0]["reason"] == "repeated"


def test_the_key_is_checked_before_a_repeated_parameter(app) -> None:
    client, _, _ = app
    assert client.get("/v1/feed?after=1&after=2").status_code == 401


def test_a_json_body_with_a_repeated_key_is_422_naming_it_and_stores_nothing(app) -> None:
    client, services, key = app
    uscc = random_uscc()
    body = (
        '{"uscc": "' + uscc + '", "name": "A", "name": "B", "place_type": "hotel", '
        '"address": "1 Road", "district": "230109", "legal_representative": "Wang", '
        '"licensed_at": "2025-01-02T09:00:00+08:00"}'
    )
    before = head(services)
    response = client.post("/v1/enterprises", content=body,
                           headers={**key, "Content-Type": "application/json"})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert (error["field"], error["reason"]) == ("name", "repeated")
    assert head(services) == before


def test_a_repeated_key_deep_in_the_body_is_refused_too(app) -> None:
    client, _, key = app
    response = client.post("/v1/standings:lookup", content='{"usccs": [], "usccs": []}',
                           headers={**key, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["reason"] == "repeated"


def test_a_commit_link_expiring_beyond_9999_is_400_not_500(app) -> None:
    client, services, _ = app
    uscc = random_uscc()
    services.ledger.license(**licence(uscc))
    for expires in ("999999999999", "253402300800"):
        token = f"{uscc}.1.{expires}.{'A' * 22}"
        response = client.get(f"/commit/{token}")
        assert response.status_code == 400, response.text


def test_a_signed_link_with_the_longest_expiry_still_opens() -> None:
    secret = b"s" * 32
    far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    token = letters.sign_token(secret, "91350200776049653A", 1, far)
    assert letters.verify_token(secret, token, datetime(2026, 1, 1, tzinfo=timezone.utc))


@pytest.mark.parametrize(
    ("path", "params"),
    [("/v1/feed", {"after": str(2**63)}), ("/v1/feed", {"limit": "1001"}),
     ("/v1/lists/reward", {"as_of": "0000-01-01"}), ("/v1/lists/reward", {"as_of": "9999-12-31"}),
     ("/v1/lists/reward", {"cursor": "abc"}), ("/v1/audit/proofs/inclusion", {"position": "0"}),
     ("/v1/audit/proofs/inclusion", {"position": str(2**64)})],
)
def test_out_of_range_values_are_4xx_naming_them(app, path, params) -> None:
    client, services, _ = app
    _, auditor = ApiKeys(services.db).create("a", ["credit:read", "audit:read"], 1e6)
    response = client.get(path, params=params, headers=bearer(auditor))
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["errors"][0]["field"] == next(iter(params))


def test_a_unicode_digit_in_if_match_or_a_page_is_not_a_500(app) -> None:
    client, services, key = app
    uscc = random_uscc()
    services.ledger.license(**licence(uscc))
    response = client.post(
        f"/v1/enterprises/{uscc}/commitments",
        headers={**key, "If-Match": '"²"'.encode("latin-1")},  # type: ignore[dict-item]
        json={"committed_at": "2025-01-05T10:00:00+08:00", "signatory": "Wang"},
    )
    assert response.status_code == 422
    assert client.get("/supervision", params={"horizon": "²"}, headers=key).status_code == 422


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger.cli", *args], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env}, timeout=60, cwd=ROOT,
    )


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("name", "value"),
    [("LEDGER_LETTER_TOKEN_DAYS", "0"), ("LEDGER_LETTER_TOKEN_DAYS", "3000000"),
     ("LEDGER_PUBLIC_RATE_LIMIT", "0"), ("LEDGER_TRUSTED_PROXIES", "not-an-address"),
     ("LEDGER_PUBLIC_URL", "javascript:alert(1)")],
)
def test_a_bad_setting_is_one_line_and_exit_2(tmp_path, name, value) -> None:
    result = run_cli("migrate", LEDGER_DATABASE_URL=f"sqlite:///{tmp_path / 'l.db'}",
                     **{name: value})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {name}:"), result.stderr
    assert "cannot open" not in result.stderr


def test_the_public_url_follows_the_port_unless_set(monkeypatch) -> None:
    from ledger.cli.main import default_public_url

    assert default_public_url("127.0.0.1", 8123) == "http://127.0.0.1:8123"
    assert default_public_url("0.0.0.0", 9000) == "http://127.0.0.1:9000"
    assert default_public_url("::1", 9000) == "http://[::1]:9000"


@pytest.mark.sqlite_only
def test_serve_sets_the_public_url_from_its_port(tmp_path, monkeypatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from ledger.cli import app as cli

    seen: dict[str, str | None] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.update(
        url=os.environ.get("LEDGER_PUBLIC_URL")))
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'l.db'}")
    monkeypatch.setenv("LEDGER_PUBLIC_URL", "")  # recorded, so serve's own setting is undone
    monkeypatch.delenv("LEDGER_PUBLIC_URL")
    result = CliRunner().invoke(cli, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert seen["url"] == "http://127.0.0.1:8123"
    monkeypatch.setenv("LEDGER_PUBLIC_URL", "https://ledger.example")
    CliRunner().invoke(cli, ["serve", "--port", "8124"])
    assert seen["url"] == "https://ledger.example"


def test_docs_work_offline_under_a_csp(app) -> None:
    client, _, _ = app
    page = client.get("/docs")
    assert page.status_code == 200
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text), "an asset from elsewhere"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<script>" not in page.text  # no inline script
    for asset in re.findall(r'(?:src|href)="(/[^"]+)"', page.text):
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 100, asset
    assert client.get("/redoc").status_code == 404  # it would load from a CDN


@pytest.mark.parametrize("path", ["/openapi.json", "/metrics", "/healthz", "/docs"])
def test_operations_and_docs_send_a_csp_and_nosniff(app, path) -> None:
    client, _, _ = app
    response = client.get(path)
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/", "/v1/feed", "/nowhere", "/static/charts.js",
                                  "/lists/reward?limit=0"])
def test_every_response_is_nosniff(app, path) -> None:
    client, _, _ = app
    assert client.get(path).headers["X-Content-Type-Options"] == "nosniff"


def test_the_json_404_does_not_echo_the_raw_path(app) -> None:
    client, _, _ = app
    response = client.get("/<script>alert(1)</script>")
    assert response.status_code == 404
    assert "<script>" not in response.text
    assert "%3Cscript%3E" in response.json()["detail"]
