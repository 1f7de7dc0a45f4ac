"""Render a preference segment's clip (a ClipRender task from the export stream) and mark the segment ready or failed.

The frames come from the recording (the JPEG each step showed its participant) or from what a trainer posted (an
.npz of encoded images, posted.py's layout). Decoding, encoding and the S3 writes run in a thread, off the loop.
A segment is `ready` only once both its files are stored and decode back (clips.render checks); anything that
stops that marks it `failed` with the reason, and a pair with a failed segment is never offered. A task redelivered
after its renderer died renders again (the same keys are overwritten); one for a segment already rendered is
acknowledged as it is.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import Episode, EpisodeChunk, PreferenceExperiment, PreferenceSegment
from playcorder.db.queries import chunks_covering
from playcorder.preference_data import clip_key, decode_image, posted_frames
from playcorder.records import decode_chunk
from playcorder.storage import MissingObject, ObjectStore

from .clips import CONTENT_TYPES, ClipError, render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Work:
    segment: PreferenceSegment
    experiment: PreferenceExperiment
    episode: Episode | None
    chunks: list[EpisodeChunk]


class ClipRenderer:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], objects: ObjectStore) -> None:
        self.sessions, self.objects = sessions, objects
        self.rendered = 0

    async def render(self, segment_id: str) -> None:
        work = await self._load(segment_id)
        if work is None:
            return
        try:
            frames, reward_sum = await asyncio.to_thread(self._frames, work)
            clip = await asyncio.to_thread(render, frames, work.experiment.fps,
                                           float(work.experiment.spec.get("clip", {}).get("freeze_seconds", 0.2)))
            keys = {name: clip_key(work.experiment.study_id, work.experiment.id, segment_id, name)
                    for name in clip.files}
            for name, data in clip.files.items():
                await asyncio.to_thread(self.objects.put_bytes_sync, keys[name], data, CONTENT_TYPES[name])
        except (ClipError, ValueError, MissingObject) as err:
            log.warning("clip of segment %s failed: %s", segment_id, err)
            await self._mark(segment_id, state="failed", error=str(err)[:2000])
            return
        await self._mark(segment_id, state="ready", error=None, clip_keys=keys, clip_frames=clip.frames,
                         width=clip.width, height=clip.height, rendered_at=datetime.now(UTC),
                         **({"reward_sum": reward_sum} if reward_sum is not None else {}))
        self.rendered += 1

    async def _load(self, segment_id: str) -> Work | None:
        async with self.sessions() as db:
            segment = await db.get(PreferenceSegment, segment_id)
            if segment is None or segment.state != "pending":
                return None  # deleted with its experiment, or rendered already (a redelivered task)
            experiment = await db.get(PreferenceExperiment, segment.experiment_id)
            if experiment is None:
                return None
            episode = await db.get(Episode, segment.episode_id) if segment.episode_id else None
            chunks = [] if episode is None else await chunks_covering(
                db, episode.id, segment.first_step, segment.first_step + segment.num_steps)
        return Work(segment, experiment, episode, chunks)

    def _frames(self, work: Work) -> tuple[list[np.ndarray], float | None]:
        """The segment's frames as HxWx3 uint8, and its true summed reward where the recording has it."""
        s = work.segment
        if s.source == "posted":
            if s.data_key is None:
                raise ClipError("Expected the posted segment's frames in S3, got no object key")
            return posted_frames(self.objects.get_bytes_sync(s.data_key)), None
        if work.episode is None:
            raise ClipError(f"Expected the recorded episode {s.episode_id}, got none (deleted?)")
        wanted = range(s.first_step, s.first_step + s.num_steps)
        images: dict[int, bytes | None] = {}
        reward = 0.0
        for chunk in work.chunks:
            _, steps = decode_chunk(self.objects.get_bytes_sync(chunk.object_key), work.episode.observation_spec,
                                    work.episode.action_spec)
            for step in steps:
                if step.index in wanted:
                    images[step.index] = step.image
                    reward += float(step.reward)
        frames = []
        for i in wanted:
            image = images.get(i)
            if image is None:
                raise ClipError(f"Expected a stored image at step {i} of episode {s.episode_id}, got "
                                f"{'none (recorded without images)' if i in images else 'no such step stored'}")
            frames.append(decode_image(image))
        return frames, reward

    async def _mark(self, segment_id: str, **fields: object) -> None:
        async with self.sessions() as db:
            segment = await db.get(PreferenceSegment, segment_id, with_for_update=True)
            if segment is None or segment.state != "pending":
                await db.commit()
                return
            for k, v in fields.items():
                setattr(segment, k, v)
            db.add(segment)
            await db.commit()
