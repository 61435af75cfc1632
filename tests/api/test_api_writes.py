"""Regulator writes through the real ASGI app, on both stores: each endpoint's success,
its errors, and that nothing is stored on any error."""

from __future__ import annotations

from typing import Any

import pytest

from tests.apiclient import PROBLEM, Api, api_fixture, problem_fields  # noqa: F401
from tests.factories import licence, random_uscc

INSPECTION = {"inspected_at": "2025-03-01T14:00:00+08:00", "inspector": "Zhao", "score": 92,
              "outcome": "compliant"}


# -- success -------------------------------------------------------------------------------


def test_a_licence_returns_201_with_version_position_events_and_etag(api: Api) -> None:
    uscc = random_uscc()
    before = api.head()
    response = api.license(uscc)
    body = response.json()
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"/v1/enterprises/{uscc}/standing"
    assert (body["uscc"], body["version"], body["position"]) == (uscc, 1, before + 1)
    (event,) = body["events"]
    assert event["type"] == "Licensed" and event["position"] == before + 1
    assert event["occurred_at"] == "2025-01-02T09:00:00+08:00"
    assert event["recorded_at"].startswith("2026-01-01T04:00:00")
    assert event["data"]["legal_representative"].startswith("sha256:")  # a commitment


def test_a_write_is_in_the_read_models_when_it_returns(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    body = api.ok(uscc, "commitments", {"committed_at": "2025-01-05T10:00:00+08:00",
                                        "signatory": "Wang Li", "channel": "qr"})
    assert body["version"] == 2
    standing = api.standing(uscc).json()
    assert standing["status"] == "committed" and standing["version"] == 2
    assert standing["position"] == body["position"]


def test_a_lower_case_uscc_is_stored_compact_and_upper_case(api: Api) -> None:
    uscc = random_uscc()
    body = api.license(uscc.lower()).json()
    assert body["uscc"] == uscc


def test_an_inspection_with_outcome_rectify_opens_an_order(api: Api) -> None:
    uscc = api.committed()
    body = api.ok(uscc, "inspections", {**INSPECTION, "score": 65, "outcome": "rectify",
                                        "rectification_deadline": "2025-03-31",
                                        "findings": "no records"})
    assert body["events"][0]["data"]["rectification_deadline"] == "2025-03-31"
    standing = api.standing(uscc, as_of="2025-03-02").json()
    assert standing["status"] == "rectifying"
    assert standing["rectification_deadline"] == "2025-03-31"


def test_an_inspection_with_outcome_ban_stores_two_events(api: Api) -> None:
    uscc = api.committed()
    body = api.ok(uscc, "inspections", {**INSPECTION, "score": 20, "outcome": "ban",
                                        "findings": "no water supply"})
    assert [e["type"] for e in body["events"]] == ["Inspected", "Banned"]
    assert body["version"] == 4 and body["position"] == body["events"][-1]["position"]


def test_rectification_ban_and_repair(api: Api) -> None:
    uscc = api.committed()
    api.ok(uscc, "inspections", {**INSPECTION, "inspected_at": "2025-01-20T10:00:00+08:00",
                                 "score": 60, "outcome": "rectify",
                                 "rectification_deadline": "2025-02-01"})
    api.ok(uscc, "rectifications", {"rectified_at": "2025-02-10T10:00:00+08:00",
                                    "verified_by": "Zhao", "note": "late"})
    api.ok(uscc, "commitments", {"committed_at": "2025-03-01T10:00:00+08:00",
                                 "signatory": "Wang Li"})
    before = api.standing(uscc, as_of="2025-05-09").json()
    (record,) = before["records"]
    assert record["kind"] == "rectification_overdue" and record["since"] == "2025-02-02"
    repaired = api.ok(uscc, "repairs", {"repaired_at": "2025-05-10T10:00:00+08:00",
                                        "record": record["id"], "approved_by": "Bureau"})
    assert repaired["events"][0]["type"] == "CreditRepaired"
    assert api.standing(uscc, as_of="2025-05-10").json()["records"] == []
    banned = api.ok(uscc, "bans", {"banned_at": "2025-06-01T10:00:00+08:00",
                                   "reason": "fraud", "decision_no": "D-1"})
    assert banned["events"][0]["type"] == "Banned"
    assert api.standing(uscc, as_of="2025-06-01").json()["status"] == "banned"


def test_if_match_with_the_current_version_writes(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    response = api.post(uscc, "commitments", {"committed_at": "2025-01-05T10:00:00+08:00",
                                              "signatory": "W"}, **{"If-Match": '"1"'})
    assert response.status_code == 201
    assert response.headers["etag"] == '"2"'


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uscc", "reason"),
    [("91350200776049653B", "checksum"), ("9135020077604965", "length"),
     ("91350200776049653!", "format"), ("I1350200776049653A", "format")],
)
def test_an_invalid_uscc_is_422_naming_the_field_and_reason(
    api: Api, uscc: str, reason: str
) -> None:
    with api.stores_nothing():
        response = api.client.post("/v1/enterprises", json=licence(uscc), headers=api.writer)
    assert response.status_code == 422
    assert problem_fields(response) == {"uscc": reason}


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"place_type": "spa"}, "place_type", "unknown"),
        ({"licensed_at": "2025-01-02T09:00:00"}, "licensed_at", "offset"),
        ({"licensed_at": "yesterday"}, "licensed_at", "format"),
        ({"licensed_at": "0001-01-01T00:00:00+14:00"}, "licensed_at", "range"),
        ({"district": "23010"}, "district", "format"),
        ({"district": "٢٣٠١٠٩"}, "district", "format"),
        ({"name": "   "}, "name", "format"),
        ({"name": "Bad\u0000Name"}, "name", "format"),
        ({"name": "x" * 201}, "name", "too_long"),
        ({"name": 7}, "name", "type"),
        ({"extra": 1}, "extra", "unexpected"),
    ],
)
def test_an_invalid_licence_field_is_422_and_stores_nothing(
    api: Api, overrides: dict[str, Any], field: str, reason: str
) -> None:
    with api.stores_nothing():
        response = api.client.post(
            "/v1/enterprises", json=licence(random_uscc(), **overrides), headers=api.writer
        )
    assert response.status_code == 422, response.text
    assert problem_fields(response)[field] == reason


