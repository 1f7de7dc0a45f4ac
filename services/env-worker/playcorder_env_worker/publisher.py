"""Publishes one session's recording to JetStream in order, off the step loop, retrying with dedupe ids.

Steps are buffered into chunks (by count, age and size below NATS' max payload); every message carries a
Nats-Msg-Id so a retried publish is stored once. A step's recorded input is bounded by the client message limits
(inputs.py), so only an environment's own observation, image or info can make one step too large for a chunk: such a
step is stored without its display image (then its info), and only one whose observation alone does not fit ends the
episode, as interrupted, after the steps before it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from nats.js.client import JetStreamContext

from playcorder.messages import EpisodeBegin, EpisodeEnd
from playcorder.records import Step, encode_chunk
from playcorder.subjects import Subjects

from .metrics import CHUNKS_PUBLISHED

log = logging.getLogger(__name__)
_CLOSE = object()
_HEADROOM = 4096  # bytes of a JetStream message beyond its payload: subject, headers
# zstd level of recorded chunks: 1 compresses a Pong chunk ~2x faster than 3 for ~10% more bytes (the step path's
# CPU is what limits players per core; S3 bytes are cheap)
CHUNK_LEVEL = 1
OMITTED_INFO = "playcorder_omitted"  # info key of a step stored without parts of it, saying which and why


@dataclass(frozen=True)
class _Steps:
    since: float  # when the first of them was added (time.monotonic)
    steps: list[Step]


class RecordingPublisher:
    def __init__(
        self, js: JetStreamContext, subjects: Subjects, *, max_steps: int, max_age: float, max_payload: int,
    ) -> None:
        self.js, self.subjects = js, subjects
        self.max_steps, self.max_age, self.max_payload = max_steps, max_age, max_payload
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        # steps not yet handed to the publisher task: they go over in lists, a chunk's worth (or its age) at a
        # time, not one queue item and one task wake-up per step; anything else queued hands them over first
        self._pending: list[Step] = []
        self._pending_since = 0.0
        self._buffer: list[Step] = []
        self._buffer_since = 0.0
        self._episode: EpisodeBegin | None = None
        self._seq = 0
        self.open_episodes: set[str] = set()  # begun, end not yet acknowledged by JetStream
        self.error: Exception | None = None  # why publishing stopped, if it did
        self._task = asyncio.create_task(self._run())

    # ---------------------------------------------------------------- called by the session (never blocks)
    def begin(self, begin: EpisodeBegin) -> None:
        if self.error is not None:
            raise RuntimeError(f"Expected the recording to go on, but it failed: {self.error}")
        self.open_episodes.add(begin.episode_id)
        self._put(begin)

    def add(self, step: Step) -> None:
        if self.error is not None:
            raise RuntimeError(f"Expected the recording to go on, but it failed: {self.error}")
        now = time.monotonic()
        if not self._pending:
            self._pending_since = now
        self._pending.append(step)
        if len(self._pending) + len(self._buffer) >= self.max_steps or now - self._pending_since > self.max_age:
            self._hand_over()

    def end(self, end: EpisodeEnd) -> None:
        self._put(end)

    def flush_if_stale(self) -> None:
        """Called periodically so a paused participant's last steps still reach the recorder."""
        now = time.monotonic()
        if (self._pending and now - self._pending_since > self.max_age) or (
                self._buffer and now - self._buffer_since > self.max_age):
            self._put("flush")

    async def close(self) -> None:
        self._put(_CLOSE)
        await self._task

    def _hand_over(self) -> None:
        if self._pending:
            steps, self._pending = self._pending, []
            self._queue.put_nowait(_Steps(self._pending_since, steps))

    def _put(self, item: Any) -> None:
        self._hand_over()  # the steps added before it go first
        self._queue.put_nowait(item)

    # ---------------------------------------------------------------- publisher task
    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            if item is _CLOSE:
                return
            try:
                await self._handle(item)
            except Exception as err:  # e.g. one step larger than NATS accepts: retrying cannot help
                log.exception("recording publisher failed on %s", type(item).__name__)
                self.error = err
                await self._give_up(err)
                return

    async def _give_up(self, err: Exception) -> None:
        """End the episode being published as interrupted, with the chunks already out; nothing more is taken."""
        if self._episode is not None:
            eid = self._episode.episode_id
            await self._publish_end(EpisodeEnd(
                episode_id=eid, state="interrupted", reason=f"recording_failed: {err}"[:500], num_steps=0,
                num_chunks=self._seq, total_reward=0.0, ended_at=datetime.now(UTC)))
        self.open_episodes.clear()

    async def _handle(self, item: Any) -> None:
        if isinstance(item, EpisodeBegin):
            self._episode, self._seq = item, 0
            await self._publish(self.subjects.record(item.episode_id, "begin"), item.model_dump_json().encode(),
                                f"{item.episode_id}.begin")
        elif isinstance(item, _Steps):  # in order (add)
            for step in item.steps:
                if not self._buffer:
                    self._buffer_since = item.since
                self._buffer.append(step)
                if len(self._buffer) >= self.max_steps:
                    await self._flush()
            if self._buffer and time.monotonic() - self._buffer_since > self.max_age:
                await self._flush()
        elif isinstance(item, EpisodeEnd):
            await self._flush()
            await self._publish_end(item.model_copy(update={"num_chunks": self._seq}))
            self._episode = None
            self.open_episodes.discard(item.episode_id)
        elif item == "flush":
            await self._flush()

    async def _flush(self) -> None:
        if not self._buffer or self._episode is None:
            return
        steps, self._buffer = self._buffer, []
        eid = self._episode.episode_id
        chunks, error = await asyncio.to_thread(self._encode, self._episode, self._seq, steps)
        for data in chunks:  # the steps before one that cannot be stored are kept
            await self._publish(self.subjects.record(eid, "chunk"), data, f"{eid}.chunk.{self._seq}")
            CHUNKS_PUBLISHED.inc()
            self._seq += 1
            CHUNKS_PUBLISHED.inc()
        if error is not None:
            raise error

    def _fits(self, data: bytes) -> bool:
        return len(data) <= self.max_payload - _HEADROOM

    def _encode(self, ep: EpisodeBegin, seq: int, steps: list[Step]) -> tuple[list[bytes], Exception | None]:
        """Chunks seq, seq+1, ... below the payload limit, in order: a batch that compresses too poorly is split,
        a step too large alone is stored without its display image (then its info too). Returns the chunks of all
        steps, or of those before a step that does not fit even so, with the error naming it."""
        chunks: list[bytes] = []
        pending = [steps]
        while pending:
            batch = pending.pop(0)
            data = encode_chunk(ep.episode_id, seq + len(chunks), batch, ep.observation_spec, ep.action_spec,
                                level=CHUNK_LEVEL)
            if self._fits(data):
                chunks.append(data)
            elif len(batch) > 1:
                pending[:0] = [batch[:len(batch) // 2], batch[len(batch) // 2:]]
            elif slim := self._slimmed(ep, seq + len(chunks), batch[0], len(data)):
                chunks.append(slim)
            else:
                return chunks, ValueError(f"Expected one step to fit in {self.max_payload} bytes, got {len(data)} "
                                          f"(step {batch[0].index}, without its image and info too); raise NATS "
                                          f"max_payload or make the environment's observations smaller")
        return chunks, None

    def _slimmed(self, ep: EpisodeBegin, seq: int, step: Step, size: int) -> bytes | None:
        """The step as one chunk without what a dataset can do without, or None if it still does not fit."""
        note = f"step of {size} bytes too large for a chunk of {self.max_payload}"
        for omitted in ("image", "image and info"):
            info = step.info if omitted == "image" else {}
            slim = replace(step, image=None, info={**info, OMITTED_INFO: f"{omitted}: {note}"})
            data = encode_chunk(ep.episode_id, seq, [slim], ep.observation_spec, ep.action_spec, level=CHUNK_LEVEL)
            if self._fits(data):
                log.warning("episode %s step %d stored without its %s: %s", ep.episode_id, step.index, omitted, note)
                return data
        return None

    async def _publish_end(self, end: EpisodeEnd) -> None:
        await self._publish(self.subjects.record(end.episode_id, "end"), end.model_dump_json().encode(),
                            f"{end.episode_id}.end")

    async def _publish(self, subject: str, data: bytes, msg_id: str) -> None:
        delay = 0.1
        while True:
            try:
                await self.js.publish(subject, data, headers={"Nats-Msg-Id": msg_id}, timeout=5)
                return
            except Exception as err:  # timeouts, reconnects, a restarted server: retry, dedupe keeps it once
                log.warning("publish %s failed (%s); retrying in %.1fs", msg_id, err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
