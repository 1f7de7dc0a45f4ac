"""A labeller compares clips in Chromium (issue 15): a study's recorded Pong episode (played by the SDK's bot) is cut
into segments whose clips the exporter renders; a preference experiment pairs them; a participant opens
/label/ID?token=... at 1280x800, sees both clips actually play (frames decoded, time running), is told that a key
pressed before both clips have started does not count, then answers with ArrowLeft, ArrowRight, = and Space, and
on a phone-width screen (clips stacked) with a tap, until the page says all is done. The labels endpoint then holds
exactly those answers, in that order, by that participant, each with a duration. Last, a lease lost to another
labeller is said, and the page waits, then ends. With PLAYCORDER_DOC_IMAGES=1 the pages are kept as
docs/images/labelling.png, labelling-phone.png and labelling-waiting.png."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, ViewportSize, expect

from playcorder.sdk import Client
from playcorder.sdk.bot import play
from tests.browser.conftest import ROOT, Console, Web, assert_within_window, new_context, shot
from tests.factories import pong_study

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.incremental]

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
EPISODE_STEPS = 120
PAIRS = 5
KEYS = [("ArrowLeft", "left"), ("ArrowRight", "right"), ("=", "tie"), ("Space", "cant_tell")]
INSTRUCTIONS = "Which paddle plays better?"


@dataclass
class Labelling:
    study_id: str
    experiment_id: str
    participant_id: str
    token: str
    page: Page


def _doc_image(page: Page, name: str) -> None:
    path = shot(page, name)
    if os.environ.get("PLAYCORDER_DOC_IMAGES") == "1":
        shutil.copy(path, ROOT / "docs" / "images" / f"{name}.png")


def _record_episode(web: Web, token: str) -> None:
    """The bot plays one episode to its step limit and keeps it. In a thread of its own: while playwright's sync
    API is active this thread counts as running an event loop, so asyncio.run() here would be refused."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, play(web.url, token, "pong", episodes=1, seed=3, timeout=120)).result()


def _wait_completed(web: Web, study_id: str, timeout: float = 60) -> None:
    """The recorder stores the kept episode's end from JetStream a moment after the bot is told it was saved."""
    deadline = time.monotonic() + timeout
    while not [e for e in web.api.list_episodes(study_id) if e["state"] == "completed"]:
        assert time.monotonic() < deadline, f"Expected the bot's episode stored as completed within {timeout:g} s"
        time.sleep(0.5)


def _clips_ready(web: Web, experiment_id: str, pairs: int) -> None:
    counts = web.api.wait_clips(experiment_id, timeout=180)["counts"]
    assert counts["segments"]["failed"] == 0 and counts["pairs"]["open"] == pairs, \
        f"Expected every clip rendered and {pairs} pairs open, got {counts}"


@pytest.fixture(scope="module")
def labelling(browser: Browser, web: Web, new_page: Callable[[BrowserContext, str], Page]) -> Iterator[Labelling]:
    study = web.api.create_study(pong_study(max_episode_steps=EPISODE_STEPS))
    participant = web.api.create_participant(study["id"])
    _record_episode(web, participant["token"])
    _wait_completed(web, study["id"])
    experiment = web.api.create_preference_experiment(study["id"], {
        "name": "pong-labelling", "instructions": INSTRUCTIONS,
        "clip": {"seconds": 1.0, "freeze_seconds": 0.2, "fps": 20},
        "source": {"kind": "episodes", "env": "pong", "episode_ids": None, "segments_per_episode": 5, "seed": 0},
        "pairs": {"count": PAIRS, "seed": 0}, "lease_seconds": 120, "agreement_share": 0.0})

    _clips_ready(web, experiment["id"], PAIRS)
    context = new_context(browser, web, viewport=DESKTOP)
    try:
        yield Labelling(study["id"], experiment["id"], participant["participant_id"], participant["token"],
                        new_page(context, "labeller"))
    finally:
        context.close()


def _assert_both_play(page: Page) -> None:
    """Both <video>s have decoded frames (readyState >= 2, a width) and their time runs (checked a few times, as a
    looping clip may have just begun again)."""
    expect(page.get_by_role("status", name="Clips")).to_have_attribute("data-state", "playing", timeout=30_000)
    for side in ("Left", "Right"):
        video = page.get_by_label(f"{side} clip")
        state = video.evaluate("v => ({ready: v.readyState, width: v.videoWidth, src: v.currentSrc})")
        assert state["ready"] >= 2 and state["width"] > 0, f"Expected the {side} clip's frames decoded, got {state}"
        advancing = video.evaluate("""v => new Promise(done => {
            let tries = 0;
            const look = () => {
                const t0 = v.currentTime;
                setTimeout(() => (v.currentTime > t0 ? done(true) : ++tries < 8 ? look() : done(false)), 150);
            };
            look();
        })""")
        assert advancing, f"Expected the {side} clip's currentTime to advance, it did not"


