"""The Minari export format: every space kind round-trips through minari.load_dataset bit-exactly, RLDS steps map
to Minari transitions, one dataset per split, episode metadata and the internal metadata kept or stripped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import minari
import numpy as np
import pytest

from playcorder.gym_spaces import space_from_spec
from playcorder.records import Step
from playcorder_exporter.datasets.formats.base import DatasetConfig, EpisodeMeta
from playcorder_exporter.datasets.formats.minari_format import EPISODE_METADATA, MinariWriter, dataset_id
from tests.dataset_episodes import SPACES, STEP_TAGS, as_array, make_episodes

# Beyond SPACES: an image Minari would JPEG-encode by default (>= 32x32 uint8), and a tuple of every leaf kind.
MORE_SPACES: dict[str, tuple[gym.Space, gym.Space]] = {
    "atari": (gym.spaces.Box(0, 255, (48, 40, 3), np.uint8), gym.spaces.Discrete(6)),
    "tuple": (gym.spaces.Tuple((gym.spaces.Box(0, 255, (32, 32), np.uint8), gym.spaces.MultiBinary(4),
                                gym.spaces.Box(-2, 2, (3,), np.float16), gym.spaces.Box(0, 1, (2,), np.bool_),
                                gym.spaces.Dict({"n": gym.spaces.Discrete(5, start=2),
                                                 "x": gym.spaces.Box(-9, 9, (2, 2), np.int32)}))),
              gym.spaces.Tuple((gym.spaces.MultiDiscrete([3, 4]), gym.spaces.Box(-1, 1, (2,), np.float64)))),
}


def same(a: Any, b: Any) -> bool:
    """Equal trees of arrays: same keys, dtypes, shapes and bytes."""
    if isinstance(a, dict):
        return isinstance(b, dict) and set(a) == set(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def stacked(values: list[Any]) -> Any:
    """Per-step space values as one tree of arrays with a leading time axis, as Minari returns them."""
    first = values[0]
    if isinstance(first, dict):
        return {k: stacked([v[k] for v in values]) for k in first}
    if isinstance(first, tuple):
        return tuple(stacked([v[i] for v in values]) for i in range(len(first)))
    return np.stack([np.asarray(v) for v in values])


def write(tmp_path: Path, kind: str, keep: bool = True,
          lengths: tuple[int, ...] = (6, 4, 1)) -> tuple[DatasetConfig, list, dict]:
    config, episodes = make_episodes(kind, lengths=lengths, keep_metadata=keep)
    writer = MinariWriter(tmp_path, config)
    written = []
    for meta, steps in episodes:
        split = "test" if meta.episode_index == len(episodes) - 1 else "train"
        assert writer.add_episode(meta, iter(steps), split=split) == (len(steps) if len(steps) > 1 else 0)
        written.append((meta, steps, split))
    summary = writer.close()
    assert writer.close() == summary
    return config, written, summary


def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: DatasetConfig, split: str) -> minari.MinariDataset:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    return minari.load_dataset(dataset_id(config.name, split, config.version))


def check_episode(ds: minari.MinariDataset, index: int, meta: EpisodeMeta, steps: list[Step], keep: bool) -> None:
    ep = ds[index]
    t = len(steps) - 1
    assert len(ep) == t
    assert same(stacked([as_array(s.observation) for s in steps]), ep.observations)
    assert same(stacked([as_array(s.action) for s in steps[:-1]]), ep.actions)
    assert same(np.array([s.reward for s in steps[:-1]], np.float64), ep.rewards)
    ended = steps[-1].is_terminal
    assert ep.terminations.tolist() == [False] * (t - 1) + [ended]
    assert ep.truncations.tolist() == [False] * (t - 1) + [not ended]

    md = next(iter(ds.storage.get_episode_metadata([index])))
    assert {k: md[k] for k in EPISODE_METADATA} == {k: getattr(meta, k) for k in EPISODE_METADATA}
    assert md["seed"] == meta.seed and md["total_steps"] == t
    if keep:
        assert list(md["tags"]) == list(meta.tags) and md["notes"] == meta.notes
        assert set(ep.infos) == {"image", "input", "info"} | {f"tag:{tag}" for tag in STEP_TAGS}
        assert [bytes(x) for x in ep.infos["image"]] == [s.image for s in steps]
        assert [json.loads(x) for x in ep.infos["input"]] == [s.input for s in steps]
        assert [json.loads(x) for x in ep.infos["info"]] == [s.info for s in steps]
        for tag in STEP_TAGS:
            assert ep.infos[f"tag:{tag}"].tolist() == [tag in s.tags for s in steps]
    else:
        assert "tags" not in md and "notes" not in md
        assert ep.infos == {}


@pytest.mark.parametrize("kind", SPACES)
def test_every_space_kind_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    config, written, summary = write(tmp_path, kind)
    assert summary["episodes"] == 2 and summary["steps"] == 10
    assert summary["splits"]["train"]["episodes"] == 2 and summary["splits"]["test"]["skipped_episodes"] == ["ep2"]
    train = load(tmp_path, monkeypatch, config, "train")
    test = load(tmp_path, monkeypatch, config, "test")
    assert train.id == f"playcorder/test_{kind}-train-v1" and len(train) == 2 and train.total_steps == 8
    assert len(test) == 0 and list(test) == []  # the one-step episode has no transition
    assert set(minari.list_local_datasets()) == {train.id, test.id}

    obs_space, act_space = SPACES[kind]
    for ds in (train, test):
        assert ds.observation_space == obs_space == space_from_spec(config.observation_spec)
        assert ds.action_space == act_space == space_from_spec(config.action_spec)
    info = train.storage.metadata
    assert info["description"] == config.description and info["algorithm_name"] == "human"
    pc = info["playcorder"]
    assert "Playcorder" in pc["note"] and (pc["name"], pc["version"], pc["split"]) == (config.name, "1.2.0", "train")
    assert pc["observation_spec"] == config.observation_spec and pc["action_spec"] == config.action_spec
    assert pc["step_tags"] == list(STEP_TAGS) and pc["env_ids"] == [f"{kind}-v0"] and pc["skipped_episodes"] == []
    assert test.storage.metadata["playcorder"]["skipped_episodes"] == ["ep2"]

    for index, (meta, steps, _) in enumerate(written[:2]):
        check_episode(train, index, meta, steps, keep=True)


@pytest.mark.parametrize("kind", SPACES)
def test_internal_metadata_stripped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    config, written, _ = write(tmp_path, kind, keep=False)
    train = load(tmp_path, monkeypatch, config, "train")
    assert len(train) == 2 and train.storage.metadata["playcorder"]["keep_metadata"] is False
    for index, (meta, steps, _) in enumerate(written[:2]):
        check_episode(train, index, meta, steps, keep=False)


@pytest.mark.parametrize("kind", MORE_SPACES)
def test_images_tuples_and_every_leaf_dtype_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       kind: str) -> None:
    monkeypatch.setitem(SPACES, kind, MORE_SPACES[kind])
    config, written, summary = write(tmp_path, kind, lengths=(5, 3, 4))
    assert summary["episodes"] == 3 and summary["splits"]["test"]["transitions"] == 3
    train, test = (load(tmp_path, monkeypatch, config, split) for split in ("train", "test"))
    assert train.observation_space == MORE_SPACES[kind][0] and test.action_space == MORE_SPACES[kind][1]
    assert train.storage.metadata["jpeg_encoding"] is False
    check_episode(train, 0, *written[0][:2], keep=True)  # terminated
    check_episode(train, 1, *written[1][:2], keep=True)
    check_episode(test, 0, *written[2][:2], keep=True)  # truncated, alone in its split
    # The other local route: the dataset's data directory, without MINARI_DATASETS_PATH.
    monkeypatch.delenv("MINARI_DATASETS_PATH")
    direct = minari.MinariDataset(tmp_path / dataset_id(config.name, "test", config.version) / "data")
    assert same(direct[0].observations, test[0].observations)


def test_errors_name_what_was_expected(tmp_path: Path) -> None:
    config, episodes = make_episodes("discrete")
    writer = MinariWriter(tmp_path, config)
    (meta, steps), (meta1, steps1), _ = episodes
    with pytest.raises(ValueError, match=r"Expected 6 steps .* got step 6"):
        writer.add_episode(meta, iter(steps + steps[-1:]))
    with pytest.raises(ValueError, match=r"Expected 4 steps .* got step 3 with is_first=False, is_last=False"):
        steps1[-1].is_last = False
        writer.add_episode(meta1, iter(steps1))
    steps1[-1].is_last = True
    with pytest.raises(ValueError, match=r"Expected step tags among \['crash', 'goal'\], got 'oops'"):
        steps1[1].tags = ["oops"]
        writer.add_episode(meta1, iter(steps1), split="test")
    steps1[1].tags = []
    writer.add_episode(meta1, iter(steps1), split="valid")
    with pytest.raises(ValueError, match=r"Expected the episodes of one split together, got split 'test' again"):
        writer.add_episode(meta1, iter(steps1), split="test")
    with pytest.raises(ValueError, match=r"Expected a split of letters.*got 'a b'"):
        writer.add_episode(meta1, iter(steps1), split="a b")
