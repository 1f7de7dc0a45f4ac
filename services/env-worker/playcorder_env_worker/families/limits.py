"""What a spec may not make the worker do, whatever the env accepts: produce observations (or take actions) larger
than MAX_OBSERVATION_BYTES per step, render frames larger than the render spec allows (1920x1920), or read files
named by a kwarg (`xml_file="/etc/passwd"` would load, or probe for, any file on the host)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from .problems import EnvProblem

MAX_FRAME = 1920  # pixels wide and high at most: RenderSpec's own limit
_PATH_KEYS = frozenset({"xml_file", "model_path", "fullpath"})
_PATH_ENDINGS = ("_file", "_path", "_dir")


def value_bytes(space: gym.Space) -> int:
    """Bytes one value of `space` takes at most (unbounded parts count their one element)."""
    spaces = gym.spaces
    if isinstance(space, spaces.Dict):
        return sum(value_bytes(s) for s in space.spaces.values())
    if isinstance(space, spaces.Tuple):
        return sum(value_bytes(s) for s in space.spaces)
    if isinstance(space, spaces.Sequence):
        return value_bytes(space.feature_space)
    if isinstance(space, spaces.Graph):
        return value_bytes(space.node_space) + (value_bytes(space.edge_space) if space.edge_space else 0)
    if isinstance(space, spaces.Text):
        return int(space.max_length) * 4
    shape = space.shape or ()
    itemsize = np.dtype(space.dtype).itemsize if space.dtype is not None else 8
    return math.prod(int(n) for n in shape) * itemsize


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n / 1024:.1f} KiB"


def check_spaces(env: gym.Env, limit: int) -> None:
    """EnvProblem at observation_space / action_space when one value of it exceeds `limit` bytes."""
    for field, space in (("observation_space", env.observation_space), ("action_space", env.action_space)):
        size = value_bytes(space)
        if size > limit:
            raise EnvProblem(field, f"Expected an {field.replace('_', ' ')} of at most {_size(limit)} per value "
                                    f"(MAX_OBSERVATION_BYTES), got {_size(size)}: {_shown(space)}")


def check_agent_spaces(agent: str, observation_space: gym.Space, action_space: gym.Space, limit: int) -> None:
    """check_spaces for one agent of a multi-agent env: the EnvProblem names the agent."""
    for field, space in (("observation_space", observation_space), ("action_space", action_space)):
        size = value_bytes(space)
        if size > limit:
            raise EnvProblem(field, f"Expected an {field.replace('_', ' ')} of at most {_size(limit)} per value "
                                    f"(MAX_OBSERVATION_BYTES) for agent {agent!r}, got {_size(size)}: {_shown(space)}")


def _shown(space: gym.Space) -> str:
    text = " ".join(repr(space).split())
    return text if len(text) <= 200 else text[:200] + "..."


def check_frame(frame: np.ndarray) -> None:
    """EnvProblem when a rendered frame is larger than MAX_FRAME x MAX_FRAME."""
    height, width = int(frame.shape[0]), int(frame.shape[1]) if frame.ndim > 1 else 1
    if width > MAX_FRAME or height > MAX_FRAME:
        raise EnvProblem("kwargs", f"Expected a rendered frame of at most {MAX_FRAME}x{MAX_FRAME} pixels, got "
                                   f"{width}x{height} (a kwarg such as size or tile_size makes it that large)")


def is_path_key(key: str) -> bool:
    return key in _PATH_KEYS or key.endswith(_PATH_ENDINGS)


def check_paths(kwargs: Mapping[str, Any], field: str) -> None:
    """EnvProblem at `field.key` for a kwarg that names a file or folder."""
    for key in kwargs:
        if is_path_key(key):
            raise EnvProblem(f"{field}.{key}", f"Expected kwargs that name no file or folder (designers may not make "
                                               f"the worker read files on its host), got {key}={kwargs[key]!r}")
