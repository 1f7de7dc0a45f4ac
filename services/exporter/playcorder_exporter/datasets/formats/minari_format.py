"""Minari export: one Minari dataset (HDF5 backend) per split, loadable with `minari.load_dataset`.

Layout under the export directory (Minari's local datasets root):
    playcorder/<name>-<split>-v<major version>/data/metadata.json + main_data.hdf5
so with MINARI_DATASETS_PATH set to the export directory, `minari.load_dataset("playcorder/<name>-train-v1")`
loads the train split (or, without the variable, `minari.MinariDataset("<dir>/playcorder/<name>-train-v1/data")`).

Mapping of an RLDS episode of T+1 steps (step i holds o_i, a_i, r_i; step T holds o_T, a placeholder action and
reward 0) to a Minari episode of T transitions:
    observations[i] = o_i            for i in 0..T     (T+1 values)
    actions[i], rewards[i] = a_i, r_i for i in 0..T-1  (the placeholder action of step T is dropped)
    terminations[T-1] = is_terminal of step T; truncations[T-1] = not is_terminal; both False before
    infos[key][i] = step i's internal metadata, for i in 0..T (aligned with observations, as Minari's
                    DataCollector aligns reset + step infos)
Abandoned or interrupted episodes arrive with a last step that is not terminal: they become truncated episodes.
An episode of one step (o_0 only) has no transition; like Minari's DataCollector, which never stores an empty
episode (and whose update_episodes fails on one), it is skipped and its id listed in the dataset's metadata.

Per-episode metadata are attributes of the HDF5 episode group, read back with
`dataset.storage.get_episode_metadata([i])`; `infos` keys have one fixed type each (Minari stores an array per
key): `image` fixed-length bytes (the JPEG shown; JPEG ends with FFD9, so numpy's null padding never eats a byte),
`input` and `info` JSON text, `tag:<label>` booleans ('%' and '/' in a label written %25 and %2F: '/' would
nest HDF5 groups). Without keep_metadata, infos is empty, as in a Minari dataset recorded without infos.
Episodes of multi-agent games (one per agent) add the attributes game_id and agent, and the infos `controller`
("human", "ai" or "none"), `late` (bool) and `participant` (the pseudonym of the person in control, "" for none),
with or without keep_metadata; HDF5 gives these strings back as bytes, as it does `input` and `info`.
Observations and actions are stored raw (jpeg_encoding=False): Minari's default re-encodes image spaces as JPEG.
A text space (MiniGrid's mission) is a Minari Text space: an HDF5 dataset of UTF-8 strings, read back as str.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from playcorder.gym_spaces import space_from_spec
from playcorder.records import Step, jsonable
from playcorder.spaces import VARIABLE, leaf_layout, leaves, nest
from playcorder_exporter.datasets.formats.base import (
    CONTROL_FIELDS,
    DatasetConfig,
    EpisodeMeta,
    control_values,
    game_values,
    totals,
)

if TYPE_CHECKING:
    from minari.data_collector import EpisodeBuffer

NAMESPACE = "playcorder"
EPISODE_METADATA = ("episode_id", "episode_index", "agent_id", "study_id", "environment", "env_id", "state",
                    "num_steps", "total_reward")  # plus seed, a Minari episode attribute of its own
_NAME = re.compile(r"[-\w]+")


def dataset_id(name: str, split: str, version: str) -> str:
    """The Minari id of one split of an export, e.g. playcorder/my_study-train-v1."""
    major = version.split(".")[0]
    if not major.isdigit():
        raise ValueError(f"Expected a version like '1.0.0', got {version!r}")
    for what, value in (("dataset name", name), ("split", split)):
        if not _NAME.fullmatch(value):
            raise ValueError(f"Expected a {what} of letters, digits, '_' and '-' (a Minari id), got {value!r}")
    return f"{NAMESPACE}/{name}-{split}-v{int(major)}"


def tag_key(label: str) -> str:
    return "tag:" + label.replace("%", "%25").replace("/", "%2F")


class _Split:
    """One split's Minari storage, written one episode at a time."""

    def __init__(self, root: Path, config: DatasetConfig, split: str, spaces: tuple[Any, Any]) -> None:
        from minari import __version__
        from minari.dataset.minari_storage import MinariStorage

        self.id = dataset_id(config.name, split, config.version)
        self.path = root / self.id / "data"
        self.path.mkdir(parents=True)
        self.storage = MinariStorage.new(self.path, observation_space=spaces[0], action_space=spaces[1],
                                         data_format="hdf5", jpeg_encoding=False)
        self.episodes = self.steps = self.transitions = 0
        self.skipped: list[str] = []
        self.env_ids: set[str] = set()
        self.playcorder = {
            "note": "Exported by Playcorder: human play recorded with Playcorder, one Minari dataset per split",
            "name": config.name, "version": config.version, "split": split,
            "observation_spec": config.observation_spec, "action_spec": config.action_spec,
            "keep_metadata": config.keep_metadata, "step_tags": list(config.step_tags), "fps": config.fps,
        } | ({"multiagent": True} if config.multiagent else {})
        self.storage.update_metadata({
            "dataset_id": self.id, "minari_version": __version__, "algorithm_name": "human",
            "description": config.description or f"Playcorder export {config.name} {config.version}, split {split}",
            "playcorder": self.playcorder,
        })

    def finish(self) -> dict[str, Any]:
        import h5py

        main = self.path / "main_data.hdf5"
        if main.stat().st_size == 0:
            # Minari only touches the file; an empty split still has to open as HDF5 to iterate.
            h5py.File(main, "w", track_order=True).close()
        self.storage.update_metadata({"playcorder": self.playcorder | {
            "skipped_episodes": self.skipped, "env_ids": sorted(self.env_ids)}})
        return {"dataset_id": self.id, "episodes": self.episodes, "steps": self.steps,
                "transitions": self.transitions, "skipped_episodes": list(self.skipped)}


