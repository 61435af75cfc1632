"""/docs in a real browser with every request off the server blocked (offline): Swagger
UI renders the ledger's operations, under the page's CSP, with no error reported."""

from __future__ import annotations

import pytest

from tests.e2e.test_pages_browser import browser, site, watch_errors  # noqa: F401

pytestmark = pytest.mark.sqlite_only


def test_docs_render_offline_under_the_csp(browser, site) -> None:  # noqa: F811
    page = browser.new_page()
    errors: list[str] = []
    elsewhere: list[str] = []
    watch_errors(page, errors)

    def only_the_server(route) -> None:
        if route.request.url.startswith(site.base):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_server)
    page.goto(site.base + "/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    assert "Credit ledger API" in page.inner_text(".swagger-ui .info")
    assert page.locator(".swagger-ui .opblock").count() >= 17
    assert not elsewhere, elsewhere
    assert not errors, errors
