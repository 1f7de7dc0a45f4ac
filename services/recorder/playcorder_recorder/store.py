"""Idempotent writes of recording messages: S3 objects first, then PostgreSQL rows; safe to repeat."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import Episode, EpisodeChunk
from playcorder.messages import EpisodeBegin, EpisodeEnd
from playcorder.records import read_header
from playcorder.storage import ObjectStore, chunk_key


class NotYet(Exception):
    """The message depends on one not stored yet (another replica has it); redeliver later."""


class EpisodeStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], objects: ObjectStore) -> None:
        self.sessions, self.objects = sessions, objects

    async def begin(self, msg: EpisodeBegin) -> None:
        row = dict(
            id=msg.episode_id, study_id=msg.study_id, session_id=msg.session_id, participant_id=msg.participant_id,
            env=msg.env, env_id=msg.env_id, worker_id=msg.worker_id, seed=msg.seed, state="recording",
            num_steps=0, num_chunks=0, total_reward=0.0, observation_spec=msg.observation_spec,
            action_spec=msg.action_spec, started_at=msg.started_at,
        )
        async with self.sessions() as db:
            await db.exec(insert(Episode).values(**row).on_conflict_do_nothing(index_elements=["id"]))  # type: ignore[call-overload]
            await db.commit()

    async def chunk(self, data: bytes) -> None:
        header = read_header(data)
        async with self.sessions() as db:
            episode = await db.get(Episode, header.episode_id)
            if episode is None:
                raise NotYet(f"episode {header.episode_id} not begun")
            key = chunk_key(episode.study_id, episode.id, header.seq)
            await self.objects.put_bytes(key, data)
            row = dict(
                episode_id=episode.id, seq=header.seq, first_step=header.steps[0].i if header.steps else 0,
                num_steps=len(header.steps), reward_sum=sum(s.reward for s in header.steps), nbytes=len(data),
                object_key=key,
            )
            await db.exec(insert(EpisodeChunk).values(**row).on_conflict_do_nothing())  # type: ignore[call-overload]
            await db.commit()

    async def end(self, msg: EpisodeEnd) -> None:
        async with self.sessions() as db:
            episode = await db.get(Episode, msg.episode_id)
            if episode is None:
                raise NotYet(f"episode {msg.episode_id} not begun")
            count, steps, reward = (
                await db.exec(  # type: ignore[call-overload]
                    select(func.count(), func.coalesce(func.sum(EpisodeChunk.num_steps), 0),
                           func.coalesce(func.sum(EpisodeChunk.reward_sum), 0.0)).where(EpisodeChunk.episode_id == msg.episode_id)
                )
            ).one()
            if count < msg.num_chunks:
                raise NotYet(f"episode {msg.episode_id}: {count} of {msg.num_chunks} chunks stored")
            # Counts come from what is stored, so the row describes the data a user will export.
            episode.state, episode.end_reason = msg.state, msg.reason
            episode.num_steps, episode.num_chunks, episode.total_reward = int(steps), int(count), float(reward)
            episode.ended_at = msg.ended_at
            db.add(episode)
            await db.commit()
