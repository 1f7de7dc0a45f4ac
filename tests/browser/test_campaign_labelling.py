"""A campaign's labelling condition in Chromium: a Prolific arrival agrees to the consent, is shown the number of
pairs to compare, compares them with the keyboard (ArrowLeft, ArrowRight, =) while the progress says how many are
answered, and on the last answer gets the completion code and is sent back to Prolific's completion URL with it
(Prolific's site is played by playwright's routing). The labels stored are those answers, by that participant."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, Route, expect

from tests.browser.conftest import Web, new_context
from tests.browser.test_labelling import _assert_both_play
from tests.factories import cartpole_study
from tests.test_campaign_labelling import posted_experiment

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
PAIRS = 3
KEYS = [("ArrowLeft", "left"), ("ArrowRight", "right"), ("=", "tie")]


def test_prolific_participant_labels_pairs_with_the_keys_and_returns_to_prolific(
        browser: Browser, web: Web, new_page: Callable[[BrowserContext, str], Page]) -> None:
    s = web.api.create_study(cartpole_study())
    made = posted_experiment(web.api, s["id"], pairs=5)
    c = web.api.create_campaign(s["id"], {
        "name": "Judge the carts", "channel": "prolific", "completion_code": "JUDGE123",
        "pages": {"consent": "You agree that your answers are recorded.", "after": "Thank you for judging!"},
        "conditions": [{"id": "judges", "label": {"experiment": made["id"], "pairs": PAIRS},
                        "instructions": "Compare the clips.", "quota": {"target": 10}}]})
    context = new_context(browser, web)
    page = new_page(context, "prolific-labeller")
    landed: list[str] = []

    def prolific(route: Route, request: Request) -> None:
        landed.append(request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>Prolific</title><h1>Submitted</h1>")

    page.route("https://app.prolific.com/**", prolific)
    page.goto(f"/c/{c['id']}?PROLIFIC_PID={uuid.uuid4().hex[:24]}&STUDY_ID=s1&SESSION_ID=x1")
    page.get_by_role("button", name="I agree").click()
    expect(page.get_by_text("Compare the clips.")).to_be_visible()
    expect(page.get_by_text(f"Compare {PAIRS} pairs of clips")).to_be_visible()
    page.get_by_role("button", name="Start comparing").click()
    expect(page.get_by_text("Which cart keeps the pole up longer?")).to_be_visible()
    for i, (key, _) in enumerate(KEYS):
        expect(page.get_by_label("Progress pairs")).to_have_text(str(i))
        _assert_both_play(page)
        page.keyboard.press(key)
        if i < PAIRS - 1:
            expect(page.get_by_label("Answered")).to_have_text(str(i + 1))
    expect(page.get_by_role("region", name="Completed")).to_be_visible(timeout=30_000)
    expect(page.get_by_label("Completion code")).to_have_text("JUDGE123")
    expect(page.get_by_text("Thank you for judging!")).to_be_visible()
    expect(page).to_have_url(re.compile(r"^https://app\.prolific\.com/"), timeout=15_000)
    assert landed == ["https://app.prolific.com/submissions/complete?cc=JUDGE123"]
    labels = web.api.preference_labels(made["id"])["labels"]
    assert [label["response"] for label in labels] == [response for _, response in KEYS]
    [participant] = web.api.campaign_participants(str(c["id"]))
    assert participant["stage"] == "complete" and participant["values"]["pairs"] == PAIRS
    assert {label["labeller"] for label in labels} == {f"participant:{participant['participant_id']}"}
    context.close()
