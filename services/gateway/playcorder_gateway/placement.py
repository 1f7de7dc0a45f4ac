"""Placement: the gateway's view of the workers (from their heartbeats) and placing a session on one."""

from __future__ import annotations

import logging
import random
import time

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError, TimeoutError as NatsTimeout
from pydantic import ValidationError

from playcorder.messages import OpenSession, OpenSessionReply, WorkerHeartbeat
from playcorder.subjects import Subjects

log = logging.getLogger(__name__)


class NoCapacity(Exception):
    pass


class WorkerDirectory:
    def __init__(self, nc: NATS, subjects: Subjects, ttl: float, timeout: float) -> None:
        self.nc, self.subjects, self.ttl, self.timeout = nc, subjects, ttl, timeout
        self._workers: dict[str, tuple[float, WorkerHeartbeat]] = {}

    async def start(self) -> None:
        await self.nc.subscribe(self.subjects.heartbeat, cb=self._on_heartbeat)
        await self.nc.publish(self.subjects.announce, b"")

    async def _on_heartbeat(self, msg: Msg) -> None:
        try:
            self._note(WorkerHeartbeat.model_validate_json(msg.data))
        except ValidationError as err:
            log.warning("ignored a malformed worker heartbeat: %s", err)

    def _note(self, hb: WorkerHeartbeat) -> None:
        """Keep a worker's newest load: heartbeats and placement replies may arrive out of order."""
        known = self._workers.get(hb.worker_id)
        if known is None or hb.sent_at >= known[1].sent_at:
            self._workers[hb.worker_id] = (time.monotonic(), hb)

    def live(self) -> list[WorkerHeartbeat]:
        cutoff = time.monotonic() - self.ttl
        return [hb for seen, hb in self._workers.values() if seen >= cutoff]

    def candidates(self) -> list[WorkerHeartbeat]:
        """Workers with room, least loaded first (by share of capacity in use, then by free slots); ties are
        broken at random, so gateways placing at the same moment do not all pick the same worker."""
        room = [hb for hb in self.live() if hb.free > 0]
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
                self._workers.pop(hb.worker_id, None)
                continue
            reply = OpenSessionReply.model_validate_json(reply_msg.data)
            # The worker's own count right after its answer: concurrent placements spread before its next heartbeat.
            self._note(reply.load)
            if reply.accepted:
                return reply.worker_id
            log.info("worker %s refused session: %s", hb.worker_id, reply.reason)
        log.warning("no capacity for session %s; workers: %s", request.session_id,
                    [(hb.worker_id, hb.active, hb.capacity, hb.draining) for hb in self.live()] or "none live")
        raise NoCapacity()
