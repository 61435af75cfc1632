"""What moved into the services (issue 11 B), through the real app on both stores: one
standing document for as_of and known_at, redaction by scope in one place, the
not-yet-licensed 404, and one command for committing through a letter."""

from __future__ import annotations

from tests.apiclient import Api, api_fixture  # noqa: F401
from tests.factories import random_uscc

DOCUMENT = {
    "uscc", "name", "place_type", "district", "status", "credit_class", "hygiene_grade",
    "on_reward_list", "on_punishment_list", "records", "verification_due",
    "rectification_deadline", "version", "position", "as_of",
}


def test_as_of_and_known_at_give_the_same_document(api: Api) -> None:
    uscc = api.committed()
    live = api.standing(uscc, headers=api.auditor, as_of="2025-06-01").json()
    known = api.standing(uscc, headers=api.auditor, as_of="2025-06-01",
                         known_at="2030-01-01T00:00:00+08:00").json()
    assert set(live) == DOCUMENT | {"legal_representative"}
    assert set(known) == DOCUMENT | {"legal_representative", "known_at"}
    assert {k: known[k] for k in live} == live


def test_a_partner_gets_the_known_at_document_without_personal_data(api: Api) -> None:
    uscc = api.committed()
    service = api.services.standing
    doc = service.standing(uscc, "2025-06-01", known_at=api.clock.now, personal=False)
    assert "legal_representative" not in doc
    assert service.standing(uscc, "2025-06-01", known_at=api.clock.now,
                            personal=True)["legal_representative"] == "Wang Li"


def test_before_the_licence_day_the_404_says_not_licensed_yet(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    early = api.standing(uscc, as_of="2024-12-31")
    unknown = api.standing(random_uscc())
    assert (early.status_code, unknown.status_code) == (404, 404)
    assert "not licensed yet at the end of 2024-12-31" in early.json()["detail"]
    assert early.json()["uscc"] == uscc
    assert "no enterprise" in unknown.json()["detail"]


def test_the_feed_shows_personal_data_to_everyone_only_as_commitments(api: Api) -> None:
    api.license()
    partner = api.client.get("/v1/feed", params={"after": api.head() - 1}, headers=api.reader)
    auditor = api.client.get("/v1/feed", params={"after": api.head() - 1}, headers=api.auditor)
    assert "Wang Li" not in partner.text and "Wang Li" not in auditor.text
    sealed = partner.json()["events"][0]["data"]["legal_representative"]
    assert sealed.startswith("sha256:")
    assert auditor.json()["events"][0]["data"]["legal_representative"] == sealed


def test_a_letter_is_used_once_through_the_api_too(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    body = {"committed_at": "2025-01-05T10:00:00+08:00", "signatory": "Wang Li",
            "letter_id": f"CL-{uscc}-V1", "channel": "qr"}
    api.ok(uscc, "commitments", body)
    with api.stores_nothing():
        again = api.post(uscc, "commitments", {**body, "committed_at": "2025-01-06T10:00:00+08:00"})
    assert again.status_code == 409
    assert again.json()["rule"] == "letter_used"
    other = {**body, "letter_id": f"CL-{uscc}-V2", "committed_at": "2025-01-06T10:00:00+08:00"}
    assert api.post(uscc, "commitments", other).status_code == 201


def test_a_commitment_without_a_letter_id_is_never_refused_as_used(api: Api) -> None:
    uscc = api.committed()
    api.ok(uscc, "commitments", {"committed_at": "2025-01-06T10:00:00+08:00",
                                 "signatory": "Wang Li"})


def test_the_letter_command_honours_if_match(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    body = {"committed_at": "2025-01-05T10:00:00+08:00", "signatory": "Wang Li",
            "letter_id": "paper-7"}
    with api.stores_nothing():
        stale = api.post(uscc, "commitments", body, **{"If-Match": '"2"'})
    assert stale.status_code == 412
    assert api.post(uscc, "commitments", body, **{"If-Match": '"1"'}).status_code == 201
