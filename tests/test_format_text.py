"""Text spaces (MiniGrid's mission) through every export format, read back with each format's own reader: the
mission string is the one recorded, character for character. Sequence and Graph spaces through RLDS, the one format
that holds them, read back with tfds; the other formats refuse them up front with the reason spaces.format_limits
gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import minari
import numpy as np
import pyarrow.parquet as pq
import pytest

from playcorder.gym_spaces import space_spec
from playcorder.spaces import FORMATS, format_limits
from playcorder_exporter.build import build_export
from playcorder_exporter.datasets.formats import open_writer
from playcorder_exporter.datasets.formats.envlogger_format import load_envlogger
from playcorder_exporter.datasets.formats.minari_format import dataset_id
from tests import tensorflow_side
from tests.dataset_episodes import make_episodes

# A MiniGrid-like observation, plus a text action so both sides are covered; é and ✓ check the UTF-8 path.
MISSION = gym.spaces.Text(40, min_length=0, charset="abcdefghijklmnopqrstuvwxyz é✓")
SPACES = (gym.spaces.Dict({"direction": gym.spaces.Discrete(4), "image": gym.spaces.Box(0, 255, (7, 7, 3), np.uint8),
                           "mission": MISSION}),
          gym.spaces.Dict({"move": gym.spaces.Discrete(3), "say": gym.spaces.Text(5, charset="xyz")}))


def _episodes(keep: bool = True) -> tuple[Any, list[Any]]:
    config, episodes = make_episodes("text", keep_metadata=keep, spaces=SPACES)
    return config, episodes


def _write(fmt: str, root: Path, keep: bool = True) -> tuple[Any, list[Any]]:
    config, episodes = _episodes(keep)
    writer = open_writer(fmt, root, config)
    for meta, steps in episodes:
        writer.add_episode(meta, iter(steps), split="train")
    writer.close()
    return config, episodes


def _missions(episodes: list[Any]) -> dict[str, list[str]]:
    return {meta.episode_id: [s.observation["mission"] for s in steps] for meta, steps in episodes}


def test_every_format_holds_text() -> None:
    config, _ = _episodes()
    assert format_limits(config.observation_spec, config.action_spec) == {}
    assert config.observation_spec["spaces"]["mission"] == {"type": "text", "max_length": 40, "min_length": 0,
                                                           "charset": " abcdefghijklmnopqrstuvwxyzé✓"}


def test_rlds_reads_back_the_mission(tmp_path: Path) -> None:
    config, episodes = _write("rlds", tmp_path)
    _, loaded = tensorflow_side.load(tmp_path / config.name / config.version, "train")
    got = {e["episode_id"].decode(): [g["observation"]["mission"].decode() for g in e["steps"]] for e in loaded}
    assert got == _missions(episodes) and any(m for ms in got.values() for m in ms)
    said = {e["episode_id"].decode(): [g["action"]["say"].decode() for g in e["steps"]] for e in loaded}
    assert said == {meta.episode_id: [s.action["say"] for s in steps] for meta, steps in episodes}


def test_envlogger_reads_back_the_mission(tmp_path: Path) -> None:
    _, episodes = _write("envlogger", tmp_path)
    envlogger = load_envlogger()
    with envlogger.Reader(str(tmp_path / "train")) as reader:
        got = [[str(s.timestep.observation["mission"]) for s in e] for e in reader.episodes]
        spec = reader.observation_spec()
    # envlogger step k holds o_k (RLDS step k's observation)
    assert got == [[s.observation["mission"] for s in steps] for _, steps in episodes]
    assert set(spec) == {"direction", "image", "mission"}


def test_minari_reads_back_the_mission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, episodes = _write("minari", tmp_path)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    dataset = minari.load_dataset(dataset_id(config.name, "train", config.version))
    assert dataset.observation_space["mission"] == MISSION
    got = [list(e.observations["mission"]) for e in dataset.iterate_episodes()]
    # the one-step episode has no transition, so Minari (like its DataCollector) has none of it
    assert got == [[s.observation["mission"] for s in steps] for _, steps in episodes if len(steps) > 1]
    said = [list(e.actions["say"]) for e in dataset.iterate_episodes()]
    assert said == [[s.action["say"] for s in steps[:-1]] for _, steps in episodes if len(steps) > 1]


def test_lerobot_reads_back_the_mission(tmp_path: Path) -> None:
    _, episodes = _write("lerobot", tmp_path)
    rows = [r for f in sorted(tmp_path.glob("data/*/*.parquet")) for r in pq.read_table(f).to_pylist()]
    rows.sort(key=lambda r: r["index"])
    assert [r["observation.mission"] for r in rows] == [s.observation["mission"] for _, steps in episodes
                                                       for s in steps]
    assert [r["action.say"] for r in rows] == [s.action["say"] for _, steps in episodes for s in steps]


GRAPH_OBS = gym.spaces.Dict({"mission": MISSION, "map": gym.spaces.Graph(gym.spaces.Box(0, 1, (2,)),
                                                                          gym.spaces.Discrete(3))})
ITEM = gym.spaces.Dict({"n": gym.spaces.Discrete(3), "x": gym.spaces.Box(-1, 1, (2,), np.float64),
                        "word": gym.spaces.Text(4, min_length=0)})
SEQUENCES = gym.spaces.Dict({
    "items": gym.spaces.Sequence(ITEM),
    "points": gym.spaces.Sequence(gym.spaces.Box(0, 9, (3,), np.int16), stack=True),
    "graph": gym.spaces.Graph(gym.spaces.Discrete(5), None),
})


def _same_rows(expected: list[Any], got: Any) -> bool:
    """Sequence elements against the columns tfds reads back: arrays of (n, ...), bytes for text, dicts of them."""
    if isinstance(got, dict):
        return all(_same_rows([e[k] for e in expected], got[k]) for k in got)
    if got.dtype == object:
        return [g.decode() for g in got] == list(expected)
    want = np.stack([np.asarray(e, got.dtype) for e in expected]) if expected else got[:0]
    return got.shape == want.shape and got.tobytes() == want.tobytes()


_CHILD = "PLAYCORDER_TEST_CHILD"


def test_rlds_holds_sequences_and_graphs(tmp_path: Path) -> None:
    """Run in a child process: tfds serializes nested sequences with TensorFlow, which crashes in a process that has
    loaded MuJoCo's EGL renderer, as the suite's process may have (tests/tensorflow_side.py)."""
    if os.environ.get(_CHILD) != "1":
        here = Path(__file__).resolve()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               f"{here}::test_rlds_holds_sequences_and_graphs"], cwd=here.parent.parent,
                              env={**os.environ, _CHILD: "1"}, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        return
    config, episodes = make_episodes("sequences", spaces=(SEQUENCES, GRAPH_OBS["map"]), lengths=(8, 3))
    assert list(format_limits(config.observation_spec, config.action_spec)) == ["envlogger", "minari", "lerobot"]
    writer = open_writer("rlds", tmp_path, config)
    for meta, steps in episodes:
        writer.add_episode(meta, iter(steps), split="train")
    writer.close()
    _, loaded = tensorflow_side.load(tmp_path / config.name / config.version, "train")
    by_id = {e["episode_id"].decode(): e["steps"] for e in loaded}
    lengths = set()
    for meta, steps in episodes:
        for s, g in zip(steps, by_id[meta.episode_id], strict=True):
            o, got = s.observation, g["observation"]
            assert _same_rows(list(o["items"]), got["items"]) and _same_rows(list(o["points"]), got["points"])
            assert _same_rows(list(o["graph"].nodes), got["graph"]["nodes"]) and set(got["graph"]) == {"nodes"}
            lengths.add(len(o["items"]))
            if not s.is_last:  # the last step's action is the placeholder: a graph of no nodes
                a, act = s.action, g["action"]
                assert _same_rows(list(a.nodes), act["nodes"]) and _same_rows(list(a.edges), act["edges"])
                assert _same_rows(list(a.edge_links), act["edge_links"]) and act["edge_links"].dtype == np.int32
            else:
                assert len(g["action"]["nodes"]) == 0
    assert len(lengths) > 1  # sequences of several lengths, so the rows really are ragged


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "rlds"])
def test_sequence_and_graph_are_refused_with_the_reason(tmp_path: Path, fmt: str) -> None:
    config, episodes = make_episodes("graph", spaces=(GRAPH_OBS, gym.spaces.Discrete(2)))
    limits = format_limits(config.observation_spec, config.action_spec)
    assert set(limits) == set(FORMATS) - {"rlds"} and "Graph space at observation.map" in limits[fmt]
    seq = format_limits(space_spec(gym.spaces.Sequence(gym.spaces.Discrete(2))), config.action_spec)
    assert "Sequence space at observation" in seq[fmt]
    from playcorder.exports import ExportOptions
    from playcorder_exporter.plan import EpisodeSource

    source = EpisodeSource(id="e", study_id="s", participant_id="p", env="g", env_id="G-v0", state="completed",
                           seed=1, num_steps=2, total_reward=0.0, observation_spec=config.observation_spec,
                           action_spec=config.action_spec, chunks=[], tags=[], notes="", step_tags={})
    with pytest.raises(ValueError, match=f"Expected spaces the {fmt} format can hold, got: .*Graph space"):
        build_export(None, [source], ExportOptions(format=fmt), dataset_name="d", fps=10,  # type: ignore[arg-type]
                     study_id="s", export_id="x", description="", workdir=tmp_path, progress=lambda n: None)


def test_rlds_refuses_a_sequence_of_sequences() -> None:
    spec = space_spec(gym.spaces.Sequence(gym.spaces.Sequence(gym.spaces.Discrete(2))))
    assert format_limits(spec, space_spec(gym.spaces.Discrete(2)))["rlds"] == (
        "RLDS (tfds) holds a Sequence of tensors, text, dicts and tuples, not the Sequence of Sequence at "
        "observation (ragged rows within ragged rows)")
