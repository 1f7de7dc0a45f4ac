"""A designer's day in the web app, in Chromium, through the gateway of a real stack (real NATS, PostgreSQL, S3,
Gymnasium envs): sign in; create a study with Pong and MiniGrid, fixing the refused id with the suggestion; see the
previews; a participant plays it from the link in another browser (another cookie jar) with key presses and saves
the episode while the designer watches live; the designer finds it in Episodes, replays it to step 10 and back,
tags it and a step, writes a note, exports with the progress bar and downloads the dataset through the link.

The tests run in order (after a failure the rest are skipped: each needs what the one before made) and share one
module's designer and participant browsers (each a fresh profile); every view is kept as
artifacts/screenshots/NN-view.png. Any console error or warning fails the test that caused it. A last test plays
the MiniGrid environment on a phone-sized touch screen; the designer then tries a MuJoCo environment too slow for
its fps and sees the warning at the fps field.
"""

from __future__ import annotations

import json
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.browser.conftest import Console, Web, assert_within_window, new_context, shot

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.incremental]

PONG_ACTIONS = 15  # a turn-based Pong episode: one step per key press, then the save prompt
PONG_STEPS = PONG_ACTIONS + 1  # the record holds the first observation as a step too


def required(label: str) -> re.Pattern[str]:
    """A field's label, with the asterisk a required one shows."""
    return re.compile(rf"^{re.escape(label)}( \*)?$")


def image_width(img: Locator) -> int:
    """The width of the picture an <img> shows once it has loaded (0: it failed to)."""
    return int(img.evaluate("""img => img.complete ? img.naturalWidth : new Promise(done => {
        img.addEventListener("load", () => done(img.naturalWidth));
        img.addEventListener("error", () => done(0));
    })"""))


SIGNIN_PROBE = r"status of 401 .*/api/session\)$"  # GET /api/session before signing in: Chromium logs the 401


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
    console.allow(SIGNIN_PROBE)  # and the wrong password below
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



# --- the study --------------------------------------------------------------------------------------------------

def test_create_a_study_fixing_the_refused_id(flow: Flow, console: Console) -> None:
    """Pong (with a typo in its id) and MiniGrid: the gateway tries both and refuses the typo, naming the field and
    suggesting the registered id; one click takes the suggestion; Try shows a preview frame of each; Create saves."""
    page = flow.designer
    console.allow(r"status of 422 .*/api/studies")  # the refused create, answered at its field below
    page.get_by_role("link", name="New study").click()
    expect(page.get_by_role("heading", name="New study")).to_be_visible()
    page.get_by_label(required("Study name")).fill("Browser pilot")
    page.get_by_label("Instructions for participants").fill("Move the paddle with the arrow keys.")
    pong = page.get_by_role("group", name="Environment pong")
    pong.get_by_label(required("Gymnasium id")).fill("ALE/Pongg-v5")
    pong.get_by_text("Turn-based", exact=True).click()
    pong.get_by_label("Max steps per episode").fill(str(PONG_ACTIONS))

    page.get_by_role("button", name="Add environment").click()
    maze = page.get_by_role("group", name="Environment env2")
    maze.get_by_label(required("Environment key")).fill("maze")
    maze = page.get_by_role("group", name="Environment maze")
    maze.get_by_label(required("Gymnasium id")).fill("MiniGrid-Empty-5x5-v0")
    maze.get_by_text("Turn-based", exact=True).click()

    page.get_by_role("button", name="Create study").click()
    suggestion = pong.get_by_role("button", name="Did you mean ALE/Pong-v5? Use it")
    expect(suggestion).to_be_visible(timeout=60_000)
    expect(pong).to_contain_text("ALE/Pongg-v5")
    expect(page).to_have_url(re.compile(r"/studies/new$"))  # nothing saved
    expect(pong.get_by_label(required("Gymnasium id"))).to_be_focused()  # the page took the designer to the problem
    expect(pong.get_by_label(required("Gymnasium id"))).to_be_in_viewport()
    shot(page, "03-study-refused")

    suggestion.click()
    expect(pong.get_by_label(required("Gymnasium id"))).to_have_value("ALE/Pong-v5")
    page.get_by_role("button", name="Try").click()
    expect(page.get_by_text("All 2 environments work.")).to_be_visible(timeout=60_000)
    for key in ("pong", "maze"):
        preview = page.get_by_role("img", name=f"Preview of {key}")
        expect(preview).to_be_visible()
        assert image_width(preview) > 0, f"the preview of {key} is empty"
    shot(page, "04-study-tried", at=page.get_by_role("img", name="Preview of pong"))
    shot(page, "04b-study-tried-minigrid", at=page.get_by_role("img", name="Preview of maze"))

    page.get_by_role("button", name="Create study").click()
    expect(page).to_have_url(re.compile(r"/studies/[0-9a-f]{32}$"), timeout=60_000)
    expect(page.get_by_role("heading", name="Browser pilot", level=1)).to_be_visible()
    expect(page.get_by_role("img", name="Preview of pong")).to_be_visible()
    flow.study_id = page.url.rsplit("/", 1)[1]
    page.get_by_role("button", name="Create participant link").click()
    link = page.get_by_label("Participant link", exact=True)
    expect(link).to_have_value(re.compile(r"/\?token=."))
    flow.participant_link = link.input_value()
    shot(page, "05-study-saved")


