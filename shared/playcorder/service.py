"""Running a service process: logging and uvicorn, the same way for all four services."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI

from .settings import ServiceSettings


def listen_socket(host: str, port: int, notsent_lowat: int | None = None) -> socket.socket:
    """A listening TCP socket; with notsent_lowat, every accepted connection keeps at most that many bytes queued
    in the kernel unsent. Without it Linux queues up to ~4 MiB per socket: seconds of stale video for a client on
    a slow link, and the application never sees the backpressure it needs to drop frames instead."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if notsent_lowat is not None and hasattr(socket, "TCP_NOTSENT_LOWAT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, notsent_lowat)  # accepted sockets inherit it
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, except that SIGTERM or SIGINT while the app is still starting (waiting for NATS,
    PostgreSQL or S3 to come up) ends the start at once. uvicorn alone notes the signal and waits for the start to
    finish, forever if a server never comes, and Kubernetes then waits out the pod's whole grace period. Nothing
    needs draining before the app has started; once it has, signals are uvicorn's (or the app's) as before."""

    _starting: asyncio.Task[None] | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _cut_short: list[int] = []

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._starting, self._loop, self._cut_short = asyncio.current_task(), asyncio.get_running_loop(), []
        try:
            await super().serve(sockets)
        except asyncio.CancelledError:
            if not self._cut_short:
                raise
            for sig in self._cut_short:  # the handlers are restored by now: end as that signal ends a process
                signal.raise_signal(sig)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if not self.started and not self._cut_short and self._starting is not None and self._loop is not None:
            self._cut_short.append(sig)
            logging.getLogger(__name__).info("signal %d while starting: stopping without waiting for the start", sig)
            # The cancelled start's traceback (starlette reports it as a failed start) says nothing more.
            logging.getLogger("uvicorn.error").addFilter(lambda r: "CancelledError" not in r.getMessage())
            self._loop.call_soon_threadsafe(self._starting.cancel)


def serve(name: str, create_app: Callable[[ServiceSettings], FastAPI], settings: ServiceSettings, host: str, port: int,
          notsent_lowat: int | None = None, ws_max_size: int = 16 * 1024 * 1024,
          forwarded_allow_ips: str | None = None) -> None:
    """Run the app; ws_max_size: bytes of one WebSocket message read at all (larger ones close with 1009);
    forwarded_allow_ips: the proxies whose X-Forwarded-For is the client's address (None: uvicorn's default)."""
    logging.basicConfig(level=settings.log_level, format=f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s")
    # No permessage-deflate: frames are JPEG already, and deflating them cost the gateway ~10% of its CPU.
    config = uvicorn.Config(create_app(settings), log_level=settings.log_level.lower(), ws="websockets-sansio",
                            ws_per_message_deflate=False, ws_max_size=ws_max_size,
                            forwarded_allow_ips=forwarded_allow_ips)
    _Server(config).run(sockets=[listen_socket(host, port, notsent_lowat)])
