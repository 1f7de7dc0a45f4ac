"""The outgoing side of one play WebSocket: events in order, display frames dropped when the client is slow.

Recorded steps never pass through here, so a slow client costs only display frames, never data.
"""

from __future__ import annotations

import asyncio
from collections import deque

from fastapi import WebSocket

# Events after which the worker has ended the session: deliver them, then close the socket.
FINAL_EVENTS = (b'{"type":"session_ended"', b'{"type":"error","code":"env_failed"',
                b'{"type":"error","code":"session_failed"')


class OutgoingQueue:
    def __init__(self, max_frames: int) -> None:
        self.max_frames = max_frames
        self._items: deque[tuple[bool, bytes]] = deque()  # (is_frame, payload)
        self._frames = 0
        self._ready = asyncio.Event()
        self.dropped_frames = 0

    def put_frame(self, data: bytes) -> None:
        if self._frames >= self.max_frames:
            for i, (is_frame, _) in enumerate(self._items):
                if is_frame:
                    del self._items[i]
                    self._frames -= 1
                    self.dropped_frames += 1
                    break
        self._items.append((True, data))
        self._frames += 1
        self._ready.set()

    def put_event(self, data: bytes) -> None:
        self._items.append((False, data))
        self._ready.set()

    async def pump(self, ws: WebSocket) -> None:
        while True:
            await self._ready.wait()
            while self._items:
                is_frame, data = self._items.popleft()
                if is_frame:
                    self._frames -= 1
                    await ws.send_bytes(data)
                else:
                    await ws.send_text(data.decode())
                    if data.startswith(FINAL_EVENTS):
                        return
            self._ready.clear()
