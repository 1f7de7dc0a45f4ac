"""Assigning an arriving participant a condition of a campaign: balanced, and race-free across gateways.

Every assignment of a campaign happens under a lock on the campaign's row (SELECT ... FOR UPDATE), so arrivals at
any number of gateways take turns and each sees the places the ones before it took. A condition's fill counts what
its quota measures (participants who completed it, episodes completed in it, or active minutes played in it) plus
the reservations of the participants playing it now (assigned, not completed, seen within the campaign's
reservation_minutes): each reservation counts as what one participant completing the condition adds at least (one
participant; the `episodes` requirement's target, or 1, in episodes; the `active_minutes` requirement's target, or
0, in minutes). A labelling condition (quota in participants) is also full once its experiment has no pair left
wanting labels (campaign_labelling.exhausted). Among the open conditions the participant has not done, the least
filled (fill / quota) is chosen, ties at random. Unlike CrowdPlay, which counted finished sessions only (so
simultaneous arrivals all got the same task), reservations make simultaneous arrivals spread.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Float, cast, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.campaigns import CampaignSpec, Condition
from playcorder.db.models import Assignment, Campaign, Episode

from .campaign_labelling import exhausted

COMPLETED_EPISODE = "completed"


@dataclass(frozen=True)
class Fill:
    condition: Condition
    measured: float  # in the quota's unit, of what is done
    reserved: int  # participants playing it now
    exhausted: bool = False  # labelling: its experiment has no more pairs to give

    def share(self, spec: CampaignSpec) -> float:
        """What one reservation counts for, in the quota's unit."""
        unit = self.condition.quota.unit
        if unit == "participants":
            return 1.0
        wanted = "episodes" if unit == "episodes" else "active_minutes"
        target = next((r.target for r in spec.requirements if r.statistic == wanted and r.aggregate == "sum"), None)
        return float(target) if target is not None else (1.0 if unit == "episodes" else 0.0)

    def filled(self, spec: CampaignSpec) -> float:
        return self.measured + self.reserved * self.share(spec)

    def full(self, spec: CampaignSpec) -> bool:
        return self.exhausted or self.filled(spec) >= self.condition.quota.target

    def fraction(self, spec: CampaignSpec) -> float:
        return self.filled(spec) / self.condition.quota.target


async def lock(db: AsyncSession, campaign_id: str) -> Campaign | None:
    """The campaign's row, locked until the transaction ends: assignments of the campaign take turns."""
    query = select(Campaign).where(Campaign.id == campaign_id).with_for_update()
    return (await db.exec(query)).first()


async def fills(db: AsyncSession, campaign_id: str, spec: CampaignSpec, now: datetime) -> list[Fill]:
    """Each condition's fill now, in the spec's order."""
    completed = dict((await db.exec(
        select(Assignment.condition, func.count()).where(Assignment.campaign_id == campaign_id,
                                                         Assignment.state == "completed")
        .group_by(col(Assignment.condition)))).all())
    reserved = dict((await db.exec(
        select(Assignment.condition, func.count()).where(Assignment.campaign_id == campaign_id,
                                                         Assignment.state == "active",
                                                         col(Assignment.reserved_until) > now)
        .group_by(col(Assignment.condition)))).all())
    minutes = cast(Episode.stats["active_minutes"].as_string(), Float)  # type: ignore[index]
    played = {c: (int(n), float(m or 0.0)) for c, n, m in await db.exec(
        select(Episode.condition, func.count(), func.sum(minutes))
        .where(Episode.campaign_id == campaign_id, Episode.state == COMPLETED_EPISODE)
        .group_by(col(Episode.condition)))}
    out = []
    for c in spec.conditions:
        episodes, active = played.get(c.id, (0, 0.0))
        measured = {"participants": float(completed.get(c.id, 0)), "episodes": float(episodes),
                    "active_minutes": active}[c.quota.unit]
        done = c.label is not None and await exhausted(db, c.label.experiment)
        out.append(Fill(c, measured, int(reserved.get(c.id, 0)), done))
    return out


def choose(spec: CampaignSpec, current: list[Fill], done: set[str], rng: random.Random | None = None) -> Fill | None:
    """The least filled open condition not in `done` (ties at random); None when every one is full or done."""
    open_ = [f for f in current if f.condition.id not in done and not f.full(spec)]
    if not open_:
        return None
    least = min(f.fraction(spec) for f in open_)
    return (rng or random).choice([f for f in open_ if f.fraction(spec) <= least + 1e-12])


async def done_by(db: AsyncSession, enrollment_id: str) -> list[Assignment]:
    """The enrollment's assignments, oldest first."""
    query = select(Assignment).where(Assignment.enrollment_id == enrollment_id).order_by(col(Assignment.created_at))
    return list(await db.exec(query))


def reserve(assignment: Assignment, spec: CampaignSpec, now: datetime) -> None:
    """The participant was seen: their place is held for reservation_minutes more."""
    assignment.reserved_until = now + timedelta(minutes=spec.reservation_minutes)