# --- a participant plays; the designer watches --------------------------------------------------------------------

def press_until_step(page: Page, key: str, step: int) -> None:
    """Press `key` on the game (one turn-based step per press) until the page's step counter shows `step`."""
    counter = page.get_by_label("Step", exact=True)
    for _ in range(step * 2):
        now = int(counter.inner_text())
        if now >= step:
            break
        page.keyboard.press(key)
        expect(counter).not_to_have_text(str(now))
    expect(counter).to_have_text(str(step))


def test_participant_plays_while_the_designer_watches(flow: Flow, web: Web,
                                                     new_page: Callable[[BrowserContext, str], Page]) -> None:
    player = new_page(flow.participant_context, "participant")
    player.goto(flow.participant_link)
    expect(player.get_by_role("heading", name="Browser pilot")).to_be_visible()
    expect(player.get_by_text("Move the paddle with the arrow keys.")).to_be_visible()
    player.get_by_label("Environment").select_option("pong")
    shot(player, "06-player-start")
    player.get_by_role("button", name="Play").click()
    status = player.get_by_role("status").filter(has=player.get_by_label("Step", exact=True))
    expect(status).to_contain_text("Ready — press a key to start", timeout=60_000)
    expect(player.get_by_label("Game: press keys to play")).to_be_focused()
    press_until_step(player, "ArrowRight", 3)  # Pong: Right/Left move the paddle
    expect(status).to_contain_text("Playing — your move")
    # At 1280x720 the game and its controls fit the window.
    assert_within_window(player, player.get_by_label("Game screen"),
                         player.get_by_role("toolbar", name="Session controls"))
    expect(player.get_by_label("Round-trip time")).to_have_text(re.compile(r"^\d+ ms$"))
    shot(player, "07-player-playing")

    # The designer finds the session among the study's live sessions and watches it.
    designer = flow.designer
    watch = designer.get_by_role("link", name=re.compile(r"Watch session [0-9a-f]{8} live"))
    expect(watch).to_be_visible(timeout=20_000)  # the list is polled
    watch.click()
    expect(designer.get_by_role("heading", name="Live view")).to_be_visible()
    expect(designer.get_by_label("Connection")).to_have_text("watching")
    # Joined mid-episode, with the participant idle: the state shows at once, not at the session's next change.
    expect(designer.get_by_role("status").filter(has_text="Playing")).to_be_visible(timeout=3_000)
    expect(designer.get_by_role("link", name="Browser pilot")).to_be_visible()  # the breadcrumb names the study
    live_step = designer.get_by_label("Step", exact=True)
    press_until_step(player, "ArrowLeft", 6)
    expect(live_step).to_have_text("6")
    inputs = designer.get_by_role("list", name="The participant's inputs, newest first")
    expect(inputs).to_contain_text(re.compile(r"input: (Arrow)?Left"))
    screen = designer.get_by_label("The participant's screen")
    expect(screen).to_be_visible()
    shot(designer, "08-live-view")

    press_until_step(player, "ArrowRight", PONG_ACTIONS)
    prompt = player.get_by_role("alertdialog")
    expect(prompt).to_contain_text(f"Episode over after {PONG_STEPS} steps")
    assert_within_window(player, prompt.get_by_role("button", name="Keep (y)"))
    shot(player, "09-player-save-prompt")
    prompt.get_by_role("button", name="Keep (y)").click()
    expect(status).to_contain_text("Episode saved — press Enter for a new one")
    expect(designer.get_by_role("status").filter(has_text="Episode saved")).to_be_visible()
    shot(designer, "10-live-view-saved")

    # "Saved" is the worker's word; the recorder stores the episode's end from JetStream a moment later.
    deadline = time.monotonic() + 60
    while not (episodes := [e for e in web.api.list_episodes(flow.study_id) if e["state"] == "completed"]):
        assert time.monotonic() < deadline, "the kept episode was never stored as completed"
        time.sleep(0.2)
    assert len(episodes) == 1 and episodes[0]["num_steps"] == PONG_STEPS, episodes
    flow.episode_id = episodes[0]["id"]


