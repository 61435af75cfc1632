"""Partner reads through the real ASGI app, on both stores: standings (as_of, known_at,
personal data), bulk lookups, both lists with filters and cursors, the change feed,
and the access log."""

from __future__ import annotations

from typing import Any

import pytest

from tests.apiclient import PROBLEM, Api, api_fixture, problem_fields  # noqa: F401
from tests.factories import random_uscc

STANDING_FIELDS = {
    "uscc", "name", "place_type", "district", "status", "credit_class", "hygiene_grade",
    "on_reward_list", "on_punishment_list", "records", "verification_due",
    "rectification_deadline", "version", "position", "as_of",
}


def inspect(api: Api, uscc: str, at: str, score: int = 95, **extra: Any) -> dict[str, Any]:
    return api.ok(uscc, "inspections", {"inspected_at": at, "inspector": "Zhao",
                                        "score": score, "outcome": "compliant", **extra})


def rewarded(api: Api, **licence: Any) -> str:
    """Compliant twice, 90+ and 90+ days apart: on the reward list from 2025-05-01."""
    uscc = api.license(**licence).json()["uscc"]
    api.ok(uscc, "commitments", {"committed_at": "2025-01-05T10:00:00+08:00",
                                 "signatory": "W"})
    inspect(api, uscc, "2025-01-20T10:00:00+08:00")
    inspect(api, uscc, "2025-05-01T10:00:00+08:00")
    return uscc


def banned(api: Api, **licence: Any) -> str:
    uscc = api.license(**licence).json()["uscc"]
    api.ok(uscc, "bans", {"banned_at": "2025-03-01T10:00:00+08:00", "reason": "fraud",
                          "decision_no": "D-7"})
    return uscc


# -- standing ------------------------------------------------------------------------------


def test_a_standing_has_the_documented_fields_and_an_etag(api: Api) -> None:
    uscc = api.committed()
    response = api.standing(uscc)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == STANDING_FIELDS
    assert response.headers["etag"] == '"2"'
    assert body["as_of"] == "2026-01-01"  # today in CST by the ledger's clock
    assert (body["status"], body["credit_class"], body["hygiene_grade"]) == (
        "committed", "B", None)
    assert body["verification_due"] == "2025-03-06"


def test_as_of_travels_in_time_with_no_new_event(api: Api) -> None:
    uscc = api.committed()
    api.ok(uscc, "inspections", {"inspected_at": "2025-01-20T10:00:00+08:00",
                                 "inspector": "Zhao", "score": 60, "outcome": "rectify",
                                 "rectification_deadline": "2025-02-01"})
    on_deadline = api.standing(uscc, as_of="2025-02-01").json()
    after = api.standing(uscc, as_of="2025-02-02").json()
    assert on_deadline["status"] == "rectifying" and on_deadline["records"] == []
    assert after["status"] == "overdue" and after["credit_class"] == "C"
    (record,) = after["records"]
    assert {k: record[k] for k in ("kind", "severity", "since", "until", "repairable")} == {
        "kind": "rectification_overdue", "severity": "general", "since": "2025-02-02",
        "until": "2026-02-02", "repairable": True}


def test_before_its_licence_an_enterprise_is_404(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    response = api.standing(uscc, as_of="2024-12-31")
    assert response.status_code == 404
    assert "not licensed yet" in response.json()["detail"]


def test_an_unknown_enterprise_is_404(api: Api) -> None:
    response = api.standing(random_uscc())
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    ("as_of", "reason"),
    [("2025-1-1", "format"), ("2025-02-30", "format"), ("20250101", "format"),
     ("0001-01-01", "range")],
)
def test_a_bad_as_of_is_422(api: Api, as_of: str, reason: str) -> None:
    response = api.standing("91350200776049653A", as_of=as_of)
    assert response.status_code == 422
    assert problem_fields(response) == {"as_of": reason}
    assert response.json()["errors"][0]["in"] == "query"


def test_an_invalid_uscc_is_422_with_the_reason(api: Api) -> None:
    response = api.standing("91350200776049653B")
    assert problem_fields(response) == {"uscc": "checksum"}


