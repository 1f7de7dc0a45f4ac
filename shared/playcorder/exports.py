"""Export options: what a designer asks of a dataset export. The gateway validates them and stores them with the
export; the exporter plans and applies them (playcorder_exporter.plan)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .campaigns import Channel
from .episode_query import MAX_WHERE, Where
from .fields import INT32_MAX, Label, Matching, Moment, ShortText
from .messages import EndState
from .processing import ProcessingOptions

MAX_TAGS = 20  # tags in a filter, end tags of an export

Format = Literal["rlds", "envlogger", "minari", "lerobot", "d3rlpy"]
DatasetName = Annotated[str, Matching(r"[a-z][a-z0-9_]{0,63}", "a dataset name of lowercase letters, digits and "
                                                               "'_' (starting with a letter, at most 64)")]
Version = Annotated[str, Matching(r"[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}", "a version like '1.0.0'")]


class EpisodeFilter(BaseModel):
    """Episodes of the study that match every given criterion."""

    model_config = ConfigDict(extra="forbid")

    env: ShortText | None = Field(None, description="environment key in the study, or its Gymnasium id")
    states: list[EndState] = Field(
        default_factory=lambda: list[EndState](["completed"]), min_length=1, max_length=10,
        description="episode states to include")
    participant: ShortText | None = Field(None, description="participant id")
    study_version: int | None = Field(None, ge=1, le=INT32_MAX,
                                      description="episodes played with this version of the study")
    tags: list[Label] = Field(default_factory=list, max_length=MAX_TAGS,
                              description="episodes carrying every one of these tags")
    started_after: Moment | None = None
    started_before: Moment | None = None
    min_reward: float | None = None
    max_reward: float | None = None
    campaign: ShortText | None = Field(None, description="played through this campaign (its id)")
    condition: ShortText | None = Field(None, description="played in this condition (its key) of a campaign")
    channel: Channel | None = Field(None, description="played through a campaign recruiting on this channel")
    game_id: ShortText | None = Field(None, description="the episodes (one per agent) of this multi-agent game")
    agent: ShortText | None = Field(None, description="episodes of multi-agent games recording this agent (e.g. "
                                                      "first_0): an export of one agent's episodes")
    where: list[Where] = Field(
        default_factory=list, max_length=MAX_WHERE,
        description="comparisons that must all hold, each '<name> <op> <number>' (e.g. 'score >= 50'): op one of "
                    ">=, <=, >, <, ==, !=; name a key of the episode's statistics, or total_reward, num_steps or "
                    "active_s; an episode without that statistic matches none")


class ExportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Format = Field("rlds", description="rlds (TFDS layout), envlogger (Riegeli), minari, lerobot (v3) or "
                                               "d3rlpy (processed frames, the arrays of an MDPDataset)")
    keep_metadata: bool = Field(False, description="keep the internal metadata: image shown, raw input, info, tags, "
                                                   "notes (stripped by default, as RLDS Creator does)")
    end_tags: list[Label] = Field(default_factory=list, max_length=MAX_TAGS,
                                  description="an episode ends at its first step carrying one of these tags "
                                              "(truncated: last, not terminal)")
    archive: bool = Field(True, description="one ZIP file; false: the dataset's directory tree, file by file")
    name: DatasetName | None = Field(None, description="dataset name (default: from the study's name)")
    version: Version = Field("1.0.0", description="dataset version, x.y.z")
    test_split: float = Field(0.0, ge=0.0, lt=1.0, description="share of the episodes in a 'test' split")
    processing: ProcessingOptions | None = Field(
        None, description="d3rlpy only: how frames are processed (frame skip, max-pool, grayscale, size, stack, "
                          "source); default CrowdPlay's: 4, 2, true, [84, 84], 4, observation")

    @model_validator(mode="after")
    def _processing_for_d3rlpy(self) -> ExportOptions:
        if self.processing is not None and self.format != "d3rlpy":
            raise ValueError(f"Expected processing options with format 'd3rlpy' only, got them with {self.format!r}")
        return self
