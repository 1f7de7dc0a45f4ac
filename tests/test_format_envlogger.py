"""EnvloggerWriter round trips: write every space kind, read back with envlogger.Reader, compare bit for bit
under the RLDS -> dm_env mapping of the module docstring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from playcorder.gym_spaces import space_spec
from playcorder.records import Step
from playcorder_exporter.datasets.formats.base import DatasetConfig, EpisodeMeta
from playcorder_exporter.datasets.formats.envlogger_format import EnvloggerWriter, load_envlogger
from tests import dataset_episodes
from tests.dataset_episodes import SPACES, as_array, make_episodes

envlogger = load_envlogger()  # sets np.unicode_ for envlogger 1.2 under numpy 2 before importing it
import dm_env  # noqa: E402

SPLITS = ("train", "train", "test")  # the first two episodes, then the last


def _write(directory: Path, config: DatasetConfig, episodes: list[tuple[EpisodeMeta, list[Step]]]) -> dict:
    writer = EnvloggerWriter(directory, config)
    for (meta, steps), split in zip(episodes, SPLITS, strict=True):
        assert writer.add_episode(meta, iter(steps), split) == len(steps)
    summary = writer.close()
    assert writer.close() == summary
    return summary


def _read(path: Path) -> tuple[dict, list[Any], list[list[Any]], Any]:
    with envlogger.Reader(str(path)) as reader:
        return (reader.metadata(), list(reader.episode_metadata()), [list(e) for e in reader.episodes],
                reader.observation_spec())


def _assert_same(expected: Any, got: Any, where: str) -> None:
    """Same structure, and leaves numpy arrays of the same dtype, shape and bytes (a Discrete value: 0-d int64)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(expected), f"{where}: {got!r}"
        for k in expected:
            _assert_same(expected[k], got[k], f"{where}.{k}")
        return
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected), f"{where}: {got!r}"
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            _assert_same(e, g, f"{where}.{i}")
        return
    expected = np.asarray(expected)
    assert isinstance(got, np.ndarray), f"{where}: expected an ndarray, got {type(got).__name__}"
    assert (got.dtype, got.shape) == (expected.dtype, expected.shape), f"{where}: {got.dtype}{got.shape}"
    assert got.tobytes() == expected.tobytes(), f"{where}: {got!r} != {expected!r}"


def _assert_float64(expected: float, got: Any, where: str) -> None:
    assert isinstance(got, np.float64), f"{where}: expected a float64, got {type(got).__name__}"
    assert got.tobytes() == np.float64(expected).tobytes(), f"{where}: {got} != {expected}"


def _validate(spec: Any, value: Any) -> None:
    if isinstance(spec, dict):
        assert sorted(spec) == sorted(value)
        for k in spec:
            _validate(spec[k], value[k])
    elif isinstance(spec, tuple):
        for s, v in zip(spec, value, strict=True):
            _validate(s, v)
    else:
        spec.validate(value)


def _check_episode(steps: list[Step], logged: list[Any], keep_metadata: bool, obs_spec: Any) -> None:
    """envlogger step 0 = FIRST(o_0), action None; step k >= 1 = (r_{k-1}, d_{k-1}, o_k), action a_{k-1}; the
    LAST step's discount is 0.0 when the episode terminated."""
    assert len(logged) == len(steps)
    for k, (step, got) in enumerate(zip(steps, logged, strict=True)):
        where = f"step {k}"
        ts = got.timestep
        _assert_same(as_array(step.observation), ts.observation, f"{where} observation")
        _validate(obs_spec, ts.observation)
        if k == 0:
            assert ts.step_type == dm_env.StepType.FIRST
            assert ts.reward is None and ts.discount is None and got.action is None
        else:
            prev = steps[k - 1]
            assert ts.step_type == (dm_env.StepType.LAST if step.is_last else dm_env.StepType.MID), where
            _assert_float64(prev.reward, ts.reward, f"{where} reward")
            _assert_float64(0.0 if step.is_terminal else prev.discount, ts.discount, f"{where} discount")
            _assert_same(as_array(prev.action), got.action, f"{where} action")
        if keep_metadata:
            custom = got.custom_data
            assert sorted(custom) == ["image", "info", "input", "tags"]
            assert isinstance(custom["image"], bytes) and custom["image"] == step.image
            assert json.loads(custom["input"]) == step.input
            assert json.loads(custom["info"]) == step.info
            assert json.loads(custom["tags"]) == step.tags
        else:
            assert got.custom_data is None
    if len(steps) > 1:
        assert logged[-1].timestep.step_type == dm_env.StepType.LAST
        assert logged[-1].timestep.discount == (0.0 if steps[-1].is_terminal else 1.0)


