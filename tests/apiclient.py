"""The API under test: the real ASGI app over a store shared by the tests of one
module, once on SQLite and once on PostgreSQL (its own schema, dropped after), with a
key per scope. Tests use fresh USCCs and key names, and compare the log's head before
and after rather than assume an empty store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ApiState
from ledger.bootstrap import Services, bootstrap
from ledger.services.access import ApiKeys
from ledger.settings import Settings
from tests.conftest import POSTGRES_URL, STORES, FixedClock, need_postgres
from tests.factories import licence, random_uscc

START = datetime(2026, 1, 1, 4, 0, tzinfo=timezone.utc)

PROBLEM = "application/problem+json"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Api:
    client: TestClient
    app: FastAPI
    services: Services
    clock: FixedClock
    tokens: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> ApiState:
        return self.app.state.api  # type: ignore[no-any-return]

    def key(self, name: str, *scopes: str, rate_limit: float | None = None) -> dict[str, str]:
        """A new key (the name gets a unique suffix; see ``names``)."""
        unique = f"{name}-{uuid.uuid4().hex[:8]}"
        _, token = ApiKeys(self.services.db).create(unique, scopes, rate_limit)
        self.tokens[name] = token
        self.names[name] = unique
        return bearer(token)

    @property
    def writer(self) -> dict[str, str]:
        return bearer(self.tokens["regulator"])

    @property
    def reader(self) -> dict[str, str]:
        return bearer(self.tokens["partner"])

    @property
    def auditor(self) -> dict[str, str]:
        return bearer(self.tokens["auditor"])

    def head(self) -> int:
        with self.services.db.transaction() as tx:
            return self.services.log.head(tx)

    @contextmanager
    def at(self, moment: str) -> Iterator[None]:
        """The ledger's clock at ``moment`` for a while (the store is shared)."""
        self.clock.now = datetime.fromisoformat(moment)
        try:
            yield
        finally:
            self.clock.now = START

    @contextmanager
    def stores_nothing(self) -> Iterator[None]:
        before = self.head()
        yield
        assert self.head() == before, "an error stored something"

    # -- writes ------------------------------------------------------------------------------

    def license(self, uscc: str | None = None, **overrides: Any) -> Any:
        uscc = uscc or random_uscc()
        response = self.client.post(
            "/v1/enterprises", json=licence(uscc, **overrides), headers=self.writer
        )
        assert response.status_code == 201, response.text
        return response

    def post(self, uscc: str, what: str, body: dict[str, Any], **headers: str) -> Any:
        return self.client.post(
            f"/v1/enterprises/{uscc}/{what}", json=body, headers={**self.writer, **headers}
        )

    def ok(self, uscc: str, what: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post(uscc, what, body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def committed(self, uscc: str | None = None, at: str = "2025-01-05T10:00:00+08:00") -> str:
        uscc = self.license(uscc).json()["uscc"]
        self.ok(uscc, "commitments", {"committed_at": at, "signatory": "Wang Li"})
        return uscc

    def standing(self, uscc: str, headers: dict[str, str] | None = None, **params: str) -> Any:
        return self.client.get(
            f"/v1/enterprises/{uscc}/standing", params=params, headers=headers or self.reader
        )


@contextmanager
def shared_settings(kind: str, tmp: Any) -> Iterator[Settings]:
    if kind == "sqlite":
        yield Settings(database_url=f"sqlite:///{tmp / 'ledger.db'}")
        return
    need_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield Settings(database_url=POSTGRES_URL, database_schema=schema, pool_size=8)
    finally:
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(name="api", scope="module", params=STORES)
def api_fixture(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    clock = FixedClock(START)
    with shared_settings(request.param, tmp_path_factory.mktemp("api")) as settings:
        services = bootstrap(settings, clock=clock)
        try:
            app = create_app(services=services)
            with TestClient(app, raise_server_exceptions=False) as client:
                handle = Api(client, app, services, clock)
                handle.key("regulator", "ledger:write")
                handle.key("partner", "credit:read")
                handle.key("auditor", "credit:read", "audit:read")
                yield handle
        finally:
            services.close()


def problem_fields(response: Any) -> dict[str, str]:
    """{field: reason} of a 422 problem."""
    assert response.headers["content-type"] == PROBLEM, response.text
    return {e["field"]: e["reason"] for e in response.json().get("errors", [])}


def sample(text: str, series: str) -> float | None:
    """The value of one series in a Prometheus text, None when absent."""
    found = [ln for ln in text.splitlines() if ln.startswith(series + " ")]
    return float(found[0].split()[-1]) if found else None
