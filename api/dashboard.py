"""The regulators' dashboard: ``/dashboard`` draws the statistics as charts (lists over
time, class mix, events per month, the split by district and by place type) with
filters, and ``/dashboard.csv?chart=`` gives each chart's numbers. Signed in as for
``/supervision``. The numbers come from the same query functions as ``/v1/stats``;
the charts are drawn by the vendored Chart.js through /static/charts.js (no inline
script: each chart's configuration is a JSON block)."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.pages import (
    CSP,
    PageRoute,
    district_param,
    page_services,
    place_type_param,
    query_string,
    regulator,
    regulator_context,
    render,
)
from ledger.errors import InvalidInput
from ledger.projections import stats
from ledger.services.letters import DISTRICTS, PLACE_TYPE_LABELS

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["pages"])

# Chart.js is served by the app; this page alone runs scripts, and only from /static.
CHART_CSP = CSP.replace("script-src ", "script-src 'self' ")
MONTHS = 60  # the series shows five years up to this month

Label = tuple[str, str]
LABELS: dict[str, Label] = {
    "title": ("统计概览", "Dashboard"),
    "lead": ("全市“四小”场所信用状况：名单与信用等级随时间的变化、每月监管事项，"
             "以及按区域和场所类型的当前分布。",
             "The city's \"four small\" places at a glance: the lists and credit classes over "
             "time, the regulators' work each month, and today's split by district and place "
             "type."),
    "enterprises": ("在册企业", "Enterprises"),
    "reward_list": ("红名单", "Reward list"),
    "punishment_list": ("黑名单", "Punishment list"),
    "verification_due": ("待首次核查（已到期）", "Verifications due"),
    "rectification_overdue": ("逾期未整改", "Rectifications overdue"),
    "lists": ("红黑名单（每月末）", "The lists at each month's end"),
    "classes": ("信用等级构成（每月末）", "Credit classes at each month's end"),
    "events": ("每月监管事项", "Events each month"),
    "districts": ("按区域（今日）", "By district (today)"),
    "place_types": ("按场所类型（今日）", "By place type (today)"),
    "csv": ("下载数据（CSV）", "Download the numbers (CSV)"),
    "as_of": ("截至", "As of"),
    "months": ("月份范围", "Months"),
}
CLASS_NAMES: dict[str, Label] = {
    "A": ("A 守信", "A trustworthy"), "B": ("B 良好", "B good"),
    "C": ("C 警示", "C warning"), "D": ("D 失信", "D untrustworthy"),
}
EVENT_NAMES: dict[str, Label] = {
    "licences": ("领照", "Licences"), "commitments": ("承诺", "Commitments"),
    "inspections": ("核查", "Inspections"), "rectifications": ("整改验收", "Rectifications"),
    "bans": ("取缔", "Bans"), "repairs": ("信用修复", "Repairs"),
}
COLOURS = {
    "A": "#b42318", "B": "#2f6f3e", "C": "#9a6700", "D": "#24292f",
    "reward_list": "#b42318", "punishment_list": "#24292f",
    "licences": "#0b57d0", "commitments": "#8250df", "inspections": "#1a7f37",
    "rectifications": "#9a6700", "bans": "#24292f", "repairs": "#bf3989",
}
CHARTS = ("lists", "classes", "events", "districts", "place_types")


def both(pair: Label) -> str:
    return f"{pair[0]} {pair[1]}"


def month_before(month: str, n: int) -> str:
    index = int(month[:4]) * 12 + int(month[5:]) - 1 - n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def figures(request: Request) -> dict[str, Any]:
    """Everything the page and the CSV show, from the statistics' query functions."""
    ps = page_services(request)
    params = request.query_params
    district = district_param(params.get("district"))
    place_type = place_type_param(params.get("place_type"))
    today = ps.today()
    last = today[:7]
    first = month_before(last, MONTHS - 1)
    reads = ps.services.reads
    now = reads.stats(today, district, place_type)
    months = reads.monthly(first, last, district, place_type)
    by_district = reads.stats_split(today, "district", district, place_type)
    by_type = reads.stats_split(today, "place_type", district, place_type)
    return {
        "today": today, "district": district, "place_type": place_type, "now": now,
        "months": months, "by_district": by_district, "by_type": by_type,
    }


