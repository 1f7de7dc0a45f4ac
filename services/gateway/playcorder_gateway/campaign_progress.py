"""Where an enrolled participant stands: their stage (consent, questionnaire, play, complete), the condition they
play, their statistics there against the requirements, and once complete the completion code, bonus and the
channel's redirect (Prolific's completion URL with the study's code; MTurk's externalSubmit form with the
assignmentId, as CrowdPlay does). Reading it moves things on: requirements met complete the condition (and the
next one is assigned, up to conditions_per_participant), and the participant's reservation is renewed."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.campaign_stats import bonus, combine, condition_completion, condition_requirements, name_of
from playcorder.campaigns import CampaignSpec, condition_environment
from playcorder.db.models import Assignment, Campaign, Enrollment, Episode, Study
from playcorder.messages import RECORDING
from playcorder.specs import StudySpec

from . import assignment
from .campaign_labelling import answered, label_values
from .campaign_schemas import LabelAssigned, ProgressOut, Redirect, RequirementProgress, Stage

log = logging.getLogger(__name__)
PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete"


@dataclass
class Standing:
    """An enrollment's stage and current assignment, with the statistics they decide on."""

    stage: Stage
    current: Assignment | None
    values: dict[str, float]
    done: int
    last: str | None = None  # once complete: the condition completed last


async def episode_values(db: AsyncSession, participant_id: str, campaign_id: str,
                         condition: str | None) -> dict[str, float]:
    """The participant's statistics over their ended episodes of the campaign (of one condition, or all)."""
    query = select(Episode.stats, Episode.state).where(Episode.participant_id == participant_id,
                                                       Episode.campaign_id == campaign_id, Episode.state != RECORDING)
    if condition is not None:
        query = query.where(Episode.condition == condition)
    rows = await db.exec(query.order_by(col(Episode.started_at)))
    return combine((stats or {}, state == assignment.COMPLETED_EPISODE) for stats, state in rows)


async def assignment_values(db: AsyncSession, spec: CampaignSpec, current: Assignment) -> dict[str, float]:
    """The participant's values in their assigned condition: its episodes' statistics, or its labelling's."""
    condition = spec.condition(current.condition)
    if condition is not None and condition.label is not None:
        return await label_values(db, current.participant_id, condition.label, current.created_at)
    return await episode_values(db, current.participant_id, current.campaign_id, current.condition)


def stage_of(spec: CampaignSpec, enrollment: Enrollment) -> Stage:
    if enrollment.completed_at is not None:
        return "complete"
    if spec.pages.consent and enrollment.consented_at is None:
        return "consent"
    if spec.pages.questionnaire and enrollment.answers is None:
        return "questionnaire"
    return "play"


async def settle(db: AsyncSession, campaign: Campaign, enrollment: Enrollment, now: datetime) -> Standing:
    """Move the enrollment on as far as its statistics allow; the caller holds the campaign's lock and commits."""
    spec = CampaignSpec.model_validate(campaign.spec)
    assignments = await assignment.done_by(db, enrollment.id)
    while True:
        current = next((a for a in assignments if a.state == "active"), None)
        done = sum(a.state == "completed" for a in assignments)
        if current is None:
            values: dict[str, float] = {}
        else:
            values = await assignment_values(db, spec, current)
            if values != current.stats:
                current.stats = values
                db.add(current)
        stage = stage_of(spec, enrollment)
        if stage == "complete" and current is None and assignments:  # what they completed last, for the designer
            return Standing(stage, None, dict(assignments[-1].stats), done, assignments[-1].condition)
        if stage == "complete" or current is None and done == 0:
            return Standing(stage, current, values, done)
        if current is not None and condition_completion(spec, spec.condition(current.condition), values) < 1.0:
            assignment.reserve(current, spec, now)
            db.add(current)
            return Standing(stage, current, values, done)
        if current is not None:  # requirements met: the condition is complete, for good
            current.state, current.completed_at = "completed", now
            db.add(current)
            done += 1
        nxt = None
        if done < spec.conditions_per_participant:
            nxt = assignment.choose(spec, await assignment.fills(db, campaign.id, spec, now),
                                    {a.condition for a in assignments})
        if nxt is None:
            await complete(db, campaign, spec, enrollment, now)
            return Standing("complete", None, values, done, current.condition if current else None)
        made = Assignment(campaign_id=campaign.id, enrollment_id=enrollment.id,
                          participant_id=enrollment.participant_id, condition=nxt.condition.id, reserved_until=now)
        assignment.reserve(made, spec, now)
        db.add(made)
        assignments.append(made)


