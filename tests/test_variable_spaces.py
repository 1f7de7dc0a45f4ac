"""Text, Sequence and Graph spaces: their specs convert both ways, their values round-trip through step chunks
exactly (as observation and as action), the spec-only sampler and placeholder make members of the live space, and
chunks of fixed-size spaces keep the layout they always had."""

from __future__ import annotations

import json
import struct
from typing import Any

import gymnasium as gym
import minigrid
import numpy as np
import pytest
import zstandard

from playcorder.gym_spaces import gym_value, space_from_spec, space_spec
from playcorder.records import MAGIC, ChunkHeader, Step, StepMeta, decode_chunk, encode_chunk
from playcorder.spaces import GraphValue, format_limits, leaves, sample, unflatten, zeros
from playcorder_env_worker.envs import to_action

S = gym.spaces
BOX2 = S.Box(-1, 1, (2,), np.float32)
SPACES: dict[str, gym.Space] = {
    "text": S.Text(12, min_length=2, charset="abc é"),
    "dict_with_text": S.Dict({"image": S.Box(0, 255, (4, 4, 3), np.uint8), "mission": S.Text(30)}),
    "sequence": S.Sequence(S.Dict({"n": S.Discrete(3), "word": S.Text(4, min_length=0)})),
    "sequence_stacked": S.Sequence(BOX2, stack=True),
    "sequence_stacked_dict": S.Sequence(S.Dict({"n": S.Discrete(3), "x": BOX2}), stack=True),
    "sequence_of_sequences": S.Sequence(S.Sequence(S.Discrete(5))),
    "graph": S.Graph(S.Box(0, 1, (3,), np.float32), S.Discrete(4)),
    "graph_without_edges": S.Graph(S.Discrete(6), None),
    "tuple_of_all": S.Tuple((S.Text(3, charset="xy"), S.Sequence(S.Discrete(2)), S.Graph(BOX2, BOX2), BOX2)),
    "one_of": S.OneOf((S.Discrete(3), S.Dict({"t": S.Text(5), "x": BOX2}))),
    "sequence_of_one_of": S.Sequence(S.OneOf((S.Discrete(2), BOX2))),
}


