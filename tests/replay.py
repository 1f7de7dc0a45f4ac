"""Checking a stored Atari episode against the environment itself: from the recorded seed, replaying the recorded
actions must reproduce every recorded observation, reward and image shown, bit for bit. A missing, duplicated or
reordered step breaks the chain at once."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import gymnasium as gym
import numpy as np
import simplejpeg


def sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def replay_atari(env_id: str, episode: dict[str, Any], steps: list[dict[str, Any]], jpeg_quality: int | None = None,
                 max_episode_steps: int | None = None) -> None:
    """Assert that `steps` (as read from the API) are exactly what the worker produced for `episode`."""
    import ale_py

    gym.register_envs(ale_py)
    assert [s["index"] for s in steps] == list(range(episode["num_steps"])), "steps missing, duplicated or reordered"
    env = gym.make(env_id, render_mode="rgb_array", max_episode_steps=max_episode_steps)
    try:
        obs, _ = env.reset(seed=episode["seed"])
        for i, step in enumerate(steps):
            assert step["observation"][0]["sha256"] == sha(obs), f"observation {i} differs from the environment's"
            if jpeg_quality is not None and "image" in step:
                shown = simplejpeg.encode_jpeg(np.ascontiguousarray(env.render()), quality=jpeg_quality)
                assert base64.b64decode(step["image"]) == shown, f"image {i} differs from the frame rendered"
            assert step["is_first"] == (i == 0)
            if step["is_last"]:
                assert i == len(steps) - 1, f"step {i} is last but {len(steps) - 1 - i} follow it"
                break
            obs, reward, _, _, _ = env.step(int(step["action"]))
            assert step["reward"] == reward, f"reward {i} differs"
    finally:
        env.close()