def test_a_key_before_both_clips_play_does_not_count(labelling: Labelling, web: Web) -> None:
    """The clips' downloads are held back: the page says it is loading, and ArrowLeft only explains why it waits."""
    page = labelling.page
    held: list[Route] = []
    holding = [True]

    def hold(route: Route) -> None:
        if holding[0] and route.request.resource_type == "media":
            held.append(route)
        else:
            route.continue_()

    page.route("**/*", hold)
    page.goto(f"/label/{labelling.experiment_id}?token={labelling.token}")
    expect(page.get_by_text(INSTRUCTIONS)).to_be_visible()
    expect(page.get_by_role("status", name="Clips")).to_have_attribute("data-state", "loading")
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("alert")).to_contain_text("an answer counts once both have started playing")
    expect(page.get_by_label("Answered")).to_have_text("0")
    assert web.api.preference_labels(labelling.experiment_id)["labels"] == []
    holding[0] = False
    for route in held:
        route.continue_()
    page.unroute("**/*", hold)
    _assert_both_play(page)
    expect(page.get_by_role("alert")).to_have_count(0)  # the explanation goes once they play


def test_labeller_answers_with_the_keys(labelling: Labelling) -> None:
    page = labelling.page
    for i, (key, _) in enumerate(KEYS):
        _assert_both_play(page)
        if i == 0:
            assert_within_window(page, page.get_by_label("Left clip"), page.get_by_label("Right clip"),
                                 page.get_by_role("group", name="Your answer"))
            _doc_image(page, "labelling")
        page.keyboard.press(key)
        expect(page.get_by_label("Answered")).to_have_text(str(i + 1))


def test_on_a_phone_the_clips_stack_and_a_tap_answers(labelling: Labelling) -> None:
    page = labelling.page
    page.set_viewport_size(PHONE)
    _assert_both_play(page)
    left = page.get_by_label("Left clip").bounding_box()
    right = page.get_by_label("Right clip").bounding_box()
    assert left and right and right["y"] >= left["y"] + left["height"], f"Expected the clips stacked: {left}, {right}"
    for name in ("Left", "Right", "Equal", "Can't tell"):
        box = page.get_by_role("button", name=name, exact=True).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{name} is off screen: {box}"
    _doc_image(page, "labelling-phone")
    page.get_by_role("button", name="Equal", exact=True).click()
    expect(page.get_by_role("region", name="All done")).to_contain_text("All done, thank you")
    expect(page.get_by_label("Answered")).to_have_text(str(PAIRS))
    page.set_viewport_size(DESKTOP)


def test_the_stored_labels_are_the_answers_given(labelling: Labelling, web: Web) -> None:
    labels = web.api.preference_labels(labelling.experiment_id)["labels"]
    expected = [response for _, response in KEYS] + ["tie"]
    assert [label["response"] for label in labels] == expected, labels
    assert [label["seq"] for label in labels] == sorted(label["seq"] for label in labels)
    assert len({label["pair_id"] for label in labels}) == PAIRS, "Expected each pair answered once"
    pairs = {p["id"]: p for p in web.api.preference_pairs(labelling.experiment_id)}
    for label in labels:
        assert label["labeller"] == f"participant:{labelling.participant_id}", label
        assert label["duration_ms"] is not None and label["duration_ms"] > 0, label
        assert label["shown_at"] is not None, label
        assert datetime.fromisoformat(label["shown_at"]) <= datetime.fromisoformat(label["answered_at"]), label
        pair = pairs[label["pair_id"]]
        assert (label["left"], label["right"]) == (pair["left"], pair["right"]), (label, pair)
    counts = web.api.preference_experiment(labelling.experiment_id)["counts"]
    assert counts["pairs"]["answered"] == PAIRS and counts["labels"] == PAIRS, counts


def test_a_lease_lost_to_another_labeller_is_said_and_the_page_recovers(
        labelling: Labelling, web: Web, console: Console) -> None:
    """One pair, held 5 s: the labeller waits past the lease, another labeller (the SDK with their own token) takes
    the pair, and the page's answer is refused (409 lease_lost): it says the answer was not saved, that no pair is
    ready now with the seconds to the next look, and once the other has answered, that all is done."""
    console.allow(r"status of 409 .*/answer\)$")  # the refused answer, which Chromium logs
    experiment = web.api.create_preference_experiment(labelling.study_id, {
        "name": "pong-lease", "instructions": INSTRUCTIONS, "clip": {"seconds": 1.0, "freeze_seconds": 0.2, "fps": 20},
        "source": {"kind": "episodes", "env": "pong", "segments_per_episode": 2, "seed": 1},
        "pairs": {"count": 1, "seed": 1}, "lease_seconds": 5, "agreement_share": 0.0})
    _clips_ready(web, experiment["id"], 1)
    someone = web.api.create_participant(labelling.study_id)
    other = Client(web.url, someone["token"])
    page = labelling.page
    page.goto(f"/label/{experiment['id']}?token={labelling.token}")
    _assert_both_play(page)
    page.wait_for_timeout(6_000)  # the page's lease (5 s) runs out
    taken = other.lease_pair(experiment["id"])["pair"]
    assert taken is not None, "Expected the other labeller to get the pair whose lease ran out"
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("alert")).to_contain_text("That answer was not saved")
    waiting = page.get_by_role("status", name="Waiting for pairs")
    expect(waiting).to_contain_text(re.compile(r"No pairs are ready right now — checking again in \d+ s"))
    _doc_image(page, "labelling-waiting")
    other.answer_pair(taken["id"], "right")
    expect(page.get_by_role("region", name="All done")).to_contain_text("All done, thank you", timeout=40_000)
    expect(page.get_by_label("Answered")).to_have_text("0")
    labels = web.api.preference_labels(experiment["id"])["labels"]
    assert [(label["response"], label["labeller"]) for label in labels] == [
        ("right", f"participant:{someone['participant_id']}")], labels
