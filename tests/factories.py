"""Test data: study specs."""

from __future__ import annotations

import uuid
from typing import Any


def pong_study(max_episode_steps: int = 250, **env: Any) -> dict[str, Any]:
    """Turn-based unless told otherwise, so a bot plays as fast as the stack answers."""
    return {
        "name": f"pong-{uuid.uuid4().hex[:8]}",
        "instructions": "Return the ball.",
        "environments": [{"id": "pong", "env_id": "ALE/Pong-v5", "max_episode_steps": max_episode_steps,
                          "mode": "turn_based", **env}],
    }


def cartpole_study(**env: Any) -> dict[str, Any]:
    return {
        "name": f"cartpole-{uuid.uuid4().hex[:8]}",
        "environments": [{"id": "cartpole", "env_id": "CartPole-v1", "mode": "turn_based", **env}],
    }


def study(*environments: dict[str, Any], name: str = "study") -> dict[str, Any]:
    return {"name": f"{name}-{uuid.uuid4().hex[:8]}", "environments": list(environments)}
