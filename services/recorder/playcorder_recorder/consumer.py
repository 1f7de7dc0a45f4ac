"""The durable JetStream pull consumer: fetch, store, then acknowledge; several replicas share the consumer."""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from playcorder.messages import EpisodeBegin, EpisodeEnd
from playcorder.subjects import Subjects

from .store import EpisodeStore, NotYet

log = logging.getLogger(__name__)


class RecordConsumer:
    def __init__(self, nc: NATS, subjects: Subjects, store: EpisodeStore, durable: str, batch: int) -> None:
        self.nc, self.subjects, self.store = nc, subjects, store
        self.durable, self.batch = durable, batch
        self.stored = 0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        js = self.nc.jetstream()
        sub = await js.pull_subscribe(
            self.subjects.record_all, durable=self.durable, stream=self.subjects.record_stream,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, ack_wait=30,
                                  max_ack_pending=10_000),
        )
        while not self._stop.is_set():
            try:
                msgs = await sub.fetch(self.batch, timeout=0.5)
            except NatsTimeout:
                continue
            except Exception as err:  # reconnecting to NATS: keep trying
                log.warning("fetch failed: %s", err)
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                await self._handle(msg)
        # A pull subscription left open makes the connection's drain wait out its whole timeout.
        await sub.unsubscribe()

    def stop(self) -> None:
        self._stop.set()

    async def _handle(self, msg: Msg) -> None:
        kind = msg.subject.rsplit(".", 1)[-1]
        try:
            if kind == "begin":
                await self.store.begin(EpisodeBegin.model_validate_json(msg.data))
            elif kind == "chunk":
                await self.store.chunk(msg.data)
            elif kind == "end":
                await self.store.end(EpisodeEnd.model_validate_json(msg.data))
            else:
                log.error("unknown record subject %s; terminating it", msg.subject)
                await msg.term()
                return
        except NotYet as err:
            log.info("redeliver later: %s", err)
            await msg.nak(delay=0.2)
            return
        except Exception:
            log.exception("storing %s failed; it will be redelivered", msg.subject)
            await msg.nak(delay=1.0)
            return
        await msg.ack_sync()
        self.stored += 1
