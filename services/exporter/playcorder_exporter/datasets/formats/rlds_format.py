"""RLDS in TFDS layout, the default export: one RLDSWriter per split, all in one directory
(`{name}/{version}/`), loadable with `tfds.builder_from_directory(...)`.

Episode metadata: episode_id, episode_index, agent_id, study_id, environment, env_id, state, seed, num_steps,
total_reward; with the internal metadata kept also tags and notes, and per step: `image` (the JPEG shown, passed
through without decoding), `input` and `info` (JSON text, since their shape varies) and `tag:<label>` booleans.
Episodes of multi-agent games (one per agent) add the episode metadata game_id and agent, and per step
`controller` ("human", "ai" or "none"), `late` (the policy missed its deadline: the previous action was repeated)
and `participant` (the pseudonym of the person in control, "" for none).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from playcorder.records import Step
from playcorder_exporter.datasets import rlds_features as rf
from playcorder_exporter.datasets.formats.base import (
    CONTROL_FIELDS,
    DatasetConfig,
    EpisodeMeta,
    control_values,
    game_values,
    totals,
)
from playcorder_exporter.datasets.rlds_writer import RLDSWriter, write_dataset_info

EPISODE_METADATA = {
    "episode_id": "string", "episode_index": "int64", "agent_id": "string", "study_id": "string",
    "environment": "string", "env_id": "string", "state": "string", "seed": "int64", "num_steps": "int64",
    "total_reward": "float32",
}
INTERNAL_EPISODE_METADATA = {"tags": "string_list", "notes": "string"}
GAME_METADATA = {"game_id": "string", "agent": "string"}  # episodes of multi-agent games
CONTROL_METADATA = {"controller": "string", "late": "bool", "participant": "string"}  # their steps


def _metadata_kinds(config: DatasetConfig) -> tuple[dict[str, str], dict[str, str]]:
    """(episode metadata, step metadata) fields and kinds of an export with this config."""
    episode = EPISODE_METADATA | (INTERNAL_EPISODE_METADATA if config.keep_metadata else {})
    step = ({"input": "string", "info": "string"} | {f"tag:{t}": "bool" for t in config.step_tags}
            if config.keep_metadata else {})
    if config.multiagent:
        episode, step = episode | GAME_METADATA, step | CONTROL_METADATA
    return episode, step


class RLDSFormatWriter:
    """`part=(split, index, count)`: one file of a sharded export (PartWriter, see formats/__init__.py): its
    episodes all of that split, written to `{name}-{split}.tfrecord-{index}-of-{count}`, no metadata files."""

    def __init__(self, directory: Path, config: DatasetConfig, part: tuple[str, int, int] | None = None) -> None:
        self.root = Path(directory) / config.name / config.version
        self.config = config
        self._part = part
        self._writer: RLDSWriter | None = None
        self._summaries: dict[str, dict[str, Any]] = {}
        self._episode_metadata, self._step_metadata = _metadata_kinds(config)
        self._tag_keys = [(f"tag:{t}", t) for t in config.step_tags]

    def _for_split(self, split: str) -> RLDSWriter:
        if self._writer is not None and self._writer.split != split:
            self._summaries[self._writer.split] = self._writer.close()
            self._writer = None
        if self._writer is None:
            if split in self._summaries:
                raise ValueError(f"Expected the episodes of one split together, got split {split!r} again")
            if self._part is not None and split != self._part[0]:
                raise ValueError(f"Expected episodes of split {self._part[0]!r} in this part, got {split!r}")
            c = self.config
            self._writer = RLDSWriter(
                self.root, name=c.name, version=c.version, observation_spec=c.observation_spec,
                action_spec=c.action_spec, episode_metadata=self._episode_metadata, step_image=c.keep_metadata,
                step_metadata=self._step_metadata, description=c.description, split=split,
                part=None if self._part is None else self._part[1:],
            )
        return self._writer

    def _steps(self, steps: Iterable[Step]) -> Iterator[dict[str, Any]]:
        keep, multiagent = self.config.keep_metadata, self.config.multiagent
        for s in steps:
            step: dict[str, Any] = {
                "observation": s.observation, "action": s.action, "reward": s.reward, "discount": s.discount,
                "is_first": s.is_first, "is_last": s.is_last, "is_terminal": s.is_terminal,
            }
            if keep:
                step |= {"image": s.image or b"", "input": json.dumps(s.input), "info": json.dumps(s.info)}
                step |= {key: t in s.tags for key, t in self._tag_keys}
            if multiagent:
                step |= dict(zip(CONTROL_FIELDS, control_values(s), strict=True))
            yield step

    def add_episode(self, meta: EpisodeMeta, steps: Iterable[Step], split: str = "train") -> int:
        writer = self._for_split(split)
        metadata: dict[str, Any] = {k: getattr(meta, k) for k in EPISODE_METADATA}
        if self.config.keep_metadata:
            metadata |= {"tags": list(meta.tags), "notes": meta.notes}
        if self.config.multiagent:
            metadata |= game_values(meta)
        return writer.add_episode(self._steps(steps), metadata)

    def close(self) -> dict[str, Any]:
        if self._writer is not None:
            self._summaries[self._writer.split] = self._writer.close()
            self._writer = None
        return totals(self._summaries)


def finalize(directory: Path, config: DatasetConfig, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The metadata of a sharded export whose part files lie in `directory` already (as the parts wrote them):
    dataset_info.json lists each split's files in order with their episodes and bytes; features.json."""
    root = Path(directory) / config.name / config.version
    root.mkdir(parents=True, exist_ok=True)
    episode, step = _metadata_kinds(config)
    features = rf.episode_features(config.observation_spec, config.action_spec, episode,
                                   step_image=config.keep_metadata, step_metadata=step)
    by_split: dict[str, list[dict[str, Any]]] = {}
    for p in sorted(parts, key=lambda p: (p["split"], p["file_index"])):
        by_split.setdefault(p["split"], []).append(p)
    order = [s for s in ("train", "test") if s in by_split] + sorted(set(by_split) - {"train", "test"})
    splits = {s: ([n for p in by_split[s] for n in p["shard_lengths"]], sum(p["bytes"] for p in by_split[s]))
              for s in order}
    write_dataset_info(root, features, name=config.name, version=config.version, description=config.description,
                       splits=splits)
    summaries = {s: {"split": s, "episodes": sum(p["episodes"] for p in by_split[s]),
                     "steps": sum(p["steps"] for p in by_split[s]), "bytes": splits[s][1],
                     "shards": len(splits[s][0]), "shard_lengths": splits[s][0]} for s in order}
    return totals(summaries)