def test_personal_data_only_for_audit_keys(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    assert "legal_representative" not in api.standing(uscc).json()
    assert api.standing(uscc, headers=api.auditor).json()["legal_representative"] == "Wang Li"


def test_known_at_answers_what_the_ledger_knew_then(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    with api.at("2026-01-02T04:00:00+00:00"):
        api.ok(uscc, "commitments", {"committed_at": "2025-01-05T10:00:00+08:00",
                                     "signatory": "W"})
    then = api.standing(uscc, headers=api.auditor, as_of="2025-06-01",
                        known_at="2026-01-01T12:00:00+08:00")
    now = api.standing(uscc, headers=api.auditor, as_of="2025-06-01")
    assert then.status_code == 200
    assert (then.json()["status"], then.json()["version"]) == ("licensed", 1)
    assert then.json()["known_at"] == "2026-01-01T12:00:00+08:00"
    assert then.json()["legal_representative"] == "Wang Li"
    assert (now.json()["status"], now.json()["version"]) == ("committed", 2)


def test_known_at_before_anything_was_recorded_is_404(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    response = api.standing(uscc, headers=api.auditor, known_at="2025-01-01T00:00:00+08:00")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("known_at", "reason"),
    [("2026-01-01T12:00:00", "offset"), ("noon", "format")],
)
def test_a_bad_known_at_is_422(api: Api, known_at: str, reason: str) -> None:
    uscc = api.license().json()["uscc"]
    response = api.standing(uscc, headers=api.auditor, known_at=known_at)
    assert problem_fields(response) == {"known_at": reason}


# -- bulk lookup ---------------------------------------------------------------------------


def test_a_lookup_sorts_results_not_found_and_invalid_as_sent(api: Api) -> None:
    known = api.license().json()["uscc"]
    unknown = random_uscc()
    sent = [known.lower(), unknown, "nope", known, "91350200776049653B"]
    response = api.client.post("/v1/standings:lookup", json={"usccs": sent},
                               headers=api.reader)
    assert response.status_code == 200
    body = response.json()
    assert [s["uscc"] for s in body["results"]] == [known]
    assert set(body["results"][0]) == STANDING_FIELDS
    assert body["not_found"] == [unknown]
    assert body["invalid"] == ["nope", "91350200776049653B"]


def test_a_lookup_honours_as_of_and_personal_data(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    early = api.client.post("/v1/standings:lookup?as_of=2024-01-01", json={"usccs": [uscc]},
                            headers=api.auditor).json()
    assert early["results"] == [] and early["not_found"] == [uscc]
    now = api.client.post("/v1/standings:lookup", json={"usccs": [uscc]},
                          headers=api.auditor).json()
    assert now["results"][0]["legal_representative"] == "Wang Li"


def test_a_lookup_of_1000_is_allowed_and_of_1001_is_422(api: Api) -> None:
    codes = [random_uscc() for _ in range(1000)]
    ok = api.client.post("/v1/standings:lookup", json={"usccs": codes}, headers=api.reader)
    assert ok.status_code == 200 and len(ok.json()["not_found"]) == 1000
    over = api.client.post("/v1/standings:lookup", json={"usccs": [*codes, random_uscc()]},
                           headers=api.reader)
    assert over.status_code == 422
    assert problem_fields(over) == {"usccs": "too_long"}


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [({"usccs": [1]}, "usccs[0]", "type"), ({}, "usccs", "required"),
     ({"usccs": "91350200776049653A"}, "usccs", "type"), ({"usccs": [], "x": 1}, "x",
                                                          "unexpected")],
)
def test_a_malformed_lookup_is_422(api: Api, body: Any, field: str, reason: str) -> None:
    response = api.client.post("/v1/standings:lookup", json=body, headers=api.reader)
    assert response.status_code == 422
    assert problem_fields(response) == {field: reason}


def test_an_empty_lookup_is_empty(api: Api) -> None:
    response = api.client.post("/v1/standings:lookup", json={"usccs": []}, headers=api.reader)
    assert response.json() == {"results": [], "not_found": [], "invalid": []}


# -- lists ---------------------------------------------------------------------------------


def list_all(api: Api, which: str, **params: Any) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = api.client.get(f"/v1/lists/{which}", params=query, headers=api.reader)
        assert page.status_code == 200, page.text
        items.extend(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def test_the_punishment_list_shows_bans_with_their_record(api: Api) -> None:
    uscc = banned(api, district="230102")
    items = list_all(api, "punishment", as_of="2025-03-01", district="230102")
    (item,) = [i for i in items if i["uscc"] == uscc]
    assert item == {"uscc": uscc, "name": "Songbei Riverside Barbershop",
                    "place_type": "barbershop", "district": "230102", "kind": "banned",
                    "since": "2025-03-01", "until": "2028-03-01", "reason": "fraud",
                    "decision_no": "D-7"}
    assert uscc not in [i["uscc"] for i in list_all(api, "punishment", as_of="2025-02-28")]


def test_the_reward_list_shows_the_day_each_qualified(api: Api) -> None:
    uscc = rewarded(api, district="230103")
    items = list_all(api, "reward", as_of="2025-05-01", district="230103")
    assert {"uscc": uscc, "name": "Songbei Riverside Barbershop", "place_type": "barbershop",
            "district": "230103", "since": "2025-05-01"} in items
    assert uscc not in [i["uscc"] for i in list_all(api, "reward", as_of="2025-04-30")]


def test_lists_filter_by_place_type_and_district(api: Api) -> None:
    hotel = banned(api, place_type="hotel", district="230104")
    salon = banned(api, place_type="beauty_salon", district="230104")
    elsewhere = banned(api, place_type="hotel", district="230105")
    hotels = {i["uscc"] for i in list_all(api, "punishment", place_type="hotel",
                                          district="230104", as_of="2025-06-01")}
    assert hotel in hotels and salon not in hotels and elsewhere not in hotels


def test_lists_page_with_a_cursor_in_uscc_order(api: Api) -> None:
    mine = sorted(banned(api, district="230106") for _ in range(5))
    pages, cursor = [], None
    while True:
        params = {"district": "230106", "limit": 2, "as_of": "2025-06-01"}
        if cursor:
            params["cursor"] = cursor
        body = api.client.get("/v1/lists/punishment", params=params, headers=api.reader).json()
        pages.append([i["uscc"] for i in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [mine[0:2], mine[2:4], mine[4:5]]


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [({"limit": 0}, "limit", "range"), ({"limit": 1001}, "limit", "range"),
     ({"limit": "ten"}, "limit", "format"), ({"place_type": "spa"}, "place_type", "unknown"),
     ({"district": "23"}, "district", "format"), ({"cursor": "%%%"}, "cursor", "format"),
     ({"as_of": "tomorrow"}, "as_of", "format")],
)
@pytest.mark.parametrize("which", ["punishment", "reward"])
def test_bad_list_parameters_are_422(
    api: Api, which: str, params: dict[str, Any], field: str, reason: str
) -> None:
    response = api.client.get(f"/v1/lists/{which}", params=params, headers=api.reader)
    assert response.status_code == 422
    assert problem_fields(response) == {field: reason}


# -- the change feed -----------------------------------------------------------------------


def test_the_feed_gives_events_in_log_order_and_resumes(api: Api) -> None:
    start = api.head()
    uscc = api.committed()
    page = api.client.get("/v1/feed", params={"after": start, "limit": 1},
                          headers=api.reader).json()
    (first,) = page["events"]
    assert (first["position"], first["type"], first["uscc"]) == (start + 1, "Licensed", uscc)
    assert set(first) == {"position", "uscc", "type", "version", "occurred_at",
                          "recorded_at", "data"}
    assert page["next_after"] == start + 1
    rest = api.client.get("/v1/feed", params={"after": page["next_after"]},
                          headers=api.reader).json()
    assert [e["type"] for e in rest["events"]] == ["Committed"]
    assert rest["next_after"] is None
    end = api.client.get("/v1/feed", params={"after": start + 2}, headers=api.reader).json()
    assert end == {"events": [], "next_after": None}


def test_the_feed_shows_personal_fields_only_as_commitments(api: Api) -> None:
    start = api.head()
    api.license()
    partner = api.client.get("/v1/feed", params={"after": start}, headers=api.reader)
    auditor = api.client.get("/v1/feed", params={"after": start}, headers=api.auditor).json()
    assert "Wang Li" not in partner.text
    sealed = partner.json()["events"][0]["data"]["legal_representative"]
    assert sealed.startswith("sha256:") and len(sealed) == 71
    assert auditor["events"][0]["data"]["legal_representative"] == sealed  # as stored


@pytest.mark.parametrize(
    ("params", "field"),
    [({"after": -1}, "after"), ({"after": 2**63}, "after"), ({"limit": 0}, "limit"),
     ({"after": "x"}, "after")],
)
def test_bad_feed_parameters_are_422(api: Api, params: dict[str, Any], field: str) -> None:
    response = api.client.get("/v1/feed", params=params, headers=api.reader)
    assert response.status_code == 422
    assert set(problem_fields(response)) == {field}


# -- the access log ------------------------------------------------------------------------


def test_partner_reads_are_in_the_access_log(api: Api) -> None:
    reader = api.key("bank", "credit:read")
    uscc = api.license().json()["uscc"]
    api.standing(uscc, headers=reader)
    api.client.post("/v1/standings:lookup", json={"usccs": [uscc, "x"]}, headers=reader)
    api.client.get("/v1/lists/reward", params={"limit": 5}, headers=reader)
    api.client.get("/v1/feed", headers=reader)
    api.standing(random_uscc(), headers=reader)  # a 404 is a read too
    body = api.client.get("/v1/audit/access-log", params={"key": api.names["bank"]},
                          headers=api.auditor).json()
    seen = [(e["method"], e["route"], e["status"], e["subjects"]) for e in body["items"]]
    assert seen[:4] == [
        ("GET", "/v1/enterprises/{uscc}/standing", 200, [uscc]),
        ("POST", "/v1/standings:lookup", 200, [uscc]),
        ("GET", "/v1/lists/reward", 200, []),
        ("GET", "/v1/feed", 200, []),
    ]
    assert seen[4][2] == 404
    assert body["items"][2]["target"] == "/v1/lists/reward?limit=5"
    assert all(e["key"] == api.names["bank"] and e["at"].endswith("+00:00")
               for e in body["items"])


def test_writes_and_refused_requests_are_not_partner_reads(api: Api) -> None:
    writer = api.key("clerk", "ledger:write")
    api.client.post("/v1/enterprises", json={}, headers=writer)
    api.client.get("/v1/feed", headers=writer)  # 403
    body = api.client.get("/v1/audit/access-log", params={"key": api.names["clerk"]},
                          headers=api.auditor).json()
    assert body["items"] == []


def test_the_access_log_filters_by_enterprise_and_time_and_pages(api: Api) -> None:
    reader = api.key("tax", "credit:read")
    first, second = api.license().json()["uscc"], api.license().json()["uscc"]
    for uscc in (first, second, first):
        api.standing(uscc, headers=reader)
    by_uscc = api.client.get("/v1/audit/access-log", params={"uscc": first},
                             headers=api.auditor).json()["items"]
    assert [e["subjects"] for e in by_uscc] == [[first], [first]]
    params = {"key": api.names["tax"], "limit": 2}
    page = api.client.get("/v1/audit/access-log", params=params, headers=api.auditor).json()
    assert len(page["items"]) == 2 and page["next_cursor"] is not None
    rest = api.client.get("/v1/audit/access-log", params={**params, "cursor": page["next_cursor"]},
                          headers=api.auditor).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    at = page["items"][1]["at"]
    since = api.client.get("/v1/audit/access-log", params={"key": api.names["tax"],
                                                           "since": at},
                           headers=api.auditor).json()["items"]
    assert [e["id"] for e in since] == [page["items"][1]["id"], rest["items"][0]["id"]]
    until = api.client.get("/v1/audit/access-log", params={"key": api.names["tax"],
                                                           "until": at},
                           headers=api.auditor).json()["items"]
    assert [e["id"] for e in until] == [page["items"][0]["id"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"since": "yesterday"}, "since"), ({"until": "2026-01-01T00:00:00"}, "until"),
     ({"uscc": "123"}, "uscc"), ({"cursor": "abc"}, "cursor"), ({"limit": 5000}, "limit")],
)
def test_bad_access_log_parameters_are_422(
    api: Api, params: dict[str, Any], field: str
) -> None:
    response = api.client.get("/v1/audit/access-log", params=params, headers=api.auditor)
    assert response.status_code == 422
    assert set(problem_fields(response)) == {field}


@pytest.mark.parametrize(
    "known_at",
    ["2026-01-01T12:00:00+14:01", "2026-01-01T12:00:00+08:00:30", "2026-W01-4T12:00:00+08:00",
     "2026-01-01T12+08:00", "2026-01-01T12:00:00,5+08:00", "2026-01-01T12:00:00.1234567Z"],
)
def test_known_at_not_in_rfc_3339_form_is_422_format(api: Api, known_at: str) -> None:
    uscc = api.license().json()["uscc"]
    response = api.standing(uscc, headers=api.auditor, known_at=known_at)
    assert response.status_code == 422
    assert problem_fields(response) == {"known_at": "format"}


def test_known_at_takes_z_and_offsets_to_14_hours(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    for known_at in ("2026-01-01T04:00:00Z", "2026-01-01T18:00:00+14:00"):
        response = api.standing(uscc, headers=api.auditor, known_at=known_at)
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 1


@pytest.mark.parametrize(("uscc", "reason"), [("91350200776049653b", "checksum"),
                                               ("9135-0200776049653A", "length")])
def test_the_path_uscc_is_its_18_character_form(api: Api, uscc: str, reason: str) -> None:
    response = api.standing(uscc)
    assert response.status_code == 422
    assert problem_fields(response) == {"uscc": reason}
