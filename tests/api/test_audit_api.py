"""The audit endpoints over HTTP on both stores (scope audit:read): histories with leaf
hashes, the signed checkpoint and its key, proofs that verify against it, and the
standing as the ledger knew it at a moment."""

from __future__ import annotations

import base64

import pytest

from ledger.audit.encoding import event_leaf_hash
from ledger.audit.merkle import verify_consistency, verify_inclusion
from ledger.audit.signing import Checkpoint, verify_signature
from ledger.services.privacy import check
from tests.apiclient import PROBLEM, START, Api, api_fixture, problem_fields  # noqa: F401
from tests.factories import random_uscc

LATER = "2026-01-10T04:00:00+00:00"


def build(api: Api, enterprises: int = 3) -> list[str]:
    return [api.committed() for _ in range(enterprises)]


def test_the_checkpoint_verifies_with_the_published_key(api: Api) -> None:
    build(api)
    api.services.audit.checkpoint()
    cp = api.client.get("/v1/audit/checkpoint", headers=api.auditor)
    key = api.client.get("/v1/audit/public-key", headers=api.auditor)
    assert cp.status_code == key.status_code == 200
    doc, pub = cp.json(), key.json()
    assert doc["tree_size"] == api.head() and pub["algorithm"] == "ed25519"
    assert doc["key_id"] == pub["key_id"]
    assert verify_signature(Checkpoint.from_json(doc), base64.b64decode(pub["public_key"]))


def test_an_inclusion_proof_over_http_verifies_against_the_checkpoint(api: Api) -> None:
    first = api.head() + 1
    build(api)
    cp = api.services.audit.checkpoint()
    for position in range(first, cp.tree_size + 1):
        proof = api.client.get(
            "/v1/audit/proofs/inclusion", params={"position": position}, headers=api.auditor
        ).json()
        assert proof["position"] == position and proof["leaf_index"] == position - 1
        assert proof["tree_size"] == cp.tree_size
        assert verify_inclusion(
            position - 1, cp.tree_size, bytes.fromhex(proof["leaf_hash"]),
            [bytes.fromhex(h) for h in proof["audit_path"]], bytes.fromhex(cp.root_hash),
        )


def test_a_consistency_proof_over_http_verifies_between_two_checkpoints(api: Api) -> None:
    build(api, 1)
    old = api.services.audit.checkpoint()
    build(api, 2)
    new = api.services.audit.checkpoint()
    response = api.client.get(
        "/v1/audit/proofs/consistency", params={"first": old.tree_size, "second": new.tree_size},
        headers=api.auditor,
    )
    assert response.status_code == 200, response.text
    doc = response.json()
    assert (doc["first"], doc["second"]) == (old.tree_size, old.tree_size + 4)
    assert verify_consistency(
        old.tree_size, new.tree_size, bytes.fromhex(old.root_hash),
        bytes.fromhex(new.root_hash), [bytes.fromhex(h) for h in doc["proof"]],
    )


def test_proofs_beyond_the_log_are_404_saying_how_far_it_reaches(api: Api) -> None:
    build(api, 1)
    size = api.services.audit.checkpoint().tree_size
    cases = [
        ("/v1/audit/proofs/inclusion", {"position": size + 1}, "position"),
        ("/v1/audit/proofs/inclusion", {"position": 1, "tree_size": size + 9}, "tree_size"),
        ("/v1/audit/proofs/consistency", {"first": 1, "second": size + 9}, "second"),
    ]
    for path, params, field in cases:
        response = api.client.get(path, params=params, headers=api.auditor)
        assert response.status_code == 404, (params, response.text)
        doc = response.json()
        assert doc["tree_size"] == size and doc["errors"][0]["field"] == field


def test_proofs_with_invalid_or_clashing_values_are_422_naming_the_parameter(api: Api) -> None:
    build(api, 1)
    cases = [
        ("/v1/audit/proofs/inclusion", {"position": 0}, "position"),
        ("/v1/audit/proofs/inclusion", {"position": 2, "tree_size": 1}, "position"),
        ("/v1/audit/proofs/inclusion", {"position": "x"}, "position"),
        ("/v1/audit/proofs/consistency", {"first": 2, "second": 1}, "first"),
    ]
    for path, params, field in cases:
        response = api.client.get(path, params=params, headers=api.auditor)
        assert response.status_code == 422, (params, response.text)
        assert field in problem_fields(response), (params, response.json())
        assert response.json()["errors"][0]["in"] == "query"


