"""Bodies of the campaign routes: what designers read of a campaign and its participants, what an arriving
participant sends and reads of their progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from playcorder.campaigns import Channel, Pages
from playcorder.db.models import Campaign

MAX_PARAMS = 20  # URL parameters an arrival may pass on
MAX_PARAM = 128  # characters of one

Stage = Literal["consent", "questionnaire", "play", "complete"]


class CampaignOut(BaseModel):
    id: str
    study_id: str
    name: str
    channel: Channel
    spec: dict[str, Any]
    completion_code: str
    closed: bool
    created_at: datetime
    link: str = Field(description="the participants' page, relative to the web app: /c/<id> (append the channel's "
                                  "URL parameters)")

    @classmethod
    def of(cls, c: Campaign) -> CampaignOut:
        return cls(id=c.id, study_id=c.study_id, name=c.name, channel=c.channel,  # type: ignore[arg-type]
                   spec=c.spec, completion_code=c.completion_code, closed=c.closed_at is not None,
                   created_at=c.created_at, link=f"/c/{c.id}")


class RequirementProgress(BaseModel):
    statistic: str
    aggregate: str
    target: float
    value: float
    fraction: float = Field(description="value / target, capped at 1")


class Redirect(BaseModel):
    method: Literal["GET", "POST"]
    url: str
    fields: dict[str, str] = Field(default_factory=dict, description="POST: the form's fields")


class LabelAssigned(BaseModel):
    experiment: str = Field(description="the preference experiment to label (POST /api/preferences/<id>/lease)")
    pairs: int = Field(description="pairs answered to complete the condition")


class ProgressOut(BaseModel):
    campaign_id: str
    campaign_name: str
    channel: Channel
    stage: Stage
    condition: str | None = Field(description="the condition assigned now (None once complete)")
    environment: str | None = Field(description="the study's environment key to select_env (None: not play)")
    label: LabelAssigned | None = Field(None, description="a labelling condition: the experiment and how many pairs")
    instructions: str
    requirements: list[RequirementProgress]
    completion: float = Field(description="CrowdPlay's: the least fraction over the requirements (1: complete)")
    values: dict[str, float] = Field(description="the participant's statistics in the condition")
    rank: float | None = Field(None, description="percentile (0..100) among the campaign's participants, when the "
                                                 "campaign shows it")
    completion_code: str | None = None
    bonus: float | None = None
    after: str = ""
    redirect: Redirect | None = None
    conditions_done: int = 0
    conditions_total: int = 1


class CampaignPublic(BaseModel):
    id: str
    name: str
    channel: Channel
    params: list[str] = Field(description="the URL parameters an arrival brings")
    open: Literal["not_started", "ended", "closed"] | None = Field(description="why it takes no one new, or null")
    pages: Pages


class EnrollIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, str] = Field(default_factory=dict, max_length=MAX_PARAMS,
                                   description="the URL parameters the participant arrived with")


class EnrollOut(BaseModel):
    token: str = Field(description="the participant's play token (Authorization: Bearer, and the play socket)")
    participant_id: str
    resumed: bool = Field(description="returning with the same ids: their progress goes on")
    progress: ProgressOut


class AnswersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: dict[str, str | int] = Field(..., max_length=60, description="question id -> answer")


class EnrollmentOut(BaseModel):
    id: str
    participant_id: str
    condition: str | None
    stage: Stage
    completion: float
    values: dict[str, float]
    bonus: float | None
    completion_code: str | None
    created_at: datetime
    last_seen_at: datetime
    completed_at: datetime | None
    answers: dict[str, Any] | None


class ConditionFill(BaseModel):
    id: str
    environment: str | None = Field(description="what it plays (None: a labelling condition)")
    experiment: str | None = Field(None, description="what it labels (None: a play condition)")
    unit: str
    target: int
    filled: float
    reserved: int
    full: bool


class TimePoint(BaseModel):
    t: datetime
    arrived: int
    completed: int


class DashboardOut(BaseModel):
    campaign_id: str
    now: datetime
    arrived: int
    active: int
    completed: int
    live_players: int
    timeline: list[TimePoint]
    conditions: list[ConditionFill]
    histograms: dict[str, list[float]]

