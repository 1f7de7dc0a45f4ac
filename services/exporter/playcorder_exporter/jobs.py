"""Export jobs and their shard tasks from the JetStream work queue, taken by any exporter replica or process.

An ExportJob (subject export_jobs, durable "exporter") is planned here. A format that cannot be sharded, or an
export small enough for one shard, is built by that one task as before. Otherwise the export is cut into shard
tasks (shards.py; rows in export_shards, one ExportShard message each on export_task("shard")), which any
process of any replica builds (durable "exporter-tasks"). The shard that brings exports.shards_done to
shards_total, a row-level decision under the export row's lock, publishes one ExportFinalize, which writes the
dataset's metadata and its ZIP or tree. Every step is idempotent, so JetStream's redelivery (ack wait, max
deliver) covers a process that dies at any point: messages carry Nats-Msg-Id, a shard already done is not counted
again, a shard rebuilt overwrites the same objects, and a redelivered done shard republishes the finalize.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import Episode, EpisodeChunk, Export, ExportShardRow, Study
from playcorder.db.queries import step_tags_of, tags_of
from playcorder.exports import ExportOptions
from playcorder.messages import ClipRender, ExportFinalize, ExportJob, ExportShard
from playcorder.specs import StudySpec
from playcorder.storage import ObjectStore
from playcorder.subjects import Subjects

from . import metrics
from .build import build_export, build_part, dataset_config, finalize_export, part_prefix
from .clip_jobs import ClipRenderer
from .datasets.formats import SHARDABLE
from .plan import EpisodeSource, Planned, dataset_name, plan
from .shards import shard_plan

log = logging.getLogger(__name__)
MAX_DELIVER = 5  # a task that failed this often (its process died each time) fails its export
PROGRESS_EVERY_S = 0.5  # a shard's progress reaches the database at most this often


class ExportService:
    def __init__(self, nc: NATS, subjects: Subjects, sessions: async_sessionmaker[AsyncSession], objects: ObjectStore,
                 concurrency: int, workdir: Path | None, *, shard_steps: int = 20_000, ack_wait_s: float = 60) -> None:
        self.nc, self.subjects, self.sessions, self.objects = nc, subjects, sessions, objects
        self.concurrency, self.workdir = concurrency, workdir
        self.shard_steps, self.ack_wait_s = shard_steps, ack_wait_s
        self._stop = asyncio.Event()
        self.jobs_done = 0
        self.shards_built = 0
        self.clips = ClipRenderer(sessions, objects)  # preference clips (ClipRender tasks) share the task consumer

    async def run(self) -> None:
        js = self.nc.jetstream()
        config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait_s, max_deliver=MAX_DELIVER)
        jobs = await js.pull_subscribe(self.subjects.export_jobs, durable="exporter",
                                       stream=self.subjects.export_stream, config=config)
        tasks = await js.pull_subscribe(self.subjects.export_tasks, durable="exporter-tasks",
                                        stream=self.subjects.export_stream, config=config)
        await asyncio.gather(*(self._loop(jobs, self._job) for _ in range(self.concurrency)),
                             *(self._loop(tasks, self._task) for _ in range(self.concurrency)))
        # A pull subscription left open makes the connection's drain wait out its whole timeout.
        await jobs.unsubscribe()
        await tasks.unsubscribe()

    def stop(self) -> None:
        self._stop.set()

    async def _loop(self, sub: Any, handle: Callable[[Msg], Any]) -> None:
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
                await handle(msg)

    # ------------------------------------------------------------------ jobs: plan, or build in one task
    async def _job(self, msg: Msg) -> None:
        job, timer = ExportJob.model_validate_json(msg.data), metrics.JobTimer()
        try:
            await self._plan(job.export_id, msg)  # built here, or planned as shards (finalized later)
            timer.end("done")
        except Exception as err:
            timer.end("failed")
            log.exception("export %s failed", job.export_id)
            await self._fail(job.export_id, err)
        await msg.ack_sync()
        self.jobs_done += 1

    async def _fail(self, export_id: str, err: BaseException | str) -> None:
        error = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
        await self._update(export_id, state="failed", error=error, finished_at=datetime.now(UTC))

    async def _update(self, export_id: str, **fields: object) -> None:
        async with self.sessions() as db:
            export = await db.get(Export, export_id)
            if export is not None:
                for k, v in fields.items():
                    setattr(export, k, v)
                db.add(export)
                await db.commit()

    async def _sources(self, ids: list[str]) -> list[EpisodeSource]:
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
                          tags=tags[e.id], notes=e.notes, step_tags=step_tags[e.id], game_id=e.game_id,
                          agent=e.agent)
            for e in (rows[i] for i in ids)
        ]

    async def _context(self, export_id: str) -> tuple[Export, Study, ExportOptions, dict[str, Any]] | None:
        """The export (None if gone or finished), its study, options and the naming arguments of a build."""
        async with self.sessions() as db:
            export = await db.get(Export, export_id)
            if export is None or export.state in ("done", "failed"):
                return None
            study = await db.get(Study, export.study_id)
            assert study is not None
        options = ExportOptions.model_validate(export.options)
        env_keys = {e.env for e in await self._sources(export.episode_ids[:1])} if export.episode_ids else set()
        spec = StudySpec.model_validate(study.spec)
        fps = spec.environment(next(iter(env_keys))).fps if env_keys else 15
        naming = {"dataset_name": dataset_name(study.name), "fps": fps,
                  "description": f"Playcorder study {study.name} ({study.id}), export {export_id}"}
        return export, study, options, naming

    async def _plan(self, export_id: str, msg: Msg) -> None:
        context = await self._context(export_id)
        if context is None:
            return
        export, study, options, naming = context
        if export.shards_total:  # planned already (this job redelivered): publish what is not done
            await self._publish_shards(export_id)
            return
        sources = await self._sources(export.episode_ids)
        planned = plan(sources, options)
        shards = shard_plan(planned, self.shard_steps) if options.format in SHARDABLE else []
        if len(shards) > 1:
            config = dataset_config(sources, options, **naming)  # checks the spaces agree, before any task
            async with self.sessions() as db:
                locked = await db.get(Export, export_id, with_for_update=True)
                assert locked is not None
                if not locked.shards_total:
                    for n, s in enumerate(shards):
                        db.add(ExportShardRow(
                            export_id=export_id, shard=n, split=s.split, file_index=s.file_index,
                            file_count=s.file_count, step_tags=list(config.step_tags), steps_total=s.steps,
                            episodes=[[p.source.id, i, p.last, p.close] for i, p in s.episodes]))
                    locked.shards_total, locked.shards_done = len(shards), 0
                    locked.state, locked.steps_total, locked.steps_done = "running", sum(s.steps for s in shards), 0
                    db.add(locked)
                await db.commit()
            await self._publish_shards(export_id)
            return
        await self._build_whole(export_id, study, options, sources, naming, msg)

    async def _publish_shards(self, export_id: str) -> None:
        async with self.sessions() as db:
            pending = list(await db.exec(select(ExportShardRow.shard).where(
                ExportShardRow.export_id == export_id, ExportShardRow.state != "done")))
        js = self.nc.jetstream()
        for n in pending:
            await js.publish(self.subjects.export_task("shard"),
                             ExportShard(export_id=export_id, shard=n).model_dump_json().encode(),
                             headers={"Nats-Msg-Id": f"{export_id}.shard.{n}"})
        if not pending:
            await self._publish_finalize(export_id)

    async def _publish_finalize(self, export_id: str) -> None:
        await self.nc.jetstream().publish(
            self.subjects.export_task("finalize"), ExportFinalize(export_id=export_id).model_dump_json().encode(),
            headers={"Nats-Msg-Id": f"{export_id}.finalize"})

    async def _build_whole(self, export_id: str, study: Study, options: ExportOptions, sources: list[EpisodeSource],
                           naming: dict[str, Any], msg: Msg) -> None:
        total = sum(s.num_steps for s in sources)
        await self._update(export_id, state="running", steps_total=total, steps_done=0)
        loop, count_steps = asyncio.get_running_loop(), metrics.counting_steps()

        def progress(done: int) -> None:
            count_steps(done)
            # Called from the build thread: hop onto the loop for the database and the ack timer.
            asyncio.run_coroutine_threadsafe(self._update(export_id, steps_done=done), loop)
            asyncio.run_coroutine_threadsafe(msg.in_progress(), loop)

        built = await asyncio.to_thread(
            build_export, self.objects, sources, options, study_id=study.id, export_id=export_id,
            workdir=self.workdir, progress=progress, **naming,
        )
        await self._update(export_id, state="done", object_key=built.key, size_bytes=built.size, files=built.files,
                           steps_done=built.summary["steps"], steps_total=built.summary["steps"],
                           finished_at=datetime.now(UTC))

    # ------------------------------------------------------------------ tasks: shards and finalize
    async def _task(self, msg: Msg) -> None:
        kind, export_id = msg.subject.rsplit(".", 1)[-1], ""
        try:
            if kind == "shard":
                task = ExportShard.model_validate_json(msg.data)
                export_id = task.export_id
                await self._shard(task, msg)
            elif kind == "finalize":
                export_id = ExportFinalize.model_validate_json(msg.data).export_id
                await self._finalize(export_id)
            elif kind == "clip":
                await self.clips.render(ClipRender.model_validate_json(msg.data).segment_id)
            else:
                log.warning("unknown export task subject %s", msg.subject)
        except Exception as err:
            log.exception("export task %s failed", msg.subject)
            if export_id:
                await self._fail(export_id, err)
        await msg.ack_sync()

    async def _shard(self, task: ExportShard, msg: Msg) -> None:
        context = await self._context(task.export_id)
        if context is None:
            return
        export, study, options, naming = context
        async with self.sessions() as db:
            row = await db.get(ExportShardRow, (task.export_id, task.shard), with_for_update=True)
            if row is None:
                raise ValueError(f"Expected shard {task.shard} of export {task.export_id} planned, got no such row")
            if row.state == "done":  # redelivered after it was counted (its builder died before acking)
                await db.commit()
                if export.shards_done >= export.shards_total:
                    await self._publish_finalize(task.export_id)
                return
            if row.attempts >= MAX_DELIVER:
                await db.commit()
                await self._fail(task.export_id, f"Expected shard {task.shard} built within {MAX_DELIVER} "
                                                 f"attempts, got its builder dying {row.attempts} times")
                return
            row.attempts += 1
            await self._move_progress(db, row, 0)  # a crashed attempt's partial progress no longer counts
            await db.commit()
            ids, spec_rows = [e[0] for e in row.episodes], row
        by_id = {s.id: s for s in await self._sources(ids)}
        planned = [(int(i), Planned(by_id[eid], spec_rows.split, int(last), bool(close)))
                   for eid, i, last, close in spec_rows.episodes]
        config = dataset_config([p.source for _, p in planned], options, step_tags=tuple(spec_rows.step_tags),
                                **naming)
        progress = self._shard_progress(task, msg)
        result = await asyncio.to_thread(
            build_part, self.objects, planned, config, options, study_id=study.id, export_id=task.export_id,
            part=(spec_rows.split, spec_rows.file_index, spec_rows.file_count), workdir=self.workdir,
            progress=progress,
        )
        if await self._shard_done(task, result):
            await self._publish_finalize(task.export_id)
        self.shards_built += 1

    def _shard_progress(self, task: ExportShard, msg: Msg) -> Callable[[int], None]:
        loop, lock, last = asyncio.get_running_loop(), threading.Lock(), [0.0]
        count_steps = metrics.counting_steps()

        def progress(done: int) -> None:
            count_steps(done)
            # Called from the build thread: at most every PROGRESS_EVERY_S, hop onto the loop for the database.
            with lock:
                now = time.monotonic()
                if now - last[0] < PROGRESS_EVERY_S:
                    return
                last[0] = now
            asyncio.run_coroutine_threadsafe(self._progress(task, done), loop)
            asyncio.run_coroutine_threadsafe(msg.in_progress(), loop)

        return progress

    async def _progress(self, task: ExportShard, done: int) -> None:
        async with self.sessions() as db:
            row = await db.get(ExportShardRow, (task.export_id, task.shard), with_for_update=True)
            if row is not None and row.state != "done" and done > row.steps_done:
                await self._move_progress(db, row, done)
            await db.commit()

    @staticmethod
    async def _move_progress(db: AsyncSession, row: ExportShardRow, done: int) -> None:
        """Set a (locked) shard's steps_done and move the export's by the same delta: an atomic increment, so the
        export's count stays the sum over its shards whatever order the shards' updates commit in."""
        delta, row.steps_done = done - row.steps_done, done
        db.add(row)
        if delta:
            export = await db.get(Export, row.export_id, with_for_update=True)
            if export is not None:
                export.steps_done += delta
                db.add(export)

    async def _shard_done(self, task: ExportShard, result: dict[str, Any]) -> bool:
        """Mark the shard done and count it, once; True for the one shard whose count completes the export."""
        async with self.sessions() as db:
            row = await db.get(ExportShardRow, (task.export_id, task.shard), with_for_update=True)
            if row is None or row.state == "done":
                await db.commit()
                return False
            await self._move_progress(db, row, result["steps"])
            row.state, row.result, row.finished_at = "done", result, datetime.now(UTC)
            db.add(row)
            export = await db.get(Export, task.export_id, with_for_update=True)
            assert export is not None
            export.shards_done += 1
            last = export.shards_done == export.shards_total
            db.add(export)
            await db.commit()
            return last

    async def _finalize(self, export_id: str) -> None:
        context = await self._context(export_id)
        if context is None:
            return
        export, study, options, naming = context
        async with self.sessions() as db:
            rows = list(await db.exec(select(ExportShardRow).where(ExportShardRow.export_id == export_id)
                                      .order_by(col(ExportShardRow.shard))))
        if not rows or any(r.state != "done" for r in rows):
            log.warning("finalize of export %s before all its shards are done: ignored", export_id)
            return
        first = rows[0]
        sources = await self._sources([first.episodes[0][0]])
        config = dataset_config(sources, options, step_tags=tuple(first.step_tags), **naming)
        parts = [r.result for r in rows if r.result is not None]
        built = await asyncio.to_thread(finalize_export, self.objects, config, options, parts, study_id=study.id,
                                        export_id=export_id, workdir=self.workdir)
        await self._update(export_id, state="done", object_key=built.key, size_bytes=built.size, files=built.files,
                           steps_done=built.summary["steps"], steps_total=built.summary["steps"],
                           finished_at=datetime.now(UTC))
        if options.archive:
            await asyncio.to_thread(self.objects.delete_prefix_sync, part_prefix(study.id, export_id, archive=True))
        self.jobs_done += 1
