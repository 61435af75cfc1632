"""Reads from a hot standby (LEDGER_REPLICA_URL), with real components: a PostgreSQL
primary and a streaming hot standby of it (initdb, pg_basebackup -R) of this module's
own, on free ports. Writes go to the primary through the API; reads come from the
standby, and from the primary when the standby is late past the wait or stopped.

Which database answered is seen by the ``Ledger-Position`` header (a paused standby's
is lower) and by a spy on the one place a read's database is chosen."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.audit.merkle import verify_consistency, verify_inclusion
from ledger.bootstrap import bootstrap
from ledger.services.replica import ReadSides, ReadView
from ledger.settings import Settings
from tests.apiclient import START, Api, sample
from tests.conftest import IN_CI, FixedClock
from tests.support.pgcluster import PgCluster, PgUnavailable

WAIT = 0.6  # LEDGER_REPLICA_WAIT in these tests


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[PgCluster, PgCluster]]:
    """A primary and its hot standby, for the module."""
    try:
        primary = PgCluster()
    except PgUnavailable as e:
        if IN_CI:
            pytest.fail(str(e))
        pytest.skip(str(e))
    standby: PgCluster | None = None
    try:
        primary.start()
        standby = primary.make_standby()
        yield primary, standby
    finally:
        if standby is not None:
            standby.cleanup()
        primary.cleanup()


class Spy:
    """Records which side answered each read (after any fallback during the read)."""

    def __init__(self, sides: ReadSides) -> None:
        self.views: list[ReadView] = []
        choose, cached = sides.choose, sides.choose_cached

        def spying(min_position: int | None = None) -> ReadView:
            view = choose(min_position)
            self.views.append(view)
            return view

        def spying_cached(min_position: int | None = None) -> ReadView | None:
            view = cached(min_position)
            if view is not None:
                self.views.append(view)
            return view

        sides.choose = spying  # type: ignore[method-assign]
        sides.choose_cached = spying_cached  # type: ignore[method-assign]

    @property
    def last(self) -> str:
        return self.views[-1].served_by


@pytest.fixture
def api(pair: tuple[PgCluster, PgCluster]) -> Iterator[Api]:
    primary, standby = pair
    schema = f"t_{uuid.uuid4().hex[:12]}"
    settings = Settings(
        database_url=primary.url, replica_url=standby.url, database_schema=schema,
        pool_size=4, replica_wait=WAIT,
    )
    services = bootstrap(settings, clock=FixedClock(START))
    try:
        app = create_app(services=services)
        with TestClient(app, raise_server_exceptions=False) as client:
            handle = Api(client, app, services, services.ledger.clock)  # type: ignore[arg-type]
            handle.key("regulator", "ledger:write")
            handle.key("partner", "credit:read")
            handle.key("auditor", "credit:read", "audit:read")
            handle.spy = Spy(services.read)  # type: ignore[attr-defined]
            wait_replica(handle, handle.head())  # the standby has replayed the migrations
            yield handle
    finally:
        services.close()
        primary.psql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def position_of(response: Any) -> int:
    return int(response.headers["Ledger-Position"])


def wait_replica(api: Api, position: int, timeout: float = 10) -> None:
    """Until the standby's read models include ``position``."""
    replica = api.services.read.replica
    assert replica is not None
    deadline = time.monotonic() + timeout
    while True:
        try:
            if replica.position(fresh=True) >= position:
                return
        except Exception:  # noqa: BLE001  (its schema may not be replayed yet)
            pass
        assert time.monotonic() < deadline, "the standby did not catch up"
        time.sleep(0.01)


