"""/dashboard and /dashboard.csv through the real app, on both stores: regulators only
(as /supervision), charts configured from the same numbers as /v1/stats, a CSV per
chart, filters, a CSP that allows only the app's own scripts, bad input as 422 pages."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date

import pytest

from ledger.projections import stats
from ledger.services.demo import seed_city
from tests.api.test_pages import bearer, client, reader, signin, writer  # noqa: F401

CHARTS = ("lists", "classes", "events", "districts", "place_types")


@pytest.fixture
def city(services) -> None:
    seed_city(services, 40, seed=8, until=date(2026, 1, 1))


def chart_config(page: str, chart: str) -> dict:
    found = re.search(
        rf'<script type="application/json" id="chart-{chart}">(.*?)</script>', page, re.S
    )
    assert found, chart
    return json.loads(found.group(1))


def csv_rows(client, writer, **params) -> list[list[str]]:  # noqa: F811
    r = client.get("/dashboard.csv", params=params, headers=bearer(writer))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    return list(csv.reader(io.StringIO(r.text)))


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard.csv?chart=lists"])
def test_the_dashboard_is_for_regulators(client, reader, path):  # noqa: F811
    r = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=%2Fdashboard")
    assert client.get(path, headers={"Accept": "application/json"}).status_code == 401
    assert client.get(path, headers=bearer(reader)).status_code == 403


def test_a_signed_in_regulator_sees_five_charts_drawn_by_the_apps_own_scripts(
    client, writer, city  # noqa: F811
):
    signin(client, writer, "/dashboard")
    r = client.get("/dashboard")
    assert r.status_code == 200
    page = r.text
    assert "统计概览" in page and "Dashboard" in page
    assert page.index("统计概览") < page.index("Dashboard</span>")  # Chinese first
    for chart in CHARTS:
        assert f'data-chart="chart-{chart}"' in page
        assert f"/dashboard.csv?chart={chart}" in page
    assert '<script src="/static/vendor/chart.umd.min.js"></script>' in page
    assert "<script>" not in page  # no inline script
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert client.get("/static/vendor/chart.umd.min.js").status_code == 200


def test_the_charts_and_the_csv_show_the_numbers_of_the_api(services, client, writer, city):  # noqa: F811
    page = client.get("/dashboard", headers=bearer(writer)).text
    with services.db.transaction() as tx:
        months = stats.monthly(tx, "2021-02", "2026-01")
        today = stats.stats(tx, "2026-01-01")
    lists = chart_config(page, "lists")
    assert lists["data"]["labels"] == [m["month"] for m in months]
    assert lists["data"]["datasets"][1]["data"] == [m["punishment_list"] for m in months]
    classes = chart_config(page, "classes")
    assert [d["data"][-1] for d in classes["data"]["datasets"]] == list(
        today["by_class"].values())
    rows = csv_rows(client, writer, chart="events")
    assert rows[0] == ["month", *stats.EVENTS]
    assert len(rows) == 61
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == [
        [m[k] for k in stats.EVENTS] for m in months]
    assert [int(v) for v in csv_rows(client, writer, chart="lists")[-1][1:]] == [
        today["reward_list"], today["punishment_list"], today["enterprises"]]
    by_district = csv_rows(client, writer, chart="districts")
    assert sum(int(r[1]) for r in by_district[1:]) == today["enterprises"]
    assert f">{today['enterprises']}</b>" in page


def test_filters_narrow_every_chart(services, client, writer, city):  # noqa: F811
    with services.db.transaction() as tx:
        district = tx.value("SELECT district FROM enterprise_facts LIMIT 1")
        expected = stats.stats(tx, "2026-01-01", district=district, place_type="hotel")
    rows = csv_rows(client, writer, chart="place_types", district=district, place_type="hotel")
    assert [r[0] for r in rows[1:]] in ([], ["hotel"])
    assert sum(int(r[1]) for r in rows[1:]) == expected["enterprises"]
    page = client.get("/dashboard", params={"district": district, "place_type": "hotel"},
                      headers=bearer(writer)).text
    assert f'value="{district}" selected' in page
    assert f"/dashboard.csv?chart=lists&amp;district={district}&amp;place_type=hotel" in page


@pytest.mark.parametrize(
    "params", [{"district": "12"}, {"place_type": "sauna"}, {"chart": "pie"}, {}],
)
def test_bad_input_is_a_422_page(client, writer, params):  # noqa: F811
    path = "/dashboard.csv" if "chart" in params or not params else "/dashboard"
    r = client.get(path, params=params, headers=bearer(writer))
    assert r.status_code == 422