async def complete(db: AsyncSession, campaign: Campaign, spec: CampaignSpec, enrollment: Enrollment,
                   now: datetime) -> None:
    """The participant is done: their completion code (the campaign's on Prolific, where the study has one code;
    a uuid of their own elsewhere, as CrowdPlay's MTurk token) and bonus."""
    enrollment.completed_at = now
    enrollment.completion_code = campaign.completion_code if campaign.channel == "prolific" else uuid.uuid4().hex
    if spec.bonus is not None:
        values = await episode_values(db, enrollment.participant_id, campaign.id, None)
        values["pairs"] = float(await answered(db, enrollment.participant_id))
        try:
            enrollment.bonus = bonus(spec.bonus, values)
        except ValueError as err:  # the designer's formula: the table shows none, the log says why
            log.warning("campaign %s: no bonus for enrollment %s: %s", campaign.id, enrollment.id, err)
    db.add(enrollment)


def redirect(campaign: Campaign, enrollment: Enrollment) -> Redirect | None:
    code = enrollment.completion_code
    if code is None:
        return None
    if campaign.channel == "prolific":
        return Redirect(method="GET", url=f"{PROLIFIC_COMPLETE}?cc={code}")
    if campaign.channel == "mturk" and (host := enrollment.external.get("turkSubmitTo")):
        return Redirect(method="POST", url=f"{host}/mturk/externalSubmit",
                        fields={"assignmentId": str(enrollment.external.get("assignmentId", "")),
                                "completion_code": code})
    return None


async def rank_of(db: AsyncSession, campaign: Campaign, spec: CampaignSpec, mine: float) -> float:
    """The percentile of `mine` among the campaign's other participants' values of its first requirement."""
    key = name_of(spec.requirements[0].statistic, spec.requirements[0].aggregate) if spec.requirements else "episodes"
    stats = await db.exec(select(Assignment.stats).where(Assignment.campaign_id == campaign.id))
    others = [float(s.get(key, 0.0)) for s in stats]
    below = sum(v < mine for v in others)
    return round(100.0 * below / max(1, len(others) - 1), 1) if len(others) > 1 else 100.0


async def progress_out(db: AsyncSession, campaign: Campaign, enrollment: Enrollment,
                       standing: Standing) -> ProgressOut:
    spec = CampaignSpec.model_validate(campaign.spec)
    environment, instructions, label = None, spec.pages.instructions, None
    condition = spec.condition(standing.current.condition) if standing.current is not None else None
    if condition is not None and condition.label is not None:
        label = LabelAssigned(experiment=condition.label.experiment, pairs=condition.label.pairs)
        instructions = "\n\n".join(t for t in (spec.pages.instructions, condition.instructions) if t)
    elif condition is not None:
        study = await db.get(Study, campaign.study_id)
        if study is not None:
            environment = condition.environment
            try:
                env = condition_environment(StudySpec.model_validate(study.spec), condition)
                instructions = "\n\n".join(t for t in (spec.pages.instructions, env.instructions) if t)
            except ValueError:  # the study was edited since: the play socket says what is wrong
                pass
    reqs = condition_requirements(spec, condition or spec.condition(standing.last or ""), standing.values)
    mine = reqs[0]["value"] if reqs else 0.0
    rank = await rank_of(db, campaign, spec, mine) if spec.show_rank else None
    done = standing.stage == "complete"
    return ProgressOut(
        campaign_id=campaign.id, campaign_name=campaign.name, channel=campaign.channel,  # type: ignore[arg-type]
        stage=standing.stage, condition=None if done else (standing.current.condition if standing.current else None),
        environment=None if done else environment, instructions=instructions,
        requirements=[RequirementProgress(**r) for r in reqs],
        label=None if done else label,
        completion=1.0 if done else condition_completion(spec, condition, standing.values), values=standing.values,
        rank=rank,
        completion_code=enrollment.completion_code, bonus=enrollment.bonus,
        after=spec.pages.after if done else "", redirect=redirect(campaign, enrollment),
        conditions_done=standing.done, conditions_total=spec.conditions_per_participant)
