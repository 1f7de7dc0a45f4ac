"""Ends the episodes whose worker died. Each worker's heartbeat lists the episodes it has not finished publishing.
An episode still recording whose worker is gone (no heartbeat for `ttl`, or a heartbeat of a new process under
the same id) and that no live worker claims gets a presumed end (state interrupted) published into the record
stream, behind every message the dead worker got into it. An episode of a live worker that no longer claims it
has its real end in the stream already (perhaps awaiting redelivery) and is left alone. A worker that was only
cut off and comes back still has its own end applied, and its late steps counted (store.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from nats.aio.client import Client as NATS
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import Episode
from playcorder.messages import RECORDING, EpisodeEnd
from playcorder.subjects import Subjects
from playcorder.workers import WorkerTable

from .outage import DATABASE, Outages, unreachable

log = logging.getLogger(__name__)


class Reaper:
    def __init__(self, nc: NATS, subjects: Subjects, sessions: async_sessionmaker[AsyncSession], workers: WorkerTable,
                 interval: float, outages: Outages | None = None) -> None:
        self.nc, self.subjects, self.sessions, self.workers = nc, subjects, sessions, workers
        self.outages = outages or Outages()
        self.ttl, self.interval = workers.ttl, interval
        self._watching_since = time.monotonic()
        self._reconnects = 0
        self._ended: set[str] = set()  # presumed ends published and not yet applied
        self.reaped = 0

    async def run(self) -> None:
        await self.workers.start()
        try:
            wait = self.interval
            while True:
                await asyncio.sleep(wait)
                wait = self.interval
                try:
                    await self._reap()
                except Exception as err:
                    if unreachable(err) != DATABASE:
                        log.exception("reaping episodes of lost workers failed; trying again")
                        continue
                    wait = max(wait, self.outages.failed(DATABASE, err))
        finally:
            await self.workers.stop()

    def _can_judge(self) -> bool:
        """Silence means death only while we ourselves have been listening, connected, for a whole ttl: after our
        start or a NATS reconnect, everyone's heartbeats are missing for a moment."""
        reconnects = self.nc.stats["reconnects"]
        if reconnects != self._reconnects or not self.nc.is_connected:
            self._reconnects, self._watching_since = reconnects, time.monotonic()
            return False
        return time.monotonic() - self._watching_since >= self.ttl

    async def _reap(self) -> None:
        if not self._can_judge():
            return
        live = self.workers.live()
        claimed = {e for hb in live.values() for e in hb.recording}
        cutoff = datetime.now(UTC) - timedelta(seconds=self.ttl)
        async with self.sessions() as db:
            recording = (await db.exec(
                select(Episode.id, Episode.worker_id, Episode.started_at)
                .where(Episode.state == RECORDING, Episode.started_at < cutoff)
            )).all()
        self.outages.reached(DATABASE)
        self._ended &= {episode_id for episode_id, _, _ in recording}
        js = self.nc.jetstream()
        for episode_id, worker_id, started_at in recording:
            if episode_id in claimed or episode_id in self._ended:
                continue
            hb = live.get(worker_id)
            if hb is not None and (hb.started_at is None or hb.started_at <= started_at):
                continue  # the process that recorded it is alive and done with it: its end is in the stream
            end = EpisodeEnd(episode_id=episode_id, state="interrupted", reason="worker_lost", num_steps=0,
                             num_chunks=None, total_reward=0.0, ended_at=datetime.now(UTC), presumed=True)
            # Its own msg id: a presumed end must never suppress the worker's real end as a duplicate.
            await js.publish(self.subjects.record(episode_id, "end"), end.model_dump_json().encode(),
                             headers={"Nats-Msg-Id": f"{episode_id}.presumed-end"}, timeout=5)
            self._ended.add(episode_id)
            self.reaped += 1
            log.warning("no live worker records episode %s (it ran on %s); it ends as interrupted with the steps "
                        "stored", episode_id, worker_id)
