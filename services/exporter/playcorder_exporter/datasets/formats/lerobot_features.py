"""The features of a LeRobot v3 export, named from the observation and action spaces: info.json's `features`, the
data columns and cameras behind them, and how a step fills them. A text leaf is a string column (as LeRobot keeps
its tasks); Sequence and Graph spaces have no column (spaces.format_limits)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from playcorder.records import Step, jsonable
from playcorder.spaces import leaf_dtype, leaf_shape, leaf_values, leaves
from playcorder_exporter.datasets.formats.base import DatasetConfig, control_values

if TYPE_CHECKING:
    from playcorder_exporter.datasets.formats.lerobot_stats import Stats
    from playcorder_exporter.datasets.formats.lerobot_video import CameraVideo

SHOWN = "observation.images.shown"
INDEX_COLUMNS = ("frame_index", "episode_index", "index", "task_index")


@dataclass(frozen=True)
class Column:
    key: str
    dtype: np.dtype | None  # None: a string
    size: int = 1  # values per frame; 1 is a scalar column

    def arrow_type(self, pa: Any) -> Any:
        if self.dtype is None:
            return pa.string()
        t = pa.from_numpy_dtype(self.dtype)
        return t if self.size == 1 else pa.list_(t, self.size)


def spec_leaves(spec: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict]]:
    """(path, leaf spec) depth first, in the order of spaces.leaves."""
    kind = spec.get("type")
    if kind == "dict":
        for k, sub in spec["spaces"].items():
            yield from spec_leaves(sub, (*path, str(k)))
    elif kind == "tuple":
        for i, sub in enumerate(spec["spaces"]):
            yield from spec_leaves(sub, (*path, str(i)))
    else:
        yield path, spec


def is_image(spec: dict[str, Any]) -> bool:
    shape = spec.get("shape", ())
    return spec.get("type") == "box" and leaf_dtype(spec) == np.uint8 and len(shape) == 3 and shape[2] == 3


def _column_values(spec: dict[str, Any], value: Any) -> list[Any]:
    """Each leaf of a value as its column holds it: a copy of an array (a view would keep the step's whole chunk
    alive), the string of a text."""
    checked = leaves(spec, value)  # dtypes and shapes (and text lengths) checked
    return [v if s.get("type") == "text" else leaf.copy()
            for (s, v), leaf in zip(leaf_values(spec, value), checked, strict=True)]


class Features:
    """The features of one export, in info.json's order."""

    def __init__(self, config: DatasetConfig) -> None:
        self.config = config
        self._known_tags = frozenset(config.step_tags)
        # a column's feature, or a camera's shape as its space declares it (None for the shown JPEGs), until the
        # camera's encoded size is known
        self._declared: dict[str, Any] = {}
        self.columns: list[Column] = []
        self.cameras: list[str] = []
        self.observation_cameras: list[str | None] = []  # per observation leaf: its camera, or None for a column
        for path, leaf in spec_leaves(config.observation_spec):
            if is_image(leaf):
                key = ".".join(("observation.images", *path)) if path else "observation.image"
                self._add_camera(key, leaf["shape"])
                self.observation_cameras.append(key)
            else:
                self.observation_cameras.append(None)
                self._add_leaf(".".join(("observation", *path)) if path else "observation.state", leaf)
        if config.keep_metadata:
            self._add_camera(SHOWN, None)
        for path, leaf in spec_leaves(config.action_spec):
            self._add_leaf(".".join(("action", *path)), leaf)
        extra = [Column("next.reward", np.dtype(np.float32)), Column("next.done", np.dtype(bool)),
                 Column("is_terminal", np.dtype(bool))]
        if config.keep_metadata:
            extra += [Column("input", None), Column("info", None)]
            extra += [Column(f"tag:{label}", np.dtype(bool)) for label in config.step_tags]
        if config.multiagent:  # who controlled the agent: CONTROL_FIELDS
            extra += [Column("controller", None), Column("late", np.dtype(bool)), Column("participant", None)]
        extra += [Column("timestamp", np.dtype(np.float32))]
        extra += [Column(k, np.dtype(np.int64)) for k in INDEX_COLUMNS]
        for col in extra:
            self._add_column(col)
        dtypes = {c.key: c.dtype for c in self.columns if c.dtype is not None}
        # the features with stats and their dtype (None for cameras), in info.json's order
        self.stats_keys: list[tuple[str, np.dtype | None]] = [
            (k, dtypes.get(k)) for k in self._declared if k in dtypes or k in self.cameras]

    def frame(self, step: Step, i: int, *, episode_id: str, episode_index: int, index: int,
              task_index: int) -> tuple[list[Any], dict[str, np.ndarray]]:
        """Step i of an episode as its value per column and its observation's image per camera."""
        config = self.config
        values: list[Any] = []
        frames: dict[str, np.ndarray] = {}
        observation = _column_values(config.observation_spec, step.observation)
        for camera, leaf in zip(self.observation_cameras, observation, strict=True):
            if camera:
                frames[camera] = leaf
            else:
                values.append(leaf)
        values += _column_values(config.action_spec, step.action)
        values += [step.reward, step.is_last, step.is_terminal]
        if config.keep_metadata:
            if unknown := set(step.tags) - self._known_tags:
                raise ValueError(f"Expected step tags among {list(config.step_tags)}, got {sorted(unknown)} "
                                 f"on step {i} of episode {episode_id}")
            values += [json.dumps(jsonable(step.input)), json.dumps(jsonable(step.info))]
            values += [label in step.tags for label in config.step_tags]
        if config.multiagent:
            values += control_values(step)
        values += [i / config.fps, i, episode_index, index, task_index]
        return values, frames

    def stats_results(self, stats: Mapping[str, Stats]) -> dict[str, dict[str, list[Any]]]:
        """The results of `stats` in info.json's order, shaped as LeRobot shapes them."""
        return {key: stats[key].result((3, 1, 1) if key in self.cameras else (self._declared[key]["shape"][0],))
                for key, _ in self.stats_keys if key in stats}

    def info(self, cameras: Mapping[str, CameraVideo]) -> dict[str, Any]:
        """info.json's features, a camera's with the size its frames were encoded at."""
        names = ["height", "width", "channels"]
        features = {}
        for key, feature in self._declared.items():
            cam = cameras.get(key)
            if cam is not None and cam.codec is not None:
                feature = {"dtype": "video", "shape": [*cam.size, 3], "names": names, "info": cam.info}
            elif cam is not None:
                if feature is None:  # the shown camera never got a frame: no size to declare
                    continue
                feature = {"dtype": "video", "shape": list(feature), "names": names}
            features[key] = feature
        return features

    def _check_name(self, key: str) -> None:
        if "/" in key or key in self._declared:
            raise ValueError(f"Expected unique LeRobot feature names without '/', got {key!r} from the spaces")

    def _add_column(self, col: Column) -> None:
        self._check_name(col.key)
        self.columns.append(col)
        self._declared[col.key] = {"dtype": "string" if col.dtype is None else col.dtype.name,
                                   "shape": [col.size], "names": None}

    def _add_leaf(self, key: str, leaf: dict[str, Any]) -> None:
        if leaf.get("type") == "text":
            self._add_column(Column(key, None))
            return
        self._add_column(Column(key, leaf_dtype(leaf), int(np.prod(leaf_shape(leaf), dtype=np.int64))))

    def _add_camera(self, key: str, shape: list[int] | None) -> None:
        self._check_name(key)
        self._declared[key] = shape
        self.cameras.append(key)
