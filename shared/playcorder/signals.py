"""Draining on SIGTERM, as Kubernetes sends before it removes a pod: the first SIGTERM begins the service's drain
instead of shutting the server down at once; the server shuts down once the drain is over. Used by the env-worker
(its players finish their episodes) and the gateway (its WebSockets are closed for the clients to reconnect)."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


@contextmanager
def on_sigterm(start: Callable[[], None], hurry: Callable[[], None], done: asyncio.Future[None]) -> Iterator[None]:
    """While inside: the first SIGTERM calls `start` (which begins the drain), a second `hurry`; once `done` is
    resolved, SIGTERM goes back to the handler that was there before (uvicorn's, which shuts the server down and
    so the app, whose lifespan stops the worker), and it is called, as the SIGTERM it was meant for."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only (tests)
        yield
        return
    loop = asyncio.get_running_loop()
    received = 0

    def handle(sig: int, frame: FrameType | None) -> None:  # runs in the main thread, between bytecodes
        nonlocal received
        received += 1
        loop.call_soon_threadsafe(start if received == 1 else hurry)

    def restore(_: Any = None) -> None:
        if signal.getsignal(signal.SIGTERM) is handle:
            signal.signal(signal.SIGTERM, previous)

    previous = signal.signal(signal.SIGTERM, handle)

    def drained(future: asyncio.Future[None]) -> None:
        restore()
        if callable(previous):
            previous(signal.SIGTERM, None)
        else:  # nobody handled it before us (not under uvicorn): the default, exit
            signal.raise_signal(signal.SIGTERM)

    done.add_done_callback(drained)
    try:
        yield
    finally:
        done.remove_done_callback(drained)
        restore()
