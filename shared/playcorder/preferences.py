"""Preference experiments: what a designer (or an external trainer) writes to have people compare pairs of clips.

An experiment belongs to a study. Its segments are stretches of steps, sampled from the study's recorded episodes
or posted by a trainer (its own rollouts); the exporter renders each into a short video with a freeze at its end.
Pairs of segments are offered to labellers, one lease at a time, once both clips are stored and decoded back.
RL-Teacher (its `Comparison` and clip rendering) and `imitation` (soft labels, active selection) are the reference.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from .fields import Id, Key, LongText, Name

Response = Literal["left", "right", "tie", "cant_tell"]
RESPONSES: tuple[Response, ...] = ("left", "right", "tie", "cant_tell")
MAX_SEGMENT_STEPS = 600  # steps (frames) of one segment: 20 s at 30 fps
MAX_SEGMENTS_SAMPLED = 5_000  # segments one experiment samples from recorded episodes
MAX_PAIRS = 20_000  # pairs made at creation, or posted in one request (1,000)
MAX_PAIRS_POSTED = 1_000
MAX_EPISODES = 2_000  # episodes named by one experiment's source


class ClipSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    seconds: float = Field(1.5, gt=0, le=20, description="length of a segment (RL-Teacher's 1.5 s)")
    freeze_seconds: float = Field(0.2, ge=0, le=2, description="the last frame held this long at the clip's end")
    fps: int | None = Field(None, ge=1, le=60, description="frames per second of the clip and of sampled segments "
                                                           "(none: the environment's own)")


class EpisodeSource(BaseModel):
    """Segments sampled from the study's recorded episodes: `segments_per_episode` random stretches of each, not
    overlapping, none containing an episode's last (final-observation) step."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["episodes"] = "episodes"
    env: Key | None = Field(None, description="the study's environment whose episodes to sample (none: the only "
                                              "one recorded; pairs never mix environments)")
    episode_ids: list[Id] | None = Field(None, max_length=MAX_EPISODES,
                                         description="these episodes (none: every completed one of the environment)")
    segments_per_episode: int = Field(4, ge=1, le=100)
    seed: int = Field(0, ge=0, le=2**31 - 1)


class PostedSource(BaseModel):
    """Segments posted by an external trainer (POST .../segments): its rollouts' frames, and optionally their
    observations, actions and rewards."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["posted"] = "posted"


class PairingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    count: int = Field(0, ge=0, le=MAX_PAIRS, description="random pairs of distinct segments made at creation "
                                                          "(none repeated; a trainer may post more)")
    seed: int = Field(0, ge=0, le=2**31 - 1)


class ExperimentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name
    instructions: LongText = Field("", description="shown above the clips, e.g. 'Which robot runs forward faster?'")
    clip: ClipSpec = Field(default_factory=ClipSpec)
    source: Annotated[EpisodeSource | PostedSource, Field(discriminator="kind")] = Field(
        default_factory=EpisodeSource)
    pairs: PairingSpec = Field(default_factory=PairingSpec)
    lease_seconds: int = Field(120, ge=5, le=3600, description="a shown pair is held by its labeller this long "
                                                              "(RL-Teacher's 2 minutes); released on answer")
    agreement_share: float = Field(0.0, ge=0, le=1, description="share of pairs shown to two labellers (one after "
                                                                "the other) to measure agreement")
