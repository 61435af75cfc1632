"""GET /v1/stats and /v1/stats/monthly through the real app, on both stores: the
figures agree with what the list endpoints serve, the monthly series counts the events
written, bad input is 422 naming the field, and the scope is credit:read."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_api_reads import banned, list_all, rewarded
from tests.apiclient import Api, api_fixture, problem_fields  # noqa: F401

DISTRICT = "230111"  # only this module's enterprises are here


def get(api: Api, path: str, **params: Any) -> dict[str, Any]:
    response = api.client.get(path, params=params, headers=api.reader)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_stats_count_what_the_lists_serve(api: Api) -> None:
    banned(api, district=DISTRICT, place_type="hotel")
    banned(api, district=DISTRICT)
    rewarded(api, district=DISTRICT)
    api.committed()
    for as_of in ("2025-02-28", "2025-03-01", "2025-05-01", "2025-12-31"):
        for filters in ({}, {"district": DISTRICT}, {"district": DISTRICT, "place_type": "hotel"},
                        {"place_type": "barbershop"}):
            body = get(api, "/v1/stats", as_of=as_of, **filters)
            assert body["as_of"] == as_of
            assert body["punishment_list"] == len(
                list_all(api, "punishment", as_of=as_of, **filters)) == body["by_class"]["D"]
            assert body["reward_list"] == len(
                list_all(api, "reward", as_of=as_of, **filters)) == body["by_class"]["A"]
            assert sum(body["by_class"].values()) == body["enterprises"]
            assert sum(body["by_status"].values()) == body["enterprises"]
    mine = get(api, "/v1/stats", as_of="2025-05-01", district=DISTRICT)
    assert (mine["enterprises"], mine["punishment_list"], mine["reward_list"]) == (3, 2, 1)
    assert mine["by_status"]["banned"] == 2
    assert set(mine) == {"as_of", "enterprises", "by_status", "by_class", "reward_list",
                         "punishment_list", "verification_due", "rectification_overdue"}


def test_verifications_due_and_rectifications_overdue(api: Api) -> None:
    district = "230112"
    uscc = api.committed(None, "2025-01-05T10:00:00+08:00")
    api.client.post(f"/v1/enterprises/{uscc}/inspections", headers=api.writer, json={
        "inspected_at": "2025-03-20T10:00:00+08:00", "inspector": "Z", "score": 60,
        "outcome": "rectify", "rectification_deadline": "2025-04-20"})
    other = api.license(district=district).json()["uscc"]
    api.ok(other, "commitments", {"committed_at": "2025-01-05T10:00:00+08:00",
                                  "signatory": "W"})
    due = get(api, "/v1/stats", as_of="2025-03-05", district=district)["verification_due"]
    assert due == 0
    assert get(api, "/v1/stats", as_of="2025-03-06", district=district)["verification_due"] == 1
    overdue = get(api, "/v1/stats", as_of="2025-04-21", district="230109")
    on_deadline = get(api, "/v1/stats", as_of="2025-04-20", district="230109")
    assert overdue["rectification_overdue"] == on_deadline["rectification_overdue"] + 1
    assert overdue["rectification_overdue"] == overdue["by_status"]["overdue"]


def test_the_monthly_series_counts_events_by_the_month_they_occurred(api: Api) -> None:
    district = "230113"
    uscc = api.license(district=district, licensed_at="2025-01-31T23:30:00+08:00").json()["uscc"]
    api.ok(uscc, "commitments", {"committed_at": "2025-02-01T00:10:00+08:00", "signatory": "W"})
    api.ok(uscc, "bans", {"banned_at": "2025-03-02T10:00:00+08:00", "reason": "x"})
    body = get(api, "/v1/stats/monthly", district=district, to="2025-04", **{"from": "2025-01"})
    months = {m["month"]: m for m in body["months"]}
    assert list(months) == ["2025-01", "2025-02", "2025-03", "2025-04"]
    assert months["2025-01"]["licences"] == 1 and months["2025-01"]["commitments"] == 0
    assert months["2025-02"]["commitments"] == 1
    assert months["2025-03"]["bans"] == 1 and months["2025-03"]["punishment_list"] == 1
    assert months["2025-02"]["punishment_list"] == 0
    assert months["2025-04"]["by_class"] == {"A": 0, "B": 0, "C": 0, "D": 1}
    assert set(months["2025-04"]) == {
        "month", "enterprises", "by_class", "reward_list", "punishment_list", "licences",
        "commitments", "inspections", "rectifications", "bans", "repairs"}


def test_the_monthly_series_defaults_to_the_last_twelve_months(api: Api) -> None:
    months = get(api, "/v1/stats/monthly")["months"]
    assert [m["month"] for m in months][::11] == ["2025-02", "2026-01"]  # today: 2026-01-01


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/stats", {"as_of": "2025-02-30"}, "as_of"),
        ("/v1/stats", {"as_of": "20250101"}, "as_of"),
        ("/v1/stats", {"district": "23010"}, "district"),
        ("/v1/stats", {"place_type": "sauna"}, "place_type"),
        ("/v1/stats/monthly", {"from": "2025-1"}, "from"),
        ("/v1/stats/monthly", {"from": "2025-13", "to": "2025-12"}, "from"),
        ("/v1/stats/monthly", {"to": "2025/12"}, "to"),
        ("/v1/stats/monthly", {"from": "2025-06", "to": "2025-05"}, "from"),
        ("/v1/stats/monthly", {"from": "2000-01", "to": "2020-12"}, "to"),
        ("/v1/stats/monthly", {"district": "x"}, "district"),
    ],
)
def test_bad_input_is_422_naming_the_field(api: Api, path: str, params: dict[str, str],
                                           field: str) -> None:
    response = api.client.get(path, params=params, headers=api.reader)
    assert response.status_code == 422, response.text
    assert field in problem_fields(response)


@pytest.mark.parametrize("path", ["/v1/stats", "/v1/stats/monthly"])
def test_stats_need_a_credit_read_key(api: Api, path: str) -> None:
    assert api.client.get(path).status_code == 401
    assert api.client.get(path, headers=api.writer).status_code == 403
    assert api.client.get(path, headers=api.auditor).status_code == 200
