"""Step chunks round-trip every Gymnasium space exactly (dtype, shape, values) and stay below the payload limit."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from playcorder.records import Step, decode_chunk, encode_chunk, read_header
from playcorder.spaces import space_spec

SPACES = {
    "image": gym.spaces.Box(0, 255, (84, 84, 3), np.uint8),
    "float64": gym.spaces.Box(-1.0, 1.0, (5,), np.float64),
    "discrete": gym.spaces.Discrete(6, start=-2),
    "multi_discrete": gym.spaces.MultiDiscrete([3, 4, 5]),
    "multi_binary": gym.spaces.MultiBinary([2, 3]),
    "dict": gym.spaces.Dict({"image": gym.spaces.Box(0, 255, (16, 16, 3), np.uint8),
                             "state": gym.spaces.Box(-np.inf, np.inf, (7,), np.float32)}),
    "tuple": gym.spaces.Tuple((gym.spaces.Discrete(3), gym.spaces.Box(-1, 1, (2,), np.float32))),
}


def _equal(a, b) -> bool:  # type: ignore[no-untyped-def]
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", SPACES)
def test_chunk_round_trip(name: str) -> None:
    space = SPACES[name]
    space.seed(0)
    spec = space_spec(space)
    obs = [space.sample() for _ in range(5)]
    steps = [
        Step(index=i, observation=o, action=i % 3, reward=0.5 * i, discount=1.0, is_first=i == 0, is_last=i == 4,
             is_terminal=False, time=1.0 + i, image=bytes([i]) * 10, input={"keys": ["Up"]}, info={"lives": np.int64(3)})
        for i, o in enumerate(obs)
    ]
    data = encode_chunk("ep", 7, steps, spec)
    header, back = decode_chunk(data, spec)
    assert header.seq == 7 and read_header(data).episode_id == "ep"
    for s, b in zip(steps, back):
        assert (b.index, b.action, b.reward, b.is_first, b.is_last, b.image, b.info) == (
            s.index, s.action, s.reward, s.is_first, s.is_last, s.image, {"lives": 3})
    for s, b in zip(steps, back):
        expected = s.observation
        if isinstance(expected, (int, np.integer)):
            expected = np.int64(expected)
        assert _equal(expected, b.observation)


def test_leaf_dtype_and_shape_preserved() -> None:
    spec = space_spec(SPACES["dict"])
    obs = SPACES["dict"].sample()
    _, (back,) = decode_chunk(encode_chunk("e", 0, [Step(0, obs, 0, 0.0, 1.0, True, True, True, 0.0)], spec), spec)
    assert back.observation["image"].dtype == np.uint8 and back.observation["image"].shape == (16, 16, 3)
    assert back.observation["state"].dtype == np.float32


def test_wrong_observation_shape_is_named() -> None:
    spec = space_spec(SPACES["image"])
    with pytest.raises(ValueError, match=r"Expected an observation leaf of shape \(84, 84, 3\), got \(2, 2\)"):
        encode_chunk("e", 0, [Step(0, np.zeros((2, 2), np.uint8), 0, 0.0, 1.0, True, True, True, 0.0)], spec)


def test_not_a_chunk_is_refused() -> None:
    with pytest.raises(ValueError, match="Expected a step chunk"):
        read_header(b"hello world")
