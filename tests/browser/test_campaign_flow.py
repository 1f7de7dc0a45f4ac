"""A campaign's participants in Chromium: a Prolific arrival (the URL with its three parameters) agrees, answers,
plays with the keyboard until the requirement is met, gets the completion code and is sent back to Prolific's
completion URL with it; an MTurk worker previewing the HIT is told to accept it, and once accepted ends with the
externalSubmit form posted to MTurk. The platforms' sites are played by playwright's routing: nothing leaves the
machine. With PLAYCORDER_DOC_IMAGES=1 the pages are kept as docs/images/campaign-*.png."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, Route, expect

from tests.browser.conftest import ROOT, Console, Web, new_context, shot
from tests.factories import study

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
CARTPOLE = {"id": "cartpole", "env_id": "CartPole-v1", "mode": "turn_based", "instructions": "Keep the pole up."}


def _doc_image(page: Page, name: str) -> None:
    path = shot(page, f"campaign-{name}")
    if os.environ.get("PLAYCORDER_DOC_IMAGES") == "1":
        shutil.copy(path, ROOT / "docs" / "images" / f"campaign-{name}.png")


def _campaign(web: Web, **spec: object) -> dict[str, object]:
    s = web.api.create_study(study(CARTPOLE, name="crowd"))
    body = {"name": "Balance the pole", "conditions": [
        {"id": "short", "environment": "cartpole", "variant": {"max_episode_steps": 4}, "quota": {"target": 10}}]}
    return web.api.create_campaign(s["id"], body | spec)


def _play_one_episode(page: Page) -> None:
    page.get_by_role("button", name="Play").click()
    status = page.get_by_role("status").filter(has=page.get_by_label("Step", exact=True))
    expect(status).to_contain_text("press a key to start", timeout=60_000)
    prompt = page.get_by_role("alertdialog")
    for _ in range(10):
        if prompt.is_visible():
            break
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(150)
    expect(page.get_by_label("Your progress")).to_be_visible()
    _doc_image(page, "play")
    prompt.get_by_role("button", name="Keep (y)").click()


def test_prolific_participant_completes_and_returns_to_prolific(
        browser: Browser, web: Web, new_page: Callable[[BrowserContext, str], Page]) -> None:
    c = _campaign(web, channel="prolific", completion_code="PC0NE123", pages={
        "consent": "You agree that your play is recorded for research.",
        "instructions": "Press the arrow keys.",
        "questionnaire": [{"id": "hand", "text": "Which hand do you play with?", "kind": "choice",
                           "options": ["left", "right"]}],
        "after": "Thank you for taking part!"})
    context = new_context(browser, web)
    page = new_page(context, "prolific")
    landed: list[str] = []

    def prolific(route: Route, request: Request) -> None:
        landed.append(request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>Prolific</title><h1>Submitted</h1>")

    page.route("https://app.prolific.com/**", prolific)
    pid = uuid.uuid4().hex[:24]
    page.goto(f"/c/{c['id']}?PROLIFIC_PID={pid}&STUDY_ID=s1&SESSION_ID=x1")
    expect(page.get_by_role("heading", name="Consent")).to_be_visible()
    expect(page.get_by_text("You agree that your play is recorded")).to_be_visible()
    _doc_image(page, "consent")
    page.get_by_role("button", name="I agree").click()
    expect(page.get_by_text("Which hand do you play with?")).to_be_visible()
    page.get_by_label("right").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Keep the pole up.")).to_be_visible()
    expect(page.get_by_label("Completion")).to_have_text("0%")
    _play_one_episode(page)
    expect(page.get_by_role("region", name="Completed")).to_be_visible(timeout=30_000)
    expect(page.get_by_label("Completion code")).to_have_text("PC0NE123")
    expect(page.get_by_text("Thank you for taking part!")).to_be_visible()
    _doc_image(page, "completed")
    expect(page).to_have_url(re.compile(r"^https://app\.prolific\.com/"), timeout=15_000)
    assert landed == ["https://app.prolific.com/submissions/complete?cc=PC0NE123"]
    answers = web.api.campaign_participants(str(c["id"]))
    assert [(p["stage"], p["answers"]) for p in answers] == [("complete", {"hand": "right"})]
    context.close()


def test_mturk_worker_previews_then_accepts_and_submits(
        browser: Browser, web: Web, new_page: Callable[[BrowserContext, str], Page], console: Console) -> None:
    console.allow(r"status of 409 .*/enroll\)$")  # the preview's refusal, which Chromium logs
    c = _campaign(web, channel="mturk")
    context = new_context(browser, web)
    page = new_page(context, "mturk")
    posted: list[dict[str, list[str]]] = []

    def turk(route: Route, request: Request) -> None:
        posted.append(parse_qs(request.post_data or ""))
        route.fulfill(status=200, content_type="text/html", body="<title>MTurk</title><h1>HIT submitted</h1>")

    page.route("https://workersandbox.mturk.com/**", turk)
    worker = "A" + uuid.uuid4().hex[:12].upper()
    page.goto(f"/c/{c['id']}?workerId={worker}&assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H1")
    expect(page.get_by_role("alert")).to_contain_text("Accept the HIT to take part")
    page.goto(f"/c/{c['id']}?workerId={worker}&assignmentId=ASG9&hitId=H1"
              "&turkSubmitTo=https%3A%2F%2Fworkersandbox.mturk.com")
    _play_one_episode(page)
    expect(page.get_by_role("region", name="Completed")).to_be_visible(timeout=30_000)
    code = page.get_by_label("Completion code").inner_text()
    assert re.fullmatch(r"[0-9a-f]{32}", code)
    expect(page).to_have_url("https://workersandbox.mturk.com/mturk/externalSubmit", timeout=15_000)
    assert posted == [{"assignmentId": ["ASG9"], "completion_code": [code]}]
    context.close()


def test_designer_sees_the_campaign_on_the_study_page_and_its_dashboard_live(
        browser: Browser, web: Web, new_page: Callable[[BrowserContext, str], Page], console: Console) -> None:
    console.allow(r"status of 401 .*/api/session\)$")  # the app asks whether it is signed in first
    c = _campaign(web, channel="prolific", name="Dashboard pilot")
    context = new_context(browser, web)
    page = new_page(context, "designer-campaign")
    page.goto("/signin")
    page.get_by_label("Name").fill(web.designer)
    page.get_by_label("Password").fill(web.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Studies")).to_be_visible()

    page.goto(f"/studies/{c['study_id']}")
    link = page.get_by_label("Link of Dashboard pilot")
    expect(link).to_have_value(re.compile(rf"/c/{c['id']}\?PROLIFIC_PID=\{{\{{%PROLIFIC_PID%\}}\}}&STUDY_ID="))
    _doc_image(page, "study-panel")

    page.goto(f"/campaigns/{c['id']}")
    expect(page.get_by_label("Arrived")).to_have_text("0")
    for i in range(3):
        web.api.enroll(str(c["id"]), {"PROLIFIC_PID": f"dash{i}", "STUDY_ID": "s", "SESSION_ID": "x"})
    expect(page.get_by_label("Arrived")).to_have_text("3", timeout=15_000)  # the stream, not a reload
    expect(page.get_by_label("Active")).to_have_text("3")
    expect(page.get_by_label("Conditions")).to_contain_text("short (cartpole): 3 of 10 participants, 3 playing")
    expect(page.get_by_role("table", name="Participants").get_by_role("row")).to_have_count(4)
    _doc_image(page, "dashboard")
    context.close()
