"""Without a replica (both stores): every read says the log position its answer
reflects (``Ledger-Position``) and takes ``min_position``; the primary answers it, at
once when it is there, after LEDGER_REPLICA_WAIT when the position is beyond the log."""

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
        api.client.get(f"/enterprises/{uscc}"),
        api.standing("91230109MA1BX6Q8Y0"),  # a 404 too
    ):
        assert int(r.headers["Ledger-Position"]) >= position, r.text
    # writes and operations are not reads
    assert "Ledger-Position" not in api.client.get("/healthz").headers
    assert "Ledger-Position" not in api.license().headers
    assert api.client.get("/healthz").json()["replica"] is None


def test_a_position_beyond_the_log_is_answered_by_the_primary_after_the_wait(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    head = api.head()
    api.services.read.wait = 0.2
    try:
        started = time.monotonic()
        response = api.standing(uscc, min_position=str(head + 1000))
        assert time.monotonic() - started >= 0.2
    finally:
        api.services.read.wait = 2.0
    assert response.status_code == 200
    assert int(response.headers["Ledger-Position"]) == head  # what it reflects: not more
