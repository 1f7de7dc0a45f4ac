"""Turning client actions into valid actions, and encoding frames."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import simplejpeg


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


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    frame = np.ascontiguousarray(frame)
    if frame.ndim == 2:
        return simplejpeg.encode_jpeg(frame[:, :, None], quality=quality, colorspace="GRAY")
    if frame.shape[-1] == 4:
        return simplejpeg.encode_jpeg(frame, quality=quality, colorspace="RGBA")
    return simplejpeg.encode_jpeg(frame, quality=quality, colorspace="RGB")
