"""Personal data over HTTP (contract.md, "Personal data"): credit:read keys and the
public never see a name; audit:read keys get each value with its salt and can check
the commitment; an erasure removes the values while every proof still verifies."""

from __future__ import annotations

import uuid
from typing import Any

from ledger.audit.encoding import event_leaf_hash
from ledger.audit.merkle import verify_inclusion
from ledger.services.privacy import PERSONAL_FIELDS, check
from tests.apiclient import Api, api_fixture  # noqa: F401
from tests.factories import random_uscc


def names() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {f: f"Person-{f}-{tag}" for f in PERSONAL_FIELDS}


def people(api: Api) -> tuple[str, dict[str, str]]:
    """An enterprise whose four personal fields each name someone."""
    who = names()
    uscc = random_uscc()
    api.license(uscc, legal_representative=who["legal_representative"])
    api.ok(uscc, "commitments",
           {"committed_at": "2025-01-05T10:00:00+08:00", "signatory": who["signatory"]})
    api.ok(uscc, "inspections", {
        "inspected_at": "2025-02-01T10:00:00+08:00", "inspector": who["inspector"],
        "score": 60, "outcome": "rectify", "rectification_deadline": "2025-02-20",
    })
    api.ok(uscc, "rectifications",
           {"rectified_at": "2025-02-10T10:00:00+08:00", "verified_by": who["verified_by"]})
    return uscc, who


def texts_partners_and_the_public_read(api: Api, uscc: str, start: int) -> dict[str, str]:
    c = api.client
    return {
        "feed": c.get("/v1/feed", params={"after": start}, headers=api.reader).text,
        "standing": api.standing(uscc).text,
        "lookup": c.post("/v1/standings:lookup", json={"usccs": [uscc]},
                         headers=api.reader).text,
        "reward": c.get("/v1/lists/reward", headers=api.reader).text,
        "punishment": c.get("/v1/lists/punishment", headers=api.reader).text,
        "page": c.get(f"/enterprises/{uscc}").text,
        "search": c.get("/", params={"q": uscc}).text,
        "reward page": c.get("/lists/reward").text,
        "punishment page": c.get("/lists/punishment").text,
        "metrics": c.get("/metrics").text,
        "write response": api.ok(uscc, "commitments", {
            "committed_at": "2025-03-01T10:00:00+08:00", "signatory": "Someone Later"}
        ).__repr__(),
    }


def test_no_personal_value_reaches_credit_keys_or_the_public(api: Api) -> None:
    start = api.head()
    uscc, who = people(api)
    for what, text in texts_partners_and_the_public_read(api, uscc, start).items():
        for name in who.values():
            assert name not in text, f"{name} in the {what}"
    feed = api.client.get("/v1/feed", params={"after": start}, headers=api.reader).json()
    for event, field in zip(feed["events"][:4], PERSONAL_FIELDS, strict=True):
        assert event["data"][field].startswith("sha256:")


def test_auditors_get_each_value_and_salt_and_the_commitment_checks(api: Api) -> None:
    uscc, who = people(api)
    doc = api.client.get(f"/v1/enterprises/{uscc}/events", headers=api.auditor).json()
    opened = 0
    for event in doc["events"]:
        for field, secret in event["personal"].items():
            assert secret["value"] == who[field]
            assert len(bytes.fromhex(secret["salt"])) == 16
            assert check(secret["value"], secret["salt"], event["data"][field])
            assert not check(secret["value"] + "x", secret["salt"], event["data"][field])
            opened += 1
    assert opened == 4
    standing = api.standing(uscc, headers=api.auditor).json()
    assert standing["legal_representative"] == who["legal_representative"]
    assert "legal_representative" not in api.standing(uscc).json()


