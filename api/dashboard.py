"""The regulators' dashboard: ``/dashboard`` draws the statistics as charts (lists over
time, class mix, events per month, the split by district and by place type) with
filters, and ``/dashboard.csv?chart=`` gives each chart's numbers. Signed in as for
``/supervision``. The numbers come from the same query functions as ``/v1/stats``;
the charts are drawn by the vendored Chart.js through /static/charts.js (no inline
script: each chart's configuration is a JSON block). Labels, chart titles and the CSV's
header follow the pages' language (``?lang=``, the ``lang`` cookie; api/i18n.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.i18n import CLASS_LABELS, EVENT_LABELS, LangDep, remember, translator
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
from ledger.services import letters

Translate = Callable[..., str]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["pages"])

# Chart.js is served by the app; this page alone runs scripts, and only from /static.
CHART_CSP = CSP.replace("script-src ", "script-src 'self' ")
MONTHS = 60  # the series shows five years up to this month

COLOURS = {
    "A": "#b42318", "B": "#2f6f3e", "C": "#9a6700", "D": "#24292f",
    "reward_list": "#b42318", "punishment_list": "#24292f",
    "licences": "#0b57d0", "commitments": "#8250df", "inspections": "#1a7f37",
    "rectifications": "#9a6700", "bans": "#24292f", "repairs": "#bf3989",
}
CHARTS = ("lists", "classes", "events", "districts", "place_types")
LIST_NAMES = (("reward_list", "nav.reward"), ("punishment_list", "nav.punishment"))


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


def class_name(c: str, t: Translate) -> str:
    """A credit class as the charts and the CSV name it: "A 守信", "A Trustworthy"."""
    return f"{c} {t(CLASS_LABELS[c])}"


def name_of(chart: str, key: str, t: Translate) -> str:
    """A district's or a place type's name in the page's language."""
    if chart == "districts":
        return t(letters.district_label(key))
    return t(letters.PLACE_TYPE_LABELS.get(key, (key, key)))


def table(
    figs: dict[str, Any], chart: str, t: Translate
) -> tuple[list[str], list[list[Any]]]:
    """A chart's numbers as a header (in the page's language) and rows (the CSV)."""
    months = figs["months"]
    month = t("month")
    if chart == "lists":
        return ([month, t("nav.reward"), t("nav.punishment"), t("dashboard.enterprises")],
                [[m["month"], m["reward_list"], m["punishment_list"], m["enterprises"]]
                 for m in months])
    if chart == "classes":
        return ([month, *(class_name(c, t) for c in stats.CLASSES)],
                [[m["month"], *(m["by_class"][c] for c in stats.CLASSES)] for m in months])
    if chart == "events":
        return ([month, *(t(EVENT_LABELS[k]) for k in stats.EVENTS)],
                [[m["month"], *(m[k] for k in stats.EVENTS)] for m in months])
    if chart in ("districts", "place_types"):
        districts = chart == "districts"
        split = figs["by_district"] if districts else figs["by_type"]
        code = t("dashboard.district_code" if districts else "dashboard.place_type_code")
        return ([code, t("district" if districts else "place_type"),
                 t("dashboard.enterprises"), *(class_name(c, t) for c in stats.CLASSES),
                 t("nav.reward"), t("nav.punishment")],
                [[k, name_of(chart, k, t), v["enterprises"],
                  *(v["by_class"][c] for c in stats.CLASSES),
                  v["reward_list"], v["punishment_list"]] for k, v in split.items()])
    raise InvalidInput("chart", "unknown", f"chart: one of {', '.join(CHARTS)}")


def chart_configs(figs: dict[str, Any], t: Translate) -> dict[str, dict[str, Any]]:
    """Chart.js configurations (plain JSON) of the five charts, labelled in the page's
    language."""
    months = [m["month"] for m in figs["months"]]
    stacked = {"x": {"stacked": True}, "y": {"stacked": True, "beginAtZero": True}}

    def series(values: list[Any], key: str, label: str, **extra: Any) -> dict[str, Any]:
        return {"label": label, "data": values, "backgroundColor": COLOURS[key],
                "borderColor": COLOURS[key], **extra}

    configs: dict[str, dict[str, Any]] = {
        "lists": {
            "type": "line",
            "data": {"labels": months, "datasets": [
                series([m[k] for m in figs["months"]], k, t(name), pointRadius=0, tension=0.2)
                for k, name in LIST_NAMES
            ]},
            "options": {"scales": {"y": {"beginAtZero": True}}},
        },
        "classes": {
            "type": "bar",
            "data": {"labels": months, "datasets": [
                series([m["by_class"][c] for m in figs["months"]], c, class_name(c, t))
                for c in stats.CLASSES
            ]},
            "options": {"scales": stacked},
        },
        "events": {
            "type": "bar",
            "data": {"labels": months, "datasets": [
                series([m[k] for m in figs["months"]], k, t(EVENT_LABELS[k]))
                for k in stats.EVENTS
            ]},
            "options": {"scales": stacked},
        },
    }
    for chart, split in (("districts", figs["by_district"]), ("place_types", figs["by_type"])):
        configs[chart] = {
            "type": "bar",
            "data": {"labels": [name_of(chart, k, t) for k in split], "datasets": [
                series([v["by_class"][c] for v in split.values()], c, class_name(c, t))
                for c in stats.CLASSES
            ]},
            "options": {"indexAxis": "y", "scales": {
                "x": {"stacked": True, "beginAtZero": True}, "y": {"stacked": True}}},
        }
    for config in configs.values():  # compact legends: several series fit a phone's width
        config["options"]["plugins"] = {"legend": {"labels": {"boxWidth": 12, "padding": 8}}}
    return configs


@router.get("/dashboard", name="dashboard")
def dashboard(request: Request, lang: LangDep) -> Response:
    ps = page_services(request)
    who = regulator(request, ps)
    figs = figures(request)
    filters = {"district": figs["district"], "place_type": figs["place_type"]}
    # the CSV in the page's language, whatever the cookie says when it is fetched
    csv_links = {c: f"/dashboard.csv?{query_string(chart=c, **filters, lang=lang)}"
                 for c in CHARTS}
    return render(
        request, "dashboard.html", headers={"Content-Security-Policy": CHART_CSP},
        figs=figs, charts=chart_configs(figs, translator(lang)), csv_links=csv_links,
        first_month=figs["months"][0]["month"], last_month=figs["months"][-1]["month"],
        **regulator_context(ps, who),
    )


@router.get("/dashboard.csv", name="dashboard_csv")
def dashboard_csv(request: Request, lang: LangDep) -> Response:
    ps = page_services(request)
    regulator(request, ps)
    chart = request.query_params.get("chart") or ""
    if chart not in CHARTS:
        raise InvalidInput("chart", "unknown", f"chart: one of {', '.join(CHARTS)}")
    header, rows = table(figures(request), chart, translator(lang))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    name = "-".join(filter(None, ("ledger-stats", chart, request.query_params.get("district"),
                                  request.query_params.get("place_type"))))
    response = Response(
        out.getvalue(), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"',
                 "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
    remember(request, response)
    return response
