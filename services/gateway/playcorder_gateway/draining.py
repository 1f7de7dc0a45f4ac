"""Draining a gateway told to stop (SIGTERM, as Kubernetes sends after the pod's preStop): its clients reconnect to
another replica and resume, instead of all dropping at the same instant.

At the first SIGTERM /readyz answers 503 (a load balancer stops sending new connections), a new WebSocket is
accepted only to be closed with CLOSE_RESTART (1012, "service restart") and its reason, and each open play or watch
socket is asked to leave, one after the other over GATEWAY_DRAIN_SPREAD seconds so that thousands of clients do not
reconnect in the same millisecond. A play socket that leaves first tells its session's worker that the relay ended
as detached (the session waits for its resume) and only then closes with CLOSE_RESTART: the client reconnects
(through the Service, to another gateway) and sends resume_session. The drain is over once every socket has left,
or after GATEWAY_DRAIN_TIMEOUT seconds, or at once at a second SIGTERM (the sockets left are asked at once); then
the server shuts down (uvicorn closes whatever is still open with 1012 too)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import WebSocket

log = logging.getLogger(__name__)

CLOSE_RESTART = 1012  # RFC 6455 "service restart": reconnect (to another replica) and resume
RESTART_REASON = "gateway restarting: reconnect and resume"  # at most 123 bytes, the WebSocket limit


class Leave:
    """One socket's part in the drain: set once the gateway asks it to close."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()

    async def wait(self) -> None:
        await self.asked.wait()

    def leaving(self, detached: bool) -> bool:
        """Whether a relay that ended (`detached` or not) closes with CLOSE_RESTART."""
        return detached and self.asked.is_set()


class Leaving(Exception):
    """The gateway drains: this socket is to close with CLOSE_RESTART."""


class Drain:
    """The gateway's open sockets (`hold` one while it is open) and, from `begin`, their spread-out closing."""

    def __init__(self, spread: float, timeout: float) -> None:
        self.spread, self.timeout = spread, timeout
        self.draining = False
        self._held: dict[Leave, None] = {}  # in the order the sockets opened
        self._hurry = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()

    @property
    def sockets(self) -> int:
        return len(self._held)

    @contextmanager
    def hold(self) -> Iterator[Leave]:
        """While a socket is open; asked at once if the gateway drains already."""
        leave = Leave()
        if self.draining:
            leave.asked.set()
        self._held[leave] = None
        self._empty.clear()
        try:
            yield leave
        finally:
            self._held.pop(leave, None)
            if not self._held:
                self._empty.set()

    def hurry(self) -> None:
        """A second SIGTERM: ask every socket left now."""
        self._hurry.set()

    async def run(self) -> None:
        """Ask each socket to leave, spread over `spread` seconds; return once all have closed, or after `timeout`."""
        self.draining = True
        loop = asyncio.get_running_loop()
        start, queue = loop.time(), list(self._held)
        log.info("draining: asking %d sockets to reconnect elsewhere within %g s", len(queue), self.spread)
        try:
            await asyncio.wait_for(self._ask(queue, start), self.timeout)
            await asyncio.wait_for(self._empty.wait(), max(0.0, start + self.timeout - loop.time()))
        except TimeoutError:
            log.warning("drain timeout (%g s) over with %d sockets still open", self.timeout, len(self._held))
        else:
            log.info("drained: every socket closed in %.2f s", loop.time() - start)

    async def _ask(self, queue: list[Leave], start: float) -> None:
        loop = asyncio.get_running_loop()
        for i, leave in enumerate(queue):
            due = start + self.spread * i / len(queue)
            if not self._hurry.is_set() and (wait := due - loop.time()) > 0:
                try:
                    await asyncio.wait_for(self._hurry.wait(), wait)
                except TimeoutError:
                    pass
            leave.asked.set()


async def refuse(ws: WebSocket, subprotocol: str | None) -> None:
    """A socket opened while the gateway drains: accepted (with the subprotocol it asked for: a browser fails a
    handshake without it) only to be told to reconnect elsewhere."""
    await ws.accept(subprotocol=subprotocol)
    await ws.close(CLOSE_RESTART, RESTART_REASON)


async def receive(ws: WebSocket, leave: Leave | None) -> dict[str, object]:
    """ws.receive(), unless the gateway asks the socket to leave first (raises Leaving)."""
    if leave is None:
        return await ws.receive()
    if leave.asked.is_set():
        raise Leaving
    receiving, asked = asyncio.ensure_future(ws.receive()), asyncio.ensure_future(leave.wait())
    try:
        await asyncio.wait([receiving, asked], return_when=asyncio.FIRST_COMPLETED)
    finally:
        asked.cancel()
        if not receiving.done():
            receiving.cancel()
    if receiving.done() and not receiving.cancelled():
        return receiving.result()  # a message that arrived as the drain asked: not lost
    raise Leaving
