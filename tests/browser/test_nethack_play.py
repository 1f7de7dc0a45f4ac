"""NetHack in the participant's page, in Chromium, through the gateway of a real stack (NLE's NetHackScore-v0 and
NetHack-v0): each key press is one step of the command NetHack's own key sends, Enter is NetHack's --More-- (not a
new episode) and Escape its ESC (not a pause) where the game binds them, Shift+'.' goes down as '>' and comes up
released even when Shift is let go first, and the terminal frame fills the page legibly. The steps are checked as
the recorder stored them, against the env's own action meanings; the page is kept as
artifacts/screenshots/nethack-*.png. And the study form: a designer typing a NetHack id gets a turn-based
environment (a realtime NetHack is refused), a RoboDesk id its 3 fps, step-while-held turn-based play."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from playcorder.specs import EnvironmentSpec
from playcorder_env_worker.families import make_env
from tests.browser.conftest import Console, Web, assert_within_window, new_context, shot
from tests.factories import study
from tests.stored import stored_episode

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
# no mode: a NetHack environment is turn-based unless its spec says otherwise (FAMILY_DEFAULTS)
SCORE = {"id": "score", "env_id": "NetHackScore-v0", "max_episode_steps": 7,
         "instructions": "Move with h/j/k/l; > goes down stairs."}
FULL = {"id": "full", "env_id": "NetHack-v0", "mode": "turn_based", "max_episode_steps": 2}


def meanings(env_id: str) -> list[str]:
    """The env's action meanings, as the worker names them ('MORE', 'E', 'DOWN', 'ESC', ...)."""
    prepared = make_env(EnvironmentSpec.model_validate({"id": "n", "env_id": env_id, "mode": "turn_based"}))
    try:
        assert prepared.action_meanings is not None
        return list(prepared.action_meanings)
    finally:
        prepared.close()


def text(row: Any) -> str:
    return bytes(np.asarray(row, np.uint8)).rstrip(b"\0").decode("latin-1")


@pytest.fixture(scope="module")
def study_id(web: Web) -> str:
    created = web.api.create_study(study(SCORE, FULL, name="NetHack in the browser"))
    modes = {e["id"]: e["mode"] for e in created["spec"]["environments"]}
    assert modes == {"score": "turn_based", "full": "turn_based"}, modes
    return str(created["id"])


@pytest.fixture
def player(browser: Browser, web: Web, study_id: str,
           new_page: Callable[[BrowserContext, str], Page]) -> Iterator[Page]:
    context = new_context(browser, web)
    try:
        page = new_page(context, "nethack")
        page.goto(f"/?token={web.api.create_participant(study_id)['token']}")
        yield page
    finally:
        context.close()


def play(page: Page, env: str) -> None:
    page.get_by_label("Environment").select_option(env)
    page.get_by_role("button", name="Play").click()
    expect(status(page)).to_contain_text("Ready — press a key to start", timeout=60_000)
    expect(page.get_by_label("Game: press keys to play")).to_be_focused()


def status(page: Page) -> Any:
    return page.get_by_role("status").filter(has=page.get_by_label("Step", exact=True))


def stepped(page: Page, step: int, press: Callable[[], None]) -> None:
    """`press` makes exactly one step: the page's counter goes to `step` and stays there."""
    counter = page.get_by_label("Step", exact=True)
    expect(counter).to_have_text(str(step - 1))
    press()
    expect(counter).to_have_text(str(step))
    page.wait_for_timeout(150)  # no second step follows (a held key repeating, a stuck '>')
    expect(counter).to_have_text(str(step))


def kept_episode(web: Web, study_id: str, env: str) -> dict[str, Any]:
    """The study's one stored episode of `env` (more than one: a key started another)."""
    deadline = time.monotonic() + 60
    while True:
        episodes = [e for e in web.api.list_episodes(study_id) if e["env"] == env]
        if any(e["state"] == "completed" for e in episodes):
            assert len(episodes) == 1, f"Expected one {env} episode, got {[(e['id'], e['state']) for e in episodes]}"
            return stored_episode(web.api, episodes[0]["id"])
        assert time.monotonic() < deadline, f"no completed {env} episode stored: {episodes}"
        time.sleep(0.2)


