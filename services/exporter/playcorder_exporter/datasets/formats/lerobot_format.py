"""LeRobot dataset v3.0 export (huggingface/lerobot's LeRobotDataset, codebase_version "v3.0"), written with pyarrow
and PyAV only: neither lerobot nor torch is needed to write it or to read it back.

Layout under `directory`, with LeRobot's file and column names (docs/datasets.md has the details):
    meta/info.json, meta/stats.json, meta/tasks.parquet, meta/episodes/chunk-000/file-000.parquet,
    data/chunk-000/file-000.parquet (one row per frame), videos/<key>/chunk-000/file-000.mp4 (lerobot_video.py),
    README.md (dataset card). Files roll over to file-001... at LeRobot's size limits (in info.json).

Rows: one LeRobot frame per RLDS step, nothing dropped. Frame t holds the observation o_t, the action a_t taken at it
and `next.reward` r_t, the reward that action earned; `next.done` is True on the final frame only. The final frame
holds the final observation with the placeholder action (zeros) and reward 0, and `is_terminal` says whether the
episode ended there (True) or was truncated: a 1-step episode is that frame alone. Training on real actions means
dropping the frames with next.done; bootstrapping a value means using is_terminal of the next frame.

Features: uint8 HxWx3 Box leaves of the observation are videos (`observation.image` when the observation is one
image, else `observation.images.<leaf path>`), plus with keep_metadata the JPEG shown to the participant,
`observation.images.shown` (a step without one repeats the episode's previous frame, or is black). Other leaves are
columns: `observation.state` for a non-Dict observation, else `observation.<leaf path>` (path parts joined by '.');
actions are `action` (or `action.<leaf path>`). Columns keep the space's dtype (Discrete: int64); leaves of one
element are scalar columns, others fixed-size lists, flattened in C order when they have more than one dimension.
With keep_metadata also `input` and `info` (JSON text) and a bool column `tag:<label>` per step tag label: LeRobot
turns every non-string value into a tensor, which a list of strings cannot be. Episodes of multi-agent games add the
columns `controller` ("human", "ai", "none"; a string), `late` (bool) and `participant` (the pseudonym of the person
in control, "" for none), and `game_id` and `agent` in meta/episodes.

Streaming: video frames are encoded as steps arrive; the other columns of the current episode are held as Arrow until
it ends, so an episode failing midway leaves no rows (its frames stay, unreferenced, in the mp4). Stats are merged
batch by batch, never by re-reading the dataset.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from playcorder.records import Step
from playcorder_exporter.datasets.formats.base import DatasetConfig, EpisodeMeta
from playcorder_exporter.datasets.formats.lerobot_features import SHOWN, Features
from playcorder_exporter.datasets.formats.lerobot_files import DATA_PATH, MB, ParquetFiles
from playcorder_exporter.datasets.formats.lerobot_meta import (
    EpisodesFiles,
    episode_row,
    episodes_schema,
    write_card,
    write_info,
    write_json,
    write_tasks,
)
from playcorder_exporter.datasets.formats.lerobot_rows import EpisodeRows
from playcorder_exporter.datasets.formats.lerobot_stats import Stats, sample_indices, stats_pixels
from playcorder_exporter.datasets.formats.lerobot_video import CameraVideo


class LeRobotWriter:
    """Streams episodes into a LeRobot v3.0 dataset rooted at `directory` (see the module docstring)."""

    def __init__(self, directory: Path, config: DatasetConfig, *, chunks_size: int = 1000,
                 data_files_size_in_mb: float = 100, video_files_size_in_mb: float = 500) -> None:
        self.root, self.config = Path(directory), config
        self._limits = {"chunks_size": chunks_size, "data_files_size_in_mb": data_files_size_in_mb,
                        "video_files_size_in_mb": video_files_size_in_mb}
        self._features = Features(config)
        self._cameras = {key: CameraVideo(self.root, key, config.fps, video_files_size_in_mb * MB, chunks_size)
                         for key in self._features.cameras}
        self._rows = EpisodeRows(self._features.columns)
        self._data = ParquetFiles(self.root, DATA_PATH, data_files_size_in_mb * MB, chunks_size)
        self._episode_files = EpisodesFiles(
            self.root, episodes_schema(self._cameras, self._features.stats_keys, config.keep_metadata,
                                       config.multiagent),
            data_files_size_in_mb * MB, chunks_size)
        self._stats: dict[str, Stats] = {}
        self._tasks: dict[str, int] = {}
        self._splits: dict[str, list[int]] = {}  # split: [first episode, end episode, frames]
        self._split: str | None = None
        self._episodes = self._frames = 0
        self._summary: dict[str, Any] | None = None
        # the episode being written
        self._ep_stats: dict[str, Stats] = {}
        self._last_shown: np.ndarray | None = None

    def add_episode(self, meta: EpisodeMeta, steps: Iterable[Step], split: str = "train") -> int:
        if self._summary is not None:
            raise RuntimeError("LeRobotWriter is closed")
        if split != self._split:
            if split in self._splits:
                raise ValueError(f"Expected the episodes of one split together, got split {split!r} again")
            self._splits[split], self._split = [self._episodes, self._episodes, 0], split
        task = meta.environment or meta.env_id
        task_index = self._tasks.get(task, len(self._tasks))
        self._ep_stats = {key: Stats() for key, _ in self._features.stats_keys}
        self._rows.begin(self._ep_stats)
        self._last_shown = None
        for cam in self._cameras.values():
            cam.begin_episode(meta.num_steps)
        sampled = sample_indices(max(meta.num_steps, 1))  # frame 0 at least, should num_steps be off
        n, last = 0, None
        for step in steps:
            if last is not None and last.is_last:
                raise ValueError(f"Expected is_last on the final step of episode {meta.episode_id} only, "
                                 f"got it on step {n - 1} of more")
            self._add_frame(meta, step, n, task_index, n in sampled)
            n, last = n + 1, step
        if last is None or not last.is_last:
            raise ValueError(f"Expected episode {meta.episode_id} to end with an is_last step, got "
                             + ("no step" if last is None else f"is_last=False on its final step {n - 1}"))
        table = self._rows.table()
        data = self._data.place(table.nbytes)
        self._data.write(table)
        self._episode_files.add(episode_row(
            meta, index=self._episodes, task=task, length=n, data=data, first_frame=self._frames, split=split,
            videos=[cam.end_episode() for cam in self._cameras.values()],
            stats=self._features.stats_results(self._ep_stats), keep_metadata=self.config.keep_metadata,
            multiagent=self.config.multiagent))
        for key, s in self._ep_stats.items():
            self._stats.setdefault(key, Stats()).merge(s)
        self._tasks.setdefault(task, task_index)
        self._splits[split][1] += 1
        self._splits[split][2] += n
        self._episodes += 1
        self._frames += n
        return n

    def _add_frame(self, meta: EpisodeMeta, step: Step, i: int, task_index: int, sampled: bool) -> None:
        values, frames = self._features.frame(step, i, episode_id=meta.episode_id, episode_index=self._episodes,
                                              index=self._frames + i, task_index=task_index)
        if self.config.keep_metadata:
            frames[SHOWN] = self._shown(meta, step, i)
        self._rows.append(values)
        for key, frame in frames.items():
            self._cameras[key].add(frame)
            if sampled:
                self._ep_stats[key].add(stats_pixels(frame), frames=1)

    def _shown(self, meta: EpisodeMeta, step: Step, i: int) -> np.ndarray:
        """The frame the participant was shown: decoded from its JPEG, else the episode's previous one."""
        import simplejpeg

        if step.image:
            self._last_shown = simplejpeg.decode_jpeg(step.image, colorspace="RGB")
        elif self._last_shown is None:
            shape = self._cameras[SHOWN].shape
            if shape is None:
                raise ValueError(f"Expected the JPEG shown on step {i} of episode {meta.episode_id}, got none")
            self._last_shown = np.zeros(shape, np.uint8)
        return self._last_shown

    def close(self) -> dict[str, Any]:
        """Finish the videos and parquet files, then write tasks, stats, the card and info.json (last)."""
        if self._summary is not None:
            return self._summary
        for cam in self._cameras.values():
            cam.close()
        self._episode_files.close()
        self._data.close()
        if self._tasks:
            write_tasks(self.root, self._tasks)
        write_json(self.root, "meta/stats.json", self._features.stats_results(self._stats))
        write_card(self.root, self.config)
        splits = {s: (a, b, n) for s, (a, b, n) in self._splits.items() if b > a}
        write_info(self.root, self.config, self._limits, episodes=self._episodes, frames=self._frames,
                   tasks=len(self._tasks), splits={s: f"{a}:{b}" for s, (a, b, _) in splits.items()},
                   features=self._features.info(self._cameras), videos=bool(self._cameras))
        self._summary = {"episodes": self._episodes, "steps": self._frames,
                         "splits": {s: {"episodes": b - a, "steps": n, "episode_index": f"{a}:{b}"}
                                    for s, (a, b, n) in splits.items()}}
        return self._summary
