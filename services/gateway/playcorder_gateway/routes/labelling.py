"""Labelling, for a participant of the study (their bearer token): lease the next pair (two presigned clip links),
answer it (left, right, tie, can't tell), or give it back. The queue's rules are label_queue's."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response, status
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import ApiToken, PreferenceExperiment, PreferenceLabel, PreferencePair, PreferenceSegment
from playcorder.fields import PathId, is_id

from .. import label_queue
from ..campaign_play import NotPlayable, label_seat
from ..deps import Bus, BusSubjects, DbSession, Objects, ParticipantToken, not_found
from ..errors import CodedError, ErrorOut
from ..preference_schemas import (
    AnswerIn,
    AnswerOut,
    ClipOut,
    LabelOut,
    LabelProgress,
    LeasedPairOut,
    LeaseOut,
)

router = APIRouter(tags=["labelling"])
RETRY_S = 2.0  # no pair now, clips still rendering: ask again after this
MAX_RETRY_S = 30.0
LINK_GRACE_S = 600  # presigned clip links outlive the lease by this (a replay after a slow answer still plays)
_NO_PAIR = {404: {"model": ErrorOut, "description": "code no_such_pair: no such pair in your study"},
            409: {"model": ErrorOut, "description": "code lease_lost (leased to another since yours expired, or "
                                                    "never yours) or already_answered"}}


def labeller_of(token: ApiToken) -> str:
    return label_queue.participant_labeller(token.participant_id)


async def _experiment(db: AsyncSession, experiment_id: str, token: ApiToken) -> PreferenceExperiment:
    experiment = await db.get(PreferenceExperiment, experiment_id) if is_id(experiment_id) else None
    if experiment is None or experiment.study_id != token.study_id:
        raise not_found("a preference experiment of your study", experiment_id)
    return experiment


def _clip(segment: PreferenceSegment, url: dict[str, str], fps: int) -> ClipOut:
    return ClipOut(segment_id=segment.id, webm=url["webm"], mp4=url["mp4"], frames=segment.clip_frames, fps=fps,
                   seconds=segment.clip_frames / fps, width=segment.width, height=segment.height)


@router.post("/api/preferences/{experiment_id}/lease", response_model=LeaseOut,
             responses={404: {"model": ErrorOut, "description": "no such experiment in your study"},
                        409: {"model": ErrorOut, "description": "a campaign's participant: code pages_first, "
                                                                "not_your_condition or campaign_complete"}})
async def lease_pair(experiment_id: PathId, db: DbSession, objects: Objects, token: ParticipantToken) -> LeaseOut:
    """The pair to label now, held for you for the experiment's lease_seconds (the same pair again while you hold
    it). None when no pair can be offered now: `retry_after` says when to ask again, or is null when every pair
    you could label is done. A campaign's participant labels only the experiment of their labelling condition,
    after its pages and until they complete it."""
    experiment = await _experiment(db, experiment_id, token)
    assert token.participant_id is not None
    try:
        await label_seat(db, token.participant_id, experiment.id)
    except NotPlayable as refused:
        raise CodedError(status.HTTP_409_CONFLICT, refused.code, refused.message) from None
    labeller = labeller_of(token)
    leased = await label_queue.lease(db, experiment, labeller, float(experiment.spec.get("lease_seconds", 120)))
    answered = (await db.exec(select(func.count()).select_from(PreferenceLabel).where(
        PreferenceLabel.experiment_id == experiment.id, PreferenceLabel.labeller == labeller))).one()
    open_ = await label_queue.open_count(db, experiment.id, labeller)
    pending = await label_queue.pending_count(db, experiment.id)
    progress = LabelProgress(answered=int(answered), open=open_, pending=pending)
    base = {"progress": progress, "instructions": str(experiment.spec.get("instructions", "")),
            "name": experiment.name}
    if leased is None:
        retry = None
        if experiment.closed_at is None and (open_ or pending):
            retry = RETRY_S if pending or not open_ else await _lease_lapse(db, experiment.id)
        return LeaseOut(pair=None, retry_after=retry, **base)
    keys = [leased.left.clip_keys["webm"], leased.left.clip_keys["mp4"], leased.right.clip_keys["webm"],
            leased.right.clip_keys["mp4"]]
    assert leased.pair.lease_until is not None
    expires = int((leased.pair.lease_until - datetime.now(UTC)).total_seconds()) + LINK_GRACE_S
    urls, _ = await objects.presign_get(keys, expires)
    pair = LeasedPairOut(id=leased.pair.id, lease_until=leased.pair.lease_until,
                         left=_clip(leased.left, {"webm": urls[0], "mp4": urls[1]}, experiment.fps),
                         right=_clip(leased.right, {"webm": urls[2], "mp4": urls[3]}, experiment.fps))
    return LeaseOut(pair=pair, retry_after=None, **base)


async def _lease_lapse(db: AsyncSession, experiment_id: str) -> float:
    """Seconds until the first lease held by someone else runs out (every open pair is leased now)."""
    soonest = (await db.exec(select(func.min(PreferencePair.lease_until)).where(
        PreferencePair.experiment_id == experiment_id,
        PreferencePair.lease_until >= datetime.now(UTC)))).one()  # type: ignore[operator]
    if soonest is None:
        return RETRY_S
    return min(MAX_RETRY_S, max(RETRY_S, (soonest - datetime.now(UTC)).total_seconds()))


async def _pair(db: AsyncSession, pair_id: str, token: ApiToken) -> PreferencePair:
    pair = await db.get(PreferencePair, pair_id) if is_id(pair_id) else None
    experiment = await db.get(PreferenceExperiment, pair.experiment_id) if pair is not None else None
    if pair is None or experiment is None or experiment.study_id != token.study_id:
        raise CodedError(status.HTTP_404_NOT_FOUND, "no_such_pair",
                         f"Expected the id of a pair of your study's experiments, got {pair_id!r}")
    return pair


@router.post("/api/preferences/pairs/{pair_id}/answer", response_model=AnswerOut, responses=_NO_PAIR)
async def answer_pair(pair_id: PathId, body: AnswerIn, db: DbSession, token: ParticipantToken, nc: Bus,
                      subjects: BusSubjects) -> AnswerOut:
    """Your answer to the pair you hold: which clip better shows what the instructions ask (or tie, can't tell)."""
    pair = await _pair(db, pair_id, token)
    experiment_id = pair.experiment_id
    label, answered = await label_queue.answer(db, pair.id, labeller_of(token), body.response, body.shown_at)
    await nc.publish(subjects.preference_labels(experiment_id), b"")
    return AnswerOut(label=LabelOut.of(label, answered))


@router.post("/api/preferences/pairs/{pair_id}/release", status_code=status.HTTP_204_NO_CONTENT,
             response_class=Response, responses=_NO_PAIR)
async def release_pair(pair_id: PathId, db: DbSession, token: ParticipantToken) -> Response:
    """Give back the pair you hold without answering (it is offered to others at once)."""
    pair = await _pair(db, pair_id, token)
    if not await label_queue.release(db, pair.id, labeller_of(token)):
        raise CodedError(status.HTTP_409_CONFLICT, "lease_lost", "Expected a pair you hold, got one you do not")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
