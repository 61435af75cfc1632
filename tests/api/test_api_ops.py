"""Operations and the edges of the app: health, metrics, the OpenAPI document, unknown
routes, unexpected failures, and the app's own start-up and shutdown."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.services.access import ApiKeys
from ledger.settings import Settings
from tests.apiclient import PROBLEM, Api, api_fixture, bearer, sample  # noqa: F401
from tests.factories import licence, random_uscc

# -- health and metrics --------------------------------------------------------------------


def test_healthz_is_200_with_the_store_and_projection_lag(api: Api) -> None:
    api.license()
    response = api.client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["store"] == ("postgresql" if api.services.db.postgres else "sqlite")
    assert body["head"] == api.head()
    (live,) = [p for p in body["projections"] if p["state"] == "live"]
    assert live["lag"] == 0 and live["position"] == api.head()


def test_healthz_is_503_when_the_store_does_not_answer(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down() -> Any:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(api.services.projections, "status", down)
    response = api.client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_metrics_count_requests_events_and_projection_lag(api: Api) -> None:
    api.license()
    api.client.get("/v1/feed", headers=api.reader)
    text = api.client.get("/metrics").text
    assert 'ledger_http_requests_total{method="GET",route="/v1/feed",status="200"}' in text
    assert 'ledger_http_request_duration_seconds_bucket{le="0.005",method="POST",' \
           'route="/v1/enterprises"}' in text
    assert "ledger_events_appended_total" in text
    assert f"ledger_log_head_position {float(api.head())}" in text
    assert "ledger_projection_lag_events{" in text
    events = [ln for ln in text.splitlines() if ln.startswith("ledger_events_appended_total")]
    assert float(events[0].split()[-1]) >= 1


def test_metrics_count_reads_by_the_database_that_answered(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    before = sample(api.client.get("/metrics").text, 'ledger_reads_total{side="primary"}') or 0
    for _ in range(3):
        assert api.client.get(f"/v1/enterprises/{uscc}/standing",
                              headers=api.reader).status_code == 200
    api.client.get("/v1/feed", headers=api.reader)
    api.client.get("/v1/feed", params={"after": "x"}, headers=api.reader)  # 422: not read
    text = api.client.get("/metrics").text
    assert sample(text, 'ledger_reads_total{side="primary"}') == before + 4
    assert sample(text, 'ledger_reads_total{side="replica"}') is None
    assert "ledger_replica_state" not in text  # no standby configured


def test_health_and_metrics_need_no_key(api: Api) -> None:
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/metrics").headers["content-type"].startswith("text/plain")


# -- the edges -----------------------------------------------------------------------------


def test_an_unknown_path_is_a_404_problem(api: Api) -> None:
    response = api.client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_a_wrong_method_is_a_405_problem(api: Api) -> None:
    response = api.client.delete("/v1/feed", headers=api.reader)
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM


def test_an_unexpected_failure_is_a_500_problem_without_a_stack_trace(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internals at /srv/ledger.py line 12")

    monkeypatch.setattr(api.services.log, "read", broken)
    response = api.client.get("/v1/feed", headers=api.reader)
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert "secret" not in response.text and "Traceback" not in response.text


def test_a_store_that_is_down_is_a_503_problem(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(*_: Any, **__: Any) -> Any:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(api.services.log, "read", locked)
    response = api.client.get("/v1/feed", headers=api.reader)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"


# -- OpenAPI -------------------------------------------------------------------------------


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in schema["paths"].items()
            for method, op in item.items()]


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_openapi_documents_every_route_with_models_errors_and_examples(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    ours = [(p, m, op) for p, m, op in operations(schema) if p.startswith(("/v1/", "/healthz"))]
    contract = {
        ("/v1/enterprises", "post"), ("/v1/enterprises/{uscc}/commitments", "post"),
        ("/v1/enterprises/{uscc}/inspections", "post"),
        ("/v1/enterprises/{uscc}/rectifications", "post"),
        ("/v1/enterprises/{uscc}/bans", "post"), ("/v1/enterprises/{uscc}/repairs", "post"),
        ("/v1/enterprises/{uscc}/standing", "get"), ("/v1/standings:lookup", "post"),
        ("/v1/lists/punishment", "get"), ("/v1/lists/reward", "get"), ("/v1/feed", "get"),
    }
    assert contract <= {(p, m) for p, m, _ in ours}
    for path, method, op in ours:
        success = op["responses"].get("201") or op["responses"]["200"]
        assert "$ref" in success["content"]["application/json"]["schema"], (path, method)
        if path.startswith("/v1/"):
            for code in ("401", "403", "422", "429"):
                problem = op["responses"][code]["content"][PROBLEM]["schema"]
                assert problem == {"$ref": "#/components/schemas/Problem"}, (path, code)
            assert op["security"] == [{"ApiKey": []}]
        if method == "post":
            body = op["requestBody"]["content"]["application/json"]
            assert body["schema"]["$ref"].startswith("#/components/schemas/")
            assert body.get("examples"), path
    components = schema["components"]["schemas"]
    for ref in refs(schema):
        assert ref.split("/")[-1] in components, ref
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    ids = [op["operationId"] for _, _, op in operations(schema)]
    assert len(ids) == len(set(ids))
    assert {"license_enterprise", "get_standing", "lookup_standings", "read_feed"} <= set(ids)


def test_openapi_documents_headers_of_writes_and_rate_limits(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    write = schema["paths"]["/v1/enterprises/{uscc}/inspections"]["post"]
    assert "ETag" in write["responses"]["201"]["headers"]
    assert "Retry-After" in write["responses"]["429"]["headers"]
    names = {p["name"] for p in write["parameters"]}
    assert {"uscc", "Idempotency-Key", "If-Match"} <= names


def test_docs_are_served(api: Api) -> None:
    assert api.client.get("/docs").status_code == 200


# -- the app's own life ---------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_the_factory_bootstraps_serves_and_closes(tmp_path: Any) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ledger.db'}")
    app = create_app(settings)
    with TestClient(app) as client:
        services = app.state.api.services
        _, token = ApiKeys(services.db).create("regulator", ["ledger:write", "credit:read"])
        uscc = random_uscc()
        created = client.post("/v1/enterprises", json=licence(uscc), headers=bearer(token))
        assert created.status_code == 201
        standing = client.get(f"/v1/enterprises/{uscc}/standing", headers=bearer(token))
        assert standing.json()["status"] == "licensed"
    assert app.state.api is None  # closed at shutdown


@pytest.mark.sqlite_only
def test_writes_from_another_process_reach_the_read_models(tmp_path: Any) -> None:
    """The follower started by the lifespan applies events it did not write."""
    from ledger.bootstrap import bootstrap

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ledger.db'}", poll_interval=0.01)
    app = create_app(settings)
    with TestClient(app) as client:
        _, token = ApiKeys(app.state.api.services.db).create("partner", ["credit:read"])
        other = bootstrap(settings, sync_projections=False)  # writes, never projects
        try:
            uscc = other.ledger.license(**licence(random_uscc())).uscc
        finally:
            other.close()
        projections = app.state.api.services.projections
        import time

        deadline = time.monotonic() + 10
        while projections.live().lag and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.01)
        response = client.get(f"/v1/enterprises/{uscc}/standing", headers=bearer(token))
        assert response.status_code == 200


def test_every_documented_example_is_valid_for_its_model() -> None:
    from pydantic import BaseModel

    from api import schemas

    models = [m for m in vars(schemas).values()
              if isinstance(m, type) and issubclass(m, BaseModel) and m is not BaseModel]
    checked = 0
    for model in models:
        for example in (model.model_config.get("json_schema_extra") or {}).get("examples", []):
            model.model_validate(example)
            checked += 1
    assert checked >= 12
