"""Analysts' views through the API's store, on SQLite and PostgreSQL: a comparison's
counts match the lists the API serves, /analysis shows it with a chart, and the
Parquet export round-trips (read back with pyarrow and DuckDB) to the API's answers."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.projections import compare
from ledger.services.demo import seed_city
from ledger.services.parquet import export_parquet
from tests.apiclient import Api, api_fixture  # noqa: F401

AS_OF = "2025-12-01"


@pytest.fixture(scope="module")
def city(api: Api) -> Api:
    seed_city(api.services, 120, seed=5)
    return api


def list_all(api: Api, which: str, as_of: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"as_of": as_of, "limit": 1000, **({"cursor": cursor} if cursor else {})}
        r = api.client.get(f"/v1/lists/{which}", params=params, headers=api.reader)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


def test_the_parquet_files_round_trip_to_the_apis_answers(city: Api, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    done = export_parquet(city.services.db, city.services.log, tmp_path, AS_OF)
    events = pq.read_table(tmp_path / "events.parquet").to_pylist()
    feed, after = [], 0
    while True:
        r = city.client.get("/v1/feed", params={"after": after, "limit": 1000},
                            headers=city.reader).json()
        feed += r["events"]
        if r["next_after"] is None:
            break
        after = r["next_after"]
    assert done.events == len(events) == len(feed) > 300
    for row, doc in zip(events, feed, strict=True):
        assert (row["position"], row["uscc"], row["type"], row["version"]) == (
            doc["position"], doc["uscc"], doc["type"], doc["version"])
        assert row["occurred_at"] == datetime.fromisoformat(doc["occurred_at"])
        assert row["recorded_at"] == datetime.fromisoformat(doc["recorded_at"])
        assert json.loads(row["data"]) == doc["data"]

    standings = pq.read_table(tmp_path / "standings.parquet").to_pylist()
    assert len(standings) == done.standings > 100  # those licensed by then
    r = city.client.post("/v1/standings:lookup", params={"as_of": AS_OF}, headers=city.reader,
                         json={"usccs": [s["uscc"] for s in standings]})
    served = {s["uscc"]: s for s in r.json()["results"]}
    for row in standings:
        doc = served[row["uscc"]]
        for key, value in row.items():
            if key == "records":
                value = [{k: v.isoformat() if hasattr(v, "isoformat") else v
                          for k, v in rec.items()} for rec in value]
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            assert value == doc[key], (row["uscc"], key)

    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    segments = str(tmp_path / "segments.parquet")
    (count,) = con.execute(f"SELECT COUNT(*) FROM '{segments}'").fetchone()
    with city.services.db.transaction() as tx:
        assert count == done.segments == tx.value(
            "SELECT COUNT(*) FROM standing_segments WHERE set_id = "
            "(SELECT id FROM projection_sets WHERE state = 'live')")
    # the segment covering the day gives each enterprise's standing of that day
    by_class = dict(con.execute(
        f"SELECT credit_class, COUNT(*) FROM '{segments}' "
        f"WHERE valid_from <= DATE '{AS_OF}' AND valid_until > DATE '{AS_OF}' GROUP BY 1"
    ).fetchall())
    expected: dict[str, int] = {}
    for row in standings:
        expected[row["credit_class"]] = expected.get(row["credit_class"], 0) + 1
    assert by_class == expected
    (reward,) = con.execute(
        f"SELECT COUNT(*) FROM '{tmp_path / 'standings.parquet'}' WHERE on_reward_list"
    ).fetchone()
    assert reward == len(list_all(city, "reward", AS_OF))


def test_a_comparisons_counts_match_the_lists_the_api_serves(city: Api) -> None:
    s = city.services
    v2 = s.projections.rebuild("v2", swap=False)
    found = compare.compare_sets(s.db, "live", v2, AS_OF)
    a = found["totals"]["a"]
    reward, punishment = list_all(city, "reward", AS_OF), list_all(city, "punishment", AS_OF)
    assert a["reward_list"] == len(reward) > 0
    assert a["punishment_list"] == len(punishment) > 0
    for district, group in found["by_district"].items():
        assert group["a"]["reward_list"] == sum(i["district"] == district for i in reward)
    assert found["moved"], "v2's stricter reward list moves some enterprises"

    page = city.client.get("/analysis", params={"b": v2, "as_of": AS_OF}, headers=city.writer)
    assert page.status_code == 200, page.text
    assert 'data-chart="chart-totals"' in page.text
    assert "/static/vendor/chart.umd.min.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert found["moved"][0]["uscc"] in page.text
    csv_text = city.client.get("/analysis.csv", params={"b": v2, "as_of": AS_OF},
                               headers=city.writer).text
    assert len(csv_text.splitlines()) == 1 + len(found["moved"])

    # once B is live, the API serves B's lists: the counts match them too
    s.projections.swap(v2)
    b = found["totals"]["b"]
    assert b["reward_list"] == len(list_all(city, "reward", AS_OF))
    assert b["punishment_list"] == len(list_all(city, "punishment", AS_OF))


def test_the_analysis_page_is_for_regulators(city: Api) -> None:
    r = city.client.get("/analysis", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    r = city.client.get("/analysis", headers=city.reader)
    assert r.status_code == 403
    r = city.client.get("/analysis", params={"b": "nope"}, headers=city.writer)
    assert r.status_code == 422
