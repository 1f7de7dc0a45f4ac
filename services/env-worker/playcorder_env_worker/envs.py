"""Creating environments from specs, turning client actions into valid actions, and encoding frames."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import simplejpeg

from playcorder.specs import EnvironmentSpec

_registered = False


def _register_families() -> None:
    global _registered
    if not _registered:
        import ale_py

        gym.register_envs(ale_py)
        _registered = True


def make_env(spec: EnvironmentSpec) -> gym.Env:
    _register_families()
    kwargs = dict(spec.kwargs)
    if spec.max_episode_steps is not None:
        kwargs["max_episode_steps"] = spec.max_episode_steps
    try:
        return gym.make(spec.env_id, render_mode="rgb_array", **kwargs)
    except gym.error.Error as err:
        raise ValueError(f"Expected a registered Gymnasium environment for {spec.env_id!r}: {err}") from err


def to_action(space: gym.Space, raw: Any) -> Any:
    """Validate a client's action against the space; the error names the space and what arrived."""
    try:
        if isinstance(space, gym.spaces.Discrete):
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or int(raw) != raw:
                raise ValueError
            action: Any = np.int64(raw)
        else:
            action = np.asarray(raw, dtype=space.dtype) if space.dtype is not None else raw
    except (ValueError, TypeError):
        raise ValueError(f"Expected an action in {space}, got {raw!r}") from None
    if not space.contains(action):
        raise ValueError(f"Expected an action in {space}, got {raw!r}")
    return action


def placeholder_action(space: gym.Space) -> Any:
    """RLDS keeps an action on the last step; it is a placeholder of the right type."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.start)
    if isinstance(space, gym.spaces.Box):
        return np.zeros(space.shape, dtype=space.dtype)
    return gym.spaces.utils.flatten_space(space).sample() * 0


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    frame = np.ascontiguousarray(frame)
    if frame.ndim == 2:
        return simplejpeg.encode_jpeg(frame[:, :, None], quality=quality, colorspace="GRAY")
    if frame.shape[-1] == 4:
        return simplejpeg.encode_jpeg(frame, quality=quality, colorspace="RGBA")
    return simplejpeg.encode_jpeg(frame, quality=quality, colorspace="RGB")
