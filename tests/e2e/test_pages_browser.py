"""The pages in a real browser: Playwright driving the system's Chromium (Debian's
``chromium`` package; no browser download) against the app served by uvicorn on
127.0.0.1. A regulator signs in and opens the letter; the QR code is decoded from a
screenshot of the image as the browser shows it; a phone follows the link, commits,
and the public page then shows the new status. A tampered link is refused.

Outside CI these tests skip (with the reason) when Playwright or Chromium is missing;
under ``CI=true`` they fail instead. Screenshots of each page are kept in
``artifacts/screenshots/`` (``LEDGER_TEST_ARTIFACTS`` to change the folder).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ledger.bootstrap import bootstrap
from ledger.services.access import ApiKeys
from tests.api.test_pages import read_qr
from tests.conftest import IN_CI
from tests.factories import in_clear, licence, random_uscc

pytestmark = pytest.mark.sqlite_only  # the stores are covered by test_pages.py
ARTIFACTS = Path(os.environ.get("LEDGER_TEST_ARTIFACTS", "artifacts")) / "screenshots"
PHONE = {"width": 390, "height": 844}


def chromium_path() -> str | None:
    configured = os.environ.get("LEDGER_TEST_CHROMIUM")
    if configured:
        return configured
    return next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )


def need_browser() -> str:
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "Playwright is not installed (pip install playwright)"
    path = chromium_path()
    if problem is None and path is None:
        problem = "no Chromium found (apt-get install chromium, or set LEDGER_TEST_CHROMIUM)"
    if problem is not None:
        if IN_CI:
            pytest.fail(problem)
        pytest.skip(problem)
    return path  # type: ignore[return-value]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Site:
    def __init__(self, base: str, services, key: str) -> None:
        self.base = base
        self.services = services
        self.key = key

    def shot(self, page, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def site(store_settings, clock) -> Iterator[Site]:
    import uvicorn

    from api.app import create_app

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    services = bootstrap(store_settings.model_copy(update={"public_url": base}), clock=clock)
    key = ApiKeys(services.db).create("inspector-7", ["ledger:write"])[1]
    server = uvicorn.Server(uvicorn.Config(
        create_app(services=services), host="127.0.0.1", port=port, log_level="warning",
    ))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield Site(base, services, key)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        services.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    path = need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
        ])
        try:
            yield b
        finally:
            b.close()


def watch_errors(page, errors: list[str]) -> None:
    """Collect what the browser reports as errors (a CSP violation, a failed load)."""
    expected = ("status of 404", "status of 409", "status of 422")  # refusals asked for

    def console(message) -> None:
        if message.type == "error" and not any(e in message.text for e in expected):
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda e: errors.append(str(e)))


def sign_in(browser, site: Site, errors: list[str] | None = None):
    desk = browser.new_page(viewport={"width": 1280, "height": 900})
    watch_errors(desk, errors if errors is not None else [])
    desk.goto(site.base + "/supervision")
    assert urlsplit(desk.url).path == "/signin"  # sent to sign in, then back
    site.shot(desk, "signin")
    desk.fill("#api_key", site.key)
    desk.click("button[type=submit]")
    desk.wait_for_url("**/supervision")
    return desk


def test_letter_qr_commit_and_public_page_in_a_browser(browser, site):
    uscc = random_uscc()
    name = "Songbei Willow Barbershop"
    site.services.ledger.license(**licence(uscc, name=name))

    errors: list[str] = []
    desk = sign_in(browser, site, errors)
    assert "监管任务清单" in desk.text_content("h1")  # Chinese first
    site.shot(desk, "supervision")

    desk.goto(f"{site.base}/letters/{uscc}")
    assert "Commitment Letter" in desk.text_content("header .en")
    site.shot(desk, "letter")
    link = read_qr(desk.locator("#qr").screenshot())  # what a phone camera would read
    assert link.startswith(site.base + "/commit/")
    desk.evaluate("window.print = () => {}")  # no print dialog in the test
    desk.click("text=Print 打印")  # the one inline handler: a CSP refusal would be an error

    phone = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    watch_errors(phone, errors)
    phone.goto(link)
    assert name in phone.text_content("main")
    site.shot(phone, "commit-form")
    phone.click("button[type=submit]")  # nothing ticked: the form says what is missing
    assert "请修改后重新提交" in phone.text_content("main")  # the phone reads Chinese
    for box in phone.locator("input[name=ack]").all():
        box.check()
    phone.check("#ack_legal")
    phone.fill("#signatory", "Zhao Min")
    phone.click("button[type=submit]")
    assert "承诺已提交" in phone.text_content("h1")
    site.shot(phone, "commit-done")

    phone.goto(link)  # the same link again: refused, nothing stored
    assert "已提交" in phone.text_content("h1")

    public = browser.new_page(viewport=PHONE, is_mobile=True)
    watch_errors(public, errors)
    public.goto(site.base + "/")
    public.fill("#q", "willow")
    public.click("form.search button")
    public.click(f"text={name}")
    public.wait_for_url(f"**/enterprises/{uscc}")
    assert "已承诺，待核查" in public.text_content("main")
    assert "Zhao Min" not in public.content()
    site.shot(public, "enterprise")

    public.goto(site.base + "/lists/punishment")
    site.shot(public, "punishment-list")
    public.goto(site.base + "/lists/reward")
    site.shot(public, "reward-list")

    assert errors == []  # no CSP violation or failed load on any page
    with site.services.db.transaction() as tx:
        events = site.services.log.of_enterprise(tx, uscc)
    assert [e.type for e in events] == ["Licensed", "Committed"]
    assert events[1].data["channel"] == "qr"
    assert in_clear(site.services, events[1], "signatory") == "Zhao Min"


def test_a_tampered_link_is_refused_in_the_browser(browser, site):
    uscc = random_uscc()
    site.services.ledger.license(**licence(uscc))
    desk = sign_in(browser, site)
    desk.goto(f"{site.base}/letters/{uscc}")
    link = read_qr(desk.locator("#qr").screenshot())
    token = link.rsplit("/", 1)[1]
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")

    phone = browser.new_page(viewport=PHONE, is_mobile=True)
    response = phone.goto(link.rsplit("/", 1)[0] + "/" + forged)
    assert response is not None and response.status == 403
    assert "链接无效" in phone.text_content("h1")
    site.shot(phone, "commit-refused")
    with site.services.db.transaction() as tx:
        assert len(site.services.log.of_enterprise(tx, uscc)) == 1


# -- every page, both widths, both languages ---------------------------------------------------

WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": PHONE}


@pytest.fixture
def city(site) -> Site:
    """A demo city with both lists filled, a set built beside for /analysis, and one
    enterprise of each kind the pages show."""
    from datetime import date

    from ledger.services.demo import seed_city

    seed_city(site.services, 150, seed=9, until=date(2026, 1, 1))
    site.services.projections.rebuild("v2", swap=False)
    return site


def pages_of(site: Site) -> dict[str, str]:
    from ledger.projections import queries

    with site.services.db.transaction() as tx:
        banned, _ = queries.punishment_list(tx, "2025-12-31", limit=1)
        rewarded, _ = queries.reward_list(tx, "2025-12-31", limit=1)
        overdue = tx.value(
            "SELECT uscc FROM standing_segments WHERE standing LIKE '%rectification_overdue%' "
            "AND valid_from <= '2025-12-31' AND valid_until > '2025-12-31' ORDER BY uscc LIMIT 1"
        )
        anyone = tx.value("SELECT uscc FROM enterprise_facts ORDER BY uscc LIMIT 1")
        licensed_only = tx.value(
            "SELECT uscc FROM enterprise_facts WHERE version = 1 ORDER BY uscc LIMIT 1"
        )
    if licensed_only is None:  # a fresh licence, to open its commitment page
        licensed_only = random_uscc()
        site.services.ledger.license(**licence(licensed_only))
    from ledger.services import letters

    s = site.services
    secret = letters.secret_key(s.db, s.settings.secret_key)
    token = letters.sign_token(secret, licensed_only, 1, letters.expiry(s.ledger.clock(), 30))
    return {
        "home": "/",
        "search": "/?q=%E5%93%88%E5%B0%94%E6%BB%A8",  # 哈尔滨
        "enterprise-banned": f"/enterprises/{banned[0]['uscc']}",
        "enterprise-reward": f"/enterprises/{rewarded[0]['uscc']}?as_of=2025-12-31",
        "enterprise-overdue": f"/enterprises/{overdue}?as_of=2025-12-31",
        "reward-list": "/lists/reward?as_of=2025-12-31",
        "punishment-list": "/lists/punishment?as_of=2025-12-31",
        "signin": "/signin",
        "supervision": "/supervision?horizon=3660",
        "analysis": "/analysis?as_of=2025-12-31",
        "letter": f"/letters/{anyone}",
        "commit": f"/commit/{token}",
        "not-found": f"/enterprises/{random_uscc()}",
    }


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_at_both_widths_fits_and_is_in_the_chosen_language(browser, city, lang):
    errors: list[str] = []
    for width, viewport in WIDTHS.items():
        context = browser.new_context(
            viewport=viewport, is_mobile=width == "phone", has_touch=width == "phone",
            extra_http_headers={"Authorization": f"Bearer {city.key}"},
        )
        page = context.new_page()
        watch_errors(page, errors)
        page.goto(f"{city.base}/?lang={lang}")  # the toggle's link: the choice sticks
        for name, path in pages_of(city).items():
            response = page.goto(city.base + path)
            expected = 404 if name == "not-found" else 200
            assert response is not None and response.status == expected, (name, response)
            html_lang = page.evaluate("document.documentElement.lang")
            if name != "letter":  # the letter is a bilingual document of its own
                assert html_lang == ("zh-Hans" if lang == "zh" else "en"), name
            if name == "analysis":
                page.wait_for_function("() => window.Chart && Chart.instances &&"
                                       " Object.keys(Chart.instances).length > 0")
            city.shot(page, f"{name}-{lang}-{width}")
            if width == "phone":
                wide = page.evaluate(
                    "[document.documentElement.scrollWidth, window.innerWidth]"
                )
                assert wide[0] <= wide[1], f"{name} overflows at 390 px: {wide}"
        context.close()
    assert errors == []
