"""Idempotent writes of recording messages: S3 objects first, then PostgreSQL rows; safe to repeat in any order.

Begins and chunks are stored a batch at a time (one query for the rows of many messages, the S3 puts side by
side). An episode's row is finalised from what is stored (step count, reward from the stored chunks), so it
always describes the data a user will export; a chunk stored after the end (redelivered late) updates those counts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import DeletedEpisode, Episode, EpisodeChunk
from playcorder.messages import RECORDING, EpisodeBegin, EpisodeEnd
from playcorder.records import ChunkHeader, read_header
from playcorder.storage import ObjectStore, chunk_key

from .metrics import CHUNKS_STORED, EPISODES_FINALIZED, STEPS_STORED

log = logging.getLogger(__name__)
PUTS_AT_ONCE = 8


class NotYet(Exception):
    """The message depends on one not stored yet (another replica has it); redeliver later."""


@dataclass
class ChunkResult:
    """What became of one chunk of a batch: stored (or dropped: its episode was deleted), or waiting for its begin."""

    stored: bool

    @property
    def waiting(self) -> bool:
        return not self.stored


class EpisodeStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], objects: ObjectStore) -> None:
        self.sessions, self.objects = sessions, objects
        self._puts = asyncio.Semaphore(PUTS_AT_ONCE)

    @staticmethod
    async def _deleted(db: AsyncSession, episode_ids: list[str]) -> set[str]:
        query = select(DeletedEpisode.id).where(col(DeletedEpisode.id).in_(episode_ids))
        rows = await db.exec(query)  # type: ignore[call-overload]
        return set(rows.scalars())

    async def begin(self, msgs: list[EpisodeBegin]) -> None:
        async with self.sessions() as db:
            deleted = await self._deleted(db, [m.episode_id for m in msgs])
            rows = [dict(
                id=m.episode_id, study_id=m.study_id, study_version=m.study_version, session_id=m.session_id,
                participant_id=m.participant_id, env=m.env, env_id=m.env_id, worker_id=m.worker_id, seed=m.seed,
                state=RECORDING, num_steps=0, num_chunks=0, total_reward=0.0, active_s=0.0, notes="",
                observation_spec=m.observation_spec, action_spec=m.action_spec, started_at=m.started_at,
                campaign_id=m.campaign_id, condition=m.condition, stats={}, game_id=m.game_id, agent=m.agent,
            ) for m in msgs if m.episode_id not in deleted]
            if deleted:
                log.info("begins of deleted episodes dropped: %s", sorted(deleted))
            if rows:
                add = insert(Episode).values(rows).on_conflict_do_nothing(index_elements=["id"])
                await db.exec(add)  # type: ignore[call-overload]
                await db.commit()

    async def _put(self, key: str, data: bytes) -> None:
        async with self._puts:
            await self.objects.put_bytes(key, data)

    async def chunks(self, payloads: list[bytes]) -> list[ChunkResult]:
        """Store the chunks whose episode has begun; raises ValueError for one that is not a chunk at all."""
        headers: list[ChunkHeader] = [read_header(p) for p in payloads]
        ids = sorted({h.episode_id for h in headers})
        async with self.sessions() as db:
            known = {eid: (study, state) for eid, study, state in await db.exec(  # type: ignore[call-overload]
                select(Episode.id, Episode.study_id, Episode.state).where(col(Episode.id).in_(ids)))}
            deleted = await self._deleted(db, [i for i in ids if i not in known])
            results, rows, puts = [], [], []
            for header, data in zip(headers, payloads, strict=True):
                if header.episode_id in deleted:
                    results.append(ChunkResult(stored=True))  # nothing to keep: acknowledged and dropped
                elif header.episode_id not in known:
                    results.append(ChunkResult(stored=False))
                else:
                    key = chunk_key(known[header.episode_id][0], header.episode_id, header.seq)
                    puts.append(self._put(key, data))
                    rows.append(dict(
                        episode_id=header.episode_id, seq=header.seq,
                        first_step=header.steps[0].i if header.steps else 0, num_steps=len(header.steps),
                        reward_sum=sum(s.reward for s in header.steps), nbytes=len(data), object_key=key,
                    ))
                    results.append(ChunkResult(stored=True))
            await asyncio.gather(*puts)  # all objects durable before any row points at them
            if rows:
                await db.exec(insert(EpisodeChunk).values(rows).on_conflict_do_nothing())  # type: ignore[call-overload]
                late = sorted({r["episode_id"] for r in rows if known[r["episode_id"]][1] != RECORDING})
                for eid in late:  # stored after the end was applied: keep the counts true
                    count, steps, reward = (await db.exec(self._totals(eid))).one()  # type: ignore[call-overload]
                    await db.exec(update(Episode).where(Episode.id == eid).values(  # type: ignore[call-overload]
                        num_chunks=count, num_steps=steps, total_reward=reward))
                await db.commit()
                CHUNKS_STORED.inc(len(rows))
                STEPS_STORED.inc(sum(r["num_steps"] for r in rows))
        return results

    @staticmethod
    def _totals(episode_id: str):  # type: ignore[no-untyped-def]
        return (select(func.count(), func.coalesce(func.sum(EpisodeChunk.num_steps), 0),
                       func.coalesce(func.sum(EpisodeChunk.reward_sum), 0.0))
                .where(EpisodeChunk.episode_id == episode_id))

    async def end(self, msg: EpisodeEnd) -> None:
        async with self.sessions() as db:
            episode = await db.get(Episode, msg.episode_id)
            if episode is None:
                if await self._deleted(db, [msg.episode_id]):
                    return
                raise NotYet(f"episode {msg.episode_id} not begun")
            if msg.presumed and episode.state != RECORDING:
                return  # the worker's own end came first; it knows better than a reaper
            count, steps, reward = (await db.exec(self._totals(episode.id))).one()  # type: ignore[call-overload]
            if msg.num_chunks is not None and count < msg.num_chunks:
                raise NotYet(f"episode {msg.episode_id}: {count} of {msg.num_chunks} chunks stored")
            episode.num_chunks, episode.num_steps, episode.total_reward = int(count), int(steps), float(reward)
            episode.state, episode.end_reason = msg.state, msg.reason
            episode.active_s, episode.ended_at = msg.active_s, msg.ended_at
            # A reaper's presumed end knows no worker statistics: those the stored steps tell.
            episode.stats = dict(msg.stats) if msg.stats or not msg.presumed else {"score": float(reward),
                                                                                  "steps": float(steps)}
            db.add(episode)
            await db.commit()
        EPISODES_FINALIZED.labels(msg.state).inc()
