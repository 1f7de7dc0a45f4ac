"""Pages that must work without internet, in Chromium: the API docs (Swagger UI at /docs, ReDoc at /redoc) render
the gateway's operations from the app's local assets, and an app route opened directly (a bookmark, a reload)
loads the app. Every request a page makes must go to the gateway itself: a CDN would leave the page blank offline.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect

from tests.browser.conftest import Console, Web, new_context, shot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
def page(browser: Browser, web: Web, console: Console,
         new_page: Callable[[BrowserContext, str], Page]) -> Iterator[Page]:
    context = new_context(browser, web)

    def only_the_gateway(request: Request) -> None:
        if not request.url.startswith((web.url, "data:", "blob:")):
            console.problems.append(f"Expected every request to go to the gateway ({web.url}), got {request.url}")
    context.on("request", only_the_gateway)
    try:
        yield new_page(context, "docs")
    finally:
        context.close()


def test_swagger_ui_renders_the_api_offline(page: Page) -> None:
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Playcorder")
    expect(page.locator(".opblock-summary-path", has_text="/api/studies").first).to_be_visible()
    shot(page, "api-docs-swagger")


def test_redoc_renders_the_api_offline(page: Page) -> None:
    page.goto("/redoc")
    expect(page.get_by_role("heading", level=1).first).to_contain_text("Playcorder")
    expect(page.get_by_text("/api/studies", exact=False).first).to_be_attached()
    shot(page, "api-docs-redoc")


def test_an_app_route_opened_directly_loads_the_app(page: Page, console: Console) -> None:
    """A deep link outside the API gets the app (SPA fallback), which sends a visitor who is not signed in to the
    sign-in page, keeping where they were going."""
    console.allow(r"status of 401 .*/api/session")
    page.goto("/studies/new")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fstudies%2Fnew$"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