def test_read_your_writes_from_the_standby_with_min_position(api: Api) -> None:
    written = api.license().json()
    uscc, position = written["uscc"], written["position"]
    response = api.standing(uscc, min_position=str(position))
    assert response.status_code == 200, response.text
    assert api.spy.last == "replica"  # type: ignore[attr-defined]
    assert position_of(response) >= position and response.json()["version"] == 1
    # a commitment, read back at once from the standby
    committed = api.ok(uscc, "commitments",
                       {"committed_at": "2025-01-05T10:00:00+08:00", "signatory": "Wang Li"})
    response = api.standing(uscc, min_position=str(committed["position"]))
    assert api.spy.last == "replica"  # type: ignore[attr-defined]
    assert response.json()["version"] == 2 and position_of(response) >= committed["position"]
    # every read takes min_position and says its position
    at = {"min_position": str(committed["position"])}
    reads = [
        api.client.post("/v1/standings:lookup", params=at, json={"usccs": [uscc]},
                        headers=api.reader),
        api.client.get("/v1/lists/punishment", params=at, headers=api.reader),
        api.client.get("/v1/lists/reward", params=at, headers=api.reader),
        api.client.get("/v1/feed", params=at, headers=api.reader),
        api.client.get(f"/v1/enterprises/{uscc}/events", params=at, headers=api.auditor),
        api.client.get(f"/enterprises/{uscc}"),  # the public page
    ]
    for r in reads:
        assert r.status_code == 200, r.text
        assert position_of(r) >= committed["position"]
    assert [v.served_by for v in api.spy.views[-6:]] == ["replica"] * 6  # type: ignore[attr-defined]
    assert len(api.client.get("/v1/feed", params=at, headers=api.reader).json()["events"]) == 2
    # below 0 or not a number: 422 naming it
    bad = api.standing(uscc, min_position="-1")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "min_position"
    # declared in OpenAPI on every read
    spec = api.app.openapi()
    for path, method in [("/v1/enterprises/{uscc}/standing", "get"), ("/v1/feed", "get"),
                         ("/v1/standings:lookup", "post"), ("/v1/audit/checkpoint", "get")]:
        params = {p["name"]: p for p in spec["paths"][path][method]["parameters"]}
        schema = params["min_position"]["schema"]
        assert "integer" in str(schema) and "'minimum': 0" in str(schema), schema


def test_a_paused_standby_answers_stale_and_min_position_goes_to_the_primary(
    api: Api, pair: tuple[PgCluster, PgCluster]
) -> None:
    _, standby = pair
    first = api.license().json()
    uscc = first["uscc"]
    wait_replica(api, first["position"])
    standby.psql("SELECT pg_wal_replay_pause()")
    try:
        committed = api.ok(uscc, "commitments",
                           {"committed_at": "2025-01-05T10:00:00+08:00", "signatory": "Wang Li"})
        # without min_position: the standby's older answer, and its lower position
        stale = api.standing(uscc)
        assert stale.status_code == 200 and api.spy.last == "replica"  # type: ignore[attr-defined]
        assert stale.json()["version"] == 1
        assert first["position"] <= position_of(stale) < committed["position"]
        # with min_position: the primary answers once the wait is over
        started = time.monotonic()
        fresh = api.standing(uscc, min_position=str(committed["position"]))
        waited = time.monotonic() - started
        assert fresh.status_code == 200 and api.spy.last == "primary"  # type: ignore[attr-defined]
        assert fresh.json()["version"] == 2 and position_of(fresh) >= committed["position"]
        assert WAIT <= waited < WAIT + 5
        # the public page comes from the standby too, tagged with the standby's freshness
        page = api.client.get(f"/enterprises/{uscc}")
        assert page.status_code == 200 and api.spy.last == "replica"  # type: ignore[attr-defined]
        assert position_of(page) < committed["position"]
        etag = page.headers["etag"]
        assert api.client.get(f"/enterprises/{uscc}",
                              headers={"If-None-Match": etag}).status_code == 304
        health = api.client.get("/healthz").json()
        assert health["status"] == "ok" and health["replica"]["state"] == "paused"
        assert health["replica"]["lag"] >= 1
        assert health["replica"]["primary_position"] >= committed["position"]
        metrics = api.client.get("/metrics").text
        assert 'ledger_replica_state{state="paused"} 1.0' in metrics
        assert 'ledger_replica_state{state="ok"} 0.0' in metrics
        assert (sample(metrics, "ledger_replica_lag_events") or 0) >= 1
    finally:
        standby.psql("SELECT pg_wal_replay_resume()")
    wait_replica(api, committed["position"])
    again = api.standing(uscc)
    assert api.spy.last == "replica" and again.json()["version"] == 2  # type: ignore[attr-defined]
    # the standby moved on: the page tagged while it was behind is not "not modified"
    page = api.client.get(f"/enterprises/{uscc}", headers={"If-None-Match": etag})
    assert page.status_code == 200 and page.headers["etag"] != etag


