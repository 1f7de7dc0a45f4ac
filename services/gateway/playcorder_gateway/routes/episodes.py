"""Episodes of a study, as recorded."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel
from sqlmodel import select

from playcorder.db.models import Episode, Study

from ..deps import DbSession, Designer, OwnedStudy

router = APIRouter(tags=["episodes"])

STATES = ("recording", "completed", "rejected", "cancelled", "abandoned", "interrupted")


class EpisodeOut(BaseModel):
    id: str
    study_id: str
    session_id: str
    participant_id: str
    env: str
    env_id: str
    state: str
    end_reason: str | None
    num_steps: int
    total_reward: float
    seed: int
    started_at: datetime
    ended_at: datetime | None


def episode_out(e: Episode) -> EpisodeOut:
    return EpisodeOut.model_validate(e, from_attributes=True)


@router.get("/api/studies/{study_id}/episodes", response_model=list[EpisodeOut])
async def list_episodes(
    study: OwnedStudy, db: DbSession, state: str | None = None, env: str | None = None,
    limit: int = Query(1000, ge=1, le=10_000), offset: int = Query(0, ge=0),
) -> list[EpisodeOut]:
    if state is not None and state not in STATES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"Expected state in {list(STATES)}, got {state!r}")
    query = select(Episode).where(Episode.study_id == study.id)
    if state is not None:
        query = query.where(Episode.state == state)
    if env is not None:
        query = query.where((Episode.env == env) | (Episode.env_id == env))
    rows = await db.exec(query.order_by(Episode.started_at).offset(offset).limit(limit))  # type: ignore[arg-type]
    return [episode_out(e) for e in rows]


@router.get("/api/episodes/{episode_id}", response_model=EpisodeOut)
async def get_episode(episode_id: str, db: DbSession, designer: Designer) -> EpisodeOut:
    episode = await db.get(Episode, episode_id)
    study = await db.get(Study, episode.study_id) if episode else None
    if episode is None or study is None or study.owner_id != designer.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Expected the id of an episode of your studies, got {episode_id!r}")
    return episode_out(episode)