def _check_dataset(directory: Path, config: DatasetConfig, episodes: list[tuple[EpisodeMeta, list[Step]]]) -> None:
    assert sorted(p.name for p in directory.iterdir()) == ["test", "train"]
    for split in ("train", "test"):
        mine = [ep for ep, s in zip(episodes, SPLITS, strict=True) if s == split]
        metadata, episode_metadata, logged, obs_spec = _read(directory / split)
        expected_keys = {"name", "version", "description", "split", "observation_spec", "action_spec", "format",
                         "format_version", "environment_specs"} | ({"step_tags"} if config.keep_metadata else set())
        assert set(metadata) == expected_keys
        assert (metadata["name"], metadata["version"], metadata["description"], metadata["split"]) == (
            config.name, config.version, config.description, split)
        assert json.loads(metadata["observation_spec"]) == config.observation_spec
        assert json.loads(metadata["action_spec"]) == config.action_spec
        assert (metadata["format"], metadata["format_version"]) == ("playcorder.envlogger", 1)
        if config.keep_metadata:
            assert json.loads(metadata["step_tags"]) == list(config.step_tags)
        assert len(logged) == len(episode_metadata) == len(mine)
        for (meta, steps), got_meta, got_steps in zip(mine, episode_metadata, logged, strict=True):
            expected = {k: getattr(meta, k) for k in ("episode_id", "episode_index", "agent_id", "study_id",
                                                     "environment", "env_id", "state", "seed", "num_steps")}
            if config.keep_metadata:
                expected |= {"tags": list(meta.tags), "notes": meta.notes}
            assert set(got_meta) == set(expected) | {"total_reward"}
            _assert_float64(meta.total_reward, got_meta.pop("total_reward"), "total_reward")
            if config.keep_metadata:
                got_meta["tags"] = json.loads(got_meta["tags"])
            assert got_meta == expected
            _check_episode(steps, got_steps, config.keep_metadata, obs_spec)


@pytest.mark.parametrize("keep_metadata", [True, False], ids=["keep", "strip"])
@pytest.mark.parametrize("kind", sorted(SPACES))
def test_round_trip(tmp_path: Path, kind: str, keep_metadata: bool) -> None:
    config, episodes = make_episodes(kind, keep_metadata=keep_metadata)
    assert [len(s) for _, s in episodes] == [6, 4, 1] and episodes[0][1][-1].is_terminal
    summary = _write(tmp_path, config, episodes)
    assert summary["episodes"] == 3 and summary["steps"] == 11
    assert {k: (v["episodes"], v["steps"]) for k, v in summary["splits"].items()} == {"train": (2, 10),
                                                                                     "test": (1, 1)}
    _check_dataset(tmp_path, config, episodes)


def test_more_spaces_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tuple, nested Dict, every integer width, bool, MultiDiscrete, MultiBinary and a shifted Discrete."""
    spaces = gym.spaces
    obs = spaces.Tuple((
        spaces.Box(-5, 5, (3,), np.int8), spaces.Box(0, 1000, (2, 2), np.uint16), spaces.Box(0, 1, (4,), np.bool_),
        spaces.Dict({"md": spaces.MultiDiscrete([3, 4]), "mb": spaces.MultiBinary(5),
                     "deep": spaces.Dict({"u32": spaces.Box(0, 9, (2,), np.uint32),
                                          "i16": spaces.Box(-9, 9, (), np.int16)})}),
        spaces.Box(0, 9, (1,), np.uint64), spaces.Box(-9, 9, (2,), np.int32),
    ))
    monkeypatch.setitem(dataset_episodes.SPACES, "tuple", (obs, spaces.Discrete(3, start=-1)))
    config, episodes = make_episodes("tuple")
    _write(tmp_path, config, episodes)
    _check_dataset(tmp_path, config, episodes)


def test_refuses_float16_up_front(tmp_path: Path) -> None:
    config, _ = make_episodes("continuous")
    config = DatasetConfig(**{**config.__dict__,
                              "observation_spec": space_spec(gym.spaces.Box(0, 1, (2,), np.float16))})
    with pytest.raises(ValueError, match="float16"):
        EnvloggerWriter(tmp_path, config)


def _bad(steps: list[Step], message: str, tmp_path: Path, meta: EpisodeMeta) -> None:
    config, _ = make_episodes("discrete")
    writer = EnvloggerWriter(tmp_path, config)
    with pytest.raises(ValueError, match=message):
        writer.add_episode(meta, steps)
    # A partial episode is already in Riegeli: the writer refuses to go on.
    with pytest.raises(RuntimeError, match="partially"):
        writer.add_episode(meta, steps)
    writer.close()


def test_errors_name_expected_and_got(tmp_path: Path) -> None:
    config, episodes = make_episodes("discrete")
    meta, steps = episodes[0]
    _bad(steps + [steps[-1]], r"Expected no step after the last one \(step 5\)", tmp_path / "a", meta)
    _bad(steps[:-1], r"Expected step 4 of episode ep0 to be its last", tmp_path / "b", meta)
    _bad(steps, r"Expected 7 steps in episode ep0 \(its num_steps\), got 6", tmp_path / "c",
         EpisodeMeta(**{**meta.__dict__, "num_steps": 7}))
    wrong = [steps[0], Step(**{**steps[1].__dict__, "observation": np.zeros(2, np.int64)})]
    _bad(wrong, r"Expected a discrete value of shape \(\), got shape \(2,\)", tmp_path / "d", meta)

    writer = EnvloggerWriter(tmp_path / "e", config)
    terminal = Step(**{**steps[-1].__dict__, "is_first": True, "index": 0})
    with pytest.raises(ValueError, match="Expected a terminal episode to have an action"):
        writer.add_episode(meta, [terminal])
    with pytest.raises(ValueError, match="Expected is_first=True on step 0 of episode ep0, got False"):
        writer.add_episode(meta, steps[1:])
    writer.add_episode(*episodes[1], "train")
    writer.add_episode(*episodes[2], "test")
    with pytest.raises(ValueError, match="Expected the episodes of one split together, got split 'train' again"):
        writer.add_episode(*episodes[0], "train")
    assert writer.close()["episodes"] == 2
