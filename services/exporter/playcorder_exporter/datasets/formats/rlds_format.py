"""RLDS in TFDS layout, the default export: one RLDSWriter per split, all in one directory
(`{name}/{version}/`), loadable with `tfds.builder_from_directory(...)`.

Episode metadata: episode_id, episode_index, agent_id, study_id, environment, env_id, state, seed, num_steps,
total_reward; with the internal metadata kept also tags and notes, and per step: `image` (the JPEG shown, passed
through without decoding), `input` and `info` (JSON text, since their shape varies) and `tag:<label>` booleans.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from playcorder.records import Step
from playcorder_exporter.datasets.formats.base import DatasetConfig, EpisodeMeta, totals
from playcorder_exporter.datasets.rlds_writer import RLDSWriter

EPISODE_METADATA = {
    "episode_id": "string", "episode_index": "int64", "agent_id": "string", "study_id": "string",
    "environment": "string", "env_id": "string", "state": "string", "seed": "int64", "num_steps": "int64",
    "total_reward": "float32",
}
INTERNAL_EPISODE_METADATA = {"tags": "string_list", "notes": "string"}


class RLDSFormatWriter:
    def __init__(self, directory: Path, config: DatasetConfig) -> None:
        self.root = Path(directory) / config.name / config.version
        self.config = config
        self._writer: RLDSWriter | None = None
        self._summaries: dict[str, dict[str, Any]] = {}
        self._episode_metadata = EPISODE_METADATA | (INTERNAL_EPISODE_METADATA if config.keep_metadata else {})
        self._tag_keys = [(f"tag:{t}", t) for t in config.step_tags]
        self._step_metadata = ({"input": "string", "info": "string"} | {key: "bool" for key, _ in self._tag_keys}
                               if config.keep_metadata else {})

    def _for_split(self, split: str) -> RLDSWriter:
        if self._writer is not None and self._writer.split != split:
            self._summaries[self._writer.split] = self._writer.close()
            self._writer = None
        if self._writer is None:
            if split in self._summaries:
                raise ValueError(f"Expected the episodes of one split together, got split {split!r} again")
            c = self.config
            self._writer = RLDSWriter(
                self.root, name=c.name, version=c.version, observation_spec=c.observation_spec,
                action_spec=c.action_spec, episode_metadata=self._episode_metadata, step_image=c.keep_metadata,
                step_metadata=self._step_metadata, description=c.description, split=split,
            )
        return self._writer

    def _steps(self, steps: Iterable[Step]) -> Iterator[dict[str, Any]]:
        keep = self.config.keep_metadata
        for s in steps:
            step: dict[str, Any] = {
                "observation": s.observation, "action": s.action, "reward": s.reward, "discount": s.discount,
                "is_first": s.is_first, "is_last": s.is_last, "is_terminal": s.is_terminal,
            }
            if keep:
                step |= {"image": s.image or b"", "input": json.dumps(s.input), "info": json.dumps(s.info)}
                step |= {key: t in s.tags for key, t in self._tag_keys}
            yield step

    def add_episode(self, meta: EpisodeMeta, steps: Iterable[Step], split: str = "train") -> int:
        writer = self._for_split(split)
        metadata: dict[str, Any] = {k: getattr(meta, k) for k in EPISODE_METADATA}
        if self.config.keep_metadata:
            metadata |= {"tags": list(meta.tags), "notes": meta.notes}
        return writer.add_episode(self._steps(steps), metadata)

    def close(self) -> dict[str, Any]:
        if self._writer is not None:
            self._summaries[self._writer.split] = self._writer.close()
            self._writer = None
        return totals(self._summaries)
