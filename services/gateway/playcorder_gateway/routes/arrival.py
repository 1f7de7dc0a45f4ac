"""A campaign's participants: the public page of its link, enrolling with the channel's URL parameters (no token
made by hand; the same ids resume), then with the play token it hands out their consent, answers and progress."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.campaigns import CHANNEL_PARAMS, CampaignSpec
from playcorder.db.models import Campaign, Enrollment
from playcorder.fields import PathId, is_id

from .. import assignment
from ..campaign_progress import Standing, progress_out, settle, stage_of
from ..campaign_schemas import AnswersIn, CampaignPublic, EnrollIn, EnrollOut, ProgressOut
from ..deps import ArrivalLimits, DbSession, DbSessions, GatewaySettings, IdKeys, ParticipantToken
from ..enrollment import EXTRA_PARAMS, ArrivalError, arrival, enroll, refusal
from ..errors import ErrorOut, ValidationErrorOut
from ..external_ids import external_key

router = APIRouter(tags=["arrival"])
_REFUSALS = {
    404: {"model": ErrorOut, "description": "no such campaign"},
    409: {"model": ErrorOut, "description": "code mturk_preview (accept the HIT first), campaign_full or "
                                            "not_started"},
    410: {"model": ErrorOut, "description": "code campaign_ended or campaign_closed"},
    422: {"model": ValidationErrorOut, "description": "code missing_params or bad_params: the channel's URL "
                                                      "parameters missing or malformed"},
    429: {"model": ErrorOut, "description": "too many arrivals from this address; retry after Retry-After",
          "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}},
}


def _unknown(campaign_id: str) -> ArrivalError:
    return ArrivalError(404, "unknown_campaign", f"Expected the id of a campaign, got {campaign_id!r}")


@router.get("/api/c/{campaign_id}", response_model=CampaignPublic, responses={404: _REFUSALS[404]})
async def public(campaign_id: PathId, db: DbSession) -> CampaignPublic:
    """What the campaign's page shows before enrolling: its name, pages, the URL parameters it expects."""
    campaign = await db.get(Campaign, campaign_id) if is_id(campaign_id) else None
    if campaign is None:
        raise _unknown(campaign_id)
    spec = CampaignSpec.model_validate(campaign.spec)
    refused = refusal(campaign, spec, datetime.now(UTC))
    return CampaignPublic(id=campaign.id, name=campaign.name, channel=spec.channel,
                          params=[*CHANNEL_PARAMS[spec.channel], *EXTRA_PARAMS.get(spec.channel, ())],
                          open=refused.code.removeprefix("campaign_") if refused else None,  # type: ignore[arg-type]
                          pages=spec.pages)


@router.post("/api/c/{campaign_id}/enroll", response_model=EnrollOut, responses=_REFUSALS)
async def enroll_route(campaign_id: PathId, body: EnrollIn, request: Request, db: DbSession, sessions: DbSessions,
                       settings: GatewaySettings, limit: ArrivalLimits, id_key: IdKeys) -> EnrollOut:
    """Enroll with the channel's URL parameters (Prolific: PROLIFIC_PID, STUDY_ID, SESSION_ID; MTurk: workerId,
    assignmentId, hitId, turkSubmitTo; a link: participant), or resume with the same ones: a play token, and
    where the participant stands. A new one is assigned the least filled open condition."""
    limit.take(request.client.host if request.client else "")
    secret = await id_key.secret(sessions)  # first: it may take a connection of its own
    campaign = await db.get(Campaign, campaign_id) if is_id(campaign_id) else None
    if campaign is None:
        raise _unknown(campaign_id)
    came = arrival(campaign.channel, body.params)
    key = external_key(secret, campaign.channel, came.participant)
    await db.commit()  # no connection held while waiting for a turn
    async with limit.turn():  # arrivals wait here, not holding a database connection while others hold the lock
        enrolled = await enroll(db, campaign.id, came, key, settings.participant_token_ttl)
        await db.commit()  # the campaign's lock is released: the next arrival may take its turn
    if enrolled.resumed:  # where they stand may have moved on since they were last seen
        campaign, enrollment = await _locked(db, enrolled.enrollment.participant_id)
        out = await _progress(db, campaign, enrollment)
    else:
        spec = CampaignSpec.model_validate(campaign.spec)
        standing = Standing(stage_of(spec, enrolled.enrollment), enrolled.assignment, {}, 0)
        out = await progress_out(db, campaign, enrolled.enrollment, standing)
    return EnrollOut(token=enrolled.token, participant_id=enrolled.enrollment.participant_id,
                     resumed=enrolled.resumed, progress=out)


