"""Export jobs from the JetStream work queue, taken by any exporter replica."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import Episode, EpisodeChunk, Export, Study
from playcorder.db.queries import step_tags_of, tags_of
from playcorder.exports import ExportOptions
from playcorder.messages import ExportJob
from playcorder.specs import StudySpec
from playcorder.storage import ObjectStore
from playcorder.subjects import Subjects

from . import metrics
from .build import build_export
from .plan import EpisodeSource, dataset_name

log = logging.getLogger(__name__)


class ExportService:
    def __init__(self, nc: NATS, subjects: Subjects, sessions: async_sessionmaker[AsyncSession], objects: ObjectStore,
                 concurrency: int, workdir) -> None:  # type: ignore[no-untyped-def]
        self.nc, self.subjects, self.sessions, self.objects = nc, subjects, sessions, objects
        self.concurrency, self.workdir = concurrency, workdir
        self._stop = asyncio.Event()
        self.jobs_done = 0

    async def run(self) -> None:
        sub = await self.nc.jetstream().pull_subscribe(
            self.subjects.export_jobs, durable="exporter", stream=self.subjects.export_stream,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=60, max_deliver=5),
        )
        await asyncio.gather(*(self._loop(sub) for _ in range(self.concurrency)))
        # A pull subscription left open makes the connection's drain wait out its whole timeout.
        await sub.unsubscribe()

    def stop(self) -> None:
        self._stop.set()

    async def _loop(self, sub) -> None:  # type: ignore[no-untyped-def]
        while not self._stop.is_set():
            try:
                msgs = await sub.fetch(1, timeout=0.5)
            except TimeoutError:  # nats' own, or asyncio's, which fetch raises too
                continue
            except Exception as err:
                log.warning("fetch failed: %r", err)
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                await self._job(msg)

    async def _job(self, msg: Msg) -> None:
        job, timer = ExportJob.model_validate_json(msg.data), metrics.JobTimer()
        try:
            await self._build(job.export_id, msg)
            timer.end("done")
        except Exception as err:
            timer.end("failed")
            log.exception("export %s failed", job.export_id)
            await self._update(job.export_id, state="failed", error=f"{type(err).__name__}: {err}",
                               finished_at=datetime.now(UTC))
        await msg.ack_sync()
        self.jobs_done += 1

    async def _update(self, export_id: str, **fields: object) -> None:
        async with self.sessions() as db:
            export = await db.get(Export, export_id)
            if export is not None:
                for k, v in fields.items():
                    setattr(export, k, v)
                db.add(export)
                await db.commit()

    async def _sources(self, export: Export) -> list[EpisodeSource]:
        ids = export.episode_ids
        async with self.sessions() as db:
            rows = {e.id: e for e in await db.exec(select(Episode).where(col(Episode.id).in_(ids)))}
            chunks: dict[str, list[tuple[str, int, int, float]]] = {}
            for c in await db.exec(select(EpisodeChunk).where(col(EpisodeChunk.episode_id).in_(ids))
                                   .order_by(EpisodeChunk.episode_id, EpisodeChunk.seq)):
                chunks.setdefault(c.episode_id, []).append((c.object_key, c.first_step, c.num_steps, c.reward_sum))
            tags, step_tags = await tags_of(db, ids), await step_tags_of(db, ids)
        missing = [e for e in ids if e not in rows]
        if missing:
            raise ValueError(f"Expected recorded episodes, got unknown (deleted?) ids {missing}")
        return [
            EpisodeSource(id=e.id, study_id=e.study_id, participant_id=e.participant_id, env=e.env, env_id=e.env_id,
                          state=e.state, seed=e.seed, num_steps=e.num_steps, total_reward=e.total_reward,
                          observation_spec=e.observation_spec, action_spec=e.action_spec, chunks=chunks.get(e.id, []),
                          tags=tags[e.id], notes=e.notes, step_tags=step_tags[e.id])
            for e in (rows[i] for i in ids)
        ]

    async def _build(self, export_id: str, msg: Msg) -> None:
        async with self.sessions() as db:
            export = await db.get(Export, export_id)
            if export is None or export.state == "done":
                return
            study = await db.get(Study, export.study_id)
            assert study is not None
        options = ExportOptions.model_validate(export.options)
        sources = await self._sources(export)
        spec = StudySpec.model_validate(study.spec)
        env = spec.environment(sources[0].env) if sources else None
        total = sum(s.num_steps for s in sources)
        await self._update(export_id, state="running", steps_total=total, steps_done=0)
        loop, count_steps = asyncio.get_running_loop(), metrics.counting_steps()

        def progress(done: int) -> None:
            count_steps(done)
            # Called from the build thread: hop onto the loop for the database and the ack timer.
            asyncio.run_coroutine_threadsafe(self._update(export_id, steps_done=done), loop)
            asyncio.run_coroutine_threadsafe(msg.in_progress(), loop)

        built = await asyncio.to_thread(
            build_export, self.objects, sources, options, dataset_name=dataset_name(study.name),
            fps=env.fps if env else 15, study_id=study.id, export_id=export_id, workdir=self.workdir,
            description=f"Playcorder study {study.name} ({study.id}), export {export_id}", progress=progress,
        )
        await self._update(export_id, state="done", object_key=built.key, size_bytes=built.size, files=built.files,
                           steps_done=built.summary["steps"], steps_total=built.summary["steps"],
                           finished_at=datetime.now(UTC))

