"""Reading back what the recorder stored: an episode once finalised, and all of its steps."""

from __future__ import annotations

import time
from typing import Any

from playcorder.sdk import ApiError, Client


def stored_episode(client: Client, episode_id: str, timeout: float = 15.0) -> dict[str, Any]:
    """The episode once the recorder has stored its begin (404 until then) and finalised it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            episode = client.get_episode(episode_id)
            if episode["state"] != "recording":
                return episode
        except ApiError as err:
            if err.status != 404:
                raise
            episode = {"state": "not stored yet"}
        if time.monotonic() > deadline:
            raise AssertionError(f"episode {episode_id} not finalised within {timeout:g} s: {episode['state']}")
        time.sleep(0.05)


def all_steps(client: Client, episode_id: str, images: bool = False) -> list[dict[str, Any]]:
    """Every stored step, page by page, checked to be indexed 0..n-1 against the finalised step count."""
    episode = stored_episode(client, episode_id)
    steps: list[dict[str, Any]] = []
    while page := client.get_steps(episode_id, start=len(steps), images=images)["steps"]:
        steps += page
    assert [s["index"] for s in steps] == list(range(episode["num_steps"])), "steps missing, duplicated or reordered"
    return steps
