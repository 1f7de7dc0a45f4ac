"""Reading an episode's recorded steps: by range, for replay (actions, rewards, input, flags, observation summary),
and whole, as the stored step chunks (playcorder.records' format, decoded by the SDK: full observations)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel
from sqlmodel import col, select

from playcorder.db.models import Episode, EpisodeChunk
from playcorder.db.queries import step_tags_of
from playcorder.fields import INT32_MAX, NonNegativeInt32, PositiveInt32
from playcorder.records import decode_chunk, jsonable
from playcorder.spaces import VARIABLE_KINDS, encode_variable, leaf_values, sequence_items
from playcorder.storage import MissingObject, ObjectStore

from ..deps import DbSession, Objects, OwnedEpisode
from ..errors import ErrorOut

log = logging.getLogger(__name__)
router = APIRouter(tags=["episodes"])
MAX_RANGE = 1000
MAX_CHUNKS = 1000  # chunks listed in one answer
DAMAGED = {409: {"model": ErrorOut, "description": "a chunk of the episode's steps is missing from S3 (damaged data)"}}


def chunk_bytes(objects: ObjectStore, episode: Episode, chunk: EpisodeChunk) -> bytes:
    """The stored chunk; one its row names but S3 lacks is damaged data (409 naming it), not a server fault."""
    try:
        return objects.get_bytes_sync(chunk.object_key)
    except MissingObject:
        log.error("episode %s: chunk %d (steps %d..%d) is missing from S3 at %s", episode.id, chunk.seq,
                  chunk.first_step, chunk.first_step + chunk.num_steps - 1, chunk.object_key)
        raise HTTPException(status.HTTP_409_CONFLICT, f"Expected chunk {chunk.seq} of episode {episode.id} (steps "
                            f"{chunk.first_step}..{chunk.first_step + chunk.num_steps - 1}) in S3 at "
                            f"{chunk.object_key!r}, found none: the episode's stored steps are damaged") from None


def _variable(spec: dict[str, Any], value: Any) -> dict[str, Any]:
    """A text leaf as its string; a sequence by its length, a graph by its node and edge counts, a one_of by the
    index of the space its value is of."""
    kind = spec["type"]
    out: dict[str, Any] = {"type": kind, "sha256": hashlib.sha256(encode_variable(spec, value)).hexdigest()}
    if kind == "text":
        return out | {"text": value, "length": len(value)}
    if kind == "sequence":
        return out | {"length": len(sequence_items(spec, value))}
    if kind == "one_of":
        return out | {"index": int(value[0])}
    return out | {"nodes": len(value.nodes), "edges": 0 if value.edges is None else len(value.edges)}


def _summary(spec: dict[str, Any], observation: Any) -> list[dict[str, Any]]:
    """Per leaf: dtype, shape, sha256, min, max, mean of an array; the string of a text; sequence and graph sizes."""
    out = []
    for leaf_spec, value in leaf_values(spec, observation):
        if leaf_spec["type"] in VARIABLE_KINDS:
            out.append(_variable(leaf_spec, value))
            continue
        leaf = np.asarray(value)
        numeric = leaf.astype(np.float64) if leaf.size else leaf
        out.append({
            "dtype": str(leaf.dtype), "shape": list(leaf.shape), "sha256": hashlib.sha256(leaf.tobytes()).hexdigest(),
            "min": float(numeric.min()) if leaf.size else None, "max": float(numeric.max()) if leaf.size else None,
            "mean": float(numeric.mean()) if leaf.size else None,
        })
    return out


@router.get("/api/episodes/{episode_id}/steps", responses=DAMAGED)
async def read_steps(
    episode: OwnedEpisode, db: DbSession, objects: Objects,
    start: NonNegativeInt32 = 0, stop: PositiveInt32 | None = None,
    images: bool = Query(False, description="include the JPEG each step showed, base64"),
) -> dict[str, Any]:
    """Steps start..stop-1 (at most 1000) for replay: action, reward, flags, raw input, info, tags, a summary of the
    observation (dtype, shape, sha256, min, max, mean of each array leaf; a text leaf's string; a sequence's
    length; a graph's node and edge counts; a one_of's index), in a multi-agent game's episode `control` (who
    chose the agent's action: controller human/ai/none, participant, policy, late) and, asked for, the image
    shown."""
    stop = min(start + MAX_RANGE, INT32_MAX) if stop is None else stop  # step indices are int4 columns
    if stop <= start or stop - start > MAX_RANGE:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"Expected 0 <= start < stop with at most {MAX_RANGE} steps, got start={start} stop={stop}")
    chunks = list(await db.exec(
        select(EpisodeChunk).where(EpisodeChunk.episode_id == episode.id, EpisodeChunk.first_step < stop,
                                   EpisodeChunk.first_step + EpisodeChunk.num_steps > start)
        .order_by(col(EpisodeChunk.seq))
    ))
    tags = (await step_tags_of(db, [episode.id], start, stop))[episode.id]

    def load() -> list[dict[str, Any]]:
        out = []
        for chunk in chunks:
            data = chunk_bytes(objects, episode, chunk)
            _, steps = decode_chunk(data, episode.observation_spec, episode.action_spec)
            for s in steps:
                if start <= s.index < stop:
                    row = {"index": s.index, "action": jsonable(s.action), "reward": s.reward, "discount": s.discount,
                           "is_first": s.is_first, "is_last": s.is_last, "is_terminal": s.is_terminal, "time": s.time,
                           "input": s.input, "info": s.info, "tags": tags.get(s.index, []),
                           "observation": _summary(episode.observation_spec, s.observation)}
                    if s.control is not None:  # a multi-agent game's step: who controlled the agent
                        row["control"] = s.control
                    if images:
                        row["image"] = base64.b64encode(s.image or b"").decode()
                    out.append(row)
        return out

    rows = await asyncio.to_thread(load)
    return {"episode_id": episode.id, "state": episode.state, "num_steps": episode.num_steps, "start": start,
            "stop": stop, "steps": rows}


class ChunkOut(BaseModel):
    seq: int
    first_step: int
    num_steps: int
    nbytes: int


class ChunksOut(BaseModel):
    episode_id: str
    state: str
    num_steps: int
    chunks: list[ChunkOut]


_CHUNK = {200: {"content": {"application/octet-stream": {}},
                "description": "the chunk as stored: playcorder.records' PCR2 layout (decode_chunk)"},
          404: {"model": ErrorOut, "description": "no such episode among yours, or no such chunk"}, **DAMAGED}


@router.get("/api/episodes/{episode_id}/chunks", response_model=ChunksOut)
async def list_chunks(episode: OwnedEpisode, db: DbSession, start: NonNegativeInt32 = 0) -> ChunksOut:
    """The stored step chunks holding steps from `start` on, in order (at most 1000: ask again from the step after
    the last one listed). Each is read whole from .../chunks/{seq}."""
    chunks = await db.exec(
        select(EpisodeChunk).where(EpisodeChunk.episode_id == episode.id,
                                   EpisodeChunk.first_step + EpisodeChunk.num_steps > start)
        .order_by(col(EpisodeChunk.seq)).limit(MAX_CHUNKS))
    return ChunksOut(episode_id=episode.id, state=episode.state, num_steps=episode.num_steps,
                     chunks=[ChunkOut(seq=c.seq, first_step=c.first_step, num_steps=c.num_steps, nbytes=c.nbytes)
                             for c in chunks])


@router.get("/api/episodes/{episode_id}/chunks/{seq}", response_class=Response, responses=_CHUNK)
async def read_chunk(episode: OwnedEpisode, seq: NonNegativeInt32, db: DbSession, objects: Objects) -> Response:
    """One stored chunk of the episode's steps, byte for byte: observations and actions raw, the image shown, the
    steps' metadata (playcorder.records.decode_chunk reads it with the episode's observation and action specs)."""
    chunk = await db.get(EpisodeChunk, (episode.id, seq))
    if chunk is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Expected a stored chunk of episode {episode.id} "
                                                       f"(GET .../chunks lists them), got seq {seq}")
    data = await asyncio.to_thread(chunk_bytes, objects, episode, chunk)
    return Response(data, media_type="application/octet-stream",
                    headers={"Cache-Control": "private, max-age=3600"})  # a stored chunk never changes
