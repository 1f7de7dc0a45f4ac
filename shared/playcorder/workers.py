"""The table of env-workers kept from their heartbeats: each worker's newest load and when we last heard from it.

Gateways place sessions by it; recorders judge by it which workers died.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError

from .messages import WorkerHeartbeat
from .subjects import Subjects

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Seen:
    at: float  # time.monotonic() when we last heard from the worker
    heartbeat: WorkerHeartbeat


class WorkerTable:
    def __init__(self, nc: NATS, subjects: Subjects, ttl: float) -> None:
        self.nc, self.subjects, self.ttl = nc, subjects, ttl
        self._workers: dict[str, _Seen] = {}
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.subjects.heartbeat, cb=self._on_heartbeat)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_heartbeat(self, msg: Msg) -> None:
        try:
            self.note(WorkerHeartbeat.model_validate_json(msg.data))
        except ValidationError as err:
            log.warning("ignored a malformed worker heartbeat: %s", err)

    def note(self, hb: WorkerHeartbeat) -> None:
        """Record that the worker is alive, keeping its newest load: a process's heartbeats and its placement
        replies may arrive out of order. A heartbeat of a new process under the same id (another started_at)
        replaces the old one's whatever its time."""
        known = self._workers.get(hb.worker_id)
        if known is not None and known.heartbeat.started_at == hb.started_at and hb.sent_at < known.heartbeat.sent_at:
            hb = known.heartbeat
        self._workers[hb.worker_id] = _Seen(time.monotonic(), hb)

    def forget(self, worker_id: str) -> None:
        """Drop a worker that stopped answering, until its next heartbeat."""
        self._workers.pop(worker_id, None)

    def live(self) -> dict[str, WorkerHeartbeat]:
        """The workers heard from within the last ttl, by id."""
        now = time.monotonic()
        return {w: seen.heartbeat for w, seen in self._workers.items() if now - seen.at < self.ttl}
