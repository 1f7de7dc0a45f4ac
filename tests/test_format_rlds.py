"""The RLDS export format: every space kind round-trips through tfds, the rlds library's transformations work on
it, splits, and the internal metadata kept or stripped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from playcorder_exporter.datasets.formats import open_writer
from tests import tensorflow_side
from tests.dataset_episodes import SPACES, STEP_TAGS, as_array, make_episodes


def same(a, b) -> bool:  # type: ignore[no-untyped-def]
    if isinstance(a, dict):
        return all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return all(same(x, b[str(i)]) for i, x in enumerate(a))
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def write(tmp_path: Path, kind: str, keep: bool = True) -> tuple[Path, list]:
    config, episodes = make_episodes(kind, keep_metadata=keep)
    writer = open_writer("rlds", tmp_path, config)
    for meta, steps in episodes:
        assert writer.add_episode(meta, iter(steps), split="test" if meta.episode_index == 2 else "train") == len(steps)
    summary = writer.close()
    assert summary["episodes"] == 3 and summary["splits"]["train"]["episodes"] == 2
    return tmp_path / config.name / config.version, episodes


@pytest.mark.parametrize("kind", SPACES)
def test_every_space_kind_round_trips(tmp_path: Path, kind: str) -> None:
    root, episodes = write(tmp_path, kind)
    info, train = tensorflow_side.load(root, "train")
    _, test = tensorflow_side.load(root, "test")
    assert info["version"] == "1.2.0" and info["splits"]["train"]["num_examples"] == 2
    loaded = {e["episode_id"].decode(): e for e in train + test}
    for meta, steps in episodes:
        got = loaded[meta.episode_id]
        assert int(got["episode_index"]) == meta.episode_index and got["agent_id"].decode() == meta.agent_id
        assert got["environment"].decode() == kind and int(got["num_steps"]) == len(got["steps"]) == len(steps)
        assert [t.decode() for t in got["tags"]] == list(meta.tags) and got["notes"].decode() == meta.notes
        for s, g in zip(steps, got["steps"], strict=True):
            assert same(as_array(s.observation), g["observation"]), kind
            assert same(as_array(s.action), g["action"]), kind
            assert np.float32(s.reward) == g["reward"] and (s.is_first, s.is_last, s.is_terminal) == (
                g["is_first"], g["is_last"], g["is_terminal"])
            assert [t for t in STEP_TAGS if g[f"tag:{t}"]] == s.tags
            assert g["image"].ndim == 3 and g["input"].decode() == ("{}" if not s.input else '{"keys": ["Up"]}')


def test_rlds_transformations_work_on_the_export(tmp_path: Path) -> None:
    root, episodes = write(tmp_path, "continuous")
    summary = tensorflow_side.rlds_summary(root, "train")
    by_length = {len(steps): steps for _, steps in episodes[:2]}
    assert sorted(e["length"] for e in summary) == sorted(by_length)
    for e in summary:
        steps = by_length[e["length"]]
        assert e["reward"] == pytest.approx(sum(np.float32(s.reward) for s in steps), abs=1e-5)
        assert len(e["windows"]) == e["length"] - 1  # windows of 2 consecutive steps
        assert all(list(w["is_first"]) == [i == 0, False] for i, w in enumerate(e["windows"]))
        assert e["until_terminal"] == e["length"]  # nothing follows a terminal step


def test_stripped_export_has_no_internal_metadata(tmp_path: Path) -> None:
    root, _ = write(tmp_path, "image", keep=False)
    _, train = tensorflow_side.load(root, "train")
    assert "tags" not in train[0] and "notes" not in train[0]
    assert set(train[0]["steps"][0]) == {"observation", "action", "reward", "discount", "is_first", "is_last",
                                         "is_terminal"}