def test_a_missing_field_is_422_required(api: Api) -> None:
    body = licence(random_uscc())
    del body["legal_representative"]
    response = api.client.post("/v1/enterprises", json=body, headers=api.writer)
    assert problem_fields(response) == {"legal_representative": "required"}


def test_every_invalid_field_is_named(api: Api) -> None:
    body = licence(random_uscc(), place_type="spa", district="x", licensed_at="now")
    response = api.client.post("/v1/enterprises", json=body, headers=api.writer)
    assert problem_fields(response) == {
        "place_type": "unknown", "district": "format", "licensed_at": "format"}
    errors = response.json()["errors"]
    assert all(e["in"] == "body" and e["message"] for e in errors)


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"score": 101}, "score", "range"),
        ({"score": -1}, "score", "range"),
        ({"score": "90"}, "score", "type"),
        ({"score": True}, "score", "type"),
        ({"outcome": "fine"}, "outcome", "unknown"),
        ({"outcome": "rectify"}, "rectification_deadline", "required"),
        ({"outcome": "rectify", "rectification_deadline": "2025-03-01"},
         "rectification_deadline", "not_after_inspection"),
        ({"outcome": "rectify", "rectification_deadline": "2025-02-30"},
         "rectification_deadline", "format"),
        ({"outcome": "rectify", "rectification_deadline": "9999-12-31"},
         "rectification_deadline", "range"),
        ({"inspected_at": "2025-03-01 14:00"}, "inspected_at", "offset"),
    ],
)
def test_an_invalid_inspection_is_422(
    api: Api, change: dict[str, Any], field: str, reason: str
) -> None:
    uscc = api.committed()
    with api.stores_nothing():
        response = api.post(uscc, "inspections", {**INSPECTION, **change})
    assert response.status_code == 422, response.text
    assert problem_fields(response)[field] == reason


def test_an_invalid_uscc_in_the_path_is_422_in_path(api: Api) -> None:
    response = api.post("91350200776049653B", "commitments",
                        {"committed_at": "2025-01-05T10:00:00+08:00", "signatory": "W"})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert (error["field"], error["in"], error["reason"]) == ("uscc", "path", "checksum")


