"""What every dataset format writer gets, and the one interface they share.

The exporter streams episodes into a writer, one at a time and one split after the other (every "train" episode,
then every "test" one); a writer never holds more than one episode's steps and must not decode the JPEG images
it is given unless its format stores decoded frames (video). Steps follow RLDS alignment (records.Step): step i
holds o_i, the action a_i taken at o_i and its reward r_i; the last step (is_last) holds the final observation
with a placeholder action (zeros of the action space), reward 0, and is_terminal only if the episode really
ended (a truncation is last but not terminal). An episode the exporter truncated by an end-of-episode tag
arrives already cut, its new last step marked is_last, not terminal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from playcorder.processing import ProcessingOptions
from playcorder.records import Step


@dataclass(frozen=True)
class DatasetConfig:
    name: str  # dataset name: letters, digits, '_' (a valid TFDS / Python identifier)
    version: str  # "1.0.0"
    observation_spec: dict[str, Any]  # playcorder.spaces spec of every episode's observations
    action_spec: dict[str, Any]  # and of their actions
    keep_metadata: bool  # keep the internal metadata: image shown, raw input, info, tags, notes
    step_tags: tuple[str, ...] = ()  # every step tag label in the export, sorted (a fixed schema for tag:<label>)
    fps: int = 15  # environment steps per second, for formats that keep time (video)
    description: str = ""
    processing: ProcessingOptions | None = None  # d3rlpy: how frames are processed (None: CrowdPlay's defaults)
    # episodes of multi-agent games: the per-step controller, late and participant (CONTROL_FIELDS) and the episode
    # metadata game_id and agent are in the schema; False: a single-agent export, exactly as before they existed
    multiagent: bool = False


@dataclass(frozen=True)
class EpisodeMeta:
    episode_id: str
    episode_index: int  # position in the export, from 0
    agent_id: str  # a pseudonym of the participant within the study (never their id)
    study_id: str
    environment: str  # the environment's key within the study
    env_id: str  # its Gymnasium id
    state: str  # completed, rejected, cancelled, abandoned, interrupted
    seed: int
    num_steps: int  # of the episode as written (after truncation)
    total_reward: float  # of the episode as written
    tags: tuple[str, ...] = ()
    notes: str = ""
    game_id: str | None = None  # the multi-agent game it is one agent's episode of (None: single-agent)
    agent: str | None = None  # the agent of that game it records


# Per-step fields of a multi-agent export: who chose the agent's action ("human", "ai" or "none"), whether the policy
# was late (the previous action repeated) and the participant's pseudonym ("" when no person controlled it).
CONTROL_FIELDS = ("controller", "late", "participant")
GAME_FIELDS = ("game_id", "agent")  # episode metadata of a multi-agent export ("" where an episode has none)


def control_values(step: Step) -> tuple[str, bool, str]:
    """(controller, late, participant) of a step; a step without control (single-agent) is ("", False, "")."""
    c = step.control or {}
    return str(c.get("controller") or ""), bool(c.get("late", False)), str(c.get("participant") or "")


def game_values(meta: EpisodeMeta) -> dict[str, str]:
    return {"game_id": meta.game_id or "", "agent": meta.agent or ""}


class DatasetWriter(Protocol):
    """One export in one format, written under `directory` (created empty by the caller)."""

    def add_episode(self, meta: EpisodeMeta, steps: Iterable[Step], split: str = "train") -> int:
        """Write one episode (steps streamed, in order); returns the number of steps written."""

    def close(self) -> dict[str, Any]:
        """Finish every split; idempotent. Returns a summary: {"episodes": n, "steps": n, "splits": {...}}."""


def totals(summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A writer's close() summary from its splits' summaries."""
    return {"episodes": sum(s["episodes"] for s in summaries.values()),
            "steps": sum(s["steps"] for s in summaries.values()), "splits": summaries}
