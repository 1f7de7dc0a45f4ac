"""An episode's images: the JPEG a participant saw at one step, and a thumbnail (the one at its middle step)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy import func
from sqlmodel import select

from playcorder.db.models import Episode, EpisodeChunk
from playcorder.fields import NonNegativeInt32
from playcorder.records import decode_chunk
from playcorder.storage import ObjectStore

from ..deps import DbSession, Objects, OwnedEpisode
from ..errors import ErrorOut
from .steps import DAMAGED, chunk_bytes

router = APIRouter(tags=["episodes"])
CACHE = "private, max-age=3600"  # a stored step never changes; private: only its designer may see it
_JPEG = {200: {"content": {"image/jpeg": {}}, "description": "the JPEG shown at that step"},
         404: {"model": ErrorOut, "description": "no such episode among yours, no such step, or no image stored"},
         **DAMAGED}


def _image_sync(objects: ObjectStore, episode: Episode, chunk: EpisodeChunk, step: int) -> bytes | None:
    _, steps = decode_chunk(chunk_bytes(objects, episode, chunk), episode.observation_spec, episode.action_spec)
    return next((s.image for s in steps if s.index == step), None)


async def _stored_steps(db: DbSession, episode: Episode) -> int:
    """Steps stored so far (the row's num_steps is final only once the episode has ended)."""
    query = select(func.coalesce(func.sum(EpisodeChunk.num_steps), 0)).where(EpisodeChunk.episode_id == episode.id)
    return int((await db.exec(query)).one())


async def _image(db: DbSession, objects: ObjectStore, episode: Episode, step: int, stored: int) -> Response:
    if step >= stored:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Expected a step of episode {episode.id} in 0.."
                            f"{stored - 1} (the steps stored), got {step}" if stored else
                            f"Expected an episode with stored steps, got {episode.id} with none yet")
    chunk = (await db.exec(select(EpisodeChunk).where(
        EpisodeChunk.episode_id == episode.id, EpisodeChunk.first_step <= step,
        EpisodeChunk.first_step + EpisodeChunk.num_steps > step))).first()
    image = await asyncio.to_thread(_image_sync, objects, episode, chunk, step) if chunk is not None else None
    if not image:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Expected an image stored at step {step} of episode "
                                                       f"{episode.id}, got none")
    return Response(image, media_type="image/jpeg", headers={"Cache-Control": CACHE})


@router.get("/api/episodes/{episode_id}/thumbnail.jpg", response_class=Response, responses=_JPEG)
async def thumbnail(episode: OwnedEpisode, db: DbSession, objects: Objects) -> Response:
    """The JPEG shown at the episode's middle step (of those stored so far)."""
    stored = await _stored_steps(db, episode)
    return await _image(db, objects, episode, stored // 2, stored)


@router.get("/api/episodes/{episode_id}/steps/{step}/image.jpg", response_class=Response, responses=_JPEG)
async def step_image(episode: OwnedEpisode, step: NonNegativeInt32, db: DbSession, objects: Objects) -> Response:
    """The JPEG shown at step `step`."""
    return await _image(db, objects, episode, step, await _stored_steps(db, episode))
