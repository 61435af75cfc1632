"""Without a replica (both stores): every read says the log position its answer
reflects (``Ledger-Position``) and takes ``min_position``; the primary answers it,
at once when it is there, and at once with what it has when the position is beyond the
head of the log (no one will get there: the header says how far the answer goes)."""

from __future__ import annotations

import time

from tests.apiclient import Api, api_fixture  # noqa: F401


def test_reads_carry_the_position_their_answer_reflects(api: Api) -> None:
    written = api.license().json()
    uscc, position = written["uscc"], written["position"]
    response = api.standing(uscc, min_position=str(position))
    assert response.status_code == 200
    assert int(response.headers["Ledger-Position"]) >= position
    for r in (
        api.standing(uscc),
        api.client.get("/v1/feed", headers=api.reader),
        api.client.get("/v1/lists/reward", headers=api.reader),
        api.client.get("/v1/stats", headers=api.reader),
        api.client.get("/v1/stats/monthly", headers=api.reader),
        api.client.get(f"/enterprises/{uscc}"),
        api.standing("91230109MA1BX6Q8Y0"),  # a 404 too
    ):
        assert int(r.headers["Ledger-Position"]) >= position, r.text
    # writes and operations are not reads
    assert "Ledger-Position" not in api.client.get("/healthz").headers
    assert "Ledger-Position" not in api.license().headers
    assert api.client.get("/healthz").json()["replica"] is None


def test_a_position_beyond_the_log_is_answered_at_once_with_what_there_is(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    head = api.head()
    started = time.monotonic()
    response = api.standing(uscc, min_position=str(head + 1000))
    assert time.monotonic() - started < 1.5  # not the 2 s wait: no one will get there
    assert response.status_code == 200
    assert int(response.headers["Ledger-Position"]) == head  # what it reflects: not more


def test_the_openapi_document_declares_min_position_and_ledger_position(api: Api) -> None:
    spec = api.app.openapi()
    reads = [
        ("/v1/enterprises/{uscc}/standing", "get"), ("/v1/standings:lookup", "post"),
        ("/v1/lists/punishment", "get"), ("/v1/lists/reward", "get"), ("/v1/feed", "get"),
        ("/v1/enterprises/{uscc}/events", "get"), ("/v1/audit/checkpoint", "get"),
        ("/v1/audit/proofs/inclusion", "get"), ("/v1/audit/proofs/consistency", "get"),
        ("/v1/stats", "get"), ("/v1/stats/monthly", "get"),
    ]
    for path, method in reads:
        operation = spec["paths"][path][method]
        params = {p["name"]: p for p in operation["parameters"]}
        schema = params["min_position"]["schema"]
        assert (schema["type"], schema["minimum"]) == ("integer", 0), path
        assert "Ledger-Position" in operation["responses"]["200"]["headers"], path
    write = spec["paths"]["/v1/enterprises"]["post"]
    assert "min_position" not in {p["name"] for p in write.get("parameters", [])}


def test_a_read_through_the_process_that_wrote_shows_the_write(api: Api, monkeypatch) -> None:
    """The read position is remembered for a while (``FRESH``), and this process's own
    writes raise it: no ``min_position`` is needed to see one's write through it."""
    from ledger.services import replica

    first = api.license().json()
    assert api.standing(first["uscc"]).status_code == 200  # the position is remembered
    monkeypatch.setattr(replica, "FRESH", 3600.0)  # and not read again
    second = api.license().json()
    response = api.standing(second["uscc"])
    assert response.status_code == 200
    assert int(response.headers["Ledger-Position"]) >= second["position"]


def test_a_refused_read_carries_a_position_too(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    response = api.standing(uscc, as_of="2025-02-30")
    assert response.status_code == 422
    assert int(response.headers["Ledger-Position"]) >= 0
