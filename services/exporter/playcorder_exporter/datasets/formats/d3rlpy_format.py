"""d3rlpy export: per split, one .npz of the arrays `d3rlpy.dataset.MDPDataset` takes, the episodes' frames
processed as CrowdPlay processes them (playcorder.processing: max-pool, frame skip, grayscale, resize, stack;
the options in ExportOptions.processing), episodes back to back.

Layout under the export directory:
    {name}/{version}/metadata.json   processing options, observation shape, action space and size, and per split
                                     its file, rows, transitions and episodes (id, first row, rows, ...)
    {name}/{version}/{split}.npz     observations (N, C, H, W) uint8, actions ((N,) int64 or (N, d)), rewards,
                                     terminals, timeouts ((N,) float32): MDPDataset's keyword arguments exactly
Loading (d3rlpy infers action_size from the largest action recorded; give it the space's):
    meta = json.load(open(".../metadata.json"))
    with np.load(".../train.npz") as arrays:
        dataset = d3rlpy.dataset.MDPDataset(**arrays, action_space=d3rlpy.ActionSpace.DISCRETE,
                                            action_size=meta["action_size"])
Each episode ends with terminal 1 on its last row, or, when it did not terminate, with a row holding its final
observation and timeout 1 (d3rlpy uses that row only as the last transition's next observation). An episode of
one step has no transition and is left out, listed under the split's skipped_episodes. The internal metadata
(image shown, input, info, tags) is not part of this format, nor is who controlled each step of a multi-agent
game's episode (its game_id and agent are in the episode's entry of metadata.json).

Memory: a row's observation goes to a scratch file of its split as it is made; only the rows' scalars stay in
memory (about 20 bytes a row). close() deflates the observations from the scratch file into the .npz.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from playcorder.processing import ProcessingOptions, Row, action_array, action_size, limits, observation_shape, rows
from playcorder.records import Step
from playcorder_exporter.datasets.formats.base import DatasetConfig, EpisodeMeta, game_values, totals

ARRAYS = ("observations", "actions", "rewards", "terminals", "timeouts")
_BLOCK = 1 << 20
_EPISODE_KEYS = ("episode_id", "episode_index", "agent_id", "environment", "env_id", "state", "seed", "num_steps",
                 "total_reward")


class _Counted:
    """The steps given, counted as they are read."""

    def __init__(self, steps: Iterable[Step]) -> None:
        self.steps, self.count = steps, 0

    def __iter__(self) -> Iterator[Step]:
        for step in self.steps:
            self.count += 1
            yield step


class _Split:
    def __init__(self, root: Path, split: str) -> None:
        self.name, self.path = split, root / f"{split}.npz"
        self.scratch = root / f".{split}.observations"
        self.out = open(self.scratch, "wb")  # closed by finish()
        self.shape: tuple[int, ...] | None = None
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.terminals: list[bool] = []
        self.timeouts: list[bool] = []
        self.episodes: list[dict[str, Any]] = []
        self.skipped: list[str] = []
        self.steps = 0

    def add(self, row: Row, episode_id: str) -> None:
        if self.shape is None:
            self.shape = row.observation.shape
        elif row.observation.shape != self.shape:
            raise ValueError(f"Expected processed observations of shape {list(self.shape)} in split {self.name}, got "
                             f"{list(row.observation.shape)} in episode {episode_id} (frames of another size: give "
                             "processing.size)")
        self.out.write(np.ascontiguousarray(row.observation, np.uint8).data)
        self.actions.append(row.action)
        self.rewards.append(row.reward)
        self.terminals.append(row.terminal)
        self.timeouts.append(row.timeout)

    def finish(self, config: DatasetConfig, shape: tuple[int, ...] | None) -> dict[str, Any]:
        """Write the split's .npz (an empty split keeps the shape the options give, or (0,))."""
        self.out.close()
        n = len(self.rewards)
        obs_shape = self.shape or shape or ()
        small = {"actions": action_array(self.actions, config.action_spec),
                 "rewards": np.array(self.rewards, np.float32), "terminals": np.array(self.terminals, np.float32),
                 "timeouts": np.array(self.timeouts, np.float32)}
        # Deflate level 1: stacked frames repeat within zlib's window, so even this level shrinks Pong ~30x.
        with zipfile.ZipFile(self.path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1,
                             allowZip64=True) as zf:
            with zf.open("observations.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_1_0(member, {
                    "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False,
                    "shape": (n, *obs_shape)})
                with open(self.scratch, "rb") as scratch:
                    while block := scratch.read(_BLOCK):
                        member.write(block)
            for key, array in small.items():
                with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
        self.scratch.unlink()
        ended = sum(self.terminals)
        return {"file": self.path.name, "episodes": len(self.episodes), "steps": self.steps, "rows": n,
                "transitions": n - (len(self.episodes) - int(ended)), "observation_shape": list(obs_shape),
                "skipped_episodes": list(self.skipped), "episode_rows": self.episodes}


