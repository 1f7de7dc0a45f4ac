"""Bodies of the preference routes: what designers and trainers read of an experiment, its segments, pairs and
labels, what a trainer posts, and what a labeller is given and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from playcorder.db.models import PreferenceExperiment, PreferenceLabel, PreferencePair, PreferenceSegment
from playcorder.fields import Id, LongText
from playcorder.preferences import MAX_PAIRS_POSTED, MAX_SEGMENT_STEPS, Response

MAX_FRAME_BASE64 = 1 << 20  # characters of one base64 frame (the whole body is capped by MAX_BODY_BYTES too)
MAX_META = 4000  # characters of a posted segment's meta, as JSON


class SegmentCounts(BaseModel):
    pending: int = 0
    ready: int = 0
    failed: int = 0


class PairCounts(BaseModel):
    total: int = 0
    open: int = Field(0, description="both clips ready, wanting labels")
    answered: int = Field(0, description="with every label they want")
    blocked: int = Field(0, description="a clip failed to render: never offered")


class Agreement(BaseModel):
    pairs: int = Field(0, description="pairs answered by two labellers or more (the agreement share)")
    agreed: int = Field(0, description="of those, pairs whose labellers all gave the same answer")
    share: float | None = Field(None, description="agreed / pairs; none before any pair has two labels")


class Counts(BaseModel):
    segments: SegmentCounts
    pairs: PairCounts
    labels: int
    agreement: Agreement = Field(default_factory=Agreement)


class ExperimentOut(BaseModel):
    id: str
    study_id: str
    name: str
    env: str | None
    fps: int
    spec: dict[str, Any]
    created_at: datetime
    closed: bool
    counts: Counts
    link: str = Field(description="the labelling page, relative to the web app: /label/<id>?token=<participant "
                                  "token>")

    @classmethod
    def of(cls, e: PreferenceExperiment, counts: Counts) -> ExperimentOut:
        return cls(id=e.id, study_id=e.study_id, name=e.name, env=e.env, fps=e.fps, spec=e.spec,
                   created_at=e.created_at, closed=e.closed_at is not None, counts=counts, link=f"/label/{e.id}")


class SegmentOut(BaseModel):
    id: str
    source: str = Field(description="episode (sampled from a recording) or posted (by a trainer)")
    episode_id: str | None
    first_step: int
    num_steps: int
    state: str = Field(description="pending (its clip being rendered), ready, or failed (see error)")
    error: str | None
    reward_sum: float | None = Field(description="the true summed reward, where known")
    clip_frames: int
    created_at: datetime

    @classmethod
    def of(cls, s: PreferenceSegment) -> SegmentOut:
        return cls(id=s.id, source=s.source, episode_id=s.episode_id, first_step=s.first_step,
                   num_steps=s.num_steps, state=s.state, error=s.error, reward_sum=s.reward_sum,
                   clip_frames=s.clip_frames, created_at=s.created_at)


class SegmentIn(BaseModel):
    """A trainer's own rollout: its frames (what labellers see) and, for training on, its arrays."""

    model_config = ConfigDict(extra="forbid")

    frames: list[Annotated[str, Field(max_length=MAX_FRAME_BASE64)]] = Field(
        ..., min_length=1, max_length=MAX_SEGMENT_STEPS, description="base64 JPEG or PNG images, one per step")
    observations: list[Any] | None = Field(None, max_length=MAX_SEGMENT_STEPS, description="one per frame")
    actions: list[Any] | None = Field(None, max_length=MAX_SEGMENT_STEPS, description="one per frame")
    rewards: list[float] | None = Field(None, max_length=MAX_SEGMENT_STEPS, description="one per frame: the true "
                                                                                         "reward, where known")
    meta: dict[str, Any] = Field(default_factory=dict, description="kept with the segment, for the trainer")


class PairIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    left: Id
    right: Id
    priority: float = Field(0.0, ge=-1e9, le=1e9, description="higher is offered first")


class PairsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pairs: list[PairIn] = Field(..., min_length=1, max_length=MAX_PAIRS_POSTED)


class PairOut(BaseModel):
    id: str
    left: str
    right: str
    priority: float
    labels: int
    labels_wanted: int
    state: str = Field(description="waiting_clips, open, leased, answered, or blocked (a clip failed)")
    created_at: datetime

    @classmethod
    def of(cls, p: PreferencePair, state: str) -> PairOut:
        return cls(id=p.id, left=p.left_id, right=p.right_id, priority=p.priority, labels=p.labels,
                   labels_wanted=p.labels_wanted, state=state, created_at=p.created_at)


class PairsOut(BaseModel):
    pairs: list[PairOut]


class LabelOut(BaseModel):
    seq: int = Field(description="the label's number in its experiment: read on with ?after=<seq>")
    pair_id: str
    left: str
    right: str
    response: Response
    labeller: str = Field(description="participant:<id> or account:<id>")
    shown_at: datetime
    answered_at: datetime
    duration_ms: int

    @classmethod
    def of(cls, label: PreferenceLabel, pair: PreferencePair) -> LabelOut:
        return cls(seq=label.seq, pair_id=label.pair_id, left=pair.left_id, right=pair.right_id,
                   response=label.response, labeller=label.labeller,  # type: ignore[arg-type]
                   shown_at=label.shown_at, answered_at=label.answered_at, duration_ms=label.duration_ms)


class LabelsOut(BaseModel):
    labels: list[LabelOut]
    next: int = Field(description="pass as ?after= to read the labels stored since")


class ClipOut(BaseModel):
    segment_id: str
    webm: str = Field(description="presigned link to the WebM (VP9) clip")
    mp4: str = Field(description="presigned link to the MP4 (H.264) clip")
    frames: int = Field(description="frames in the clip, the freeze at its end included")
    fps: int
    seconds: float
    width: int
    height: int


class LeasedPairOut(BaseModel):
    id: str
    lease_until: datetime
    left: ClipOut
    right: ClipOut


class LabelProgress(BaseModel):
    answered: int = Field(description="pairs you answered in this experiment")
    open: int = Field(description="pairs you could still be given (some may be leased to others now)")
    pending: int = Field(description="pairs waiting for a clip still being rendered")


class LeaseOut(BaseModel):
    pair: LeasedPairOut | None = Field(description="the pair to label now; none: none offerable now")
    retry_after: float | None = Field(description="with no pair: seconds after which to ask again (none: all done)")
    progress: LabelProgress
    instructions: LongText
    name: str


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    response: Response
    shown_at: datetime | None = Field(None, description="when both clips began playing (the time to answer is "
                                                        "measured from it; default: when the pair was leased)")


class AnswerOut(BaseModel):
    label: LabelOut
