"""A campaign's dashboard: participants arrived, active and completed (now and minute by minute), each condition's
fill against its quota, histograms of the participants' statistics, live players; as one reading, or as a
server-sent event stream that sends a new reading every DASHBOARD_INTERVAL seconds while the page is open."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.campaigns import CampaignSpec
from playcorder.db.models import Assignment, Campaign, Enrollment, PlaySession

from .. import assignment
from ..campaign_schemas import ConditionFill, DashboardOut, TimePoint
from ..deps import DbSession, DbSessions, GatewaySettings
from .campaigns import OwnedCampaign

router = APIRouter(tags=["campaigns"])
TIMELINE_POINTS = 240  # minutes shown at most (the most recent)
STREAM_FOR = timedelta(hours=2)  # a stream ends after this; EventSource reconnects by itself
HISTOGRAM_STATS = ("score", "active_minutes", "episodes")


async def reading(db: AsyncSession, campaign: Campaign) -> DashboardOut:
    spec = CampaignSpec.model_validate(campaign.spec)
    now = datetime.now(UTC)
    rows = list(await db.exec(select(Enrollment.created_at, Enrollment.completed_at, Enrollment.participant_id)
                              .where(Enrollment.campaign_id == campaign.id)))
    active = (await db.exec(select(func.count()).select_from(Assignment).where(
        Assignment.campaign_id == campaign.id, Assignment.state == "active",
        col(Assignment.reserved_until) > now))).one()
    live = (await db.exec(select(func.count()).select_from(PlaySession).where(
        col(PlaySession.ended_at).is_(None),
        col(PlaySession.participant_id).in_(select(Enrollment.participant_id)
                                            .where(Enrollment.campaign_id == campaign.id))))).one()
    fills = await assignment.fills(db, campaign.id, spec, now)
    conditions = [ConditionFill(id=f.condition.id, environment=f.condition.environment,
                                experiment=f.condition.label.experiment if f.condition.label else None,
                                unit=f.condition.quota.unit,
                                target=f.condition.quota.target, filled=round(f.filled(spec), 3),
                                reserved=f.reserved, full=f.full(spec)) for f in fills]
    wanted = {*HISTOGRAM_STATS, *(r.statistic for r in spec.requirements),
              *(["pairs"] if any(c.label is not None for c in spec.conditions) else [])}
    histograms: dict[str, list[float]] = {name: [] for name in sorted(wanted)}
    for stats in await db.exec(select(Assignment.stats).where(Assignment.campaign_id == campaign.id)):
        for name in histograms:
            if name in stats:
                histograms[name].append(float(stats[name]))
    return DashboardOut(campaign_id=campaign.id, now=now, arrived=len(rows), active=int(active),
                        completed=sum(r[1] is not None for r in rows), live_players=int(live),
                        timeline=_timeline([r[0] for r in rows], [r[1] for r in rows if r[1] is not None], now),
                        conditions=conditions, histograms=histograms)


def _timeline(arrived: list[datetime], completed: list[datetime], now: datetime) -> list[TimePoint]:
    """Cumulative arrivals and completions at the end of each minute, from the first arrival (the last
    TIMELINE_POINTS minutes)."""
    if not arrived:
        return []
    minute = timedelta(minutes=1)
    start = min(arrived).replace(second=0, microsecond=0)
    end = now.replace(second=0, microsecond=0) + minute
    start = max(start, end - TIMELINE_POINTS * minute)
    arrived, completed = sorted(arrived), sorted(completed)
    out, i, j, t = [], 0, 0, start + minute
    while t <= end:
        while i < len(arrived) and arrived[i] < t:
            i += 1
        while j < len(completed) and completed[j] < t:
            j += 1
        out.append(TimePoint(t=t, arrived=i, completed=j))
        t += minute
    return out


@router.get("/api/campaigns/{campaign_id}/dashboard", response_model=DashboardOut)
async def dashboard(campaign: OwnedCampaign, db: DbSession) -> DashboardOut:
    return await reading(db, campaign)


@router.get("/api/campaigns/{campaign_id}/dashboard/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`event: dashboard` with a DashboardOut as its data, every "
                                            "DASHBOARD_INTERVAL seconds"}})
async def dashboard_stream(campaign: OwnedCampaign, request: Request, sessions: DbSessions,
                           settings: GatewaySettings) -> StreamingResponse:
    """Server-sent events (EventSource): a reading now and then every DASHBOARD_INTERVAL seconds, for two hours."""
    campaign_id = campaign.id

    async def events() -> AsyncIterator[str]:
        until = datetime.now(UTC) + STREAM_FOR
        while datetime.now(UTC) < until and not await request.is_disconnected():
            async with sessions() as db:
                current = await db.get(Campaign, campaign_id)
                if current is None:
                    return
                data = (await reading(db, current)).model_dump_json()
            yield f"event: dashboard\ndata: {data}\n\n"
            await asyncio.sleep(settings.dashboard_interval)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
