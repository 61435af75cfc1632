"""The dashboard in a real browser (Playwright on the system's Chromium, as in
test_pages_browser.py): a regulator signs in, every chart is drawn on its canvas with
no script or CSP error, at 1280 px and on a 390 px phone without sideways scrolling;
screenshots are kept in ``artifacts/screenshots/``."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

import pytest

from ledger.services.demo import seed_city
from tests.e2e.test_pages_browser import PHONE, browser, site, watch_errors  # noqa: F401

pytestmark = pytest.mark.sqlite_only  # the stores are covered by tests/api/test_dashboard.py
CHARTS = ("lists", "classes", "events", "districts", "place_types")

# a canvas Chart.js has drawn on: some pixel is not transparent
DRAWN = """(id) => {
  const c = document.getElementById(id);
  if (!c || !window.Chart || !window.Chart.getChart(c)) return false;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
  return false;
}"""


def test_the_dashboard_draws_its_charts_on_a_desk_and_on_a_phone(browser, site):  # noqa: F811
    seed_city(site.services, 120, seed=9, until=date(2026, 1, 1))
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    desk = context.new_page()
    watch_errors(desk, errors)
    desk.goto(site.base + "/dashboard")
    assert urlsplit(desk.url).path == "/signin"
    desk.fill("#api_key", site.key)
    desk.click("button[type=submit]")
    desk.wait_for_url("**/dashboard")
    assert "统计概览" in desk.text_content("h1")
    for chart in CHARTS:
        assert desk.evaluate(DRAWN, f"c-{chart}"), chart
    site.shot(desk, "dashboard")

    desk.select_option("#f-place", "hotel")
    desk.click("form.filters button")
    desk.wait_for_url("**/dashboard?*place_type=hotel*")
    assert desk.evaluate(DRAWN, "c-lists")
    site.shot(desk, "dashboard-hotels")

    phone = context.new_page()  # the same session, on a phone-sized screen
    phone.set_viewport_size(PHONE)
    watch_errors(phone, errors)
    phone.goto(site.base + "/dashboard")
    for chart in CHARTS:
        assert phone.evaluate(DRAWN, f"c-{chart}"), chart
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width} px)"
    site.shot(phone, "dashboard-phone")
    assert errors == []  # no CSP violation or failed load
    context.close()
