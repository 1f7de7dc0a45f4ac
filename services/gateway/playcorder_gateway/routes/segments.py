"""An experiment's segments: a trainer posts its own (frames, and arrays to train on), anyone owning the study lists
them and reads each one's arrays (observation, action, reward) as an .npz, from the recording or the post."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Response, status
from sqlmodel import col, select

from playcorder.db.models import Episode, EpisodeChunk, PreferenceSegment
from playcorder.db.queries import chunks_covering
from playcorder.fields import PathId, is_id
from playcorder.preference_data import arrays_npz, image_kind, pack_posted, posted_key, unpack_posted
from playcorder.records import decode_chunk
from playcorder.storage import ObjectStore

from ..deps import Bus, BusSubjects, DbSession, Objects, not_found
from ..errors import ErrorOut, ValidationErrorOut
from ..preference_schemas import MAX_META, SegmentIn, SegmentOut
from .preferences import OwnedExperiment, queue_clips
from .steps import chunk_bytes

router = APIRouter(tags=["preferences"])
NPZ = {200: {"content": {"application/octet-stream": {}},
             "description": "an .npz of observation (T, ...), action (T, ...) and reward (T,); a dict observation "
                            "or action as one array per key, named observation.<key>"},
       404: {"model": ErrorOut, "description": "no such experiment among yours, or no such segment in it"}}


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, message)


def _frames(encoded: list[str]) -> list[bytes]:
    frames = []
    for i, text in enumerate(encoded):
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _unprocessable(f"Expected frames[{i}] as base64, got {len(text)} characters that are not") from None
        if image_kind(data) is None:
            raise _unprocessable(f"Expected frames[{i}] to be a JPEG or PNG image, got {len(data)} bytes starting "
                                 f"{data[:8]!r}")
        frames.append(data)
    return frames


def _array(name: str, values: list[Any] | None, n: int) -> np.ndarray | None:
    if values is None:
        return None
    if len(values) != n:
        raise _unprocessable(f"Expected {name} to have one entry per frame ({n}), got {len(values)}")
    try:
        array = np.asarray(values)
    except ValueError as err:
        raise _unprocessable(f"Expected {name} as equally shaped numbers, got ragged values ({err})") from None
    if array.dtype.kind not in "biuf":
        raise _unprocessable(f"Expected {name} as numbers (arrays of them), got values of dtype {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise _unprocessable(f"Expected finite {name}, got NaN or infinity")
    return array


@router.post("/api/preferences/{experiment_id}/segments", status_code=status.HTTP_201_CREATED,
             response_model=SegmentOut,
             responses={409: {"model": ErrorOut, "description": "the experiment samples recorded episodes: it "
                                                                "takes no posted segments"},
                        422: {"model": ValidationErrorOut, "description": "frames that are not base64 JPEG/PNG, "
                                                                          "arrays not one per frame"}})
async def post_segment(body: SegmentIn, experiment: OwnedExperiment, db: DbSession, objects: Objects, nc: Bus,
                       subjects: BusSubjects) -> SegmentOut:
    """A trainer's rollout stretch: labellers see its frames (rendered into a clip at the experiment's fps); its
    arrays are given back to trainers (GET .../arrays). The segment is `pending` until its clip is ready."""
    if experiment.spec.get("source", {}).get("kind") != "posted":
        raise HTTPException(status.HTTP_409_CONFLICT, "Expected an experiment of source kind 'posted', got one "
                                                      "that samples recorded episodes")
    if len(json.dumps(body.meta)) > MAX_META:
        raise _unprocessable(f"Expected meta of at most {MAX_META} characters as JSON, got more")
    frames = _frames(body.frames)
    arrays = {name: a for name, values in (("observation", body.observations), ("action", body.actions),
                                           ("reward", body.rewards))
              if (a := _array(name, values, len(frames))) is not None}
    segment = PreferenceSegment(experiment_id=experiment.id, source="posted", num_steps=len(frames),
                                reward_sum=float(arrays["reward"].sum()) if "reward" in arrays else None)
    segment.data_key = posted_key(experiment.study_id, experiment.id, segment.id)
    await asyncio.to_thread(lambda: objects.put_bytes_sync(str(segment.data_key), pack_posted(frames, arrays)))
    db.add(segment)
    await db.commit()
    await queue_clips(nc, subjects, [segment.id])
    return SegmentOut.of(segment)


@router.get("/api/preferences/{experiment_id}/segments", response_model=list[SegmentOut])
async def list_segments(experiment: OwnedExperiment, db: DbSession) -> list[SegmentOut]:
    rows = await db.exec(select(PreferenceSegment).where(PreferenceSegment.experiment_id == experiment.id)
                         .order_by(col(PreferenceSegment.created_at), col(PreferenceSegment.id)))
    return [SegmentOut.of(s) for s in rows]


def _stacked(name: str, values: list[Any]) -> dict[str, np.ndarray]:
    if values and isinstance(values[0], dict):
        return {f"{name}.{k}": np.stack([np.asarray(v[k]) for v in values]) for k in values[0]}
    try:
        return {name: np.stack([np.asarray(v) for v in values])}
    except ValueError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, f"Expected {name}s of one shape to stack, got {err}") from None


def _posted_arrays(objects: ObjectStore, key: str) -> bytes:
    return arrays_npz(unpack_posted(objects.get_bytes_sync(key))[1])


def _recorded_arrays(objects: ObjectStore, episode: Episode, chunks: list[EpisodeChunk],
                     segment: PreferenceSegment) -> bytes:
    wanted = range(segment.first_step, segment.first_step + segment.num_steps)
    steps = {}
    for chunk in chunks:
        _, decoded = decode_chunk(chunk_bytes(objects, episode, chunk), episode.observation_spec,
                                  episode.action_spec)
        steps.update({s.index: s for s in decoded if s.index in wanted})
    if missing := [i for i in wanted if i not in steps]:
        raise HTTPException(status.HTTP_409_CONFLICT, f"Expected steps {wanted.start}..{wanted.stop - 1} of episode "
                                                      f"{episode.id} stored, got none for {missing[:5]}")
    ordered = [steps[i] for i in wanted]
    return arrays_npz({**_stacked("observation", [s.observation for s in ordered]),
                       **_stacked("action", [s.action for s in ordered]),
                       "reward": np.array([s.reward for s in ordered], dtype=np.float64)})


@router.get("/api/preferences/{experiment_id}/segments/{segment_id}/arrays", response_class=Response,
            responses=NPZ)  # type: ignore[arg-type]
async def segment_arrays(segment_id: PathId, experiment: OwnedExperiment, db: DbSession,
                         objects: Objects) -> Response:
    segment = await db.get(PreferenceSegment, segment_id) if is_id(segment_id) else None
    if segment is None or segment.experiment_id != experiment.id:
        raise not_found(f"a segment of experiment {experiment.id}", segment_id)
    if segment.source == "posted":
        assert segment.data_key is not None
        data = await asyncio.to_thread(_posted_arrays, objects, segment.data_key)
    else:
        episode = await db.get(Episode, segment.episode_id)
        if episode is None:
            raise not_found("the segment's episode (deleted?)", str(segment.episode_id))
        chunks = await chunks_covering(db, episode.id, segment.first_step, segment.first_step + segment.num_steps)
        data = await asyncio.to_thread(_recorded_arrays, objects, episode, chunks, segment)
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{segment.id}.npz"'})