def test_a_stopped_standby_never_fails_a_read(
    api: Api, pair: tuple[PgCluster, PgCluster]
) -> None:
    _, standby = pair
    written = api.license().json()
    uscc = written["uscc"]
    wait_replica(api, written["position"])
    assert api.standing(uscc).status_code == 200 and api.spy.last == "replica"  # type: ignore[attr-defined]
    metrics = api.client.get("/metrics").text
    assert 'ledger_replica_state{state="ok"} 1.0' in metrics
    assert (sample(metrics, 'ledger_reads_total{side="replica"}') or 0) >= 1
    primary_reads = sample(metrics, 'ledger_reads_total{side="primary"}') or 0
    standby.stop("fast")
    try:
        for params in ({}, {"min_position": str(written["position"])}):
            started = time.monotonic()
            response = api.standing(uscc, **params)
            assert response.status_code == 200, response.text
            assert api.spy.last == "primary"  # type: ignore[attr-defined]
            assert position_of(response) >= written["position"]
            assert time.monotonic() - started < WAIT + 2.5
        assert api.client.get("/v1/lists/punishment", headers=api.reader).status_code == 200
        health = api.client.get("/healthz")
        assert health.status_code == 200
        replica = health.json()["replica"]
        assert replica["state"] == "down" and replica["detail"]
        assert replica["primary_position"] >= written["position"]
        metrics = api.client.get("/metrics").text
        assert 'ledger_replica_state{state="down"} 1.0' in metrics
        assert "ledger_replica_lag_events" not in metrics  # unknown while it is down
        assert sample(metrics, 'ledger_reads_total{side="primary"}') == primary_reads + 3
    finally:
        standby.start()
    # a probe finds it again, and reads go back to it
    deadline = time.monotonic() + 15
    while api.client.get("/healthz").json()["replica"]["state"] == "down":
        assert time.monotonic() < deadline, "the standby was not found again"
        time.sleep(0.1)
    assert api.standing(uscc).status_code == 200 and api.spy.last == "replica"  # type: ignore[attr-defined]


def test_checkpoints_and_proofs_from_the_standby_verify_against_the_primary(api: Api) -> None:
    for _ in range(3):
        api.committed()
    old = api.services.audit.checkpoint()
    assert old is not None
    for _ in range(2):
        api.committed()
    new = api.services.audit.checkpoint()
    assert new is not None
    after = api.license().json()["position"]  # stored after the checkpoint
    at = {"min_position": str(after)}
    served = api.client.get("/v1/audit/checkpoint", params=at, headers=api.auditor)
    assert served.status_code == 200 and api.spy.last == "replica"  # type: ignore[attr-defined]
    assert served.json() == new.to_json()  # the primary's checkpoint, signature and all
    for position in (1, old.tree_size, new.tree_size):
        proof = api.client.get(
            "/v1/audit/proofs/inclusion", params={"position": position, **at},
            headers=api.auditor,
        )
        assert proof.status_code == 200 and api.spy.last == "replica"  # type: ignore[attr-defined]
        doc = proof.json()
        assert doc["tree_size"] == new.tree_size
        assert verify_inclusion(
            position - 1, new.tree_size, bytes.fromhex(doc["leaf_hash"]),
            [bytes.fromhex(h) for h in doc["audit_path"]], bytes.fromhex(new.root_hash),
        )
    consistency = api.client.get(
        "/v1/audit/proofs/consistency", params={"first": old.tree_size, **at},
        headers=api.auditor,
    )
    assert consistency.status_code == 200 and api.spy.last == "replica"  # type: ignore[attr-defined]
    assert verify_consistency(
        old.tree_size, new.tree_size, bytes.fromhex(old.root_hash),
        bytes.fromhex(new.root_hash),
        [bytes.fromhex(h) for h in consistency.json()["proof"]],
    )