# --- the recorded episode -------------------------------------------------------------------------------------------

def test_episode_is_in_episodes(flow: Flow, web: Web) -> None:
    """The saved episode is a row of the study's Episodes table, with its thumbnail, state and length."""
    page = flow.designer
    page.goto(f"/studies/{flow.study_id}/episodes")
    row = page.get_by_role("row").filter(has=page.get_by_label(f"Replay episode {flow.episode_id[:8]}"))
    expect(row).to_be_visible()
    expect(row).to_contain_text("completed")
    expect(row).to_contain_text(str(PONG_STEPS))
    thumbnail = row.get_by_role("img")
    expect(thumbnail).to_be_visible()
    assert image_width(thumbnail) > 0, "the thumbnail did not load"
    shot(page, "11-episodes")


def at_step(step: int) -> re.Pattern[str]:
    """The replay's step counter at `step` of the episode's last step."""
    return re.compile(rf"^Step {step} (of|/) {PONG_STEPS - 1}$")


def test_replay_to_step_10_and_back(flow: Flow) -> None:
    page = flow.designer
    page.get_by_label(f"Replay episode {flow.episode_id[:8]}").click()
    expect(page).to_have_url(re.compile(rf"/episodes/{flow.episode_id}"))
    counter = page.get_by_role("status", name="Step counter")
    expect(counter).to_have_text(at_step(0))
    frame = page.get_by_role("img", name=re.compile(r"Frame shown at step 0"))
    expect(frame).to_be_visible()
    shot(page, "12-replay-step-0")

    page.locator("body").press("Shift+ArrowRight")  # ten steps
    expect(counter).to_have_text(at_step(10))
    expect(page.get_by_role("img", name=re.compile(r"Frame shown at step 10"))).to_be_visible()
    expect(page.get_by_label("Raw input")).to_contain_text("Right")
    shot(page, "13-replay-step-10", at=page.get_by_role("img", name=re.compile(r"^Reward, input and action")))

    page.get_by_role("button", name="Previous step").click()
    expect(counter).to_have_text(at_step(9))
    page.locator("body").press("Shift+ArrowLeft")
    expect(counter).to_have_text(at_step(0))
    page.get_by_role("button", name="Forward 10 steps").click()
    expect(counter).to_have_text(at_step(10))


