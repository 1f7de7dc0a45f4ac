"""The relay of one play WebSocket: events in order, display frames dropped when the client is slow, and liveness
both ways (keepalives to the worker, the worker's signals watched).

Recorded steps never pass through here, so a slow client costs only display frames, never data. A session its
worker ended because it drains (session_ended, reason worker_draining) is not the client's end: that event is kept
from it, and the relay ends MOVED (routes/play.py places the participant on another worker, same socket).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from enum import StrEnum

from fastapi import WebSocket, WebSocketDisconnect
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from playcorder.messages import WORKER_DRAINING, CloseSession, Detach, ErrorEvent, Keepalive, SessionEnded

from .metrics import FRAMES_DROPPED, FRAMES_SENT
from .settings import Settings

# Events after which the worker has ended the session: deliver them, then close the socket.
FINAL_EVENTS = (b'{"type":"session_ended"', b'{"type":"error","code":"env_failed"',
                b'{"type":"error","code":"session_failed"')
MOVED_EVENT = SessionEnded(reason=WORKER_DRAINING).model_dump_json().encode()  # its worker drains: not relayed
_EPISODE_STARTED = b'{"type":"episode_started"'
# Close codes of a client that meant to leave: its session ends. Any other end of the socket (dropped, which
# uvicorn reports as 1005; 1001 going away; a gateway shutting down) leaves the session to its worker for a grace.
DELIBERATE_CLOSES = (1000,)
_WATCH_S = 0.1
log = logging.getLogger(__name__)
_EVENT, _FRAME, _INPUT = 0, 1, 2  # what an OutgoingQueue holds


class Outcome(StrEnum):
    CLOSED = "closed"  # the client closed: the worker ends the session
    FINISHED = "finished"  # the worker ended the session
    WORKER_LOST = "worker_lost"
    DETACHED = "detached"  # the socket dropped: the worker pauses and keeps the session for its resume grace
    MOVED = "moved"  # the worker drains and ended the session: the participant plays on elsewhere, same socket


class OutgoingQueue:
    """What goes to one client, in order: events always, display frames (and a watcher's copies of the
    participant's input) only the latest few, the oldest dropped first when the client reads too slowly."""

    def __init__(self, max_frames: int, max_inputs: int = 0, socket: str = "play") -> None:
        self.max_frames, self.max_inputs = max_frames, max_inputs
        self._dropped_metric, self._sent_metric = FRAMES_DROPPED.labels(socket), FRAMES_SENT.labels(socket)
        self._items: deque[tuple[int, bytes]] = deque()  # (kind, payload)
        self._queued = {_FRAME: 0, _INPUT: 0}
        self._ready = asyncio.Event()
        self.dropped_frames = 0
        self.dropped_inputs = 0
        self.last_heard = asyncio.get_running_loop().time()  # from the worker: a frame, an event or its signal
        self.moves = socket == "play"  # a watcher is shown MOVED_EVENT: the session it watches is over
        self.moved = False  # the worker ended the session as it drains (MOVED_EVENT, kept from the client)
        self.episode_shown = False  # an episode_started event has gone to the client
        self.ready = socket != "play"  # a player's worker sent its `session` event: its environment is built

    async def from_worker(self, msg: Msg) -> None:
        """Callback of the session's out.* subscription."""
        self.last_heard = asyncio.get_running_loop().time()
        kind = msg.subject.rsplit(".", 1)[-1]
        if kind == "frame":
            self.put_frame(msg.data)
        elif kind == "event":
            self.ready = self.ready or b'"type":"session"' in msg.data[:64]
            self.put_event(msg.data)

    def _put_droppable(self, kind: int, data: bytes, most: int) -> bool:
        """Queue `data`; whether an older one of its kind was dropped for it."""
        dropped = False
        if self._queued[kind] >= most:
            for i, (k, _) in enumerate(self._items):
                if k == kind:
                    del self._items[i]
                    self._queued[kind] -= 1
                    dropped = True
                    break
        self._items.append((kind, data))
        self._queued[kind] += 1
        self._ready.set()
        return dropped

    def put_frame(self, data: bytes) -> None:
        if self._put_droppable(_FRAME, data, self.max_frames):
            self.dropped_frames += 1
            self._dropped_metric.inc()

    def put_input(self, text: bytes) -> None:
        """A JSON text message that may be dropped like a frame (a watcher's copy of the participant's input)."""
        self.dropped_inputs += self._put_droppable(_INPUT, text, self.max_inputs)

    def put_event(self, data: bytes) -> None:
        self._items.append((_EVENT, data))
        self._ready.set()

    async def pump(self, ws: WebSocket) -> None:
        while True:
            await self._ready.wait()
            while self._items:
                kind, data = self._items.popleft()
                if kind == _FRAME:
                    self._queued[kind] -= 1
                    await ws.send_bytes(data)
                    self._sent_metric.inc()
                    continue
                if kind == _INPUT:
                    self._queued[kind] -= 1
                if kind == _EVENT and self.moves and data == MOVED_EVENT:
                    self.moved = True
                    return
                await ws.send_text(data.decode())
                if kind == _EVENT and data.startswith(_EPISODE_STARTED):
                    self.episode_shown = True
                if kind == _EVENT and data.startswith(FINAL_EVENTS):
                    return
            self._ready.clear()


class Liveness:
    """Keepalives to the session's worker, and the watch on it and on our own NATS connection."""

    def __init__(self, ws: WebSocket, nc: NATS, input_subject: str, worker_id: str, out: OutgoingQueue,
                 settings: Settings, on_silence: Callable[[float], Awaitable[None]] | None = None) -> None:
        self.ws, self.nc, self.input_subject, self.worker_id, self.out = ws, nc, input_subject, worker_id, out
        self.settings = settings
        self.on_silence = on_silence or self._worker_lost

    async def keepalive(self) -> None:
        payload = Keepalive().model_dump_json().encode()
        while True:
            if self.nc.is_connected:
                await self.nc.publish(self.input_subject, payload)
            await asyncio.sleep(self.settings.keepalive_interval)

    async def watch(self) -> None:
        """Returns once the worker is silent past WORKER_SILENCE (the client told by `on_silence`, by default that
        the worker is lost); tells the client while NATS is unreachable."""
        loop, cut_off = asyncio.get_running_loop(), False
        while True:
            await asyncio.sleep(_WATCH_S)
            if not self.nc.is_connected:
                if not cut_off:
                    cut_off = True
                    retry = self.settings.reconnect_retry
                    await self._error("connection_lost", "The gateway lost its connection to the workers; it resyncs "
                                      f"this session when back (or reconnect in {retry:g} s)", retry)
                continue
            if cut_off:  # reconnected (app.py asks the worker to resync): give the worker time to be heard again
                cut_off, self.out.last_heard = False, loop.time()
            silent = loop.time() - self.out.last_heard
            # building an env may hold the worker's GIL for seconds (robosuite): more patience until it is built
            limit = self.settings.worker_silence if self.out.ready else max(self.settings.worker_silence,
                                                                            self.settings.open_silence)
            if silent > limit:
                await self.on_silence(silent)
                return

    async def _worker_lost(self, silent: float) -> None:
        await self._error("worker_lost", f"The worker running this session ({self.worker_id}) stopped answering: "
                          f"nothing heard for {silent:.1f} s; start a new session")

    async def _error(self, code: str, message: str, retry_after: float | None = None) -> None:
        await self.ws.send_text(ErrorEvent(code=code, message=message, retry_after=retry_after).model_dump_json())

    async def end(self, outcome: Outcome, flush: bool = False) -> None:
        """Tell the worker how the relay ended: a dropped client's session is kept for its resume. With `flush`, once
        NATS has it (the client is about to be told to reconnect, perhaps through another gateway)."""
        if outcome == Outcome.DETACHED:
            await self.nc.publish(self.input_subject, Detach().model_dump_json().encode())
            if flush:
                try:
                    await self.nc.flush(timeout=1)
                except Exception as err:  # NATS away: the worker hears of it as its keepalives stop
                    log.warning("flushing the detach of %s failed: %r", self.input_subject, err)
        elif outcome != Outcome.FINISHED:  # closed by the client; or a silent worker, perhaps not dead, must not
            # keep the session
            await self.nc.publish(self.input_subject, CloseSession(type="close").model_dump_json().encode())


def disconnect_outcome(err: WebSocketDisconnect) -> Outcome:
    return Outcome.CLOSED if err.code in DELIBERATE_CLOSES else Outcome.DETACHED
