"""/dashboard and /dashboard.csv through the real app, on both stores: regulators only
(as /supervision), charts configured from the same numbers as /v1/stats, a CSV per
chart, filters, a CSP that allows only the app's own scripts, bad input as 422 pages;
labels in the pages' language (Chinese first; English by ?lang=en or the cookie)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient

from ledger.projections import stats
from ledger.services.demo import seed_city
from tests.api.test_pages import (  # noqa: F401
    BASE,
    bearer,
    client,
    make_app,
    reader,
    signin,
    writer,
)

CHARTS = ("lists", "classes", "events", "districts", "place_types")


@pytest.fixture
def city(services) -> None:
    seed_city(services, 40, seed=8, until=date(2026, 1, 1))


@pytest.fixture
def first_visit(services) -> Iterator[TestClient]:
    """A client with no ``lang`` cookie (the ``client`` fixture reads English pages)."""
    c = TestClient(make_app(services), base_url=BASE)
    yield c
    c.close()


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
    first_visit, writer, city  # noqa: F811
):
    signin(first_visit, writer, "/dashboard")
    r = first_visit.get("/dashboard")
    assert r.status_code == 200
    page = r.text
    assert "<h1>统计概览</h1>" in page  # Chinese first
    for chart in CHARTS:
        assert f'data-chart="chart-{chart}"' in page
        assert f"/dashboard.csv?chart={chart}" in page
    assert '<script src="/static/vendor/chart.umd.min.js"></script>' in page
    assert "<script>" not in page  # no inline script
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert first_visit.get("/static/vendor/chart.umd.min.js").status_code == 200


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
    rows = csv_rows(client, writer, chart="events")  # the client reads English
    assert rows[0] == ["Month", "Licences", "Commitments", "Inspections", "Rectifications",
                       "Bans", "Repairs"]
    assert len(rows) == 61
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == [
        [m[k] for k in stats.EVENTS] for m in months]
    assert [int(v) for v in csv_rows(client, writer, chart="lists")[-1][1:]] == [
        today["reward_list"], today["punishment_list"], today["enterprises"]]
    by_district = csv_rows(client, writer, chart="districts")
    assert sum(int(r[2]) for r in by_district[1:]) == today["enterprises"]
    assert f">{today['enterprises']}</b>" in page


def test_filters_narrow_every_chart(services, client, writer, city):  # noqa: F811
    with services.db.transaction() as tx:
        district = tx.value("SELECT district FROM enterprise_facts LIMIT 1")
        expected = stats.stats(tx, "2026-01-01", district=district, place_type="hotel")
    rows = csv_rows(client, writer, chart="place_types", district=district, place_type="hotel")
    assert [r[0] for r in rows[1:]] in ([], ["hotel"])
    assert sum(int(r[2]) for r in rows[1:]) == expected["enterprises"]
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


# -- the pages' language ---------------------------------------------------------------------

ZH = ("统计概览", "红黑名单（每月末）", "在册企业", "待首次核查（已到期）", "下载数据（CSV）")
EN = ("Dashboard", "Events each month", "Enterprises", "Verifications due",
      "Download the numbers (CSV)")


def main_of(page: str) -> str:
    return page.split('<main id="content">')[1].split("</main>")[0]


def labels(page: str) -> dict[str, list[str]]:
    """Each chart's category labels and series labels."""
    found = {}
    for chart in CHARTS:
        config = chart_config(page, chart)
        found[chart] = [*map(str, config["data"]["labels"]),
                        *(d["label"] for d in config["data"]["datasets"])]
    return found


def test_the_dashboard_is_in_chinese_by_default(first_visit, writer, city):  # noqa: F811
    r = first_visit.get("/dashboard", params={"district": "230102"}, headers=bearer(writer))
    assert r.status_code == 200
    page = r.text
    assert '<html lang="zh-Hans">' in page and "<title>统计概览 ·" in page
    body = main_of(page)
    for text in ZH:
        assert text in body
    for text in EN:
        assert text not in body
    assert 'lang="en"' not in body  # no English beside the Chinese any more
    assert ">区域</label>" in body and ">场所类型</label>" in body and ">筛选</button>" in body
    assert ">全部</option>" in body and 'value="230102" selected>道里区</option>' in body
    assert ">旅店</option>" in body and "Hotel" not in body
    charts = labels(page)
    assert charts["lists"][-2:] == ["红名单", "黑名单"]
    assert charts["classes"][-4:] == ["A 守信", "B 良好", "C 警示", "D 失信"]
    assert charts["events"][-6:] == ["领照", "承诺", "核查", "整改验收", "取缔", "信用修复"]
    assert charts["districts"][:1] == ["道里区"]  # filtered to one district
    assert charts["place_types"] and not any(  # place types named in Chinese only
        ch.isascii() and ch.isalpha() for name in charts["place_types"] for ch in name[1:])
    assert "/dashboard.csv?chart=lists&amp;district=230102&amp;lang=zh" in page
    assert 'href="/dashboard?district=230102&amp;lang=en"' in page  # the toggle
    assert "lang" not in r.cookies  # nothing chosen, nothing remembered


