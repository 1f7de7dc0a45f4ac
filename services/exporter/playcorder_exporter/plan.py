"""The export plan: which episodes go into which split, where each is cut, and the pseudonyms and names a dataset
carries. Pure functions of the episodes' rows and the designer's options (no I/O)."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from playcorder.exports import ExportOptions


@dataclass
class EpisodeSource:
    id: str
    study_id: str
    participant_id: str
    env: str
    env_id: str
    state: str
    seed: int
    num_steps: int
    total_reward: float
    observation_spec: dict[str, Any]
    action_spec: dict[str, Any]
    chunks: list[tuple[str, int, int, float]]  # (object key, first step, steps, reward sum), in order
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    step_tags: dict[int, list[str]] = field(default_factory=dict)
    game_id: str | None = None  # a multi-agent game's episode (one per agent)
    agent: str | None = None


@dataclass
class Planned:
    """An episode as it will be written: where it is cut, its counts after the cut, its split."""

    source: EpisodeSource
    split: str
    last: int  # index of the step written last
    close: bool  # that step becomes the last (is_last, truncated) though it was not recorded as last

    @property
    def num_steps(self) -> int:
        return self.last + 1


def plan(sources: list[EpisodeSource], options: ExportOptions) -> list[Planned]:
    """Train episodes first, then test (the writers take one split after the other)."""
    test = held_out([s.id for s in sources], options.test_split)
    ends = set(options.end_tags)
    planned = []
    for s in sources:
        cut = min((i for i, tags in s.step_tags.items() if ends & set(tags) and i < s.num_steps), default=None)
        last = s.num_steps - 1 if cut is None else cut
        # An episode cut by a tag, or whose worker died before recording its final step, ends at `last`: its
        # action there becomes a placeholder and its reward 0, as on any RLDS last step.
        open_end = cut is None and s.state == "interrupted"
        planned.append(Planned(s, "test" if s.id in test else "train", last, cut is not None or open_end))
    return [p for p in planned if p.split == "train"] + [p for p in planned if p.split == "test"]


def dataset_name(study_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", study_name.lower()).strip("_") or "study"
    return f"playcorder_{slug}"[:64].rstrip("_")


def held_out(episode_ids: list[str], share: float) -> set[str]:
    """The episodes of the test split: the round(share * n) whose hashed ids rank lowest. Exact in count, and
    stable: an episode stays in its split when the same export is made again with more episodes."""
    count = math.floor(share * len(episode_ids) + 0.5)
    ranked = sorted(episode_ids, key=lambda e: hashlib.sha256(e.encode()).hexdigest())
    return set(ranked[:count])


def agent_id(participant_id: str, study_id: str) -> str:
    """A stable pseudonym: the same participant in the same study, never their id itself."""
    return hashlib.sha256(f"{study_id}:{participant_id}".encode()).hexdigest()[:32]
