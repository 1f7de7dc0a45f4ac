"""Playing through a campaign: an enrolled participant's socket plays the condition they are assigned (its
variant of the study's environment), once the pages before play are done, until they complete; their newest
socket takes over from one still open in another tab (on any gateway), which is told and closed. A participant
assigned a labelling condition leases pairs of its experiment only (label_seat), under the same rules."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.campaigns import CampaignSpec, condition_environment
from playcorder.db.models import Campaign, Enrollment
from playcorder.specs import EnvironmentSpec, StudySpec
from playcorder.subjects import Subjects

from . import assignment
from .campaign_progress import Standing, settle

CLOSE_TAKEN_OVER = 4409


class NotPlayable(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Seat:
    """What an enrolled participant plays now."""

    campaign_id: str
    condition: str
    env: EnvironmentSpec


async def enrollment_of(sessions: async_sessionmaker[AsyncSession], participant_id: str) -> Enrollment | None:
    async with sessions() as db:
        query = select(Enrollment).where(Enrollment.participant_id == participant_id)
        return (await db.exec(query.order_by(col(Enrollment.created_at).desc()))).first()


async def _settled(db: AsyncSession, enrollment: Enrollment | None) -> tuple[Campaign, Standing, datetime]:
    """The participant's standing now, under their campaign's lock (seen now; progress settled), committed."""
    campaign = await assignment.lock(db, enrollment.campaign_id) if enrollment is not None else None
    if enrollment is None or campaign is None:
        await db.commit()
        raise NotPlayable("not_enrolled", "Expected an enrolled participant, got one whose campaign was deleted")
    await db.refresh(enrollment)
    now = datetime.now(UTC)
    enrollment.last_seen_at = now
    db.add(enrollment)
    standing = await settle(db, campaign, enrollment, now)
    await db.commit()
    return campaign, standing, now


async def seat(sessions: async_sessionmaker[AsyncSession], enrollment_id: str, study: StudySpec, key: str) -> Seat:
    """The condition the participant may play now as environment `key`; NotPlayable says why not."""
    async with sessions() as db:
        campaign, standing, now = await _settled(db, await db.get(Enrollment, enrollment_id))
    spec = CampaignSpec.model_validate(campaign.spec)
    if standing.stage == "complete":
        raise NotPlayable("campaign_complete", f"Expected a participant still playing, got one who completed "
                                               f"{campaign.name!r}: the completion code is on the campaign's page")
    if standing.stage != "play":
        raise NotPlayable("pages_first", f"Expected the {standing.stage} page done before play (POST "
                                         f"/api/enrollment/{'consent' if standing.stage == 'consent' else 'answers'})")
    if spec.open_at(now) == "ended":
        raise NotPlayable("campaign_ended", f"Expected a running campaign, got {campaign.name!r}, which has ended")
    assert standing.current is not None
    condition = spec.condition(standing.current.condition)
    if condition is None:
        raise NotPlayable("not_your_condition", f"Expected a condition of {campaign.name!r}, got "
                                                f"{standing.current.condition!r}, removed by its designer")
    if condition.label is not None:
        raise NotPlayable("not_your_condition", f"Expected no play (your condition {condition.id!r} of "
                                                f"{campaign.name!r} labels preference pairs on the campaign's page), "
                                                f"got play of {key!r}")
    if key != condition.environment:
        raise NotPlayable("not_your_condition", f"Expected environment {condition.environment!r} (your condition "
                                                f"{condition.id!r} of {campaign.name!r}), got {key!r}")
    try:
        env = condition_environment(study, condition)
    except ValueError as err:
        raise NotPlayable("not_your_condition", f"Expected condition {condition.id!r} playable in the study as it "
                                                f"is now, got: {err}") from None
    return Seat(campaign.id, condition.id, env)


class Takeover:
    """One socket per enrolled participant: opening one tells the others (any gateway) to leave."""

    def __init__(self, nc: NATS, subjects: Subjects, participant_id: str,
                 taken: Callable[[], Awaitable[None]]) -> None:
        self.nc, self.subject, self.taken = nc, subjects.participant_takeover(participant_id), taken
        self.me = uuid.uuid4().hex
        self.sub: Subscription | None = None

    async def __aenter__(self) -> Takeover:
        async def on_message(msg: Msg) -> None:
            if msg.data.decode() != self.me:
                await self.taken()

        self.sub = await self.nc.subscribe(self.subject, cb=on_message)
        await self.nc.publish(self.subject, self.me.encode())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.sub is not None:
            await self.sub.unsubscribe()


async def label_seat(db: AsyncSession, participant_id: str, experiment_id: str) -> None:
    """Whether the participant may label the experiment now: anyone not enrolled in a campaign may (a labeller the
    designer made); an enrolled one only in a labelling condition of it, after the pages, until complete.
    NotPlayable says why not; the caller's transaction is committed."""
    query = select(Enrollment).where(Enrollment.participant_id == participant_id)
    enrollment = (await db.exec(query.order_by(col(Enrollment.created_at).desc()))).first()
    if enrollment is None:
        return
    campaign, standing, _ = await _settled(db, enrollment)
    if standing.stage == "complete":
        raise NotPlayable("campaign_complete", f"Expected a participant still labelling, got one who completed "
                                               f"{campaign.name!r}: the completion code is on the campaign's page")
    if standing.stage != "play":
        raise NotPlayable("pages_first", f"Expected the {standing.stage} page done before labelling")
    condition = CampaignSpec.model_validate(campaign.spec).condition(standing.current.condition
                                                                     if standing.current else "")
    if condition is None or condition.label is None or condition.label.experiment != experiment_id:
        what = (f"experiment {condition.label.experiment!r}" if condition and condition.label
                else f"play of {condition.environment!r}" if condition else "nothing")
        raise NotPlayable("not_your_condition", f"Expected {what} (your condition of {campaign.name!r}), got "
                                                f"labelling experiment {experiment_id!r}")
