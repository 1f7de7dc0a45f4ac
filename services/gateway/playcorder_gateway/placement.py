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
    """No worker took the session. retry_after: when the first may have room by the workers' own estimates (each
    refusing for load says when it expects to); None when one of them cannot tell (it is full, or draining) or
    none is live: the gateway's NO_CAPACITY_RETRY then."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__(f"no worker has room (retry after {retry_after} s)")
        self.retry_after = retry_after


def retry_after(workers: list[WorkerHeartbeat]) -> float | None:
    estimates = [hb.retry_after_s for hb in workers]
    return min(estimates) if estimates and all(e > 0 for e in estimates) else None


class WorkerDirectory:
    def __init__(self, nc: NATS, subjects: Subjects, workers: WorkerTable, timeout: float) -> None:
        self.nc, self.subjects, self.workers, self.timeout = nc, subjects, workers, timeout
        # Offers awaiting a worker's answer, by worker: a burst of concurrent placements counts them as load, so it
        # does not all land on the worker that was least loaded when the burst began.
        self.offered: dict[str, int] = {}

    async def start(self) -> None:
        await self.workers.start()
        await self.nc.publish(self.subjects.announce, b"")  # every worker heartbeats now: we know them at once

    def candidates(self) -> list[WorkerHeartbeat]:
        """Workers with room, least loaded first (by share of capacity in use, then by free slots); ties are
        broken at random, so gateways placing at the same moment do not all pick the same worker. A worker whose
        measured load refuses newcomers (accepting false in its heartbeat) has no room: it is not asked."""
        room = [hb for hb in self.workers.live().values() if hb.free > 0]
        random.shuffle(room)

        def load(hb: WorkerHeartbeat) -> tuple[float, int]:
            pending = self.offered.get(hb.worker_id, 0)
            return (hb.active + pending) / max(hb.capacity, 1), pending - hb.free

        return sorted(room, key=load)

    async def place(self, request: OpenSession, worker_id: str | None = None) -> str:
        """Offer the session to workers in order until one accepts; returns its id. With `worker_id` (a
        multi-agent game's worker, chosen by the lobby) only to that one."""
        offers = self.candidates()
        if worker_id is not None:
            offers = [hb for hb in self.workers.live().values() if hb.worker_id == worker_id]
        for hb in offers:
            self.offered[hb.worker_id] = self.offered.get(hb.worker_id, 0) + 1
            try:
                reply_msg = await self.nc.request(
                    self.subjects.worker_open(hb.worker_id), request.model_dump_json().encode(), timeout=self.timeout
                )
            except (NatsTimeout, NoRespondersError):
                log.warning("worker %s did not answer a placement; skipping it", hb.worker_id)
                self.workers.forget(hb.worker_id)
                continue
            finally:
                self._answered(hb.worker_id)
            reply = OpenSessionReply.model_validate_json(reply_msg.data)
            # The worker's own count right after its answer: concurrent placements spread before its next heartbeat.
            self.workers.note(reply.load)
            if reply.accepted:
                return reply.worker_id
            log.info("worker %s refused session: %s", hb.worker_id, reply.reason)
        live = list(self.workers.live().values())
        log.warning("no capacity for session %s; workers (id, active, capacity, draining, accepting, lateness ms, "
                    "cpu): %s", request.session_id,
                    [(hb.worker_id, hb.active, hb.capacity, hb.draining, hb.accepting, hb.lateness_ms, hb.cpu)
                     for hb in live] or "none live")
        raise NoCapacity(retry_after(live))

    def _answered(self, worker_id: str) -> None:
        left = self.offered.get(worker_id, 0) - 1
        if left > 0:
            self.offered[worker_id] = left
        else:
            self.offered.pop(worker_id, None)
