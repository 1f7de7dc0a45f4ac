"""A designer's day in the web app, in Chromium, through the gateway of a real stack (real NATS, PostgreSQL, S3,
Gymnasium envs): sign in; create a study with Pong and MiniGrid, fixing the refused id with the suggestion; see the
previews; a participant plays it from the link in another browser (another cookie jar) with key presses and saves
the episode while the designer watches live; the designer finds it in Episodes, replays it to step 10 and back,
tags it and a step, writes a note, exports with the progress bar and downloads the dataset through the link.

The tests run in order and share one module's designer and participant browsers (each a fresh profile); every view
is kept as artifacts/screenshots/NN-view.png. Any console error or warning fails the test that caused it.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Console, Web, new_context, shot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PONG_STEPS = 15  # a turn-based Pong episode: one step per key press, then the save prompt
SIGNIN_PROBE = r"status of 401 .*/api/session"  # GET /api/session before signing in: Chromium logs the 401


@dataclass
class Flow:
    """What the tests hand on to the next one."""

    designer: Page
    participant_context: BrowserContext
    study_id: str = ""
    participant_link: str = ""
    episode_id: str = ""


@pytest.fixture(scope="module")
def flow(browser: Browser, web: Web, new_page: Callable[[BrowserContext, str], Page]) -> Iterator[Flow]:
    designer_context = new_context(browser, web)
    participant_context = new_context(browser, web)
    try:
        yield Flow(designer=new_page(designer_context, "designer"), participant_context=participant_context)
    finally:
        designer_context.close()
        participant_context.close()


def test_sign_in(flow: Flow, web: Web, console: Console) -> None:
    page = flow.designer
    console.allow(SIGNIN_PROBE)
    console.allow(r"status of 401 .*/api/session")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin"))
    page.get_by_label("Name").fill(web.designer)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Expected a designer's name and password")
    shot(page, "01-signin-refused")

    page.get_by_label("Password").fill(web.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Studies")).to_be_visible()
    expect(page.get_by_label("Signed in as")).to_have_text(web.designer)
    shot(page, "02-studies-empty")