class D3rlpyWriter:
    def __init__(self, directory: Path, config: DatasetConfig) -> None:
        self.config = config
        self.options = config.processing or ProcessingOptions()
        if reason := limits(config.observation_spec, config.action_spec, self.options):
            raise ValueError(f"Expected spaces the d3rlpy format can hold, got: {reason}")
        self.root = Path(directory) / config.name / config.version
        self.root.mkdir(parents=True)
        self._split: _Split | None = None
        self._summaries: dict[str, dict[str, Any]] = {}
        self._closed = False

    def _for_split(self, split: str) -> _Split:
        if self._closed:
            raise RuntimeError("D3rlpyWriter is closed")
        if self._split is not None and self._split.name != split:
            self._finish()
        if self._split is None:
            if split in self._summaries or not split.isidentifier():
                raise ValueError(f"Expected the episodes of one split together, named like 'train', got split {split!r}"
                                 f"{' again' if split in self._summaries else ''}")
            self._split = _Split(self.root, split)
        return self._split

    def add_episode(self, meta: EpisodeMeta, steps: Iterable[Step], split: str = "train") -> int:
        """Returns the number of recorded steps read (the rows written are in the summary)."""
        out = self._for_split(split)
        counted = _Counted(steps)
        if meta.num_steps < 2:
            for _ in counted:  # read through: the caller counts progress by the steps read
                pass
            out.skipped.append(meta.episode_id)
            out.steps += counted.count
            return counted.count
        first = len(out.rewards)
        for row in rows(counted, self.config.action_spec, self.options):
            out.add(row, meta.episode_id)
        if counted.count != meta.num_steps:
            raise ValueError(f"Expected {meta.num_steps} steps in episode {meta.episode_id}, got {counted.count}")
        out.steps += counted.count
        out.episodes.append({**{k: getattr(meta, k) for k in _EPISODE_KEYS}, "first_row": first,
                             "rows": len(out.rewards) - first, "terminal": bool(out.terminals[-1])}
                            | (game_values(meta) if self.config.multiagent else {}))
        return counted.count

    def _finish(self) -> None:
        assert self._split is not None
        shape = observation_shape(self.config.observation_spec, self.options)
        self._summaries[self._split.name] = self._split.finish(self.config, shape)
        self._split = None

    def close(self) -> dict[str, Any]:
        if self._closed:
            return self._totals()
        if self._split is not None:
            self._finish()
        self._closed = True
        kind = self.config.action_spec.get("type")
        shapes = {tuple(s["observation_shape"]) for s in self._summaries.values() if s["rows"]}
        (self.root / "metadata.json").write_text(json.dumps({
            "format": "d3rlpy", "note": "Exported by Playcorder: processed frames of human play, one .npz of "
                                        "d3rlpy.dataset.MDPDataset's arrays per split",
            "name": self.config.name, "version": self.config.version, "description": self.config.description,
            "processing": self.options.model_dump(mode="json"),
            "observation_shape": list(next(iter(shapes))) if len(shapes) == 1 else None,
            "action_space": "discrete" if kind == "discrete" else "continuous",
            "action_size": action_size(self.config.action_spec),
            "observation_spec": self.config.observation_spec, "action_spec": self.config.action_spec,
            "arrays": list(ARRAYS), "splits": self._summaries,
        }, indent=1))
        return self._totals()

    def _totals(self) -> dict[str, Any]:
        brief = {split: {k: v for k, v in s.items() if k != "episode_rows"} for split, s in self._summaries.items()}
        return totals(brief)
