"""Request and response bodies of the REST API, by resource."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from playcorder.db.models import Episode
from playcorder.exports import EpisodeFilter, ExportOptions
from playcorder.fields import INT32_MAX, Key, Notes, ShortText
from playcorder.messages import EpisodeState, TrialReply
from playcorder.specs import MAX_ENVIRONMENTS


# ---------------------------------------------------------------- accounts
class AccountOut(BaseModel):
    id: str
    name: str
    role: str


# ---------------------------------------------------------------- studies and participants
class StudyOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    spec: dict[str, Any] = Field(description="the current version's spec")
    version: int = Field(description="the current version: 1 at creation, one more for each edit of the spec")
    enabled: bool = Field(description="participants may start sessions (unless it is archived)")
    archived: bool = Field(description="hidden from the list of studies and closed to participants")
    disabled_environments: list[str] = Field(description="keys of the environments participants cannot pick")
    updated_at: datetime = Field(description="when the spec or the settings above last changed")
    episode_count: int = Field(description="episodes recorded, of every version")


class StudyPatch(BaseModel):
    """Settings of a study that are not part of its spec: changing them makes no new version."""

    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: bool | None = Field(None, description="false: participants can start no session")
    archived: bool | None = Field(None, description="true: hidden from the list and closed to participants")
    disabled_environments: list[Key] | None = Field(None, max_length=MAX_ENVIRONMENTS,
                                                    description="keys of the environments participants cannot pick "
                                                                "(replaces the list; [] enables them all)")


class StudyVersionOut(BaseModel):
    version: int
    spec: dict[str, Any]
    created_at: datetime


class TrialOut(BaseModel):
    """What trying a spec found, per environment in the spec's order (its `preview_jpeg` is base64 JPEG)."""

    environments: list[TrialReply]


MAX_EXPORT_IDS = 10_000  # episode ids in one export request


class ParticipantIn(BaseModel):
    external_id: ShortText | None = Field(None, description="your own id for them")
    expires_in: int | None = Field(None, ge=60, le=INT32_MAX,
                                   description="seconds the play token stays valid (default and maximum: the "
                                               "gateway's PARTICIPANT_TOKEN_TTL)")


class ParticipantOut(BaseModel):
    participant_id: str
    study_id: str
    token: str
    expires_at: datetime = Field(description="when the token stops being accepted")


class RevokedOut(BaseModel):
    revoked_tokens: int = Field(description="tokens revoked by this request (already revoked ones not counted)")
    ended_sessions: int = Field(0, description="play sessions of theirs told to end: the relayed ones, and those whose "
                                               "socket went away within the last hour (a worker may still hold them "
                                               "for a resume; one that does not ignores it)")


class EnvironmentChoice(BaseModel):
    id: str
    env_id: str
    mode: str
    instructions: str


class ParticipantStudy(BaseModel):
    study_id: str
    participant_id: str
    name: str
    description: str
    instructions: str
    enabled: bool = Field(description="sessions can start (the designer has neither disabled nor archived it)")
    environments: list[EnvironmentChoice] = Field(description="the environments one can play now: the enabled "
                                                              "ones, none while the study is not enabled")


# ---------------------------------------------------------------- episodes
class EpisodeOut(BaseModel):
    id: str
    study_id: str
    study_version: int | None = Field(description="the study's version it was played with (null: recorded before "
                                                  "studies had versions)")
    session_id: str
    participant_id: str
    env: str
    env_id: str
    worker_id: str
    state: EpisodeState
    end_reason: str | None
    num_steps: int
    total_reward: float
    seed: int
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None = Field(description="from start to end, pauses included")
    active_s: float = Field(description="time the episode was running, pauses excluded")
    tags: list[str]
    notes: str
    campaign_id: str | None = Field(description="the campaign it was played through (null: none)")
    condition: str | None = Field(description="the campaign's condition it was played in")
    stats: dict[str, float] = Field(description="the statistics at its end (score, steps, active_minutes, custom "
                                                "ones; the worker's, by name)")
    game_id: str | None = Field(None, description="the multi-agent game it is one agent's episode of (null: a "
                                                  "single-agent episode); the game's other agents' episodes share it")
    agent: str | None = Field(None, description="the agent of that game it records")

    @classmethod
    def of(cls, e: Episode, tags: list[str]) -> EpisodeOut:
        duration = (e.ended_at - e.started_at).total_seconds() if e.ended_at else None
        return cls(**{f: getattr(e, f) for f in _EPISODE_ROW_FIELDS}, duration_s=duration, tags=tags)


_EPISODE_ROW_FIELDS = [f for f in EpisodeOut.model_fields if f not in ("duration_s", "tags")]


class StepTagOut(BaseModel):
    step: int
    label: str


class EpisodeDetail(EpisodeOut):
    step_tags: list[StepTagOut]
    observation_spec: dict[str, Any]
    action_spec: dict[str, Any]


class EpisodePatch(BaseModel):
    notes: Notes = Field(..., description="free-text notes; an empty string removes them")


class EpisodeTags(BaseModel):
    episode_id: str
    tags: list[str]


class StepTags(BaseModel):
    episode_id: str
    step: int
    tags: list[str]


# ---------------------------------------------------------------- sessions
class SessionOut(BaseModel):
    id: str
    study_id: str
    participant_id: str
    env: str
    worker_id: str
    started_at: datetime
    ended_at: datetime | None
    episodes: int


class ParticipantDetail(BaseModel):
    id: str
    study_id: str
    external_id: str | None
    created_at: datetime
    sessions: list[SessionOut] = Field(description="their latest sessions (at most 100), oldest first; all of them: "
                                                   "page through sessions_list")
    episodes: list[EpisodeOut] = Field(description="their latest episodes (at most 100), oldest first; all of them: "
                                                   "page through episodes_list")
    session_count: int = Field(description="all their sessions; more than len(sessions) when some are left out")
    episode_count: int = Field(description="all their episodes; more than len(episodes) when some are left out")
    sessions_list: str = Field(description="the paginated list of all their sessions (a path of this API)")
    episodes_list: str = Field(description="the paginated list of all their episodes (a path of this API)")


# ---------------------------------------------------------------- exports
class ExportIn(ExportOptions):
    episode_ids: list[ShortText] | None = Field(None, max_length=MAX_EXPORT_IDS,
                                                description="these episodes (finished ones of the study)")
    filter: EpisodeFilter | None = Field(None, description="the episodes matching this filter")
    agent: ShortText | None = Field(None, description="only the episodes (of those given by episode_ids or filter) "
                                                      "recording this agent of multi-agent games: a dataset of one "
                                                      "agent, e.g. first_0")
    link_expiry: int | None = Field(None, ge=1, le=7 * 24 * 3600, description="seconds a presigned link stays valid")


class PresignedFile(BaseModel):
    path: str
    size: int
    url: str


class ExportOut(BaseModel):
    id: str
    study_id: str
    format: str
    options: dict[str, Any]
    state: str
    episodes: int
    steps_done: int
    steps_total: int
    size_bytes: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    url: str | None = Field(None, description="presigned link to the ZIP")
    files: list[PresignedFile] | None = Field(None, description="presigned links to each file of a tree export")
    expires_at: datetime | None = None
