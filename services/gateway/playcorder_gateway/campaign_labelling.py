"""Labelling through a campaign: a participant assigned a labelling condition answers pairs of its preference
experiment through the labelling routes (their play token is a participant token of the study). Their values in
the condition are `pairs` (answered since the condition was assigned) and `pairs_left` (pairs the experiment could
still give them: open to them, or waiting for a clip); the condition completes at the task's `pairs`, or when
none are left for them. A labelling condition whose experiment wants no more labels from anyone (or is closed, or
gone) counts as full, so new arrivals go elsewhere."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.campaigns import LabelTask
from playcorder.db.models import PreferenceExperiment, PreferenceLabel

from . import label_queue


async def answered(db: AsyncSession, participant_id: str, experiment_id: str | None = None,
                   since: datetime | None = None) -> int:
    """Labels the participant gave (in one experiment, since a moment)."""
    query = select(func.count()).select_from(PreferenceLabel).where(
        PreferenceLabel.labeller == label_queue.participant_labeller(participant_id))
    if experiment_id is not None:
        query = query.where(PreferenceLabel.experiment_id == experiment_id)
    if since is not None:
        query = query.where(PreferenceLabel.answered_at >= since)  # type: ignore[operator]
    return int((await db.exec(query)).one())


async def label_values(db: AsyncSession, participant_id: str, task: LabelTask, since: datetime) -> dict[str, float]:
    """The participant's values in a labelling condition assigned at `since`."""
    done = await answered(db, participant_id, task.experiment, since)
    if done >= task.pairs:
        return {"pairs": float(done)}
    experiment = await db.get(PreferenceExperiment, task.experiment)
    left = 0
    if experiment is not None and experiment.closed_at is None:
        labeller = label_queue.participant_labeller(participant_id)
        left = (await label_queue.open_count(db, experiment.id, labeller)
                + await label_queue.pending_count(db, experiment.id))
    return {"pairs": float(done), "pairs_left": float(left)}


async def exhausted(db: AsyncSession, experiment_id: str) -> bool:
    """The experiment has nothing more for a new labeller: closed, gone, or no pair wanting labels."""
    experiment = await db.get(PreferenceExperiment, experiment_id)
    if experiment is None or experiment.closed_at is not None:
        return True
    return await label_queue.wanting_count(db, experiment_id) == 0