def test_keys_are_nethack_commands_and_enter_is_more(player: Page, web: Web, study_id: str) -> None:
    """NetHackScore-v0: '>' off the stairs, Enter (--More--), l, j, '>' with Shift let go first and '>' again, then
    Escape, which NetHackScore-v0 does not bind (the page pauses), and k: seven steps of one episode."""
    page = player
    play(page, "score")
    keyboard = page.keyboard

    def shift_period() -> None:  # '>' on a US keyboard, as a person types it
        keyboard.down("Shift")
        keyboard.down("Period")
        keyboard.up("Period")
        keyboard.up("Shift")

    stepped(page, 1, shift_period)
    expect(status(page)).to_contain_text("Playing — your move")
    shot(page, "nethack-cant-go-down", full_page=False)
    assert_within_window(page, page.get_by_label("Game screen"), page.get_by_role("toolbar", name="Session controls"))
    screen = page.get_by_label("Game screen").bounding_box()
    assert screen is not None and screen["width"] >= 640, f"Expected the 640x408 terminal at full size, got {screen}"

    stepped(page, 2, lambda: keyboard.press("Enter"))  # --More--, not a new episode
    expect(status(page)).to_contain_text("Playing — your move")
    stepped(page, 3, lambda: keyboard.press("l"))
    stepped(page, 4, lambda: keyboard.press("j"))

    def shift_first() -> None:  # '>' down with Shift, Shift let go before '.': '>' must not stay held
        keyboard.down("Shift")
        keyboard.down("Period")
        keyboard.up("Shift")
        keyboard.up("Period")

    stepped(page, 5, shift_first)
    stepped(page, 6, shift_period)  # a new press, a new step: the first '>' was released

    keyboard.press("Escape")  # NetHackScore-v0 has no ESC action: Escape stays the page's pause
    expect(status(page)).to_contain_text("Paused — press a key to continue")
    expect(page.get_by_label("Step", exact=True)).to_have_text("6")
    stepped(page, 7, lambda: keyboard.press("k"))  # resumes, and is a step

    prompt = page.get_by_role("alertdialog")
    expect(prompt).to_contain_text("Episode over after 8 steps")
    keyboard.press("y")
    expect(status(page)).to_contain_text("Episode saved — New episode starts another")

    episode = kept_episode(web, study_id, "score")
    steps = list(web.api.recorded_steps(episode["id"]))
    names = meanings("NetHackScore-v0")
    assert [names[int(s.action)] for s in steps[:-1]] == ["DOWN", "MORE", "E", "S", "DOWN", "DOWN", "N"]
    assert [s.input for s in steps[:-1]] == [
        {"keys": ["Shift", ">"]}, {"keys": ["Enter"]}, {"keys": ["l"]}, {"keys": ["j"]}, {"keys": ["Shift", ">"]},
        {"keys": ["Shift", ">"]}, {"keys": ["k"]}]
    assert episode["num_steps"] == 8 and steps[-1].is_last
    # NetHack's answers: '>' off the stairs, and Enter with no --More-- pending
    assert text(steps[1].observation["message"]) == "You can't go down here."
    assert text(steps[1].observation["tty_chars"][0]).rstrip() == "You can't go down here."
    assert text(steps[2].observation["message"]) == "Unknown command '^M'."


def test_escape_is_netHacks_esc_where_the_game_binds_it(player: Page, web: Web, study_id: str) -> None:
    """NetHack-v0 has ESC: Escape is a step of it and the game keeps running; then l."""
    page = player
    play(page, "full")
    help_text = page.get_by_role("button", name="Help")
    help_text.click()
    expect(page.get_by_text("This game uses Enter and Escape itself")).to_be_visible()
    page.get_by_label("Game: press keys to play").click()
    stepped(page, 1, lambda: page.keyboard.press("Escape"))
    expect(status(page)).to_contain_text("Playing — your move")
    expect(page.get_by_role("button", name=re.compile(r"^(Pause|Resume)"))).to_have_text("Pause")
    stepped(page, 2, lambda: page.keyboard.press("l"))
    expect(page.get_by_role("alertdialog")).to_contain_text("Episode over after 3 steps")
    page.get_by_role("alertdialog").get_by_role("button", name="Keep (y)").click()

    episode = kept_episode(web, study_id, "full")
    steps = list(web.api.recorded_steps(episode["id"]))
    names = meanings("NetHack-v0")
    assert [names[int(s.action)] for s in steps[:-1]] == ["ESC", "E"]
    assert [s.input for s in steps[:-1]] == [{"keys": ["Escape"]}, {"keys": ["l"]}]


def test_the_study_form_makes_a_nethack_id_turn_based(browser: Browser, web: Web, console: Console,
                                                       new_page: Callable[[BrowserContext, str], Page]) -> None:
    """The designer types NetHackScore-v0 over the form's Pong, key by key, and saves without touching Mode: the
    form has made it turn-based, and the study saves so; a RoboDesk id, typed likewise, gets 3 fps and step while
    held (then is removed again: its frame takes long to render here)."""
    console.allow(r"status of 401 .*/api/session\)$")  # the app asks whether it is signed in first
    context = new_context(browser, web)
    try:
        page = new_page(context, "nethack-designer")
        page.goto("/signin")
        page.get_by_label("Name").fill(web.designer)
        page.get_by_label("Password").fill(web.password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Studies")).to_be_visible()
        page.get_by_role("link", name="New study").click()
        page.get_by_label(re.compile(r"^Study name( \*)?$")).fill("NetHack from the form")
        env = page.get_by_role("group", name="Environment pong")
        env.get_by_label(re.compile(r"^Environment key( \*)?$")).fill("nethack")
        env = page.get_by_role("group", name="Environment nethack")
        gym_id = env.get_by_label(re.compile(r"^Gymnasium id( \*)?$"))
        expect(env.get_by_role("radio", name="Realtime")).to_be_checked()  # Pong's: the form's default
        gym_id.fill("")
        gym_id.press_sequentially("NetHackScore-v0")
        expect(env.get_by_role("radio", name="Turn-based")).to_be_checked()

        page.get_by_role("button", name="Add environment").click()
        desk = page.get_by_role("group", name="Environment env2")
        desk.get_by_label(re.compile(r"^Gymnasium id( \*)?$")).press_sequentially("robodesk/RoboDesk-v0")
        expect(desk.get_by_role("radio", name="Turn-based")).to_be_checked()
        expect(desk.get_by_label("Steps per second (fps)")).to_have_value("3")
        desk.get_by_role("button", name="Show render and timing options").click()
        expect(desk.get_by_label("Step while held (turn-based)")).to_be_checked()
        shot(page, "nethack-form-robodesk", at=desk.get_by_label("Steps per second (fps)"))
        desk.get_by_role("button", name="Remove environment env2").click()

        page.get_by_role("button", name="Create study").click()
        expect(page).to_have_url(re.compile(r"/studies/[0-9a-f]{32}$"), timeout=60_000)
        saved = web.api.get_study(page.url.rsplit("/", 1)[1])["spec"]["environments"]
        assert [(e["env_id"], e["mode"], e["fps"], e["step_while_held"]) for e in saved] == [
            ("NetHackScore-v0", "turn_based", 15, False)], saved
    finally:
        context.close()
