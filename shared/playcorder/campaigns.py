"""Crowd campaigns: what a designer writes to recruit participants on Prolific, MTurk or a plain link.

A campaign belongs to a study. Each of its conditions plays one of the study's environments, optionally as a
variant (fields of the environment's spec overridden) with its own instructions, up to a quota; or labels pairs of
one of the study's preference experiments (`label`: done after that many answers, or once the experiment has no
more pairs for them). A participant
arriving with the channel's URL parameters is enrolled and assigned a condition (the least filled of the open
ones they have not done); they complete it when every requirement over their statistics is met, and get the
completion code (and the channel's redirect). CrowdPlay (its `TaskAssignment` and `callables`) is the reference.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .fields import Id, Key, LongText, Matching, Moment, Name, ShortText
from .specs import EnvironmentSpec, StudySpec

MAX_CONDITIONS = 50
MAX_REQUIREMENTS = 10
MAX_QUESTIONS = 30
MAX_OPTIONS = 20
MAX_FORMULA = 500  # characters of a bonus formula
MAX_LABEL_PAIRS = 1000  # pairs one labelling condition asks of a participant

Channel = Literal["prolific", "mturk", "link"]
# The URL parameters each channel's participants arrive with (CrowdPlay's for MTurk, Prolific's documented ones);
# the first names the participant, the others their study and session (kept, hashed, with the enrollment).
CHANNEL_PARAMS: dict[str, tuple[str, ...]] = {
    "prolific": ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID"),
    "mturk": ("workerId", "assignmentId", "hitId"),
    "link": ("participant",),
}
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"  # MTurk's assignmentId while a worker only previews the HIT
# Per-participant statistics requirements and formulas may name: the worker's per-episode statistics summed over
# the participant's completed episodes, plus `episodes` (how many they completed).
StatisticName = Annotated[str, Matching(r"[a-z][a-z0-9_]{0,63}", "a statistic name of lowercase letters, digits "
                                                                 "and '_' (e.g. 'active_minutes')")]
QuotaUnit = Literal["participants", "episodes", "active_minutes"]
Aggregate = Literal["sum", "max", "min", "mean", "last"]


class Quota(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    unit: QuotaUnit = Field("participants", description="participants who completed the condition, episodes "
                                                        "completed in it, or active minutes played in it")
    target: int = Field(..., ge=1, le=1_000_000, description="the condition is full at this many")


class LabelTask(BaseModel):
    """A labelling condition's task: answer `pairs` pairs of a preference experiment of the campaign's study."""

    model_config = ConfigDict(extra="forbid", strict=True)

    experiment: Id = Field(..., description="the id of a preference experiment of the campaign's study")
    pairs: int = Field(..., ge=1, le=MAX_LABEL_PAIRS, description="pairs a participant answers to complete the "
                                                                 "condition (fewer when the experiment has no more "
                                                                 "for them)")


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: Key = Field(..., description="key of this condition within the campaign, e.g. 'pong-fast'")
    environment: Key | None = Field(None, description="the study's environment it plays (its key); or `label`")
    label: LabelTask | None = Field(None, description="instead of play: pairs of a preference experiment to label")
    variant: dict[str, Any] = Field(default_factory=dict, description="fields of the environment's spec this "
                                                                      "condition overrides (kwargs, fps, "
                                                                      "max_episode_steps, ...)")
    instructions: LongText = Field("", description="shown before play (in place of the environment's own)")
    quota: Quota

    @model_validator(mode="after")
    def _one_task(self) -> Condition:
        if (self.environment is None) == (self.label is None):
            got = "both" if self.label is not None else "neither"
            raise ValueError(f"Expected condition {self.id!r} to have exactly one of 'environment' (play) or 'label' "
                             f"(labelling), got {got}")
        if self.label is not None and self.variant:
            raise ValueError(f"Expected no variant for labelling condition {self.id!r}, got {sorted(self.variant)}")
        if self.label is not None and self.quota.unit != "participants":
            raise ValueError(f"Expected quota unit 'participants' for labelling condition {self.id!r} (episodes and "
                             f"active minutes measure play), got {self.quota.unit!r}")
        return self


class Requirement(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    statistic: StatisticName = Field(..., description="'episodes', or a statistic the worker computes "
                                                      "('active_minutes', 'score', 'steps', or a custom one)")
    aggregate: Aggregate = Field("sum", description="how the participant's episodes' values combine")
    target: float = Field(..., gt=0, le=1e12, description="met when the combined value reaches it")


class Bonus(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    formula: str = Field(..., min_length=1, max_length=MAX_FORMULA,
                         description="an arithmetic expression over the participant's statistics (names as in "
                                     "requirements, e.g. '0.05 * active_minutes + 0.01 * max_score'); "
                                     "min, max, round, abs and floor are available")
    max: float = Field(..., gt=0, le=1000, description="the bonus is capped at this (in the platform's currency)")
    currency: Literal["GBP", "USD", "EUR"] = "USD"


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: Key
    text: LongText
    kind: Literal["choice", "text", "scale"] = "text"
    options: list[ShortText] = Field(default_factory=list, max_length=MAX_OPTIONS,
                                     description="choice: the answers to pick from")
    scale: tuple[int, int] = Field((1, 5), strict=False, description="scale: the lowest and highest answer")
    required: bool = True
    max_length: int = Field(1000, ge=1, le=10_000, description="text: the longest answer accepted")

    @model_validator(mode="after")
    def _options(self) -> Question:
        if self.kind == "choice" and len(self.options) < 2:
            raise ValueError(f"Expected at least 2 options for choice question {self.id!r}, got {len(self.options)}")
        if self.scale[0] >= self.scale[1]:
            raise ValueError(f"Expected a scale (low, high) with low < high, got {list(self.scale)}")
        return self


class Pages(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    consent: LongText = Field("", description="consent text the participant agrees to before anything else "
                                              "(empty: no consent page)")
    instructions: LongText = Field("", description="shown after consent, before play")
    questionnaire: list[Question] = Field(default_factory=list, max_length=MAX_QUESTIONS,
                                          description="asked before play; answers are stored")
    after: LongText = Field("", description="shown with the completion code")


class CampaignSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    channel: Channel = "link"
    conditions: list[Condition] = Field(..., min_length=1, max_length=MAX_CONDITIONS)
    requirements: list[Requirement] = Field(default_factory=list, max_length=MAX_REQUIREMENTS,
                                            description="all must be met to complete (none: one completed "
                                                        "episode)")
    bonus: Bonus | None = None
    starts_at: Moment | None = None
    ends_at: Moment | None = None
    pages: Pages = Field(default_factory=Pages)
    completion_code: ShortText | None = Field(None, description="Prolific: the study's completion code (default: a "
                                                                "random one made with the campaign)")
    reservation_minutes: float = Field(60, gt=0, le=7 * 24 * 60, description="an assigned participant holds "
                                                                             "their place this long after last "
                                                                             "being seen")
    show_rank: bool = Field(False, description="show participants their percentile among the campaign's")
    conditions_per_participant: int = Field(1, ge=1, le=MAX_CONDITIONS,
                                            description="conditions one participant may complete in turn")

    @field_validator("requirements")
    @classmethod
    def _unique_requirements(cls, v: list[Requirement]) -> list[Requirement]:
        seen = [(r.statistic, r.aggregate) for r in v]
        if len(set(seen)) != len(seen):
            raise ValueError("Expected each (statistic, aggregate) at most once in requirements")
        return v

    @model_validator(mode="after")
    def _check(self) -> CampaignSpec:
        keys = [c.id for c in self.conditions]
        if dupes := sorted({k for k in keys if keys.count(k) > 1}):
            raise ValueError(f"Expected unique condition ids, got duplicates {dupes}")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError(f"Expected ends_at after starts_at, got {self.ends_at.isoformat()} <= "
                             f"{self.starts_at.isoformat()}")
        if self.bonus is not None:
            from .campaign_stats import check_formula  # the formula's names and syntax
            check_formula(self.bonus.formula)
        return self

    def condition(self, key: str) -> Condition | None:
        return next((c for c in self.conditions if c.id == key), None)

    def checked_against(self, study: StudySpec) -> list[str]:
        """Problems with the study: conditions naming no environment of it, variants its spec refuses."""
        problems = []
        for c in self.conditions:
            if c.label is not None:  # its experiment is checked against the study's in the database
                continue
            try:
                condition_environment(study, c)
            except ValueError as err:
                problems.append(f"condition {c.id!r}: {err}")
        return problems

    def open_at(self, now: datetime) -> str | None:
        """Why the campaign takes no one now ('not_started', 'ended'), or None."""
        if self.starts_at is not None and now < self.starts_at:
            return "not_started"
        if self.ends_at is not None and now >= self.ends_at:
            return "ended"
        return None


_VARIANT_FIXED = {"id", "env_id", "family"}  # a variant plays the study's environment, not another one


def condition_environment(study: StudySpec, condition: Condition) -> EnvironmentSpec:
    """The environment spec a condition plays: the study's, with its variant's fields and instructions."""
    if condition.environment is None:
        raise ValueError(f"Expected a condition that plays, got {condition.id!r}, which labels preference pairs")
    env = study.environment(condition.environment)
    if env is None or env.id != condition.environment:
        raise ValueError(f"Expected one of the study's environments {[e.id for e in study.environments]}, got "
                         f"{condition.environment!r}")
    if fixed := sorted(_VARIANT_FIXED & condition.variant.keys()):
        raise ValueError(f"Expected a variant of the environment's settings, got {fixed} (a variant plays the "
                         "same environment; add another environment to the study instead)")
    merged = {**env.model_dump(), **condition.variant}
    if condition.instructions:
        merged["instructions"] = condition.instructions
    try:
        return EnvironmentSpec.model_validate(merged)
    except Exception as err:  # pydantic's message names the field and what was expected
        raise ValueError(f"Expected a variant the environment spec accepts: {err}") from None