def _buffers(spec: dict[str, Any], n: int) -> list[Any]:
    """One array of n values per leaf; a list of strings for a text leaf (the only variable one Minari holds)."""
    return [[""] * n if shape == (VARIABLE,) else np.empty((n, *shape), dtype) for dtype, shape in leaf_layout(spec)]


def _put(buffers: list[Any], i: int, values: list[np.ndarray]) -> None:
    for buf, leaf in zip(buffers, values, strict=True):
        buf[i] = leaf.tobytes().decode("utf-8") if isinstance(buf, list) else leaf


class _EpisodeArrays:
    """One episode copied step by step into preallocated arrays, so the decoded chunks behind each step can be freed
    as we go."""

    def __init__(self, config: DatasetConfig, meta: EpisodeMeta) -> None:
        n = meta.num_steps
        self.config, self.meta, self.n = config, meta, n
        self.obs = _buffers(config.observation_spec, n)
        self.act = _buffers(config.action_spec, n - 1)
        self.rewards = np.zeros(n - 1, np.float64)
        self.images: list[bytes] = []
        self.texts: dict[str, list[str]] = {"input": [], "info": []}
        self.tags = {t: np.zeros(n, np.bool_) for t in config.step_tags} if config.keep_metadata else {}
        # who controlled the agent per step (multi-agent games): controller, late, participant
        self.control: tuple[list[str], np.ndarray, list[str]] | None = (
            ([""] * n, np.zeros(n, np.bool_), [""] * n) if config.multiagent else None)
        self.count = 0
        self.last: Step | None = None

    def add(self, i: int, s: Step) -> None:
        n, meta = self.n, self.meta
        if i >= n or (i == 0) != s.is_first or (i == n - 1) != s.is_last:
            raise ValueError(f"Expected {n} steps (is_first on the first, is_last on step {n - 1}) in episode "
                             f"{meta.episode_id}, got step {i} with is_first={s.is_first}, is_last={s.is_last}")
        _put(self.obs, i, leaves(self.config.observation_spec, s.observation))
        if i < n - 1:
            _put(self.act, i, leaves(self.config.action_spec, s.action))
            self.rewards[i] = s.reward
        elif s.reward != 0:
            raise ValueError(f"Expected reward 0 on the last step of episode {meta.episode_id} (RLDS puts r_i "
                             f"on step i), got {s.reward}")
        if self.config.keep_metadata:
            self._add_metadata(i, s)
        if self.control is not None:
            self.control[0][i], self.control[1][i], self.control[2][i] = control_values(s)
        self.count, self.last = i + 1, s

    def _add_metadata(self, i: int, s: Step) -> None:
        image = bytes(s.image or b"")
        if image.endswith(b"\0"):
            raise ValueError(f"Expected JPEG bytes ending with FFD9 at step {i} of {self.meta.episode_id}, "
                             "got bytes ending with 00 (lost to fixed-length padding)")
        self.images.append(image)
        self.texts["input"].append(json.dumps(jsonable(s.input)))
        self.texts["info"].append(json.dumps(jsonable(s.info)))
        for t in s.tags:
            if t not in self.tags:
                raise ValueError(f"Expected step tags among {list(self.config.step_tags)}, got {t!r} at "
                                 f"step {i} of {self.meta.episode_id}")
            self.tags[t][i] = True

    def buffer(self, index: int) -> EpisodeBuffer:
        """The episode as Minari's EpisodeBuffer, once all its steps (at least two) are in."""
        from minari.data_collector import EpisodeBuffer

        assert self.last is not None
        n = self.n
        terminations, truncations = np.zeros(n - 1, np.bool_), np.zeros(n - 1, np.bool_)
        terminations[-1], truncations[-1] = self.last.is_terminal, not self.last.is_terminal
        infos: dict[str, Any] = {}
        if self.config.keep_metadata:
            infos = {"image": np.array(self.images, dtype=np.bytes_), **self.texts}
            infos |= {tag_key(t): v for t, v in self.tags.items()}
        if self.control is not None:
            infos |= dict(zip(CONTROL_FIELDS, self.control, strict=True))
        return EpisodeBuffer(
            id=index, seed=self.meta.seed,
            observations=nest(self.config.observation_spec, self.obs),
            actions=nest(self.config.action_spec, self.act),
            rewards=self.rewards,
            terminations=terminations,
            truncations=truncations,
            infos=infos,
        )


