"""Test data: study specs."""

from __future__ import annotations

import uuid
from typing import Any


def pong_study(max_episode_steps: int = 250, **env: Any) -> dict[str, Any]:
    return {
        "name": f"pong-{uuid.uuid4().hex[:8]}",
        "instructions": "Return the ball.",
        "environments": [{"id": "pong", "env_id": "ALE/Pong-v5", "max_episode_steps": max_episode_steps, **env}],
    }


def cartpole_study(**env: Any) -> dict[str, Any]:
    return {
        "name": f"cartpole-{uuid.uuid4().hex[:8]}",
        "environments": [{"id": "cartpole", "env_id": "CartPole-v1", **env}],
    }
