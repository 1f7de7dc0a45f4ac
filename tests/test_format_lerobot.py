"""LeRobotWriter round trips, read back as a LeRobot user without lerobot would: pyarrow for the parquet files, PyAV
for the videos (frames looked up as LeRobotDataset does: from_timestamp + timestamp, within 1e-4 s)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import simplejpeg

from playcorder.records import Step
from playcorder_exporter.datasets.formats import open_writer
from playcorder_exporter.datasets.formats.base import DatasetConfig, EpisodeMeta
from playcorder_exporter.datasets.formats.lerobot_format import LeRobotWriter
from playcorder_exporter.datasets.formats.lerobot_video import CameraVideo, choose_codec
from tests.dataset_episodes import SPACES, STEP_TAGS, make_episodes

Episodes = list[tuple[EpisodeMeta, list[Step]]]
SPLITS = ("train", "train", "test")
TOLERANCE_S = 1e-4  # LeRobotDataset's default tolerance_s
# Per kind: the video features and the parquet observation columns, each with how to get it from an observation.
LAYOUT: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "image": ({"observation.image": lambda o: o}, {}),
    "continuous": ({}, {"observation.state": lambda o: o}),
    "discrete": ({}, {"observation.state": lambda o: o}),
    "dict": ({"observation.images.image": lambda o: o["image"]}, {"observation.state": lambda o: o["state"]}),
}
DEFAULTS = ["timestamp", "frame_index", "episode_index", "index", "task_index"]


def _pattern(shape: tuple[int, ...], e: int, i: int) -> np.ndarray:
    """A smooth frame, its colour unique per (episode, step): video compresses it well, unlike noise."""
    h, w, _ = shape
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.array([(60 * e + 25 * i) % 180, (40 + 90 * e + 15 * i) % 180, (120 + 35 * i) % 180])
    return np.clip(base + (xx * 60 // w)[..., None] + (yy * 30 // h)[..., None], 0, 255).astype(np.uint8)


def _smooth(episodes: Episodes) -> Episodes:
    """The episodes with every image (observation leaves and the JPEG shown) replaced by smooth patterns."""
    out = []
    for e, (meta, steps) in enumerate(episodes):
        new = []
        for i, s in enumerate(steps):
            obs = s.observation
            if isinstance(obs, dict):
                obs = {**obs, "image": _pattern(obs["image"].shape, e, i)}
            elif np.ndim(obs) == 3:
                obs = _pattern(obs.shape, e, i)
            jpeg = simplejpeg.encode_jpeg(_pattern((24, 24, 3), e + 3, i), quality=95)
            new.append(dataclasses.replace(s, observation=obs, image=jpeg))
        out.append((meta, new))
    return out


def _write(root: Path, config: DatasetConfig, episodes: Episodes, **limits: Any) -> dict[str, Any]:
    writer = open_writer("lerobot", root, config) if not limits else LeRobotWriter(root, config, **limits)
    for (meta, steps), split in zip(episodes, SPLITS, strict=True):
        assert writer.add_episode(meta, iter(steps), split) == len(steps)
    summary = writer.close()
    assert writer.close() == summary  # idempotent
    return summary


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    """A column with its dtype: (n,) for scalars, (n, size) for fixed-size lists."""
    arr = column.combine_chunks()
    if pa.types.is_fixed_size_list(arr.type):
        return arr.flatten().to_numpy(zero_copy_only=False).reshape(len(arr), arr.type.list_size)
    return arr.to_numpy(zero_copy_only=False)


class Dataset:
    """The files of one export, read with pyarrow and PyAV."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.info = json.loads((root / "meta/info.json").read_text())
        self.stats = json.loads((root / "meta/stats.json").read_text())
        self.tasks = pq.read_table(root / "meta/tasks.parquet").to_pylist()
        files = sorted((root / "meta/episodes").glob("*/*.parquet"))
        self.episodes = sorted((r for f in files for r in pq.read_table(f).to_pylist()),
                               key=lambda r: r["episode_index"])
        self._videos: dict[Path, list[tuple[float, np.ndarray]]] = {}

    def rows(self, ep: dict[str, Any]) -> pa.Table:
        path = self.root / self.info["data_path"].format(chunk_index=ep["data/chunk_index"],
                                                         file_index=ep["data/file_index"])
        table = pq.read_table(path)
        return table.filter(pc.equal(table["episode_index"], ep["episode_index"]))

    def frames(self, ep: dict[str, Any], key: str, timestamps: np.ndarray) -> list[np.ndarray]:
        """The decoded frames of an episode at `timestamps`, plus a check that [from, to) holds exactly them."""
        prefix = f"videos/{key}/"
        path = self.root / self.info["video_path"].format(video_key=key, chunk_index=ep[prefix + "chunk_index"],
                                                          file_index=ep[prefix + "file_index"])
        if path not in self._videos:
            with av.open(str(path)) as container:
                self._videos[path] = [(f.time, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
        decoded = self._videos[path]
        start, end = ep[prefix + "from_timestamp"], ep[prefix + "to_timestamp"]
        inside = [t for t, _ in decoded if start - TOLERANCE_S <= t < end - TOLERANCE_S]
        assert len(inside) == ep["length"], f"{key}: {len(inside)} frames in [{start}, {end}), not {ep['length']}"
        times = np.array([t for t, _ in decoded])
        out = []
        for ts in timestamps:
            j = int(np.argmin(np.abs(times - (start + float(ts)))))
            assert abs(times[j] - (start + float(ts))) < TOLERANCE_S
            out.append(decoded[j][1])
        return out


def _check(root: Path, kind: str, config: DatasetConfig, episodes: Episodes, smooth: bool) -> Dataset:
    ds = Dataset(root)
    n = sum(len(s) for _, s in episodes)
    _check_info(ds, kind, config, n)
    start = 0
    for e, ((meta, steps), ep) in enumerate(zip(episodes, ds.episodes, strict=True)):
        _check_episode(ep, e, meta, len(steps), start, kind, config.keep_metadata)
        rows = ds.rows(ep)
        _check_rows(rows, steps, e, start, kind, config)
        _check_videos(ds, ep, rows, steps, kind, config.keep_metadata, smooth)
        start += len(steps)
    _check_stats(ds, kind, config.keep_metadata, episodes, n)
    return ds


def _video_keys(kind: str, keep: bool) -> list[str]:
    return [*LAYOUT[kind][0], *(["observation.images.shown"] if keep else [])]


def _metadata_columns(keep: bool) -> list[str]:
    return ["input", "info", *(f"tag:{t}" for t in STEP_TAGS)] if keep else []


def _check_info(ds: Dataset, kind: str, config: DatasetConfig, n: int) -> None:
    keep, info = config.keep_metadata, ds.info
    assert info["codebase_version"] == "v3.0" and info["fps"] == config.fps == 10
    assert (info["total_episodes"], info["total_frames"], info["total_tasks"]) == (3, n, 1)
    assert info["splits"] == {"train": "0:2", "test": "2:3"}
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    videos = _video_keys(kind, keep)
    assert info["video_path"] == ("videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
                                  if videos else None)
    action = "int64" if kind == "image" or kind == "discrete" else "float32"
    assert list(info["features"]) == [
        *_observation_order(kind), *(["observation.images.shown"] if keep else []), "action", "next.reward",
        "next.done", "is_terminal", *_metadata_columns(keep), *DEFAULTS]
    assert info["features"]["action"] == {"dtype": action, "shape": [1 if action == "int64" else 2], "names": None}
    for key in videos:
        feature = info["features"][key]
        assert feature["dtype"] == "video" and feature["names"] == ["height", "width", "channels"]
        assert feature["info"]["video.codec"] == "av1" and feature["info"]["video.pix_fmt"] == "yuv420p"
        assert feature["shape"] == [feature["info"]["video.height"], feature["info"]["video.width"], 3]
    assert ds.tasks == [{"task_index": 0, "task": kind}]


def _check_episode(ep: dict[str, Any], e: int, meta: EpisodeMeta, length: int, start: int, kind: str,
                   keep: bool) -> None:
    assert ep["episode_index"] == e and ep["length"] == length and ep["tasks"] == [kind]
    assert (ep["dataset_from_index"], ep["dataset_to_index"]) == (start, start + length)
    assert {k: ep[k] for k in ("episode_id", "agent_id", "study_id", "environment", "env_id", "state", "seed",
                               "total_reward", "split")} == {
        "episode_id": meta.episode_id, "agent_id": meta.agent_id, "study_id": meta.study_id,
        "environment": kind, "env_id": meta.env_id, "state": "completed", "seed": meta.seed,
        "total_reward": meta.total_reward, "split": SPLITS[e]}
    assert ("tags" in ep, "notes" in ep) == (keep, keep)
    if keep:
        assert (ep["tags"], ep["notes"]) == (list(meta.tags), meta.notes)
    assert ep["stats/next.reward/count"] == [length] and ep["stats/index/min"] == [start]


def _check_rows(rows: pa.Table, steps: list[Step], e: int, start: int, kind: str, config: DatasetConfig) -> None:
    length = len(steps)
    assert rows.num_rows == length
    frame_index = _numpy(rows["frame_index"])
    assert frame_index.tolist() == list(range(length))
    assert _numpy(rows["index"]).tolist() == list(range(start, start + length))
    assert _numpy(rows["task_index"]).tolist() == [0] * length
    assert _numpy(rows["timestamp"]).tolist() == (frame_index / config.fps).astype(np.float32).tolist()
    assert _numpy(rows["next.reward"]).tolist() == [np.float32(s.reward) for s in steps]
    assert _numpy(rows["next.done"]).tolist() == [False] * (length - 1) + [True]
    assert _numpy(rows["is_terminal"]).tolist() == [False] * (length - 1) + [e == 0]
    _assert_exact(_numpy(rows["action"]), [s.action for s in steps])
    assert not np.any(_numpy(rows["action"])[-1])  # the final frame's placeholder action
    for key, get in LAYOUT[kind][1].items():
        _assert_exact(_numpy(rows[key]), [get(s.observation) for s in steps])
    if config.keep_metadata:
        assert [json.loads(x) for x in rows["input"].to_pylist()] == [s.input for s in steps]
        assert [json.loads(x) for x in rows["info"].to_pylist()] == [s.info for s in steps]
        for tag in STEP_TAGS:
            assert rows[f"tag:{tag}"].to_pylist() == [tag in s.tags for s in steps]
    else:
        assert not set(_metadata_columns(True)) & set(rows.column_names)


def _check_videos(ds: Dataset, ep: dict[str, Any], rows: pa.Table, steps: list[Step], kind: str, keep: bool,
                  smooth: bool) -> None:
    timestamps = _numpy(rows["timestamp"])
    sources = {k: (lambda s, get=get: get(s.observation)) for k, get in LAYOUT[kind][0].items()}
    if keep:
        sources["observation.images.shown"] = lambda s: simplejpeg.decode_jpeg(s.image)
    assert set(sources) == set(_video_keys(kind, keep))
    for key, source in sources.items():
        for decoded, step in zip(ds.frames(ep, key, timestamps), steps, strict=True):
            original = source(step)
            assert decoded.shape == original.shape
            if smooth:
                assert np.abs(decoded.astype(int) - original).mean() < 12, key
            else:  # noise: only its mean colour survives compression
                assert np.abs(decoded.reshape(-1, 3).mean(0) - original.reshape(-1, 3).mean(0)).max() < 10


def _check_stats(ds: Dataset, kind: str, keep: bool, episodes: Episodes, n: int) -> None:
    cameras, columns = LAYOUT[kind]
    videos = _video_keys(kind, keep)
    numeric = [k for k, f in ds.info["features"].items() if f["dtype"] != "string"]
    assert list(ds.stats) == numeric
    for key, stats in ds.stats.items():
        assert set(stats) == {"min", "max", "mean", "std", "count"}
        assert stats["count"] == [n]  # short episodes: LeRobot samples every frame for image stats too
        if key in videos:
            assert np.shape(stats["mean"]) == (3, 1, 1) and 0 <= np.min(stats["min"]) <= np.max(stats["max"]) <= 1
    for key, get in {**cameras, **columns}.items():
        values = np.stack([np.asarray(get(s.observation), np.float64) for _, steps in episodes for s in steps])
        if key in cameras:
            values = values.reshape(-1, values.shape[-3] * values.shape[-2], 3).transpose(0, 2, 1) / 255
            np.testing.assert_allclose(np.squeeze(ds.stats[key]["mean"]), values.mean(axis=(0, 2)), rtol=1e-9)
            np.testing.assert_allclose(np.squeeze(ds.stats[key]["std"]), values.std(axis=(0, 2)), rtol=1e-9)
        else:
            values = values.reshape(n, -1)
            np.testing.assert_allclose(ds.stats[key]["mean"], values.mean(0), rtol=1e-9)
            np.testing.assert_allclose(ds.stats[key]["std"], values.std(0), rtol=1e-9, atol=1e-12)
            np.testing.assert_array_equal(ds.stats[key]["min"], values.min(0))


def _observation_order(kind: str) -> list[str]:
    return {"image": ["observation.image"], "continuous": ["observation.state"], "discrete": ["observation.state"],
            "dict": ["observation.images.image", "observation.state"]}[kind]


def _assert_exact(column: np.ndarray, values: list[Any]) -> None:
    expected = np.stack([np.asarray(v) for v in values])
    assert column.dtype == expected.dtype
    assert column.reshape(expected.shape).tobytes() == expected.tobytes()


@pytest.mark.parametrize("kind", list(SPACES))
def test_round_trip(tmp_path: Path, kind: str) -> None:
    config, episodes = make_episodes(kind)
    episodes = _smooth(episodes)
    summary = _write(tmp_path, config, episodes)
    assert summary == {"episodes": 3, "steps": 11, "splits": {
        "train": {"episodes": 2, "steps": 10, "episode_index": "0:2"},
        "test": {"episodes": 1, "steps": 1, "episode_index": "2:3"}}}
    _check(tmp_path, kind, config, episodes, smooth=True)
    card = (tmp_path / "README.md").read_text()
    assert config.name in card and config.description in card


@pytest.mark.parametrize("kind", list(SPACES))
def test_without_metadata(tmp_path: Path, kind: str) -> None:
    config, episodes = make_episodes(kind, keep_metadata=False)
    _write(tmp_path, config, _smooth(episodes))
    _check(tmp_path, kind, config, _smooth(episodes), smooth=True)
    assert not (tmp_path / "videos/observation.images.shown").exists()
    if kind in ("continuous", "discrete"):
        assert not (tmp_path / "videos").exists() and Dataset(tmp_path).info["video_path"] is None


@pytest.mark.parametrize("kind", ["image", "dict"])
def test_noise_frames(tmp_path: Path, kind: str) -> None:
    config, episodes = make_episodes(kind)
    _write(tmp_path, config, episodes)
    _check(tmp_path, kind, config, episodes, smooth=False)


def test_files_roll_over_at_the_size_limits(tmp_path: Path) -> None:
    # long enough for SVT-AV1 to have output packets (its lookahead holds ~26 frames) by the second episode
    config, episodes = make_episodes("dict", lengths=(40, 40, 40))
    episodes = _smooth(episodes)
    _write(tmp_path, config, episodes, chunks_size=2, data_files_size_in_mb=1e-4, video_files_size_in_mb=1e-4)
    ds = _check(tmp_path, "dict", config, episodes, smooth=True)
    assert ds.info["chunks_size"] == 2 and ds.info["video_files_size_in_mb"] == 1e-4
    for prefix in ("data/", "videos/observation.images.image/", "videos/observation.images.shown/"):
        assert [(ep[prefix + "chunk_index"], ep[prefix + "file_index"]) for ep in ds.episodes] == [
            (0, 0), (0, 1), (1, 0)]
    assert [ep["videos/observation.images.image/from_timestamp"] for ep in ds.episodes] == [0, 0, 0]
    assert len(list(tmp_path.glob("data/*/*.parquet"))) == 3


def test_a_failed_episode_leaves_no_rows(tmp_path: Path) -> None:
    config, episodes = make_episodes("dict", lengths=(6, 4, 1))
    episodes = _smooth(episodes)
    broken = [*episodes[1][1][:2], dataclasses.replace(episodes[1][1][2], observation={"image": 0, "state": 0})]
    writer = LeRobotWriter(tmp_path, config)
    writer.add_episode(*episodes[0])
    with pytest.raises(ValueError, match=r"shape \(8, 8, 3\)"):
        writer.add_episode(episodes[1][0], iter(broken))
    writer.add_episode(*episodes[1])
    writer.add_episode(*episodes[2], split="test")
    writer.close()
    _check(tmp_path, "dict", config, episodes, smooth=True)  # the two frames of the failure are not referenced


def _first(steps: list[Step], **change: Any) -> list[Step]:
    return [dataclasses.replace(steps[0], **change), *steps[1:]]


@pytest.mark.parametrize("change, error", [
    (lambda steps: _first(steps, observation=np.zeros(4)), r"shape \(5,\), got shape \(4,\)"),
    (lambda steps: _first(steps, is_last=True), "is_last on the final step"),
    (lambda steps: steps[:-1], "is_last=False on its final step 4"),
    (lambda steps: [], "got no step"),
    (lambda steps: _first(steps, tags=["boom"]), r"among \['crash', 'goal'\], got \['boom'\]"),
])
def test_invalid_episodes_are_refused(tmp_path: Path, change: Any, error: str) -> None:
    config, episodes = make_episodes("continuous")
    writer = LeRobotWriter(tmp_path, config)
    with pytest.raises(ValueError, match=error):
        writer.add_episode(episodes[0][0], change(episodes[0][1]))
    assert writer.close()["episodes"] == 0


def test_splits_must_be_contiguous(tmp_path: Path) -> None:
    config, episodes = make_episodes("discrete")
    writer = LeRobotWriter(tmp_path, config)
    writer.add_episode(*episodes[0], split="train")
    writer.add_episode(*episodes[1], split="test")
    with pytest.raises(ValueError, match="split 'train' again"):
        writer.add_episode(*episodes[2], split="train")
    assert writer.close()["splits"] == {"train": {"episodes": 1, "steps": 6, "episode_index": "0:1"},
                                        "test": {"episodes": 1, "steps": 4, "episode_index": "1:2"}}


@pytest.mark.parametrize("codecs, codec, size", [
    (("libsvtav1", "libx264"), "libsvtav1", (15, 17)),  # SVT-AV1 v4 takes odd sizes as they are
    (("no_such_codec", "libx264"), "libx264", (16, 18)),  # the fallback pads them to even ones
])
def test_odd_frame_sizes(tmp_path: Path, codecs: tuple[str, ...], codec: str, size: tuple[int, int]) -> None:
    camera = CameraVideo(tmp_path, "observation.image", 10, max_bytes=1 << 30, chunks_size=1000, codecs=codecs)
    frames = [_pattern((15, 17, 3), 0, i) for i in range(5)]
    camera.begin_episode(len(frames))
    for frame in frames:
        camera.add(frame)
    assert camera.end_episode() == {"videos/observation.image/chunk_index": 0, "videos/observation.image/file_index": 0,
                                    "videos/observation.image/from_timestamp": 0.0,
                                    "videos/observation.image/to_timestamp": 0.5}
    camera.close()
    assert (camera.codec, camera.size) == (codec, size)
    assert camera.info["video.codec"] == {"libsvtav1": "av1", "libx264": "h264"}[codec]
    with av.open(str(tmp_path / "videos/observation.image/chunk-000/file-000.mp4")) as container:
        decoded = [(f.time, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    assert [round(t, 6) for t, _ in decoded] == [0.0, 0.1, 0.2, 0.3, 0.4]
    for (_, d), f in zip(decoded, frames, strict=True):
        assert d.shape == (*size, 3) and np.abs(d[:15, :17].astype(int) - f).mean() < 12
    with pytest.raises(ValueError, match=r"frames of shape \(15, 17, 3\), got \(16, 17, 3\)"):
        camera.add(np.zeros((16, 17, 3), np.uint8))


def test_no_codec_for_the_frames() -> None:
    with pytest.raises(RuntimeError, match=r"Expected one of \['no_such_codec'\] to encode 17x15 frames, got no_"):
        choose_codec(15, 17, 10, codecs=("no_such_codec",))


def test_av_and_pyarrow_are_imported_lazily() -> None:
    code = ("import sys, playcorder_exporter.datasets.formats.lerobot_format; "
            "print([m for m in ('av', 'pyarrow', 'simplejpeg') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