def erase(api: Api, uscc: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    return api.client.post(
        f"/v1/enterprises/{uscc}/erasure", json=body, headers=headers or api.writer
    )


def test_an_erasure_removes_the_values_and_every_proof_still_verifies(api: Api) -> None:
    uscc, who = people(api)
    cp_before = api.services.audit.checkpoint()
    response = erase(api, uscc)
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["uscc"] == uscc and done["fields"] == list(PERSONAL_FIELDS)
    events = api.client.get(f"/v1/enterprises/{uscc}/events", headers=api.auditor).json()
    assert done["positions"] == [e["position"] for e in events["events"][:4]]
    for event in events["events"][:4]:
        assert list(event["personal"].values()) == [{"erased": True}]
    assert api.standing(uscc, headers=api.auditor).json()["legal_representative"] is None
    assert api.services.audit.verify(wait=0).ok
    cp = api.services.audit.checkpoint()
    consistency = api.services.audit.consistency(cp_before.tree_size, cp.tree_size)
    assert consistency["proof"] is not None
    for event in events["events"]:
        proof = api.client.get(
            "/v1/audit/proofs/inclusion",
            params={"position": event["position"], "tree_size": cp.tree_size},
            headers=api.auditor,
        ).json()
        leaf = event_leaf_hash({k: v for k, v in event.items()
                                if k not in ("leaf_hash", "personal")})
        assert verify_inclusion(
            event["position"] - 1, cp.tree_size, leaf,
            [bytes.fromhex(h) for h in proof["audit_path"]], bytes.fromhex(cp.root_hash),
        )
    with api.services.db.transaction() as tx:
        left = tx.all("SELECT value FROM personal_data WHERE uscc = ?", (uscc,))
    assert left == []
    for name in who.values():
        assert name not in api.client.get(
            f"/v1/enterprises/{uscc}/events", headers=api.auditor).text


def test_an_erasure_of_some_fields_keeps_the_others(api: Api) -> None:
    uscc, who = people(api)
    done = erase(api, uscc, {"fields": ["signatory", "inspector"]}).json()
    assert done["fields"] == ["signatory", "inspector"] and len(done["positions"]) == 2
    events = api.client.get(f"/v1/enterprises/{uscc}/events", headers=api.auditor).json()
    personal = {k: v for e in events["events"] for k, v in e["personal"].items()}
    assert personal["signatory"] == personal["inspector"] == {"erased": True}
    assert personal["legal_representative"]["value"] == who["legal_representative"]
    assert personal["verified_by"]["value"] == who["verified_by"]


def test_an_erasure_is_recorded_for_auditors_without_the_values(api: Api) -> None:
    uscc, who = people(api)
    erase(api, uscc, {"fields": ["verified_by"]})
    response = api.client.get("/v1/audit/erasures", params={"uscc": uscc},
                              headers=api.auditor)
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    assert item["erased_by"] == api.names["regulator"] and item["fields"] == ["verified_by"]
    assert item["erased_at"].endswith("+00:00")
    assert who["verified_by"] not in response.text
    assert api.client.get("/v1/audit/erasures", headers=api.reader).status_code == 403


def test_an_erasure_needs_ledger_write_and_checks_its_input(api: Api) -> None:
    uscc, _ = people(api)
    assert erase(api, uscc, headers=api.reader).status_code == 403
    assert erase(api, uscc, {"fields": ["name"]}).status_code == 422
    assert erase(api, uscc, {"fields": []}).status_code == 422
    assert erase(api, random_uscc()).status_code == 404
    with api.services.db.transaction() as tx:
        assert tx.value("SELECT COUNT(*) FROM personal_data WHERE uscc = ?", (uscc,)) == 4


def test_an_erasure_body_with_a_repeated_key_is_refused_and_erases_nothing(api: Api) -> None:
    uscc, _ = people(api)
    response = api.client.post(
        f"/v1/enterprises/{uscc}/erasure",
        content=b'{"fields": ["signatory"], "fields": ["inspector"]}',
        headers={**api.writer, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["reason"] == "repeated"
    with api.services.db.transaction() as tx:
        assert tx.value("SELECT COUNT(*) FROM personal_data WHERE uscc = ?", (uscc,)) == 4
