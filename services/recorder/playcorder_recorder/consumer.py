"""The durable JetStream pull consumer: fetch a batch, store it, then acknowledge; several replicas share the
consumer.

A batch is stored in three steps: the begins, then the chunks (their objects side by side, their rows in one
query), then the ends. A message is acknowledged only once what it carries is in S3 and PostgreSQL; one that
waits for another (a chunk before its begin, an end before its last chunk) is redelivered later, with backoff;
one that cannot be parsed is kept in S3 under `deadletter/` before it is terminated, so nothing disappears unseen.
While PostgreSQL or S3 is unreachable, fetched messages go back (nak) and fetching pauses, with backoff (outage.py).
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from playcorder.messages import EpisodeBegin, EpisodeEnd
from playcorder.subjects import Subjects

from .metrics import BATCH_SECONDS, DEAD_LETTERS
from .outage import DATABASE, OBJECTS, Outages, unreachable
from .store import EpisodeStore, NotYet

log = logging.getLogger(__name__)

# Storing a batch takes milliseconds; a replica that dies holding messages hands them on after ACK_WAIT.
ACK_WAIT_S = 5.0


def retry_delay(msg: Msg) -> float:
    """0.1 s, doubling with each delivery up to 2 s: a waiting end must not re-count its chunks in a busy loop."""
    return min(2.0, 0.1 * 2 ** (msg.metadata.num_delivered - 1))


class RecordConsumer:
    def __init__(self, nc: NATS, subjects: Subjects, store: EpisodeStore, durable: str, batch: int,
                 outages: Outages | None = None) -> None:
        self.nc, self.subjects, self.store = nc, subjects, store
        self.durable, self.batch = durable, batch
        self.outages = outages or Outages()
        self.stored = 0
        self._stop = asyncio.Event()
        self._pause = 0.0  # set when a backend is unreachable: wait this long before fetching more

    async def run(self) -> None:
        js = self.nc.jetstream()
        sub = await js.pull_subscribe(
            self.subjects.record_all, durable=self.durable, stream=self.subjects.record_stream,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, ack_wait=ACK_WAIT_S,
                                  max_ack_pending=10_000),
        )
        while not self._stop.is_set():
            try:
                msgs = await self._fetch(sub)
            except TimeoutError:  # nats' own, or asyncio's, which fetch raises too
                continue
            except Exception as err:  # reconnecting to NATS: keep trying
                log.warning("fetch failed: %r", err)
                await asyncio.sleep(0.5)
                continue
            with BATCH_SECONDS.time():
                await self.handle(msgs)
            if self._pause:
                pause, self._pause = self._pause, 0.0
                try:
                    await asyncio.wait_for(self._stop.wait(), pause)
                except TimeoutError:
                    pass
        # A pull subscription left open makes the connection's drain wait out its whole timeout.
        await sub.unsubscribe()

    def stop(self) -> None:
        self._stop.set()

    async def _fetch(self, sub) -> list[Msg]:  # type: ignore[no-untyped-def]
        """Wait for one message, then take whatever else is there, up to a batch. (A single fetch of a whole batch
        would, once its first message arrived, linger for the rest until its timeout: up to 0.5 s of latency on a
        quiet stream.)"""
        msgs = await sub.fetch(1, timeout=0.5)
        if self.batch > 1:
            try:
                msgs += await sub.fetch(self.batch - 1, timeout=0.02)
            except Exception as err:  # nothing more now (a timeout, mostly): store what we have
                if not isinstance(err, TimeoutError):
                    log.warning("fetching more failed: %r", err)
        return msgs

    async def handle(self, msgs: list[Msg]) -> None:
        by_kind: dict[str, list[Msg]] = {"begin": [], "chunk": [], "end": []}
        for msg in msgs:
            kind = msg.subject.rsplit(".", 1)[-1]
            if kind in by_kind:
                by_kind[kind].append(msg)
            else:
                await self._dead_letter(msg, ValueError(f"Expected a record subject ending in begin, chunk or end, "
                                                        f"got {msg.subject!r}"))
        await self._begins(by_kind["begin"])
        if self._pause:  # a backend is away: the rest of the batch goes back untried, not counted as more failures
            await self._put_back(by_kind["chunk"] + by_kind["end"])
            return
        await self._chunks(by_kind["chunk"])
        for i, msg in enumerate(by_kind["end"]):
            if self._pause:
                await self._put_back(by_kind["end"][i:])
                return
            await self._end(msg)

    async def _put_back(self, msgs: list[Msg]) -> None:
        await asyncio.gather(*(msg.nak(delay=self._pause) for msg in msgs))

    async def _parsed(self, msgs: list[Msg], model: type) -> list[tuple[Msg, object]]:
        out = []
        for msg in msgs:
            try:
                out.append((msg, model.model_validate_json(msg.data)))
            except ValidationError as err:
                await self._dead_letter(msg, err)
        return out

    async def _begins(self, msgs: list[Msg]) -> None:
        parsed = await self._parsed(msgs, EpisodeBegin)
        if not parsed:
            return
        try:
            await self.store.begin([m for _, m in parsed])  # type: ignore[misc]
        except IntegrityError as err:  # e.g. a study that does not exist: find the culprit, store the others
            if len(parsed) == 1:
                await self._dead_letter(parsed[0][0], err)
                return
            for msg, _ in parsed:
                await self._begins([msg])
            return
        except Exception as err:
            delay = self._failed(err, f"storing {len(parsed)} begins")
            await asyncio.gather(*(msg.nak(delay=delay) for msg, _ in parsed))
            return
        self.outages.reached(DATABASE)
        await self._ack([msg for msg, _ in parsed])

    async def _chunks(self, msgs: list[Msg]) -> None:
        if not msgs:
            return
        try:
            results = await self.store.chunks([msg.data for msg in msgs])
        except ValueError:  # one of them is no chunk: find it, store the others
            if len(msgs) == 1:
                await self._dead_letter(msgs[0], ValueError("Expected a step chunk (PCR2), got something else"))
                return
            for msg in msgs:
                await self._chunks([msg])
            return
        except Exception as err:
            delay = self._failed(err, f"storing {len(msgs)} chunks")
            await asyncio.gather(*(msg.nak(delay=delay) for msg in msgs))
            return
        self.outages.reached(DATABASE, *([OBJECTS] if any(r.stored for r in results) else []))
        done = list(zip(msgs, results, strict=True))
        await self._ack([msg for msg, r in done if r.stored])
        await asyncio.gather(*(msg.nak(delay=retry_delay(msg)) for msg, r in done if r.waiting))

    async def _end(self, msg: Msg) -> None:
        try:
            await self.store.end(EpisodeEnd.model_validate_json(msg.data))
        except ValidationError as err:
            await self._dead_letter(msg, err)
            return
        except NotYet as err:
            log.debug("redeliver later: %s", err)
            await msg.nak(delay=retry_delay(msg))
            return
        except Exception as err:
            await msg.nak(delay=self._failed(err, f"storing {msg.subject}"))
            return
        self.outages.reached(DATABASE)
        await self._ack([msg])

    def _failed(self, err: Exception, what: str, otherwise: float = 1.0) -> float:
        """Log a failure to store (once per outage when a backend is unreachable); the delay to redeliver after."""
        backend = unreachable(err)
        if backend is None:
            log.exception("%s failed; redelivered in %g s", what, otherwise)
            return otherwise
        delay = self.outages.failed(backend, err)
        self._pause = max(self._pause, delay)
        return delay

    async def _ack(self, msgs: list[Msg]) -> None:
        # Not ack_sync: a lost ack only means a redelivery, which the store absorbs, and it saves a round trip.
        await asyncio.gather(*(msg.ack() for msg in msgs))
        self.stored += len(msgs)

    async def _dead_letter(self, msg: Msg, err: Exception) -> None:
        seq = msg.metadata.sequence.stream
        key = f"deadletter/{self.subjects.record_stream}/{seq:012d}"
        try:
            await self.store.objects.put_bytes(key, msg.data)
        except Exception as put_err:
            await msg.nak(delay=self._failed(put_err, f"keeping undecodable message {seq} in S3", otherwise=5.0))
            return
        log.error("message %d on %s is not a valid recording (%s); kept in S3 as %s", seq, msg.subject, err, key)
        DEAD_LETTERS.inc()
        await msg.term()