def table(figs: dict[str, Any], chart: str) -> tuple[list[str], list[list[Any]]]:
    """A chart's numbers as a header and rows (the CSV, and the data behind the chart)."""
    months = figs["months"]
    if chart == "lists":
        return (["month", "reward_list", "punishment_list", "enterprises"],
                [[m["month"], m["reward_list"], m["punishment_list"], m["enterprises"]]
                 for m in months])
    if chart == "classes":
        return (["month", *stats.CLASSES],
                [[m["month"], *(m["by_class"][c] for c in stats.CLASSES)] for m in months])
    if chart == "events":
        return (["month", *stats.EVENTS],
                [[m["month"], *(m[k] for k in stats.EVENTS)] for m in months])
    if chart in ("districts", "place_types"):
        key = "district" if chart == "districts" else "place_type"
        split = figs["by_district"] if chart == "districts" else figs["by_type"]
        return ([key, "enterprises", *stats.CLASSES, "reward_list", "punishment_list"],
                [[k, v["enterprises"], *(v["by_class"][c] for c in stats.CLASSES),
                  v["reward_list"], v["punishment_list"]] for k, v in split.items()])
    raise InvalidInput("chart", "unknown", f"chart: one of {', '.join(CHARTS)}")


def name_of(chart: str, key: str) -> str:
    if chart == "districts":
        return both(DISTRICTS.get(key, (key, key)))
    return both(PLACE_TYPE_LABELS.get(key, (key, key)))


def chart_configs(figs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Chart.js configurations (plain JSON) of the five charts."""
    months = [m["month"] for m in figs["months"]]
    stacked = {"x": {"stacked": True}, "y": {"stacked": True, "beginAtZero": True}}

    def series(values: list[Any], key: str, label: Label, **extra: Any) -> dict[str, Any]:
        return {"label": both(label), "data": values, "backgroundColor": COLOURS[key],
                "borderColor": COLOURS[key], **extra}

    configs: dict[str, dict[str, Any]] = {
        "lists": {
            "type": "line",
            "data": {"labels": months, "datasets": [
                series([m[k] for m in figs["months"]], k, LABELS[k], pointRadius=0, tension=0.2)
                for k in ("reward_list", "punishment_list")
            ]},
            "options": {"scales": {"y": {"beginAtZero": True}}},
        },
        "classes": {
            "type": "bar",
            "data": {"labels": months, "datasets": [
                series([m["by_class"][c] for m in figs["months"]], c, CLASS_NAMES[c])
                for c in stats.CLASSES
            ]},
            "options": {"scales": stacked},
        },
        "events": {
            "type": "bar",
            "data": {"labels": months, "datasets": [
                series([m[k] for m in figs["months"]], k, EVENT_NAMES[k])
                for k in stats.EVENTS
            ]},
            "options": {"scales": stacked},
        },
    }
    for chart, split in (("districts", figs["by_district"]), ("place_types", figs["by_type"])):
        configs[chart] = {
            "type": "bar",
            "data": {"labels": [name_of(chart, k) for k in split], "datasets": [
                series([v["by_class"][c] for v in split.values()], c, CLASS_NAMES[c])
                for c in stats.CLASSES
            ]},
            "options": {"indexAxis": "y", "scales": {
                "x": {"stacked": True, "beginAtZero": True}, "y": {"stacked": True}}},
        }
    for config in configs.values():  # compact legends: several series fit a phone's width
        config["options"]["plugins"] = {"legend": {"labels": {"boxWidth": 12, "padding": 8}}}
    return configs


@router.get("/dashboard", name="dashboard")
def dashboard(request: Request) -> Response:
    ps = page_services(request)
    who = regulator(request, ps)
    figs = figures(request)
    filters = {"district": figs["district"], "place_type": figs["place_type"]}
    csv_links = {c: f"/dashboard.csv?{query_string(chart=c, **filters)}" for c in CHARTS}
    return render(
        request, "dashboard.html", headers={"Content-Security-Policy": CHART_CSP},
        figs=figs, charts=chart_configs(figs), csv_links=csv_links, L=LABELS,
        both=both, first_month=figs["months"][0]["month"], last_month=figs["months"][-1]["month"],
        **regulator_context(ps, who),
    )


@router.get("/dashboard.csv", name="dashboard_csv")
def dashboard_csv(request: Request) -> Response:
    ps = page_services(request)
    regulator(request, ps)
    chart = request.query_params.get("chart") or ""
    if chart not in CHARTS:
        raise InvalidInput("chart", "unknown", f"chart: one of {', '.join(CHARTS)}")
    header, rows = table(figures(request), chart)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    name = "-".join(filter(None, ("ledger-stats", chart, request.query_params.get("district"),
                                  request.query_params.get("place_type"))))
    return Response(
        out.getvalue(), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"',
                 "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
