"""The metadata files of a LeRobot v3 export: the meta/episodes rows, meta/tasks.parquet, the JSON files of meta/
and the README.md dataset card."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from playcorder_exporter.datasets.formats.base import GAME_FIELDS, DatasetConfig, EpisodeMeta, game_values
from playcorder_exporter.datasets.formats.lerobot_files import DATA_PATH, EPISODES_PATH, VIDEO_PATH, ParquetFiles

CODEBASE_VERSION = "v3.0"
EPISODE_ROWS = 64  # meta/episodes rows buffered per write
EPISODE_META = ("episode_id", "agent_id", "study_id", "environment", "env_id", "state")  # its string columns
FILE_COLUMNS = ("meta/episodes/chunk_index", "meta/episodes/file_index")


def episodes_schema(cameras: Iterable[str], stats_keys: list[tuple[str, np.dtype | None]],
                    keep_metadata: bool, multiagent: bool = False) -> Any:
    """meta/episodes' columns; stats_keys: (feature, dtype) per feature with stats, None for a camera; multiagent:
    the game_id and agent of multi-agent games' episodes."""
    import pyarrow as pa

    i64, f64, s = pa.int64(), pa.float64(), pa.string()
    fields = [("episode_index", i64), ("tasks", pa.list_(s)), ("length", i64), ("data/chunk_index", i64),
              ("data/file_index", i64), ("dataset_from_index", i64), ("dataset_to_index", i64)]
    for key in cameras:
        fields += [(f"videos/{key}/chunk_index", i64), (f"videos/{key}/file_index", i64),
                   (f"videos/{key}/from_timestamp", f64), (f"videos/{key}/to_timestamp", f64)]
    fields += [(k, s) for k in EPISODE_META]
    fields += [("seed", i64), ("total_reward", f64), ("split", s)]
    if keep_metadata:
        fields += [("tags", pa.list_(s)), ("notes", s)]
    if multiagent:
        fields += [(k, s) for k in GAME_FIELDS]
    per_channel = pa.list_(pa.list_(pa.list_(f64)))  # a camera's stats, shaped (3, 1, 1)
    for key, dtype in stats_keys:
        lo = per_channel if dtype is None else pa.list_(pa.from_numpy_dtype(dtype))
        mean = per_channel if dtype is None else pa.list_(f64)
        fields += [(f"stats/{key}/min", lo), (f"stats/{key}/max", lo), (f"stats/{key}/mean", mean),
                   (f"stats/{key}/std", mean), (f"stats/{key}/count", pa.list_(i64))]
    fields += [(k, i64) for k in FILE_COLUMNS]
    return pa.schema(fields)


def episode_row(meta: EpisodeMeta, *, index: int, task: str, length: int, data: tuple[int, int], first_frame: int,
                split: str, videos: Iterable[dict[str, Any]], stats: Mapping[str, dict[str, Any]],
                keep_metadata: bool, multiagent: bool = False) -> dict[str, Any]:
    """One episode's row of meta/episodes but its own place in them; data: its (chunk, file) of data/, videos: its
    columns per camera, stats: its statistics per feature."""
    row: dict[str, Any] = {
        "episode_index": index, "tasks": [task], "length": length, "data/chunk_index": data[0],
        "data/file_index": data[1], "dataset_from_index": first_frame, "dataset_to_index": first_frame + length,
        **{k: getattr(meta, k) for k in EPISODE_META}, "seed": meta.seed, "total_reward": meta.total_reward,
        "split": split,
    }
    for columns in videos:
        row |= columns
    if keep_metadata:
        row |= {"tags": list(meta.tags), "notes": meta.notes}
    if multiagent:
        row |= game_values(meta)
    for key, values in stats.items():
        row |= {f"stats/{key}/{k}": v for k, v in values.items()}
    return row


class EpisodesFiles:
    """meta/episodes, written EPISODE_ROWS rows at a time; each row records the file it went to."""

    def __init__(self, root: Path, schema: Any, max_bytes: float, chunks_size: int) -> None:
        self.schema = schema
        self._files = ParquetFiles(root, EPISODES_PATH, max_bytes, chunks_size)
        self._rows: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= EPISODE_ROWS:
            self._flush()

    def close(self) -> None:
        self._flush()
        self._files.close()

    def _flush(self) -> None:
        import pyarrow as pa

        if not self._rows:
            return
        # placeholders first: the file depends on the table's size
        table = pa.Table.from_pylist([row | dict.fromkeys(FILE_COLUMNS, 0) for row in self._rows],
                                     schema=self.schema)
        for name, value in zip(FILE_COLUMNS, self._files.place(table.nbytes), strict=True):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, pa.array([value] * table.num_rows, pa.int64()))
        self._files.write(table)
        self._rows = []


def write_json(root: Path, relative: str, data: Any) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4, ensure_ascii=False))


def write_info(root: Path, config: DatasetConfig, limits: dict[str, Any], *, episodes: int, frames: int, tasks: int,
               splits: dict[str, str], features: dict[str, Any], videos: bool) -> None:
    """meta/info.json; splits: the episode range of each split, "first:end"; videos: whether it has cameras."""
    write_json(root, "meta/info.json", {
        "codebase_version": CODEBASE_VERSION, "robot_type": None, "total_episodes": episodes, "total_frames": frames,
        "total_tasks": tasks, **limits, "fps": config.fps, "splits": splits, "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if videos else None, "features": features,
    })


def write_tasks(root: Path, tasks: Mapping[str, int]) -> None:
    """task_index with the task text as the pandas index, which is how LeRobot's load_tasks reads it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = sorted(tasks, key=tasks.__getitem__)
    pandas = {"index_columns": ["task"], "column_indexes": [
        {"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
         "metadata": {"encoding": "UTF-8"}}], "columns": [
        {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
         "metadata": None},
        {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": None}],
        "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.3"}
    table = pa.table({"task_index": pa.array([tasks[t] for t in texts], pa.int64()),
                      "task": pa.array(texts, pa.string())}).replace_schema_metadata({"pandas": json.dumps(pandas)})
    pq.write_table(table, root / "meta" / "tasks.parquet")


def write_card(root: Path, config: DatasetConfig) -> None:
    c = config
    (root / "README.md").write_text(
        "---\ntags:\n- LeRobot\n- playcorder\nconfigs:\n- config_name: default\n  data_files: data/*/*.parquet\n"
        f"---\n# {c.name} {c.version}\n\n{c.description}\n\nRecorded with Playcorder; LeRobot dataset "
        f"{CODEBASE_VERSION} layout (https://github.com/huggingface/lerobot), {c.fps} frames per second. One frame "
        "per environment step: observation, the action taken at it and `next.reward`, the reward it earned. The "
        "final frame of an episode (`next.done`) holds the final observation with a placeholder action; "
        "`is_terminal` tells a terminated episode from a truncated one.\n")
