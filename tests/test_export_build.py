"""Building an export from stored chunks on a real S3 server: end-of-episode tags, episodes whose worker died, the
train/test split, stripping, ZIP or directory tree."""

from __future__ import annotations

import uuid
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import simplejpeg

from playcorder.exports import ExportOptions
from playcorder.gym_spaces import space_spec
from playcorder.records import Step, encode_chunk
from playcorder.settings import S3Settings
from playcorder.storage import ObjectStore, chunk_key
from playcorder_exporter.build import build_export
from playcorder_exporter.plan import EpisodeSource, held_out
from tests import tensorflow_side

OBS, ACT = gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.Discrete(4)
JPEG = simplejpeg.encode_jpeg(np.zeros((8, 8, 3), np.uint8))


@pytest.fixture(scope="module")
def objects(stack) -> ObjectStore:  # type: ignore[no-untyped-def]
    store = ObjectStore(S3Settings(endpoint=stack.s3_endpoint, access_key=stack.s3_access_key,
                                   secret_key=stack.s3_secret_key, bucket="export-build"))
    store.ensure_bucket_sync()
    return store


def recorded(objects: ObjectStore, n: int, *, ended: bool = True, state: str = "completed", chunk: int = 4,
             step_tags: dict[int, list[str]] | None = None) -> EpisodeSource:
    """An episode of n recorded steps stored as chunks (its final step recorded only if `ended`)."""
    eid, rng = uuid.uuid4().hex, np.random.default_rng(len(objects.bucket) + n)
    obs_spec, act_spec = space_spec(OBS), space_spec(ACT)
    steps = [Step(i, rng.uniform(-1, 1, 3).astype(np.float32), i % 4, float(i + 1), 1.0, i == 0,
                  ended and i == n - 1, False, 0.0, image=JPEG) for i in range(n)]
    if ended:
        steps[-1].action, steps[-1].reward = 0, 0.0
    chunks = []
    for seq, first in enumerate(range(0, n, chunk)):
        part = steps[first:first + chunk]
        key = chunk_key("study", eid, seq)
        objects.put_bytes_sync(key, encode_chunk(eid, seq, part, obs_spec, act_spec))
        chunks.append((key, first, len(part), sum(s.reward for s in part)))
    return EpisodeSource(id=eid, study_id="study", participant_id="p", env="env", env_id="Env-v0", state=state, seed=1,
                         num_steps=n, total_reward=sum(s.reward for s in steps), observation_spec=obs_spec,
                         action_spec=act_spec, chunks=chunks, step_tags=step_tags or {})


def build(objects: ObjectStore, tmp_path: Path, sources: list[EpisodeSource], **options):  # type: ignore[no-untyped-def]
    progress: list[int] = []
    built = build_export(objects, sources, ExportOptions(**options), dataset_name="build_test", fps=15,
                         study_id="study", export_id=uuid.uuid4().hex, description="d", workdir=tmp_path,
                         progress=progress.append)
    return built, progress


def unzip(objects: ObjectStore, key: str, into: Path) -> Path:
    archive = into / "export.zip"
    archive.write_bytes(objects.get_bytes_sync(key))
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(into / "x")
    return into / "x"


def test_end_tags_truncate_and_dead_workers_episodes_are_closed(objects: ObjectStore, tmp_path: Path) -> None:
    cut = recorded(objects, 10, step_tags={6: ["fell"], 3: ["fell", "other"], 8: ["done"]})
    whole = recorded(objects, 5)
    died = recorded(objects, 7, ended=False, state="interrupted")
    built, progress = build(objects, tmp_path, [cut, whole, died], end_tags=["fell"], keep_metadata=True)
    assert built.summary["steps"] == 4 + 5 + 7 and progress[-1] == 16
    _, loaded = tensorflow_side.load(unzip(objects, built.key, tmp_path) / "build_test" / "1.0.0")
    got = {e["episode_id"].decode(): e for e in loaded}
    first = got[cut.id]["steps"]  # cut at its first step tagged "fell" (3), not the later one
    assert len(first) == 4 and [bool(s["is_last"]) for s in first] == [False] * 3 + [True]
    assert not first[-1]["is_terminal"] and first[-1]["action"] == 0 and first[-1]["reward"] == 0
    assert got[cut.id]["total_reward"] == pytest.approx(1 + 2 + 3) and got[cut.id]["num_steps"] == 4
    assert first[-1]["tag:fell"] and first[-1]["tag:other"] and not any(s["tag:done"] for s in first)
    last = got[died.id]["steps"]  # the worker died: its last stored step becomes the last, truncated
    assert len(last) == 7 and last[-1]["is_last"] and not last[-1]["is_terminal"] and last[-1]["reward"] == 0
    assert got[died.id]["total_reward"] == pytest.approx(sum(range(1, 7)))
    assert len(got[whole.id]["steps"]) == 5 and got[whole.id]["total_reward"] == pytest.approx(sum(range(1, 5)))


def test_split_tree_and_stripping(objects: ObjectStore, tmp_path: Path) -> None:
    sources = [recorded(objects, 3 + i) for i in range(10)]
    test_ids = held_out([s.id for s in sources], 0.3)
    assert len(test_ids) == 3 and held_out([s.id for s in reversed(sources)], 0.3) == test_ids  # order-free
    built, _ = build(objects, tmp_path, sources, test_split=0.3, archive=False, name="tree_set", version="2.1.0")
    assert built.summary["splits"]["train"]["episodes"] == 7 and built.summary["splits"]["test"]["episodes"] == 3
    paths = {f["path"] for f in built.files}
    assert {"tree_set/2.1.0/dataset_info.json", "tree_set/2.1.0/features.json"} <= paths
    assert any(p.startswith("tree_set/2.1.0/tree_set-test.tfrecord-") for p in paths)
    root = tmp_path / "tree"
    for f in built.files:
        target = root / f["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(objects.get_bytes_sync(built.key + f["path"]))
        assert target.stat().st_size == f["size"]
    _, test = tensorflow_side.load(root / "tree_set" / "2.1.0", "test")
    assert {e["episode_id"].decode() for e in test} == test_ids
    assert "image" not in test[0]["steps"][0] and "tags" not in test[0]  # stripped by default