def test_tag_episode_and_step_and_write_a_note(flow: Flow, web: Web) -> None:
    page = flow.designer
    page.get_by_label("Add tag", exact=True).fill("pilot")
    page.get_by_label("Add tag", exact=True).press("Enter")
    expect(page.get_by_role("list", name="Tags of the episode")).to_contain_text("pilot")

    page.get_by_label("Add step tag").fill("rally")
    page.get_by_role("button", name="Add this step tag").click()
    expect(page.get_by_role("list", name="Tags of step 10")).to_contain_text("rally")
    expect(page.get_by_role("button", name="Go to step 10 (rally)")).to_be_visible()

    page.get_by_label("Notes").fill("Played from the browser test.")
    page.get_by_role("button", name="Save notes").click()
    expect(page.get_by_text("Saved", exact=True)).to_be_visible()
    shot(page, "14-replay-tagged", at=page.get_by_label("Notes"))

    # Kept on the server: the API shows them, and so does the page after a reload.
    detail = web.api.get_episode(flow.episode_id)
    assert "pilot" in detail["tags"] and detail["notes"] == "Played from the browser test."
    assert {"step": 10, "label": "rally"} in [{"step": t["step"], "label": t["label"]} for t in detail["step_tags"]]
    page.reload()
    expect(page.get_by_role("list", name="Tags of the episode")).to_contain_text("pilot")
    expect(page.get_by_label("Notes")).to_have_value("Played from the browser test.")


def test_export_and_download(flow: Flow, tmp_path: Path) -> None:
    """The download dialog builds an RLDS dataset of the selected episode with a progress bar, then the link
    downloads a ZIP holding the TFDS layout."""
    page = flow.designer
    page.goto(f"/studies/{flow.study_id}/episodes")
    page.get_by_label(f"Select episode {flow.episode_id[:8]}").check()
    page.get_by_role("button", name="Download").click()
    dialog = page.get_by_role("dialog", name="Download dataset")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("The 1 selected episode")).to_be_checked()
    dialog.get_by_label("Dataset name").fill("browser_pilot")
    shot(page, "15-export-dialog")
    dialog.get_by_role("button", name="Export").click()

    progress = dialog.get_by_role("progressbar", name="Export progress")
    expect(progress).to_be_visible()
    expect(dialog.get_by_text("Ready", exact=True)).to_be_visible(timeout=120_000)
    expect(progress).to_have_attribute("aria-valuenow", "100")
    link = dialog.get_by_role("link", name=re.compile(r"Download ZIP"))
    shot(page, "16-export-ready")

    with page.expect_download() as download:
        link.click()
    saved = tmp_path / "dataset.zip"
    download.value.save_as(saved)
    assert zipfile.is_zipfile(saved), f"the download is not a ZIP: {saved.read_bytes()[:80]!r}"
    with zipfile.ZipFile(saved) as dataset:
        names = dataset.namelist()
        info = next((n for n in names if n.endswith("browser_pilot/1.0.0/dataset_info.json")), None)
        assert info is not None and any(".tfrecord" in n for n in names), names[:20]
        splits = json.loads(dataset.read(info))["splits"]
    # One episode, in the train split (the test split is 0).
    assert [(s["name"], sum(int(n) for n in s["shardLengths"])) for s in splits] == [("train", 1)], splits


