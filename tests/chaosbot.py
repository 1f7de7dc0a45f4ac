"""A bot that keeps playing while servers fail around it. It plays realtime (the worker steps whatever reaches the
bot), acts on the session's state events as a participant would, reconnects when its session is lost, and notes
the step count the worker reported for every episode it saw end. It never asks for a lost event again itself: the
gateway and worker re-send state after a NATS reconnect, and that is part of what the bot tests."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import websockets

from playcorder.sdk.bot import ws_url

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection


@dataclass
class ChaosBot:
    url: str
    token: str
    env: str
    seed: int
    ended: dict[str, int] = field(default_factory=dict)  # episode id -> num_steps the worker reported
    sessions: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        rng = random.Random(self.seed)
        while not stop.is_set():
            try:
                await self._session(rng, stop)
            except (TimeoutError, OSError, websockets.ConnectionClosed):
                await asyncio.sleep(0.5)  # the gateway lost its worker: start a new session

    async def _session(self, rng: random.Random, stop: asyncio.Event) -> None:
        async with websockets.connect(ws_url(self.url, self.token), max_size=None, close_timeout=1) as ws:
            self.sessions += 1
            session = _Session(ws, rng, stop, self.ended)
            await session.send(type="select_env", env=self.env)
            while True:
                try:
                    message = await asyncio.wait_for(ws.recv(), 1.0)
                except TimeoutError:  # frames lost in a NATS restart: keep the (realtime) episode going
                    await session.keep_going()
                    continue
                if isinstance(message, bytes):
                    await session.on_frame()
                elif await session.on_event(json.loads(message)):
                    return


class _Session:
    """One WebSocket session's play: the last state the worker reported, and whether the bot is ending an episode."""

    def __init__(self, ws: ClientConnection, rng: random.Random, stop: asyncio.Event, ended: dict[str, int]) -> None:
        self.ws, self.rng, self.stop, self.ended = ws, rng, stop, ended
        self.frames, self.state, self.ending = 0, "idle", False

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def act(self) -> None:
        await self.send(type="action", action=self.rng.randrange(6))

    async def keep_going(self) -> None:
        if self.state in ("running", "paused"):
            await self.act()

    async def on_frame(self) -> None:
        self.frames += 1
        if self.stop.is_set() and not self.ending and self.state == "running":
            self.ending = True
            await self.send(type="end_episode", save=True)
        elif self.frames % 10 == 0:
            await self.act()

    async def on_event(self, event: dict[str, Any]) -> bool:
        """Act on one JSON event; True when the session is over."""
        kind = event["type"]
        if kind == "state":
            return await self._on_state(event["state"])
        if kind == "episode_ended":
            self.ended[event["episode_id"]] = event["num_steps"]
            return False
        return kind == "session_ended" or (kind == "error" and event["code"] in ("worker_lost", "session_failed"))

    async def _on_state(self, state: str) -> bool:
        self.state = state
        if state == "paused":
            await self.act()
        elif state == "awaiting_save":
            await self.send(type="save", save=True)
        elif state == "idle" and self.stop.is_set():
            await self.send(type="close")
            return True
        elif state == "idle":
            self.ending = False
            await self.send(type="new_episode")
        return False
