"""Tags on episodes and on single steps: add (idempotent PUT) and remove. Exports turn them into RLDS metadata
(`tags`, and `tag:<label>` booleans on steps), so labels are restricted to what a feature name can hold."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import func, select

from playcorder.db.models import EpisodeChunk, EpisodeTag, StepTag
from playcorder.db.queries import tags_of
from playcorder.fields import Label, NonNegativeInt32

from ..deps import DbSession, OwnedEpisode
from ..schemas import EpisodeTags, StepTags

router = APIRouter(tags=["episodes"])
@router.put("/api/episodes/{episode_id}/tags/{label}", response_model=EpisodeTags)
async def add_episode_tag(label: Label, episode: OwnedEpisode, db: DbSession) -> EpisodeTags:
    add = insert(EpisodeTag).values(episode_id=episode.id, label=label).on_conflict_do_nothing()
    await db.exec(add)  # type: ignore[call-overload]
    await db.commit()
    return EpisodeTags(episode_id=episode.id, tags=(await tags_of(db, [episode.id]))[episode.id])


@router.delete("/api/episodes/{episode_id}/tags/{label}", response_model=EpisodeTags)
async def remove_episode_tag(label: Label, episode: OwnedEpisode, db: DbSession) -> EpisodeTags:
    tag = await db.get(EpisodeTag, (episode.id, label))
    tags = (await tags_of(db, [episode.id]))[episode.id]
    if tag is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Expected one of the episode's tags {tags}, got {label!r}")
    await db.delete(tag)
    await db.commit()
    return EpisodeTags(episode_id=episode.id, tags=[t for t in tags if t != label])


async def _step_tags(db: DbSession, episode_id: str, step: int) -> list[str]:
    rows = await db.exec(select(StepTag.label).where(StepTag.episode_id == episode_id, StepTag.step == step)
                         .order_by(StepTag.label))
    return list(rows)


async def _check_step(db: DbSession, episode: OwnedEpisode, step: int) -> int:
    """A step that is stored: 0 <= step < the number of steps recorded so far."""
    stored = (await db.exec(select(func.coalesce(func.max(EpisodeChunk.first_step + EpisodeChunk.num_steps), 0))
                            .where(EpisodeChunk.episode_id == episode.id))).one()
    if not 0 <= step < stored:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"Expected a step index in 0..{stored - 1} of episode {episode.id}, got {step}"
                            if stored else f"Expected a step of episode {episode.id}, which has none stored yet")
    return step


@router.put("/api/episodes/{episode_id}/steps/{step}/tags/{label}", response_model=StepTags)
async def add_step_tag(step: NonNegativeInt32, label: Label, episode: OwnedEpisode, db: DbSession) -> StepTags:
    await _check_step(db, episode, step)
    add = insert(StepTag).values(episode_id=episode.id, step=step, label=label).on_conflict_do_nothing()
    await db.exec(add)  # type: ignore[call-overload]
    await db.commit()
    return StepTags(episode_id=episode.id, step=step, tags=await _step_tags(db, episode.id, step))


@router.delete("/api/episodes/{episode_id}/steps/{step}/tags/{label}", response_model=StepTags)
async def remove_step_tag(step: NonNegativeInt32, label: Label, episode: OwnedEpisode, db: DbSession) -> StepTags:
    tag = await db.get(StepTag, (episode.id, step, label))
    if tag is None:
        tags = await _step_tags(db, episode.id, step)
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"Expected one of step {step}'s tags {tags} of episode {episode.id}, got {label!r}")
    await db.delete(tag)
    await db.commit()
    return StepTags(episode_id=episode.id, step=step, tags=await _step_tags(db, episode.id, step))