def test_audit_endpoints_need_the_audit_scope(api: Api) -> None:
    for path in ("/v1/audit/checkpoint", "/v1/audit/public-key",
                 "/v1/audit/proofs/inclusion?position=1",
                 "/v1/audit/proofs/consistency?first=1",
                 f"/v1/enterprises/{random_uscc()}/events"):
        assert api.client.get(path).status_code == 401
        response = api.client.get(path, headers=api.reader)
        assert response.status_code == 403, path
        assert response.headers["content-type"] == PROBLEM


def test_the_history_carries_positions_and_leaf_hashes(api: Api) -> None:
    first = api.head() + 1
    uscc = build(api, 1)[0]
    response = api.client.get(f"/v1/enterprises/{uscc}/events", headers=api.auditor)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["uscc"] == uscc
    assert [(e["position"], e["type"], e["version"]) for e in doc["events"]] == [
        (first, "Licensed", 1), (first + 1, "Committed", 2),
    ]
    proof = api.services.audit.inclusion(first + 1, tree_size=first + 1)
    assert doc["events"][1]["leaf_hash"] == proof["leaf_hash"]
    recomputed = event_leaf_hash({k: v for k, v in doc["events"][1].items() if k != "leaf_hash"})
    assert recomputed.hex() == proof["leaf_hash"]  # the response holds every leaf field
    sealed = doc["events"][0]["data"]["legal_representative"]
    opened = doc["events"][0]["personal"]["legal_representative"]
    assert opened["value"] == "Wang Li"
    assert check(opened["value"], opened["salt"], sealed)  # the auditor checks it


def test_the_history_known_at_a_moment_and_its_bad_input(api: Api) -> None:
    uscc = build(api, 1)[0]
    with api.at(LATER):
        api.ok(uscc, "inspections", {"inspected_at": "2025-02-01T10:00:00+08:00",
                                     "inspector": "Zhao", "score": 92, "outcome": "compliant"})
    url = f"/v1/enterprises/{uscc}/events"
    before = api.client.get(url, params={"known_at": START.isoformat()}, headers=api.auditor)
    assert [e["type"] for e in before.json()["events"]] == ["Licensed", "Committed"]
    after = api.client.get(url, headers=api.auditor)
    assert [e["type"] for e in after.json()["events"]][-1] == "Inspected"
    naive = api.client.get(url, params={"known_at": "2026-01-01T00:00:00"}, headers=api.auditor)
    assert naive.status_code == 422 and problem_fields(naive) == {"known_at": "offset"}
    unknown = api.client.get(f"/v1/enterprises/{random_uscc()}/events", headers=api.auditor)
    assert unknown.status_code == 404
    bad = api.client.get("/v1/enterprises/123/events", headers=api.auditor)
    assert bad.status_code == 422 and problem_fields(bad) == {"uscc": "length"}


def test_the_standing_known_at_differs_from_as_of_for_a_back_dated_event(api: Api) -> None:
    uscc = build(api, 1)[0]
    api.ok(uscc, "inspections", {"inspected_at": "2025-03-01T10:00:00+08:00",
                                 "inspector": "Zhao", "score": 95, "outcome": "compliant"})
    with api.at(LATER):
        api.ok(uscc, "inspections", {"inspected_at": "2025-12-20T10:00:00+08:00",
                                     "inspector": "Zhao", "score": 20, "outcome": "ban",
                                     "findings": "no disinfection log"})
    as_of = {"as_of": "2026-01-05"}
    now = api.standing(uscc, api.auditor, **as_of).json()
    then = api.standing(uscc, api.auditor, known_at=START.isoformat(), **as_of).json()
    assert (now["status"], now["credit_class"]) == ("banned", "D")
    assert (then["status"], then["credit_class"]) == ("compliant", "B")
    assert then["version"] == 3


def test_the_openapi_document_describes_the_audit_routes(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in ("/v1/audit/checkpoint", "/v1/audit/public-key", "/v1/audit/proofs/inclusion",
                 "/v1/audit/proofs/consistency", "/v1/enterprises/{uscc}/events"):
        assert "200" in paths[path]["get"]["responses"], path


@pytest.mark.sqlite_only
def test_before_any_checkpoint_the_checkpoint_is_404(services) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from ledger.services.access import ApiKeys

    _, token = ApiKeys(services.db).create("auditor", ["audit:read"])
    client = TestClient(create_app(services=services))  # no lifespan: no checkpointer
    response = client.get("/v1/audit/checkpoint", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert "no checkpoint" in response.json()["detail"]
