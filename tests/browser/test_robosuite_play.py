"""A participant plays robosuite/Lift in Chromium: the help names the arm's keys (Space: gripper open/close), held
arrow keys move the arm and Space closes the gripper, the episode is kept, and its stored steps show the arm moved
forward (+x, robosuite's Down arrow) and the gripper closed. The frame shown is kept as
artifacts/screenshots/robosuite-NN-*.png."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Web, new_context, shot
from tests.factories import study
from tests.stored import all_steps

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
STEPS = 30  # max_episode_steps: the save prompt comes after them


def _leaf(steps: list[dict[str, Any]], spec: dict[str, Any], key: str, field: str) -> np.ndarray:
    """The summary `field` (min, max, mean) of one Dict observation key, per stored step."""
    index = list(spec["spaces"]).index(key)
    return np.array([s["observation"][index][field] for s in steps])


def test_participant_moves_the_arm_and_closes_the_gripper(
        browser: Browser, web: Web, new_page: Callable[[BrowserContext, str], Page]) -> None:
    # idle_pause_s: the steps after the last key take several seconds on a busy CPU (a few steps a second), more
    # than the default 6 s a realtime session waits for input before it pauses
    created = web.api.create_study(study({"id": "lift", "env_id": "robosuite/Lift", "fps": 10, "idle_pause_s": 120,
                                          "max_episode_steps": STEPS}, name="robosuite-browser"))
    token = web.api.create_participant(created["id"])["token"]
    context = new_context(browser, web)
    try:
        player = new_page(context, "robosuite-participant")
        player.goto(f"/?token={token}")
        player.get_by_label("Environment").select_option("lift")
        player.get_by_role("button", name="Play").click()
        status = player.get_by_role("status").filter(has=player.get_by_label("Step", exact=True))
        expect(status).to_contain_text("Ready — press a key to start", timeout=90_000)

        player.get_by_role("button", name="Help").click()
        keys = player.get_by_role("list", name="Keys")
        expect(keys).to_contain_text("Space: gripper open/close")
        expect(keys).to_contain_text("Down: x +")
        shot(player, "robosuite-01-help")
        player.keyboard.press("Escape")  # closes the help
        game = player.get_by_label("Game: press keys to play")
        game.click()
        expect(game).to_be_focused()

        player.keyboard.down("ArrowDown")  # robosuite's keyboard: Down moves the gripper away from the robot, +x
        player.wait_for_timeout(2500)
        player.keyboard.up("ArrowDown")
        # Space closes the gripper; it stays closed. Held 0.6 s: the worker reads the held keys at its ticks (a few
        # a second here), so a tap shorter than a tick may never be seen (noted for the lead)
        player.keyboard.down("Space")
        player.wait_for_timeout(600)
        player.keyboard.up("Space")
        player.wait_for_timeout(800)
        shot(player, "robosuite-02-playing", at=player.get_by_label("Game screen"))
        player.get_by_label("Camera").select_option("frontview")  # the whole robot, from the front
        player.wait_for_timeout(1000)
        shot(player, "robosuite-03-frontview", at=player.get_by_label("Game screen"))
        prompt = player.get_by_role("alertdialog")
        expect(prompt).to_contain_text(f"Episode over after {STEPS + 1} steps", timeout=60_000)
        prompt.get_by_role("button", name="Keep (y)").click()
        expect(status).to_contain_text("Episode saved")
    finally:
        context.close()

    deadline = time.monotonic() + 60
    while not (episodes := [e for e in web.api.list_episodes(created["id"]) if e["state"] == "completed"]):
        assert time.monotonic() < deadline, "the kept episode was never stored as completed"
        time.sleep(0.2)
    (episode,) = episodes
    spec = web.api.get_episode(episode["id"])["observation_spec"]
    steps = all_steps(web.api, episode["id"])
    actions = np.array([s["action"] for s in steps[:-1]])
    held = [i for i, s in enumerate(steps[:-1]) if "ArrowDown" in s["input"].get("keys", [])]
    assert len(held) >= 3, [s["input"] for s in steps]
    # held keys ramp: the step the press started (no time held yet) is 0, then x grows to the full +1
    assert np.all(actions[held[1:], 0] > 0) and actions[held[-1], 0] == 1 and np.all(np.diff(actions[held, 0]) >= 0)
    assert np.allclose(actions[held, 1:6], 0) and np.all(actions[held, 6] == -1)
    closed = [i for i, s in enumerate(steps[:-1]) if i > held[-1] and actions[i, 6] == 1]
    assert closed and closed[-1] == len(actions) - 1, "Space closed the gripper and it stayed closed"
    eef = _leaf(steps, spec, "robot0_eef_pos", "mean")  # x grows most: the mean of (x, y, z) grows with it
    assert eef[held[-1] + 1] - eef[held[0]] > 0.01, eef
    fingers = _leaf(steps, spec, "robot0_gripper_qpos", "max")  # the fingers' opening, (+q, -q)
    assert fingers[-1] < fingers[closed[0]] - 0.01, fingers
    assert all(s["info"]["success"] is False for s in steps)
