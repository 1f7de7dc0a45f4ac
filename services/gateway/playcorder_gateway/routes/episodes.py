"""Episodes: list and filter, read, edit notes, delete (metadata and stored steps)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, get_args

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import exists
from sqlmodel import col, select

from playcorder.db.models import DeletedEpisode, Episode, EpisodeTag, Study
from playcorder.db.queries import step_tags_of, tags_of
from playcorder.exports import EpisodeFilter
from playcorder.messages import RECORDING, EpisodeState
from playcorder.storage import episode_prefix

from ..deps import DbSession, Designer, OwnedStudy

router = APIRouter(tags=["episodes"])

STATES: tuple[EpisodeState, ...] = get_args(EpisodeState)


class EpisodeOut(BaseModel):
    id: str
    study_id: str
    session_id: str
    participant_id: str
    env: str
    env_id: str
    worker_id: str
    state: EpisodeState
    end_reason: str | None
    num_steps: int
    total_reward: float
    seed: int
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None = Field(description="from start to end, pauses included")
    active_s: float = Field(description="time the episode was running, pauses excluded")
    tags: list[str]
    notes: str


class StepTagOut(BaseModel):
    step: int
    label: str


class EpisodeDetail(EpisodeOut):
    step_tags: list[StepTagOut]
    observation_spec: dict
    action_spec: dict


class EpisodePatch(BaseModel):
    notes: str = Field(..., max_length=10_000, description="free-text notes; an empty string removes them")


_ROW_FIELDS = [f for f in EpisodeOut.model_fields if f not in ("duration_s", "tags")]


def episode_out(e: Episode, tags: list[str]) -> EpisodeOut:
    duration = (e.ended_at - e.started_at).total_seconds() if e.ended_at else None
    return EpisodeOut(**{f: getattr(e, f) for f in _ROW_FIELDS}, duration_s=duration, tags=tags)


async def owned_episode(episode_id: str, db: DbSession, designer: Designer) -> Episode:
    episode = await db.get(Episode, episode_id)
    study = await db.get(Study, episode.study_id) if episode else None
    if episode is None or study is None or study.owner_id != designer.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Expected the id of an episode of your studies, got {episode_id!r}")
    return episode


OwnedEpisode = Annotated[Episode, Depends(owned_episode)]


def filtered(query, f: EpisodeFilter, states: list[str] | None):  # type: ignore[no-untyped-def]
    """`query` (a select of Episode) narrowed to the episodes matching `f`, in any of `states` (None: all)."""
    if states is not None:
        query = query.where(col(Episode.state).in_(states))
    if f.env is not None:
        query = query.where((Episode.env == f.env) | (Episode.env_id == f.env))
    if f.participant is not None:
        query = query.where(Episode.participant_id == f.participant)
    if f.started_after is not None:
        query = query.where(Episode.started_at >= f.started_after)
    if f.started_before is not None:
        query = query.where(Episode.started_at < f.started_before)
    if f.min_reward is not None:
        query = query.where(Episode.total_reward >= f.min_reward)
    if f.max_reward is not None:
        query = query.where(Episode.total_reward <= f.max_reward)
    for label in dict.fromkeys(f.tags):
        query = query.where(exists().where(EpisodeTag.episode_id == Episode.id, EpisodeTag.label == label))
    return query.order_by(Episode.started_at, Episode.id)


@router.get("/api/studies/{study_id}/episodes", response_model=list[EpisodeOut])
async def list_episodes(
    study: OwnedStudy, db: DbSession,
    state: str | None = Query(None, description=f"one of {', '.join(STATES)}"),
    env: str | None = Query(None, description="environment key in the study, or its Gymnasium id"),
    participant: str | None = Query(None, description="participant id"),
    started_after: datetime | None = None, started_before: datetime | None = None,
    min_reward: float | None = None, max_reward: float | None = None,
    tag: list[str] = Query([], description="episodes carrying every one of these tags (repeat the parameter)"),
    limit: int = Query(1000, ge=1, le=10_000), offset: int = Query(0, ge=0),
) -> list[EpisodeOut]:
    if state is not None and state not in STATES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"Expected state in {list(STATES)}, got {state!r}")
    f = EpisodeFilter(env=env, participant=participant, tags=tag, started_after=started_after,
                      started_before=started_before, min_reward=min_reward, max_reward=max_reward)
    query = filtered(select(Episode).where(Episode.study_id == study.id), f, None if state is None else [state])
    rows = list(await db.exec(query.offset(offset).limit(limit)))  # type: ignore[arg-type]
    tags = await tags_of(db, [e.id for e in rows])
    return [episode_out(e, tags[e.id]) for e in rows]


async def _detail(db: DbSession, episode: Episode) -> EpisodeDetail:
    tags = (await tags_of(db, [episode.id]))[episode.id]
    step_tags = (await step_tags_of(db, [episode.id]))[episode.id]
    return EpisodeDetail(**episode_out(episode, tags).model_dump(), observation_spec=episode.observation_spec,
                         action_spec=episode.action_spec,
                         step_tags=[StepTagOut(step=step, label=label) for step, labels in step_tags.items()
                                    for label in labels])


@router.get("/api/episodes/{episode_id}", response_model=EpisodeDetail)
async def get_episode(episode: OwnedEpisode, db: DbSession) -> EpisodeDetail:
    return await _detail(db, episode)


@router.patch("/api/episodes/{episode_id}", response_model=EpisodeDetail)
async def edit_episode(body: EpisodePatch, episode: OwnedEpisode, db: DbSession) -> EpisodeDetail:
    episode.notes = body.notes
    db.add(episode)
    await db.commit()
    return await _detail(db, episode)


@router.delete("/api/episodes/{episode_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_episode(episode: OwnedEpisode, db: DbSession, request: Request) -> Response:
    """Removes the episode's stored steps and every row about it; a tombstone keeps late messages from reviving it."""
    if episode.state == RECORDING:
        raise HTTPException(status.HTTP_409_CONFLICT, f"Expected a finished episode, got {episode.id} still recording; "
                                                      "delete it once it has ended")
    db.add(DeletedEpisode(id=episode.id))
    await db.commit()  # first: from here on the recorder drops anything of this episode
    await asyncio.to_thread(request.app.state.objects.delete_prefix_sync, episode_prefix(episode.study_id, episode.id))
    await db.delete(episode)  # chunks and tags go with it (ON DELETE CASCADE)
    await db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
