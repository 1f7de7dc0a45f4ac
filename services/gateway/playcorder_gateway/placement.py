"""Placement: offering a session to the workers of the heartbeat table, least loaded first, until one accepts."""

from __future__ import annotations

import logging
import random

from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from playcorder.messages import OpenSession, OpenSessionReply, WorkerHeartbeat
from playcorder.subjects import Subjects
from playcorder.workers import WorkerTable

log = logging.getLogger(__name__)


class NoCapacity(Exception):
    pass


class WorkerDirectory:
    def __init__(self, nc: NATS, subjects: Subjects, workers: WorkerTable, timeout: float) -> None:
        self.nc, self.subjects, self.workers, self.timeout = nc, subjects, workers, timeout

    async def start(self) -> None:
        await self.workers.start()
        await self.nc.publish(self.subjects.announce, b"")  # every worker heartbeats now: we know them at once

    def candidates(self) -> list[WorkerHeartbeat]:
        """Workers with room, least loaded first (by share of capacity in use, then by free slots); ties are
        broken at random, so gateways placing at the same moment do not all pick the same worker."""
        room = [hb for hb in self.workers.live().values() if hb.free > 0]
        random.shuffle(room)
        return sorted(room, key=lambda hb: (hb.active / max(hb.capacity, 1), -hb.free))

    async def place(self, request: OpenSession) -> str:
        """Offer the session to workers in order until one accepts; returns its id."""
        for hb in self.candidates():
            try:
                reply_msg = await self.nc.request(
                    self.subjects.worker_open(hb.worker_id), request.model_dump_json().encode(), timeout=self.timeout
                )
            except (NatsTimeout, NoRespondersError):
                log.warning("worker %s did not answer a placement; skipping it", hb.worker_id)
                self.workers.forget(hb.worker_id)
                continue
            reply = OpenSessionReply.model_validate_json(reply_msg.data)
            # The worker's own count right after its answer: concurrent placements spread before its next heartbeat.
            self.workers.note(reply.load)
            if reply.accepted:
                return reply.worker_id
            log.info("worker %s refused session: %s", hb.worker_id, reply.reason)
        log.warning("no capacity for session %s; workers: %s", request.session_id,
                    [(hb.worker_id, hb.active, hb.capacity, hb.draining) for hb in self.workers.live().values()]
                    or "none live")
        raise NoCapacity()