async def _mine(db: AsyncSession, token: ParticipantToken) -> tuple[Campaign, Enrollment]:
    assert token.participant_id is not None
    return await _locked(db, token.participant_id)


async def _locked(db: AsyncSession, participant_id: str) -> tuple[Campaign, Enrollment]:
    """The participant's enrollment (the newest, if the study has them in several campaigns) and its campaign,
    locked."""
    enrollment = (await db.exec(select(Enrollment).where(Enrollment.participant_id == participant_id)
                                .order_by(Enrollment.created_at.desc()))).first()  # type: ignore[attr-defined]
    campaign = await assignment.lock(db, enrollment.campaign_id) if enrollment is not None else None
    if enrollment is None or campaign is None:
        raise ArrivalError(404, "not_enrolled", "Expected the play token of a campaign's participant (from POST "
                                                "/api/c/<campaign>/enroll), got one made by a designer")
    await db.refresh(enrollment)  # read again under the campaign's lock
    return campaign, enrollment


async def _progress(db: AsyncSession, campaign: Campaign, enrollment: Enrollment) -> ProgressOut:
    now = datetime.now(UTC)
    enrollment.last_seen_at = now
    db.add(enrollment)
    standing = await settle(db, campaign, enrollment, now)
    out = await progress_out(db, campaign, enrollment, standing)
    await db.commit()
    return out


@router.get("/api/enrollment", response_model=ProgressOut, responses={404: _REFUSALS[404]})
async def my_progress(token: ParticipantToken, db: DbSession) -> ProgressOut:
    """Where the participant stands: stage, condition, statistics against the requirements, completion code and
    redirect once complete. Reading it renews their reservation."""
    return await _progress(db, *await _mine(db, token))


@router.post("/api/enrollment/consent", response_model=ProgressOut, responses={404: _REFUSALS[404]})
async def consent(token: ParticipantToken, db: DbSession) -> ProgressOut:
    """The participant agrees to the consent text."""
    campaign, enrollment = await _mine(db, token)
    if enrollment.consented_at is None:
        enrollment.consented_at = datetime.now(UTC)
    return await _progress(db, campaign, enrollment)


@router.post("/api/enrollment/answers", response_model=ProgressOut,
             responses={404: _REFUSALS[404], 409: {"model": ErrorOut, "description": "consent first"},
                        422: {"model": ValidationErrorOut, "description": "an answer the questionnaire does not "
                                                                          "take (code bad_answers)"}})
async def answers(body: AnswersIn, token: ParticipantToken, db: DbSession) -> ProgressOut:
    """The questionnaire's answers, checked against its questions (kind, options, scale, length, required)."""
    campaign, enrollment = await _mine(db, token)
    spec = CampaignSpec.model_validate(campaign.spec)
    if spec.pages.consent and enrollment.consented_at is None:
        raise ArrivalError(409, "consent_first", "Expected consent (POST /api/enrollment/consent) before answers")
    if enrollment.completed_at is not None:
        raise ArrivalError(409, "campaign_complete", "Expected answers before completing, got them after")
    enrollment.answers = checked_answers(spec, body.answers)
    return await _progress(db, campaign, enrollment)


def checked_answers(spec: CampaignSpec, given: dict[str, str | int]) -> dict[str, str | int]:
    questions = {q.id: q for q in spec.pages.questionnaire}
    if unknown := sorted(set(given) - set(questions)):
        raise ArrivalError(422, "bad_answers", f"Expected answers to {sorted(questions)}, got {unknown[:5]} too")
    out: dict[str, str | int] = {}
    for q in spec.pages.questionnaire:
        value = given.get(q.id)
        if value is None or value == "":
            if q.required:
                raise ArrivalError(422, "bad_answers", f"Expected an answer to {q.id!r}, got none")
            continue
        if q.kind == "scale":
            if isinstance(value, bool) or not isinstance(value, int) or not q.scale[0] <= value <= q.scale[1]:
                raise ArrivalError(422, "bad_answers", f"Expected {q.id!r} a whole number in {list(q.scale)}, got "
                                                       f"{str(value)[:40]!r}")
        elif not isinstance(value, str):
            raise ArrivalError(422, "bad_answers", f"Expected {q.id!r} text, got {value!r}")
        elif q.kind == "choice" and value not in q.options:
            raise ArrivalError(422, "bad_answers", f"Expected {q.id!r} one of {q.options}, got {value[:40]!r}")
        elif len(value) > q.max_length:
            raise ArrivalError(422, "bad_answers", f"Expected {q.id!r} at most {q.max_length} characters, got "
                                                   f"{len(value)}")
        out[q.id] = value
    return out