def test_minigrid_on_a_phone(flow: Flow, browser: Browser, web: Web,
                             new_page: Callable[[BrowserContext, str], Page]) -> None:
    """Another participant plays the MiniGrid environment on a phone-sized touch screen with the on-screen
    buttons: the game, its buttons and the controls fit the screen without scrolling."""
    link = flow.participant_link.split("?token=")[0] + "?token=" + web.api.create_participant(flow.study_id)["token"]
    phone = new_context(browser, web, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    try:
        player = new_page(phone, "phone")
        player.goto(link)
        player.get_by_label("Environment").select_option("maze")
        player.get_by_role("button", name="Play").click()
        status = player.get_by_role("status").filter(has=player.get_by_label("Step", exact=True))
        expect(status).to_contain_text("Ready — press a key to start", timeout=60_000)
        buttons = player.get_by_role("group", name="On-screen controls").get_by_role("button")
        expect(buttons.first).to_be_visible()
        counter = player.get_by_label("Step", exact=True)
        for step in (1, 2):
            buttons.first.tap()
            expect(counter).to_have_text(str(step))
        expect(status).to_contain_text("Playing — your move")
        expect(player.get_by_label("Round-trip time")).to_have_text(re.compile(r"^\d+ ms$"))
        assert_within_window(player, player.get_by_label("Game screen"), buttons.first,
                             player.get_by_role("toolbar", name="Session controls"))
        shot(player, "17-player-phone-minigrid")
    finally:
        phone.close()


def test_a_slow_environment_is_a_warning_at_its_fps(flow: Flow) -> None:
    """HalfCheetah at 480x480 with shadows cannot step at 60 fps on a CPU worker: Try says it works, with a warning
    in yellow at the fps field naming the budget and what one step took; its suggestion fills the fps in; turn-based,
    the same environment has no warning."""
    page = flow.designer
    page.goto("/studies/new")
    page.get_by_label(required("Study name")).fill("Slow pilot")
    env = page.get_by_role("group", name="Environment pong")
    env.get_by_label(required("Environment key")).fill("cheetah")
    env = page.get_by_role("group", name="Environment cheetah")
    env.get_by_label(required("Gymnasium id")).fill("HalfCheetah-v5")
    env.get_by_label("Steps per second (fps)").fill("60")
    env.get_by_role("button", name="Show render and timing options").click()
    env.get_by_label("Render width").fill("480")
    env.get_by_label("Render height").fill("480")

    page.get_by_role("button", name="Try").click()
    expect(page.get_by_text("All 1 environment work, with 1 warning (marked in yellow).")).to_be_visible(timeout=60_000)
    expect(env.get_by_text("tried: works, 1 warning")).to_be_visible()
    warning = env.locator(".pc-warning")
    expect(warning).to_have_count(1)
    expect(warning).to_contain_text(re.compile(r"^Expected a step within 16\.7 ms for realtime at 60 fps, got "
                                               r"~[\d.]+ ms per step \(step [\d.]+ ms, render [\d.]+ ms, JPEG "
                                               r"[\d.]+ ms\) on this worker: set fps to \d+ or less, or mode "
                                               r"turn_based"))
    expect(env).to_contain_text(re.compile(r"One step on the worker: [\d.]+ ms \(step [\d.]+, render [\d.]+, JPEG "
                                           r"[\d.]+\), at most \d+ steps?/s"))
    fps_box = env.get_by_label("Steps per second (fps)").bounding_box()
    box = warning.bounding_box()
    assert fps_box and box and 0 <= box["y"] - (fps_box["y"] + fps_box["height"]) < 40, (fps_box, box)  # just below
    shot(page, "18-study-slow-warning", at=warning)

    suggestion = warning.get_by_role("button", name=re.compile(r"^Use \d+$"))
    fits = suggestion.inner_text().removeprefix("Use ")
    suggestion.click()
    expect(env.get_by_label("Steps per second (fps)")).to_have_value(fits)
    expect(warning).to_have_count(0)
    env.get_by_text("Turn-based", exact=True).click()
    page.get_by_role("button", name="Try").click()
    expect(page.get_by_text("All 1 environment work.")).to_be_visible(timeout=60_000)
    expect(env.get_by_text("tried: works", exact=True)).to_be_visible()
    expect(env.locator(".pc-warning")).to_have_count(0)