class MinariWriter:
    def __init__(self, directory: Path, config: DatasetConfig) -> None:
        self.root = Path(directory)
        self.config = config
        self.spaces = (space_from_spec(config.observation_spec), space_from_spec(config.action_spec))
        dataset_id(config.name, "train", config.version)  # fail before any episode on a bad name or version
        self._split: _Split | None = None
        self._summaries: dict[str, dict[str, Any]] = {}
        self._closed = False

    def _for_split(self, split: str) -> _Split:
        if self._closed:
            raise RuntimeError("MinariWriter is closed")
        dataset_id(self.config.name, split, self.config.version)
        if self._split is not None and self._split.playcorder["split"] != split:
            self._summaries[self._split.playcorder["split"]] = self._split.finish()
            self._split = None
        if self._split is None:
            if split in self._summaries:
                raise ValueError(f"Expected the episodes of one split together, got split {split!r} again")
            if not self._summaries:
                ns = self.root / NAMESPACE
                ns.mkdir(parents=True, exist_ok=True)
                # Lets minari's namespace functions (list_local_namespaces...) see the export's datasets.
                (ns / "namespace_metadata.json").write_text(json.dumps({"description": "Exported by Playcorder"}))
            self._split = _Split(self.root, self.config, split, self.spaces)
        return self._split

    def add_episode(self, meta: EpisodeMeta, steps: Iterable[Step], split: str = "train") -> int:
        """Returns the number of steps written (T+1), 0 for a one-step episode, which is skipped."""
        out = self._for_split(split)
        n = meta.num_steps
        if n < 1:
            raise ValueError(f"Expected an episode of at least one step, got num_steps={n} for {meta.episode_id}")
        arrays = _EpisodeArrays(self.config, meta)
        for i, s in enumerate(steps):
            arrays.add(i, s)
        if arrays.count != n:
            raise ValueError(f"Expected {n} steps in episode {meta.episode_id}, got {arrays.count}")
        out.env_ids.add(meta.env_id)
        if n == 1:
            out.skipped.append(meta.episode_id)
            return 0
        index = out.episodes
        out.storage.update_episodes([arrays.buffer(index)])
        out.storage.update_episode_metadata([self._attributes(meta)], [index])
        out.episodes += 1
        out.steps += n
        out.transitions += n - 1
        return n

    def _attributes(self, meta: EpisodeMeta) -> dict[str, Any]:
        attrs: dict[str, Any] = {k: getattr(meta, k) for k in EPISODE_METADATA}
        if self.config.keep_metadata:
            import h5py  # an explicit string dtype, so that no tags still reads back as strings

            attrs |= {"tags": np.array(list(meta.tags), dtype=h5py.string_dtype()), "notes": meta.notes}
        if self.config.multiagent:
            attrs |= game_values(meta)
        return attrs

    def close(self) -> dict[str, Any]:
        if self._split is not None:
            self._summaries[self._split.playcorder["split"]] = self._split.finish()
            self._split = None
        self._closed = True
        return totals(self._summaries)
