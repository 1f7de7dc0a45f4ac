"""Step chunks round-trip every Gymnasium space exactly (dtype, shape, values), as observation and as action."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import zstandard

from playcorder.gym_spaces import space_from_spec, space_spec
from playcorder.records import MAGIC, Step, decode_chunk, encode_chunk, read_header
from playcorder.spaces import leaves, sample, unflatten, zeros

SPACES = {
    "image": gym.spaces.Box(0, 255, (84, 84, 3), np.uint8),
    "float64": gym.spaces.Box(-1.0, 1.0, (5,), np.float64),
    "float32_unbounded": gym.spaces.Box(-np.inf, np.inf, (2, 3), np.float32),
    "int16": gym.spaces.Box(-300, 300, (4,), np.int16),
    "bool": gym.spaces.Box(0, 1, (3,), np.bool_),
    "discrete": gym.spaces.Discrete(6, start=-2),
    "multi_discrete": gym.spaces.MultiDiscrete([3, 4, 5]),
    "multi_discrete_2d": gym.spaces.MultiDiscrete([[2, 3], [4, 5]], dtype=np.int32),
    "multi_binary": gym.spaces.MultiBinary([2, 3]),
    "dict_image_vector": gym.spaces.Dict({"image": gym.spaces.Box(0, 255, (16, 16, 3), np.uint8),
                                          "state": gym.spaces.Box(-np.inf, np.inf, (7,), np.float32)}),
    "tuple": gym.spaces.Tuple((gym.spaces.Discrete(3), gym.spaces.Box(-1, 1, (2,), np.float32))),
    "nested": gym.spaces.Dict({"a": gym.spaces.Tuple((gym.spaces.MultiBinary(4), gym.spaces.Discrete(2))),
                               "b": gym.spaces.Dict({"c": gym.spaces.Box(0, 1, (), np.float64)})}),
}


def same(a, b) -> bool:  # type: ignore[no-untyped-def]
    """Equal in structure, dtype, shape and bytes."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def as_sampled(space: gym.Space, value):  # type: ignore[no-untyped-def]
    """A Discrete sample is a numpy int64 scalar; records give it back as a 0-d int64 array."""
    return np.asarray(value, np.int64) if isinstance(space, gym.spaces.Discrete) else value


@pytest.mark.parametrize("obs_name", SPACES)
def test_observations_round_trip(obs_name: str) -> None:
    space, action_space = SPACES[obs_name], gym.spaces.Discrete(4)
    space.seed(0)
    action_space.seed(1)
    obs_spec, act_spec = space_spec(space), space_spec(action_space)
    assert space_from_spec(obs_spec) == space
    steps = [
        Step(index=i, observation=space.sample(), action=action_space.sample(), reward=0.5 * i, discount=1.0,
             is_first=i == 0, is_last=i == 4, is_terminal=False, time=1.0 + i, image=bytes([i]) * 10,
             input={"keys": ["Up"], "axes": [np.float32(0.25)]}, info={"lives": np.int64(3), "x": np.arange(2)})
        for i in range(5)
    ]
    data = encode_chunk("ep", 7, steps, obs_spec, act_spec)
    header, back = decode_chunk(data, obs_spec, act_spec)
    assert header.seq == 7 and header.episode_id == "ep" and read_header(data).steps[2].i == 2
    for s, b in zip(steps, back, strict=True):
        assert same(as_sampled(space, s.observation), b.observation), obs_name
        assert same(np.asarray(s.action, np.int64), b.action)
        assert (b.index, b.reward, b.discount, b.is_first, b.is_last, b.is_terminal, b.time, b.image) == (
            s.index, s.reward, s.discount, s.is_first, s.is_last, s.is_terminal, s.time, s.image)
        assert b.input == {"keys": ["Up"], "axes": [0.25]} and b.info == {"lives": 3, "x": [0, 1]}


@pytest.mark.parametrize("act_name", SPACES)
def test_actions_round_trip(act_name: str) -> None:
    space, obs_space = SPACES[act_name], gym.spaces.Box(-1, 1, (3,), np.float32)
    space.seed(2)
    obs_space.seed(3)
    obs_spec, act_spec = space_spec(obs_space), space_spec(space)
    actions = [space.sample() for _ in range(4)] + [zeros(act_spec)]  # the last step's placeholder action
    steps = [Step(i, obs_space.sample(), a, 0.0, 1.0, i == 0, i == 4, False, 0.0) for i, a in enumerate(actions)]
    _, back = decode_chunk(encode_chunk("ep", 0, steps, obs_spec, act_spec), obs_spec, act_spec)
    for a, b in zip(actions, back, strict=True):
        assert same(as_sampled(space, a), b.action), act_name


