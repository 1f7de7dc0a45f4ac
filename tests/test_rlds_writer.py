"""RLDSWriter round trips: write without TensorFlow, load with tfds.builder_from_directory."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import simplejpeg

from playcorder.gym_spaces import space_from_spec, space_spec
from playcorder.spaces import zeros
from playcorder_exporter.datasets.rlds_writer import RLDSWriter
from playcorder_exporter.datasets.tfrecord import TFRecordWriter, read_records
from tests import tensorflow_side

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _load(directory: Path, split: str = "train") -> tuple[dict[str, Any], dict[str, tuple[dict, list[dict]]]]:
    """(info, episodes by episode_id: (numpy metadata, numpy steps)), loaded by tfds in a child process."""
    info, loaded = tensorflow_side.load(directory, split)
    episodes = {}
    for ep in loaded:
        steps = ep.pop("steps")
        episodes[ep["episode_id"].decode()] = (ep, steps)
    return info, episodes


def _rollout(env: gym.Env, seed: int, action_spec: dict, policy=None) -> tuple[list[dict], bool]:
    """One episode in RLDS alignment: step i = (o_i, a_i, r_i), then a final is_last step."""
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    steps: list[dict] = []
    while True:
        action = policy(len(steps)) if policy else env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        steps.append(dict(observation=obs, action=action, reward=reward, discount=1.0,
                          is_first=not steps, is_last=False, is_terminal=False))
        obs = next_obs
        if terminated or truncated:
            break
    steps.append(dict(observation=obs, action=zeros(action_spec), reward=0.0,
                      discount=0.0 if terminated else 1.0, is_first=False, is_last=True, is_terminal=terminated))
    return steps, terminated


def _check_steps(written: list[dict], loaded: list[dict]) -> None:
    assert len(loaded) == len(written)
    assert [bool(s["is_first"]) for s in loaded] == [True] + [False] * (len(written) - 1)
    assert [bool(s["is_last"]) for s in loaded] == [False] * (len(written) - 1) + [True]
    for w, r in zip(written, loaded, strict=True):
        for key in ("observation", "action"):
            _assert_tree_equal(w[key], r[key])
        assert r["reward"] == np.float32(w["reward"]) and r["discount"] == np.float32(w["discount"])
        assert bool(r["is_terminal"]) == w["is_terminal"]


def _assert_tree_equal(written: Any, loaded: Any) -> None:
    if isinstance(written, dict):
        assert set(written) == set(loaded)
        for k in written:
            _assert_tree_equal(written[k], loaded[k])
    elif isinstance(written, tuple):  # stored as a dict keyed "0", "1", ...
        assert sorted(loaded) == [str(i) for i in range(len(written))]
        for i, w in enumerate(written):
            _assert_tree_equal(w, loaded[str(i)])
    else:
        w = np.asarray(written)
        assert loaded.shape == w.shape and loaded.dtype == w.dtype
        assert hashlib.sha256(loaded.tobytes()).digest() == hashlib.sha256(w.tobytes()).digest()


def test_tfrecord_framing_matches_tensorflow(tmp_path: Path) -> None:
    records = [b"", b"x", os.urandom(100_000)]
    with TFRecordWriter(tmp_path / "ours.tfrecord") as w:
        for r in records:
            w.write(r)
    assert w.num_bytes == sum(len(r) + 16 for r in records) == (tmp_path / "ours.tfrecord").stat().st_size
    tensorflow_side.write_tfrecords(tmp_path / "tf.tfrecord", records)
    assert (tmp_path / "ours.tfrecord").read_bytes() == (tmp_path / "tf.tfrecord").read_bytes()
    assert read_records(tmp_path / "ours.tfrecord") == records
    data = bytearray((tmp_path / "ours.tfrecord").read_bytes())
    data[30] ^= 1
    (tmp_path / "bad.tfrecord").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt"):
        read_records(tmp_path / "bad.tfrecord")


def test_cartpole_round_trip_with_shards(tmp_path: Path) -> None:
    env = gym.make("CartPole-v1", max_episode_steps=30)  # some episodes get truncated
    obs_spec, act_spec = space_spec(env.observation_space), space_spec(env.action_space)
    meta_kinds = {"episode_id": "string", "seed": "int64", "return": "float32", "tags": "string_list"}
    writer = RLDSWriter(tmp_path, name="cartpole", observation_spec=obs_spec, action_spec=act_spec,
                        episode_metadata=meta_kinds, description="CartPole test", shard_max_bytes=2000)
    written, ended = {}, []
    for seed in range(6):
        steps, terminated = _rollout(env, seed, act_spec)
        ended.append(terminated)
        meta = {"episode_id": f"ep{seed}", "seed": seed, "return": sum(s["reward"] for s in steps),
                "tags": ["t", f"s{seed}"]}
        writer.add_episode(iter(steps), meta)  # any iterable works
        written[meta["episode_id"]] = (meta, steps)
    summary = writer.close()
    assert writer.close() == summary  # idempotent
    assert True in ended and False in ended  # both terminated and truncated episodes
    n_steps = sum(len(s) for _, s in written.values())
    assert summary["episodes"] == 6 and summary["steps"] == n_steps and summary["shards"] > 1
    shards = sorted(p.name for p in tmp_path.glob("cartpole-train.tfrecord-*"))
    assert shards == [f"cartpole-train.tfrecord-{i:05d}-of-{summary['shards']:05d}" for i in range(summary["shards"])]
    assert summary["bytes"] == sum((tmp_path / s).stat().st_size for s in shards)

    info, loaded = _load(tmp_path)
    split = info["splits"]["train"]
    assert split["num_examples"] == 6
    assert split["num_shards"] == summary["shards"] and split["num_bytes"] == summary["bytes"]
    assert info["description"] == "CartPole test" and info["version"] == "1.0.0"
    assert set(loaded) == set(written)
    for eid, (meta, steps) in written.items():
        lmeta, lsteps = loaded[eid]
        _check_steps(steps, lsteps)
        assert lmeta["seed"] == meta["seed"] and lmeta["return"] == np.float32(meta["return"])
        assert [t.decode() for t in lmeta["tags"]] == meta["tags"]


@pytest.mark.parametrize("action_space", [gym.spaces.Discrete(4), gym.spaces.Box(-1, 1, (2,), np.float32)])
def test_image_dict_observation_with_jpeg(tmp_path: Path, action_space: gym.Space) -> None:
    obs_space = gym.spaces.Dict({"image": gym.spaces.Box(0, 255, (84, 84, 3), np.uint8),
                                 "state": gym.spaces.Box(-5, 5, (5,), np.float32)})
    obs_space.seed(0)
    action_space.seed(0)
    obs_spec, act_spec = space_spec(obs_space), space_spec(action_space)
    pixels = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)
    jpeg = simplejpeg.encode_jpeg(pixels, quality=90)
    written = {}
    for split, n in (("train", 3), ("test", 1)):  # two writers share one directory
        with RLDSWriter(tmp_path, name="synthetic", observation_spec=obs_spec, action_spec=act_spec,
                        episode_metadata={"episode_id": "string"}, step_image=True, split=split) as writer:
            for e in range(n):
                length = 5 + e
                steps = [dict(observation=obs_space.sample(), action=action_space.sample(), reward=float(i),
                              discount=1.0, is_first=i == 0, is_last=i == length - 1, is_terminal=i == length - 1,
                              image=jpeg)
                         for i in range(length)]
                writer.add_episode(steps, {"episode_id": f"{split}{e}"})
                written[f"{split}{e}"] = steps
    features = json.loads((tmp_path / "features.json").read_text())
    assert '"zlib"' in json.dumps(features)  # the 84x84x3 image observation is compressed
    for split in ("train", "test"):
        builder, loaded = _load(tmp_path, split)
        assert set(loaded) == {k for k in written if k.startswith(split)}
        for eid, (_, lsteps) in loaded.items():
            _check_steps(written[eid], lsteps)
            assert all(s["image"].shape == (48, 64, 3) and s["image"].dtype == np.uint8 for s in lsteps)
    # tfds decoded the JPEG given: it matches an independent decoder up to IDCT rounding.
    assert np.abs(lsteps[0]["image"].astype(int) - simplejpeg.decode_jpeg(jpeg).astype(int)).mean() < 2


def test_tuple_and_multi_spaces(tmp_path: Path) -> None:
    obs_space = gym.spaces.Tuple((gym.spaces.Box(-1, 1, (3,), np.float64), gym.spaces.Discrete(4),
                                  gym.spaces.MultiBinary(5)))
    act_space = gym.spaces.MultiDiscrete([3, 4])
    obs_space.seed(1)
    act_space.seed(1)
    writer = RLDSWriter(tmp_path, name="multi", observation_spec=space_spec(obs_space),
                        action_spec=space_spec(act_space), episode_metadata={"episode_id": "string"},
                        step_metadata={"note": "string", "frame": "int64"})
    steps = [dict(observation=obs_space.sample(), action=act_space.sample(), reward=0.5, discount=1.0,
                  is_first=i == 0, is_last=i == 3, is_terminal=False, note=f"n{i}", frame=i) for i in range(4)]
    writer.add_episode(steps, {"episode_id": "a"})
    writer.close()
    _, loaded = _load(tmp_path)
    _check_steps(steps, loaded["a"][1])  # float64 bit-exact too
    assert [s["note"] for s in loaded["a"][1]] == [b"n0", b"n1", b"n2", b"n3"]
    assert [int(s["frame"]) for s in loaded["a"][1]] == [0, 1, 2, 3]


def test_space_spec_round_trip() -> None:
    spaces = [
        gym.make("CartPole-v1").observation_space,  # has +-inf bounds
        gym.spaces.Box(0, 255, (210, 160, 3), np.uint8),
        gym.spaces.Discrete(6, start=-1),
        gym.spaces.MultiDiscrete([[2, 3], [4, 5]]),
        gym.spaces.MultiBinary([2, 3]),
        gym.spaces.Dict({"a": gym.spaces.Discrete(2), "b": gym.spaces.Tuple((gym.spaces.MultiBinary(4),))}),
    ]
    for space in spaces:
        spec = space_spec(space)
        assert space_from_spec(json.loads(json.dumps(spec, allow_nan=False))) == space
    assert space_spec(spaces[1]) == {"type": "box", "dtype": "uint8", "shape": [210, 160, 3], "low": 0, "high": 255}
    assert space_from_spec({"type": "box", "dtype": "uint8", "shape": [2]}) == gym.spaces.Box(0, 255, (2,), np.uint8)


def test_validation_errors(tmp_path: Path) -> None:
    spec = {"type": "discrete", "n": 2}
    writer = RLDSWriter(tmp_path, name="v", observation_spec=spec, action_spec=spec,
                        episode_metadata={"episode_id": "string"}, step_image=True)
    good = dict(observation=0, action=0, reward=0.0, discount=1.0, is_first=True, is_last=True,
                is_terminal=False, image=b"\xff\xd8")
    with pytest.raises(ValueError, match=r"Expected step keys \[.*'image'.*\], got \[.*'extra'.*\]"):
        writer.add_episode([good, {**good, "extra": 1}], {"episode_id": "x"})
    with pytest.raises(ValueError, match="Expected step keys"):
        writer.add_episode([{k: v for k, v in good.items() if k != "discount"}], {"episode_id": "x"})
    with pytest.raises(ValueError, match="Expected metadata keys"):
        writer.add_episode([good], {})
    with pytest.raises(TypeError, match="JPEG bytes"):
        writer.add_episode([{**good, "image": np.zeros((2, 2, 3), np.uint8)}], {"episode_id": "x"})
    writer.add_episode([good], {"episode_id": "ok"})
    with pytest.raises(FileExistsError):  # the split already has a shard
        RLDSWriter(tmp_path, name="v", observation_spec=spec, action_spec=spec, episode_metadata={})
    assert writer.close()["episodes"] == 1  # failed episodes wrote nothing
    with pytest.raises(RuntimeError):
        writer.add_episode([good], {"episode_id": "x"})


def test_writing_does_not_import_tensorflow(tmp_path: Path) -> None:
    script = """
import sys
import numpy as np
from playcorder_exporter.datasets.rlds_writer import RLDSWriter
assert "tensorflow" not in sys.modules
box = {"type": "box", "dtype": "uint8", "shape": [64, 64, 3]}
w = RLDSWriter(sys.argv[1], name="tiny", observation_spec=box, action_spec={"type": "discrete", "n": 3},
               episode_metadata={"episode_id": "string", "tags": "string_list"}, step_image=True)
steps = [dict(observation=np.full((64, 64, 3), i, np.uint8), action=i % 3, reward=1.0, discount=1.0,
              is_first=i == 0, is_last=i == 9, is_terminal=i == 9, image=b"\\xff\\xd8 not decoded")
         for i in range(10)]
w.add_episode(steps, {"episode_id": "e0", "tags": ["a"]})
assert w.close()["steps"] == 10
assert "tensorflow" not in sys.modules, sorted(m for m in sys.modules if m.startswith("tensorflow."))
"""
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "ds")], check=True, timeout=120)
    assert (tmp_path / "ds" / "dataset_info.json").exists()
