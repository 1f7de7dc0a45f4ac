"""Campaigns, for their designer: create one for a study, list, read, edit, close; its participants and their
progress; the bonus table in the format each platform's bulk-bonus tool takes."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response, status
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.campaign_stats import condition_completion
from playcorder.campaigns import CampaignSpec
from playcorder.db.models import Assignment, Campaign, Enrollment, PreferenceExperiment, Study
from playcorder.fields import PathId, is_id
from playcorder.specs import StudySpec

from .. import assignment
from ..campaign_progress import settle, stage_of
from ..campaign_schemas import CampaignOut, EnrollmentOut
from ..deps import DbSession, Designer, OwnedStudy, not_found
from ..errors import ErrorOut, ValidationErrorOut

router = APIRouter(tags=["campaigns"])
MAX_PARTICIPANTS_LISTED = 10_000


async def owned_campaign(campaign_id: PathId, db: DbSession, designer: Designer) -> Campaign:
    campaign = await db.get(Campaign, campaign_id) if is_id(campaign_id) else None
    study = await db.get(Study, campaign.study_id) if campaign is not None else None
    if campaign is None or study is None or study.owner_id != designer.id:
        raise not_found("a campaign of your studies", campaign_id)
    return campaign


OwnedCampaign = Annotated[Campaign, Depends(owned_campaign)]


async def _checked(db: AsyncSession, spec: CampaignSpec, study: Study) -> None:
    problems = spec.checked_against(StudySpec.model_validate(study.spec))
    wanted = {c.label.experiment for c in spec.conditions if c.label is not None}
    ours = set(await db.exec(select(PreferenceExperiment.id).where(
        PreferenceExperiment.study_id == study.id, col(PreferenceExperiment.id).in_(wanted)))) if wanted else set()
    for c in spec.conditions:
        if c.label is not None and c.label.experiment not in ours:
            problems.append(f"condition {c.id!r}: Expected the id of a preference experiment of study {study.id!r}, "
                            f"got {c.label.experiment!r} (no experiment of this study)")
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "Expected conditions the study can play or label, "
                            "got: " + "; ".join(problems[:5]))


@router.post("/api/studies/{study_id}/campaigns", status_code=status.HTTP_201_CREATED, response_model=CampaignOut,
             responses={422: {"model": ValidationErrorOut, "description": "not a campaign spec, or a condition "
                                                                          "names no environment of the study, a "
                                                                          "variant its spec refuses, or no "
                                                                          "preference experiment of the study"}})
async def create_campaign(spec: CampaignSpec, study: OwnedStudy, db: DbSession, designer: Designer) -> CampaignOut:
    """A campaign of the study; participants arrive at its link (`/c/<id>` with the channel's URL parameters)."""
    await _checked(db, spec, study)
    campaign = Campaign(study_id=study.id, name=spec.name, channel=spec.channel, spec=spec.model_dump(mode="json"),
                        completion_code=spec.completion_code or secrets.token_hex(4).upper(), created_by=designer.id)
    db.add(campaign)
    await db.commit()
    return CampaignOut.of(campaign)


@router.get("/api/studies/{study_id}/campaigns", response_model=list[CampaignOut])
async def list_campaigns(study: OwnedStudy, db: DbSession) -> list[CampaignOut]:
    rows = await db.exec(select(Campaign).where(Campaign.study_id == study.id).order_by(col(Campaign.created_at)))
    return [CampaignOut.of(c) for c in rows]


@router.get("/api/campaigns/{campaign_id}", response_model=CampaignOut)
async def get_campaign(campaign: OwnedCampaign) -> CampaignOut:
    return CampaignOut.of(campaign)


_EDIT_REFUSALS: dict[int | str, dict[str, object]] = {
    422: {"model": ValidationErrorOut, "description": "as for creating one"},
    409: {"model": ErrorOut, "description": "a condition that has participants was removed, or the channel changed "
                                            "after arrivals"}}


@router.put("/api/campaigns/{campaign_id}", response_model=CampaignOut, responses=_EDIT_REFUSALS)
async def edit_campaign(spec: CampaignSpec, campaign: OwnedCampaign, db: DbSession) -> CampaignOut:
    """Replace the spec (quotas, pages, requirements, times...). Conditions with participants stay, and so does the
    channel once anyone arrived: their records would otherwise name what no longer exists."""
    study = await db.get(Study, campaign.study_id)
    assert study is not None
    await _checked(db, spec, study)
    locked = await assignment.lock(db, campaign.id)
    assert locked is not None
    used = set(await db.exec(select(Assignment.condition).where(
        Assignment.campaign_id == campaign.id).distinct()))
    if dropped := sorted(used - {c.id for c in spec.conditions}):
        raise HTTPException(status.HTTP_409_CONFLICT, f"Expected every condition that has participants in the spec, "
                                                      f"got {dropped} left out")
    if spec.channel != locked.channel and used:
        raise HTTPException(status.HTTP_409_CONFLICT, f"Expected channel {locked.channel!r} (participants arrived "
                                                      f"through it), got {spec.channel!r}")
    locked.name, locked.channel, locked.spec = spec.name, spec.channel, spec.model_dump(mode="json")
    if spec.completion_code:
        locked.completion_code = spec.completion_code
    db.add(locked)
    await db.commit()
    return CampaignOut.of(locked)


@router.post("/api/campaigns/{campaign_id}/close", response_model=CampaignOut)
async def close_campaign(campaign: OwnedCampaign, db: DbSession) -> CampaignOut:
    """No one new is enrolled; those enrolled may finish."""
    if campaign.closed_at is None:
        campaign.closed_at = datetime.now(UTC)
        db.add(campaign)
        await db.commit()
    return CampaignOut.of(campaign)


async def enrollments(db: AsyncSession, campaign: Campaign) -> list[EnrollmentOut]:
    """Every participant of the campaign with their progress, settled now (oldest first)."""
    spec = CampaignSpec.model_validate(campaign.spec)
    now = datetime.now(UTC)
    locked = await assignment.lock(db, campaign.id)
    assert locked is not None
    rows = list(await db.exec(select(Enrollment).where(Enrollment.campaign_id == campaign.id)
                              .order_by(col(Enrollment.created_at)).limit(MAX_PARTICIPANTS_LISTED)))
    out = []
    for e in rows:
        standing = await settle(db, locked, e, now)
        out.append(EnrollmentOut(
            id=e.id, participant_id=e.participant_id,
            condition=standing.current.condition if standing.current else standing.last, stage=stage_of(spec, e),
            completion=1.0 if e.completed_at else condition_completion(
                spec, spec.condition(standing.current.condition if standing.current else standing.last or ""),
                standing.values), values=standing.values,
            bonus=e.bonus, completion_code=e.completion_code, created_at=e.created_at, last_seen_at=e.last_seen_at,
            completed_at=e.completed_at, answers=e.answers))
    await db.commit()
    return out


@router.get("/api/campaigns/{campaign_id}/participants", response_model=list[EnrollmentOut])
async def list_participants(campaign: OwnedCampaign, db: DbSession) -> list[EnrollmentOut]:
    """The campaign's participants (the first 10,000), their condition, stage, statistics, completion and bonus."""
    return await enrollments(db, campaign)


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get("/api/campaigns/{campaign_id}/bonuses.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "one line per completed participant with a "
                                                                         "bonus above 0"}})
async def bonuses(campaign: OwnedCampaign, db: DbSession) -> Response:
    """Prolific's bulk bonus takes `<participant id>,<amount>` lines; MTurk's bonus scripts `workerId,
    assignmentId,amount,reason`; a plain link's `participant,amount`."""
    rows = [e for e in await enrollments(db, campaign) if e.completed_at and e.bonus]
    raw = {e.id: e.external for e in await db.exec(select(Enrollment).where(Enrollment.campaign_id == campaign.id))}
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    if campaign.channel == "mturk":
        out.writerow(["workerId", "assignmentId", "amount", "reason"])
    for e in rows:
        ext = raw.get(e.id, {})
        amount = f"{e.bonus:.2f}"
        if campaign.channel == "prolific":
            out.writerow([_cell(ext.get("PROLIFIC_PID", "")), amount])
        elif campaign.channel == "mturk":
            out.writerow([_cell(ext.get("workerId", "")), _cell(ext.get("assignmentId", "")), amount,
                          _cell(f"Bonus for {campaign.name}")])
        else:
            out.writerow([_cell(ext.get("participant", "")), amount])
    return Response(buf.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="bonuses-{campaign.id}.csv"'})
