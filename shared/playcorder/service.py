"""Running a service process: logging and uvicorn, the same way for all four services."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

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


def serve(name: str, create_app: Callable[[ServiceSettings], FastAPI], settings: ServiceSettings, host: str, port: int,
          notsent_lowat: int | None = None, ws_max_size: int = 16 * 1024 * 1024) -> None:
    """Run the app; ws_max_size: bytes of one WebSocket message read at all (larger ones close with 1009)."""
    logging.basicConfig(level=settings.log_level, format=f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s")
    # No permessage-deflate: frames are JPEG already, and deflating them cost the gateway ~10% of its CPU.
    config = uvicorn.Config(create_app(settings), log_level=settings.log_level.lower(), ws="websockets-sansio",
                            ws_per_message_deflate=False, ws_max_size=ws_max_size)
    uvicorn.Server(config).run(sockets=[listen_socket(host, port, notsent_lowat)])