def test_lang_en_gives_english_labels_and_sets_the_cookie(first_visit, writer, city):  # noqa: F811
    r = first_visit.get("/dashboard", params={"lang": "en"}, headers=bearer(writer))
    assert r.status_code == 200
    assert "lang=en" in r.headers["set-cookie"] and first_visit.cookies.get("lang") == "en"
    page = r.text
    assert '<html lang="en">' in page and "<title>Dashboard ·" in page
    body = main_of(page)
    for text in EN:
        assert text in body
    # not one Chinese character, the charts' configurations included
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in body)
    assert ">District</label>" in body and ">Place type</label>" in body
    assert ">Apply</button>" in body and ">Hotel</option>" in body
    charts = labels(page)
    assert charts["lists"][-2:] == ["Reward list", "Punishment list"]
    assert charts["classes"][-4:] == ["A Trustworthy", "B Good", "C Warning", "D Untrustworthy"]
    assert "Licences" in charts["events"] and "Repairs" in charts["events"]
    assert any(name.endswith("District") for name in charts["districts"])
    assert "/dashboard.csv?chart=events&amp;lang=en" in page


def test_the_cookie_alone_gives_english(first_visit, writer, city):  # noqa: F811
    first_visit.cookies.set("lang", "en")
    page = first_visit.get("/dashboard", headers=bearer(writer)).text
    assert '<html lang="en">' in page and "<h1>Dashboard</h1>" in page
    assert labels(page)["lists"][-2:] == ["Reward list", "Punishment list"]
    assert "/dashboard.csv?chart=lists&amp;lang=en" in page
    rows = list(csv.reader(io.StringIO(
        first_visit.get("/dashboard.csv", params={"chart": "lists"}, headers=bearer(writer)).text)))
    assert rows[0] == ["Month", "Reward list", "Punishment list", "Enterprises"]
    # ?lang=zh overrides the cookie, and is remembered
    back = first_visit.get("/dashboard", params={"lang": "zh"}, headers=bearer(writer))
    assert "<h1>统计概览</h1>" in back.text and "lang=zh" in back.headers["set-cookie"]


HEADERS = {
    "zh": {
        "lists": ["月份", "红名单", "黑名单", "在册企业"],
        "classes": ["月份", "A 守信", "B 良好", "C 警示", "D 失信"],
        "events": ["月份", "领照", "承诺", "核查", "整改验收", "取缔", "信用修复"],
        "districts": ["区划代码", "区域", "在册企业", "A 守信", "B 良好", "C 警示", "D 失信",
                      "红名单", "黑名单"],
        "place_types": ["场所类型代码", "场所类型", "在册企业", "A 守信", "B 良好", "C 警示",
                        "D 失信", "红名单", "黑名单"],
    },
    "en": {
        "lists": ["Month", "Reward list", "Punishment list", "Enterprises"],
        "classes": ["Month", "A Trustworthy", "B Good", "C Warning", "D Untrustworthy"],
        "events": ["Month", "Licences", "Commitments", "Inspections", "Rectifications", "Bans",
                   "Repairs"],
        "districts": ["District code", "District", "Enterprises", "A Trustworthy", "B Good",
                      "C Warning", "D Untrustworthy", "Reward list", "Punishment list"],
        "place_types": ["Place type code", "Place type", "Enterprises", "A Trustworthy",
                        "B Good", "C Warning", "D Untrustworthy", "Reward list",
                        "Punishment list"],
    },
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_csv_header_is_in_the_chosen_language_and_the_numbers_are_the_apis(
    first_visit, writer, reader, city, lang  # noqa: F811
):
    api = first_visit.get("/v1/stats", headers=bearer(reader)).json()
    monthly = first_visit.get("/v1/stats/monthly", params={"from": "2021-02", "to": "2026-01"},
                              headers=bearer(reader)).json()["months"]
    params = {"lang": lang} if lang == "en" else {}  # Chinese by default
    got = {chart: csv_rows(first_visit, writer, chart=chart, **params) for chart in CHARTS}
    for chart in CHARTS:
        assert got[chart][0] == HEADERS[lang][chart], chart
    month_rows = {chart: [[r[0], *map(int, r[1:])] for r in got[chart][1:]]
                  for chart in ("lists", "classes", "events")}
    assert month_rows["lists"] == [
        [m["month"], m["reward_list"], m["punishment_list"], m["enterprises"]] for m in monthly]
    assert month_rows["classes"] == [
        [m["month"], *(m["by_class"][c] for c in stats.CLASSES)] for m in monthly]
    assert month_rows["events"] == [[m["month"], *(m[k] for k in stats.EVENTS)] for m in monthly]
    for chart, field in (("districts", "district"), ("place_types", "place_type")):
        rows = got[chart][1:]
        assert rows, chart
        for code, name, *numbers in rows:
            part = first_visit.get("/v1/stats", params={field: code},
                                   headers=bearer(reader)).json()
            assert [int(n) for n in numbers] == [
                part["enterprises"], *(part["by_class"][c] for c in stats.CLASSES),
                part["reward_list"], part["punishment_list"]], (chart, code)
            assert (name.isascii()) == (lang == "en"), name
        assert sum(int(r[2]) for r in rows) == api["enterprises"]
