"""Turning client actions into valid actions, and encoding frames."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import simplejpeg

_ECHO = 200  # characters of a client's action an error quotes at most


def _shown(value: Any) -> str:
    text = " ".join(repr(value).split())  # a space's numpy repr spans lines
    return text if len(text) <= _ECHO else text[:_ECHO] + "..."


def to_action(space: gym.Space, raw: Any) -> Any:
    """Check a client's action against the space before any conversion can overflow; the ValueError names the
    space, what arrived (truncated) and what is wrong with it."""
    try:
        action = _convert(space, raw)
        if not space.contains(action):  # the checks below are the space's own; this guards against a gap in them
            raise ValueError("not contained in the space")
    except (ValueError, TypeError, OverflowError) as err:
        raise ValueError(f"Expected an action in {_shown(space)}, got {_shown(raw)}: {err}") from None
    return action


def _integer(x: Any) -> int:
    if not isinstance(x, (int, float, np.integer, np.floating)):
        raise ValueError(f"expected integers, got {type(x).__name__} {_shown(x)}")
    if isinstance(x, (float, np.floating)) and not (math.isfinite(x) and x == int(x)):
        raise ValueError(f"expected integers, got {_shown(x)}")
    return int(x)


def _strict_integer(x: Any) -> int:
    if isinstance(x, bool):
        raise ValueError("expected integers, got a bool")
    return _integer(x)


def _number(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise ValueError(f"expected numbers, got {type(x).__name__} {_shown(x)}")
    value = float(x)  # OverflowError for an int beyond float range
    if not math.isfinite(value):
        raise ValueError(f"expected finite numbers, got {_shown(x)}")
    return value


def _array(raw: Any, shape: tuple[int, ...], leaf: Callable[[Any], Any], dtype: Any) -> np.ndarray:
    """Nested lists of exactly `shape`, each leaf converted by `leaf` (Python numbers, so nothing overflows)."""
    def walk(value: Any, depth: int) -> Any:
        if depth == len(shape):
            return leaf(value)
        if not isinstance(value, (list, tuple)) or len(value) != shape[depth]:
            got = f"a list of {len(value)}" if isinstance(value, (list, tuple)) else _shown(value)
            raise ValueError(f"expected shape {shape} ({shape[depth]} values at depth {depth}), got {got}")
        return [walk(v, depth + 1) for v in value]
    return np.array(walk(raw, 0), dtype=dtype)


def _within(values: np.ndarray, low: Any, high: Any) -> None:
    outside = ~((values >= low) & (values <= high))
    if outside.any():
        index = tuple(int(i) for i in np.argwhere(outside)[0])
        value = values[index].item() if isinstance(values[index], np.generic) else values[index]
        low, high = np.broadcast_to(low, values.shape)[index], np.broadcast_to(high, values.shape)[index]
        raise ValueError(f"{_shown(value)} at index {index} is outside {low}..{high}")


def _convert(space: gym.Space, raw: Any) -> Any:
    spaces = gym.spaces
    if isinstance(space, spaces.Discrete):
        if isinstance(raw, bool):
            raise ValueError("expected an integer, got a bool")
        value, start = _integer(raw), int(space.start)
        if not start <= value < start + int(space.n):
            raise ValueError(f"outside {start}..{start + int(space.n) - 1}")
        return np.int64(value)
    if isinstance(space, spaces.Box):
        integral = np.issubdtype(space.dtype, np.integer)
        values = _array(raw, space.shape, _strict_integer if integral else _number, object if integral else np.float64)
        _within(values, space.low, space.high)
        return values.astype(space.dtype)
    if isinstance(space, spaces.MultiDiscrete):
        values = _array(raw, space.shape, _strict_integer, object)
        _within(values, space.start, space.start + space.nvec - 1)
        return values.astype(space.dtype)
    if isinstance(space, spaces.MultiBinary):
        values = _array(raw, space.shape, _integer, object)
        _within(values, 0, 1)
        return values.astype(space.dtype)
    if isinstance(space, spaces.Dict):
        if not isinstance(raw, dict) or set(raw) != set(space.spaces):
            raise ValueError(f"expected an object with keys {sorted(space.spaces)}")
        return {k: _convert(s, raw[k]) for k, s in space.spaces.items()}
    if isinstance(space, spaces.Tuple):
        if not isinstance(raw, (list, tuple)) or len(raw) != len(space.spaces):
            raise ValueError(f"expected a list of {len(space.spaces)} actions")
        return tuple(_convert(s, r) for s, r in zip(space.spaces, raw, strict=True))
    if isinstance(space, spaces.Text):
        return _text(space, raw)
    raise ValueError(f"explicit actions are not supported for {type(space).__name__} spaces")


def _text(space: gym.spaces.Text, raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"expected a string, got {type(raw).__name__}")
    if not space.min_length <= len(raw) <= space.max_length:
        raise ValueError(f"expected {space.min_length}..{space.max_length} characters, got {len(raw)}")
    if outside := sorted(set(raw) - space.character_set):
        raise ValueError(f"expected characters of {_shown(space.characters)}, got {_shown(''.join(outside))}")
    return raw


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    frame = np.ascontiguousarray(frame)
    if frame.ndim == 2:
        return simplejpeg.encode_jpeg(frame[:, :, None], quality=quality, colorspace="GRAY")
    if frame.shape[-1] == 4:
        return simplejpeg.encode_jpeg(frame, quality=quality, colorspace="RGBA")
    return simplejpeg.encode_jpeg(frame, quality=quality, colorspace="RGB")