def same(a: Any, b: Any) -> bool:
    """Equal in structure, dtype, shape and bytes; strings equal; graphs field by field."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (gym.spaces.GraphInstance, GraphValue)):
        return isinstance(b, (gym.spaces.GraphInstance, GraphValue)) and all(
            (x is None and y is None) or same(np.asarray(x), np.asarray(y)) for x, y in zip(a, b, strict=True))
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str):
        return isinstance(b, str) and a == b
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def gym_sample(space: gym.Space) -> Any:
    """A sample of the live space with the dtypes records give back: a Discrete 0-d int64, edge_links int32."""
    value = space.sample()

    def fix(s: gym.Space, v: Any) -> Any:
        if isinstance(s, S.Dict):
            return {k: fix(sub, v[k]) for k, sub in s.spaces.items()}
        if isinstance(s, S.Tuple):
            return tuple(fix(sub, x) for sub, x in zip(s.spaces, v, strict=True))
        if isinstance(s, S.Sequence) and not s.stack:
            return tuple(fix(s.feature_space, x) for x in v)
        if isinstance(s, S.OneOf):
            return int(v[0]), fix(s.spaces[int(v[0])], v[1])
        if isinstance(s, S.Discrete):
            return np.asarray(v, np.int64)
        return v

    return fix(space, value)


@pytest.mark.parametrize("name", SPACES)
def test_specs_convert_both_ways(name: str) -> None:
    spec = space_spec(SPACES[name])
    assert space_from_spec(json.loads(json.dumps(spec, allow_nan=False))) == SPACES[name]


def test_spec_shapes_follow_the_contract() -> None:
    assert space_spec(S.Text(12, min_length=2, charset="ab")) == {"type": "text", "max_length": 12, "min_length": 2,
                                                                   "charset": "ab"}
    assert space_spec(S.Sequence(S.Discrete(2), stack=True)) == {"type": "sequence", "space": {"type": "discrete",
                                                                                                "n": 2}, "stack": True}
    assert space_spec(S.Graph(S.Discrete(2), None)) == {"type": "graph", "node_space": {"type": "discrete", "n": 2},
                                                         "edge_space": None}


@pytest.mark.parametrize("name", SPACES)
def test_values_round_trip_through_chunks(name: str) -> None:
    space = SPACES[name]
    space.seed(0)
    spec = space_spec(space)
    values = [gym_sample(space) for _ in range(6)] + [zeros(spec)]
    other = space_spec(S.Discrete(3))
    steps = [Step(i, v, v, float(i), 1.0, i == 0, i == 6, False, float(i), image=bytes([i]) * 3)
             for i, v in enumerate(values)]
    _, back = decode_chunk(encode_chunk("ep", 0, steps, spec, spec), spec, spec)
    for v, b in zip(values, back, strict=True):
        assert same(v, b.observation) and same(v, b.action), name
        assert space.contains(gym_value(spec, b.observation)), name
    as_obs = [Step(i, v, np.int64(1), 0.0, 1.0, i == 0, False, False, 0.0) for i, v in enumerate(values)]
    _, back = decode_chunk(encode_chunk("ep", 1, as_obs, spec, other), spec, other)
    assert all(same(v, b.observation) for v, b in zip(values, back, strict=True))


@pytest.mark.parametrize("name", SPACES)
def test_spec_samples_and_placeholders_are_members(name: str) -> None:
    space, spec, rng = SPACES[name], space_spec(SPACES[name]), np.random.default_rng(1)
    for value in [sample(spec, rng) for _ in range(10)] + [zeros(spec)]:
        assert space.contains(gym_value(spec, value)), (name, value)
        assert same(unflatten(spec, leaves(spec, value)), value) or "sequence" in name or "tuple" in name \
            or "one_of" in name


def test_minigrid_mission_is_recorded_as_text() -> None:
    gym.register_envs(minigrid)
    env = gym.make("MiniGrid-Empty-5x5-v0")
    spec = space_spec(env.observation_space)
    assert spec["spaces"]["mission"] == {"type": "text", "max_length": 4096, "min_length": 0,
                                         "charset": spec["spaces"]["mission"]["charset"]}
    obs, _ = env.reset(seed=3)
    _, (back,) = decode_chunk(encode_chunk("e", 0, [Step(0, obs, np.int64(2), 0.0, 1.0, True, True, True, 0.0)],
                                           spec, space_spec(env.action_space)), spec, space_spec(env.action_space))
    assert back.observation["mission"] == obs["mission"] == "get to the green goal square"
    assert same(obs["image"], back.observation["image"])
    assert format_limits(spec, space_spec(env.action_space)) == {}
    env.close()


def test_fixed_size_chunks_keep_their_layout() -> None:
    """A chunk of fixed-size spaces is byte for byte what it always was, so every stored chunk still decodes."""
    obs_spec, act_spec = space_spec(S.Box(0, 255, (2, 2, 3), np.uint8)), space_spec(S.Discrete(6))
    obs = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    step = Step(0, obs, np.int64(4), 1.0, 1.0, True, True, True, 5.0, image=b"jpeg")
    meta = StepMeta(i=0, reward=1.0, discount=1.0, first=True, last=True, terminal=True, t=5.0, image_len=4,
                    input={}, info={})
    # as written before multi-agent steps had a control ("ctl", absent from single-agent chunks)
    header = ChunkHeader(episode_id="e", seq=0, steps=[meta]).model_dump_json(exclude={"steps": {0: {"ctl"}}}).encode()
    body = obs.tobytes() + np.int64(4).tobytes() + b"jpeg"
    old = MAGIC + struct.pack("<I", len(header)) + header + zstandard.ZstdCompressor(
        level=3, write_checksum=True).compress(body)
    assert encode_chunk("e", 0, [step], obs_spec, act_spec) == old
    _, (back,) = decode_chunk(old, obs_spec, act_spec)
    assert same(obs, back.observation) and int(back.action) == 4


def test_bad_values_are_named() -> None:
    spec = space_spec(S.Text(5, min_length=1))
    act = space_spec(S.Discrete(2))
    with pytest.raises(ValueError, match=r"Expected a text value of 1..5 characters, got 7"):
        encode_chunk("e", 0, [Step(0, "toolong", 0, 0.0, 1.0, True, True, True, 0.0)], spec, act)
    with pytest.raises(ValueError, match=r"Expected a text value \(str\), got int"):
        leaves(spec, 3)
    graph = space_spec(S.Graph(S.Discrete(3), S.Discrete(2)))
    bad = GraphValue(np.array([0, 1]), np.array([1]), np.array([[0, 2]]))
    with pytest.raises(ValueError, match=r"Expected edge_links within 0..1, got 0..2"):
        leaves(graph, bad)
    seq = space_spec(S.Sequence(BOX2, stack=True))
    with pytest.raises(ValueError, match=r"Expected a stacked sequence of shape \(n, \*\(2,\)\), got shape \(3,\)"):
        leaves(seq, np.zeros(3, np.float32))


def test_text_actions_are_checked_against_the_space() -> None:
    space = S.Text(5, min_length=1, charset="abc")
    assert to_action(space, "cab") == "cab"
    with pytest.raises(ValueError, match=r"expected characters of 'abc', got 'dz'"):
        to_action(space, "adz")
    with pytest.raises(ValueError, match=r"expected 1..5 characters, got 6"):
        to_action(space, "aaaaaa")
    with pytest.raises(ValueError, match=r"expected a string, got int"):
        to_action(space, 3)


def test_format_limits_name_the_format_and_the_space() -> None:
    act = space_spec(S.Discrete(2))
    assert format_limits(space_spec(SPACES["dict_with_text"]), space_spec(S.Text(8))) == {}
    assert format_limits(space_spec(S.Box(0, 1, (2,), np.float16)), act) == {
        "envlogger": "envlogger's codec has no float16 (the observation space)"}
    assert "zero-length dimension" in format_limits(space_spec(S.Box(0, 1, (0, 3))), act)["envlogger"]
    limits = format_limits(space_spec(S.Dict({"a": S.Sequence(S.Discrete(2))})), space_spec(SPACES["graph"]))
    assert sorted(limits) == ["envlogger", "lerobot", "minari"]  # RLDS holds them as tfds Sequences
    assert limits["minari"] == ("Minari 0.5 serializes Box, Discrete, MultiDiscrete, MultiBinary, Text, Dict and "
                                "Tuple spaces, not the Sequence space at observation.a")
    one_of = format_limits(act, space_spec(SPACES["one_of"]))
    assert sorted(one_of) == ["envlogger", "lerobot", "minari", "rlds"] and "OneOf space" in one_of["rlds"]
    assert one_of["lerobot"].endswith("not the OneOf space at action")


def test_steps_summary_shows_text_and_sizes() -> None:
    from playcorder_gateway.routes.steps import _summary

    space = S.Dict({"g": SPACES["graph"], "m": S.Text(30), "o": SPACES["one_of"], "s": SPACES["sequence_stacked"],
                    "x": BOX2})
    spec = space_spec(space)
    value = {"g": GraphValue(np.zeros((3, 3), np.float32), np.array([1, 2]), np.array([[0, 1], [1, 2]], np.int32)),
             "m": "get to the green goal square", "o": (1, {"t": "hi", "x": np.zeros(2, np.float32)}),
             "s": np.zeros((4, 2), np.float32), "x": np.array([0.5, -0.5], np.float32)}
    graph, mission, one_of, sequence, box = _summary(spec, value)
    assert (graph["type"], graph["nodes"], graph["edges"]) == ("graph", 3, 2)
    assert (mission["type"], mission["text"], mission["length"]) == ("text", "get to the green goal square", 28)
    assert (one_of["type"], one_of["index"]) == ("one_of", 1) and (sequence["type"], sequence["length"]) == (
        "sequence", 4)
    assert (box["dtype"], box["shape"], box["min"], box["max"]) == ("float32", [2], -0.5, 0.5)