def test_an_unknown_enterprise_is_404(api: Api) -> None:
    with api.stores_nothing():
        response = api.post(random_uscc(), "commitments",
                            {"committed_at": "2025-01-05T10:00:00+08:00", "signatory": "W"})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_a_second_licence_is_409_licensed_once(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    with api.stores_nothing():
        response = api.client.post("/v1/enterprises", json=licence(uscc), headers=api.writer)
    assert response.status_code == 409
    assert response.json()["rule"] == "licensed_once"


def test_a_broken_rule_is_409_with_the_rule_in_detail(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    with api.stores_nothing():
        response = api.post(uscc, "inspections", INSPECTION)
    assert response.status_code == 409
    body = response.json()
    assert body["rule"] == "inspection_needs_commitment"
    assert "inspection_needs_commitment" in body["detail"]


def test_a_write_after_a_ban_is_409(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    api.ok(uscc, "bans", {"banned_at": "2025-02-01T10:00:00+08:00", "reason": "fraud"})
    response = api.post(uscc, "commitments", {"committed_at": "2025-03-01T10:00:00+08:00",
                                              "signatory": "W"})
    assert response.status_code == 409 and response.json()["rule"] == "banned_is_terminal"


def test_a_future_event_is_409(api: Api) -> None:
    response = api.client.post(
        "/v1/enterprises", json=licence(random_uscc(), licensed_at="2026-01-02T00:00:00+08:00"),
        headers=api.writer,
    )
    assert response.status_code == 409 and response.json()["rule"] == "occurred_at_future"


def test_if_match_with_another_version_is_412(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    with api.stores_nothing():
        response = api.post(uscc, "commitments", {"committed_at": "2025-01-05T10:00:00+08:00",
                                                  "signatory": "W"}, **{"If-Match": '"7"'})
    assert response.status_code == 412
    body = response.json()
    assert (body["expected_version"], body["current_version"]) == (7, 1)
    assert response.headers["etag"] == '"1"'


def test_a_malformed_if_match_is_422(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    response = api.post(uscc, "commitments", {"committed_at": "2025-01-05T10:00:00+08:00",
                                              "signatory": "W"}, **{"If-Match": "v1"})
    assert response.status_code == 422
    assert problem_fields(response) == {"If-Match": "format"}


def test_a_body_that_is_not_json_is_422(api: Api) -> None:
    response = api.client.post(
        "/v1/enterprises", content=b"{", headers={**api.writer, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert problem_fields(response) == {"body": "format"}


def test_an_empty_body_and_a_list_body_are_422(api: Api) -> None:
    empty = api.client.post("/v1/enterprises", headers=api.writer)
    assert empty.status_code == 422
    listed = api.client.post("/v1/enterprises", json=[1, 2], headers=api.writer)
    assert listed.status_code == 422 and problem_fields(listed) == {"body": "type"}


def test_a_body_of_another_media_type_is_415(api: Api) -> None:
    response = api.client.post(
        "/v1/enterprises", content=b"uscc=1", headers={**api.writer,
                                                       "Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == PROBLEM


def test_a_body_over_a_megabyte_is_413(api: Api) -> None:
    response = api.client.post(
        "/v1/enterprises", content=b" " * 1_000_001,
        headers={**api.writer, "Content-Type": "application/json"},
    )
    assert response.status_code == 413


# -- strict values: RFC 3339 moments kept as given, the 18-character USCC (contract v2) ----------

LENIENT_FORMS = [  # each once accepted (and stored rewritten, or cut); now 422 format
    "2025-01-02T09:00:00+14:01", "2025-01-02T09:00:00-23:59", "2025-01-02T09:00:00+08:00:30",
    "2025-W01-4T09:00:00+08:00", "2025-01-02T09+08:00", "2025-01-02T09:00:00,5+08:00",
    "2025-01-02T09:00:00.1234567+08:00", "2025-01-02 09:00:00+08:00", "2025-002T09:00:00Z",
    "2025-01-02T09:00:00+0800",
]


@pytest.mark.parametrize("moment", LENIENT_FORMS)
def test_a_moment_not_in_rfc_3339_form_is_422_format_and_stores_nothing(
    api: Api, moment: str
) -> None:
    with api.stores_nothing():
        response = api.client.post(
            "/v1/enterprises", json=licence(random_uscc(), licensed_at=moment),
            headers=api.writer,
        )
    assert response.status_code == 422, response.text
    assert problem_fields(response) == {"licensed_at": "format"}


@pytest.mark.parametrize("moment", ["2025-01-05T10:00:00+14:01", "2025-01-05T10:00:00,5Z"])
def test_a_commitment_at_a_moment_not_in_rfc_3339_form_is_422_format(
    api: Api, moment: str
) -> None:
    uscc = api.license().json()["uscc"]
    with api.stores_nothing():
        response = api.post(uscc, "commitments", {"committed_at": moment, "signatory": "W"})
    assert problem_fields(response) == {"committed_at": "format"}


@pytest.mark.parametrize(
    "moment",
    ["2025-01-02T01:00:00Z", "2025-01-02T09:00:00.5+08:00", "2025-01-02T09:00:00.000000+08:00",
     "2025-01-02T15:00:00+14:00", "2025-01-01T11:00:00-14:00", "2025-01-02T01:00:00-00:00"],
)
def test_a_moment_is_stored_and_returned_as_the_regulator_gave_it(api: Api, moment: str) -> None:
    body = api.license(licensed_at=moment).json()
    assert body["events"][0]["occurred_at"] == moment
    feed = api.client.get("/v1/feed", params={"after": body["position"] - 1, "limit": 1},
                          headers=api.reader).json()
    assert feed["events"][0]["occurred_at"] == moment
    assert api.standing(body["uscc"], as_of="2025-01-02").status_code == 200


@pytest.mark.parametrize(
    ("uscc", "reason"),
    [("9135 0200 7760 4965 3A", "length"), (" 91350200776049653A", "length"),
     ("913502-0776049653A", "format")],
)
def test_a_uscc_outside_its_18_character_form_is_422(api: Api, uscc: str, reason: str) -> None:
    with api.stores_nothing():
        response = api.client.post("/v1/enterprises", json=licence(uscc), headers=api.writer)
    assert problem_fields(response) == {"uscc": reason}