def test_dict_observation_keeps_each_leaf_dtype_and_shape() -> None:
    space = SPACES["dict_image_vector"]
    obs_spec, act_spec = space_spec(space), space_spec(gym.spaces.Discrete(2))
    steps = [Step(0, space.sample(), 0, 0.0, 1.0, True, True, True, 0.0)]
    _, (back,) = decode_chunk(encode_chunk("e", 0, steps, obs_spec, act_spec), obs_spec, act_spec)
    assert back.observation["image"].dtype == np.uint8 and back.observation["image"].shape == (16, 16, 3)
    assert back.observation["state"].dtype == np.float32 and back.observation["state"].shape == (7,)


def test_non_finite_floats_survive() -> None:
    spec = space_spec(SPACES["float32_unbounded"])
    value = np.array([[np.nan, np.inf, -np.inf], [0.0, -0.0, 1e-45]], np.float32)
    _, (back,) = decode_chunk(encode_chunk("e", 0, [Step(0, value, value, 0.0, 1.0, True, True, False, 0.0)],
                                           spec, spec), spec, spec)
    assert same(value, back.observation) and same(value, back.action)


def test_zeros_has_the_space_structure() -> None:
    spec = space_spec(SPACES["nested"])
    assert same(zeros(spec), ({"a": (np.zeros(4, np.int8), np.int64(0)), "b": {"c": np.float64(0)}}))
    assert [a.dtype for a in leaves(spec, zeros(spec))] == [np.int8, np.int64, np.float64]


def test_wrong_shapes_are_named() -> None:
    obs_spec, act_spec = space_spec(SPACES["image"]), space_spec(SPACES["float64"])
    with pytest.raises(ValueError, match=r"Expected a box value of shape \(84, 84, 3\), got shape \(2, 2\)"):
        encode_chunk("e", 0, [Step(0, np.zeros((2, 2), np.uint8), np.zeros(5), 0.0, 1.0, True, True, True, 0.0)],
                     obs_spec, act_spec)
    with pytest.raises(ValueError, match=r"Expected a box value of shape \(5,\), got shape \(3,\)"):
        encode_chunk("e", 0, [Step(0, np.zeros((84, 84, 3), np.uint8), [0, 0, 0], 0.0, 1.0, True, True, True, 0.0)],
                     obs_spec, act_spec)


def test_not_a_chunk_or_a_damaged_one_is_refused() -> None:
    with pytest.raises(ValueError, match="Expected a step chunk starting with b'PCR2', got b'hell'"):
        read_header(b"hello world")
    spec = space_spec(SPACES["float64"])
    data = bytearray(encode_chunk("e", 0, [Step(0, np.ones(5), np.ones(5), 0.0, 1.0, True, True, True, 0.0)],
                                  spec, spec))
    assert data[:4] == MAGIC
    data[-6] ^= 0xFF  # a flipped byte in the compressed body fails zstd's checksum
    with pytest.raises(zstandard.ZstdError):
        decode_chunk(bytes(data), spec, spec)


@pytest.mark.parametrize("name", SPACES)
def test_spec_samples_are_valid_actions(name: str) -> None:
    """The SDK's bot samples from the spec alone (no gymnasium): what it sends is a member of the live space."""
    space, rng = SPACES[name], np.random.default_rng(0)
    spec = space_spec(space)
    for _ in range(20):
        value = sample(spec, rng)
        assert space.contains(value if not isinstance(space, gym.spaces.Discrete) else np.int64(value)), value
        assert same(unflatten(spec, leaves(spec, value)), value) or isinstance(space, gym.spaces.Discrete)


def _header_steps(data: bytes) -> list[dict]:  # type: ignore[type-arg]
    import json
    import struct

    (n,) = struct.unpack_from("<I", data, 4)
    return json.loads(data[8 : 8 + n])["steps"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("fallback", [False, True], ids=["json", "pydantic"])
def test_a_multi_agent_step_keeps_who_controlled_it_and_a_single_agent_one_has_no_control(fallback: bool) -> None:
    spec, act = space_spec(SPACES["discrete"]), space_spec(SPACES["discrete"])
    human = {"controller": "human", "participant": "p1", "policy": None, "late": False}
    late_ai = {"controller": "ai", "participant": None, "policy": "nats", "late": True}
    # a non-finite reward is what json.dumps refuses: pydantic writes that header
    steps = [Step(i, np.int64(0), np.int64(1), math.nan if fallback else 0.0, 1.0, i == 0, i == 2, False, 0.0,
                  control=c) for i, c in enumerate([human, late_ai, None])]
    data = encode_chunk("ep", 0, steps, spec, act)
    headers = _header_steps(data)
    assert [("ctl" in m) for m in headers] == [True, True, False]  # a step without control: written as before
    assert [m.get("ctl") for m in headers] == [human, late_ai, None]
    if not fallback:
        assert [s.control for s in decode_chunk(data, spec, act)[1]] == [human, late_ai, None]
        assert [m.ctl for m in read_header(data).steps] == [human, late_ai, None]
