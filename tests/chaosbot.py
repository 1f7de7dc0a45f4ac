"""A bot that keeps playing while servers fail around it. It plays realtime (the worker steps whatever reaches the
bot), acts on the session's state events as a participant would, reconnects when its session is lost, and notes
the step count the worker reported for every episode it saw end. It never asks for a lost event again itself: the
gateway and worker re-send state after a NATS reconnect, and that is part of what the bot tests."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from typing import Any

import websockets

from playcorder.sdk.bot import ws_url


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

            async def send(**message: Any) -> None:
                await ws.send(json.dumps(message))

            await send(type="select_env", env=self.env)
            frames, state, ending = 0, "idle", False
            while True:
                try:
                    message = await asyncio.wait_for(ws.recv(), 1.0)
                except TimeoutError:  # frames lost in a NATS restart: keep the (realtime) episode going
                    if state in ("running", "paused"):
                        await send(type="action", action=rng.randrange(6))
                    continue
                if isinstance(message, bytes):
                    frames += 1
                    if stop.is_set() and not ending and state == "running":
                        ending = True
                        await send(type="end_episode", save=True)
                    elif frames % 10 == 0:
                        await send(type="action", action=rng.randrange(6))
                    continue
                event = json.loads(message)
                kind = event["type"]
                if kind == "state":
                    state = event["state"]
                    if state == "paused":
                        await send(type="action", action=rng.randrange(6))
                    elif state == "awaiting_save":
                        await send(type="save", save=True)
                    elif state == "idle" and stop.is_set():
                        await send(type="close")
                        return
                    elif state == "idle":
                        ending = False
                        await send(type="new_episode")
                elif kind == "episode_ended":
                    self.ended[event["episode_id"]] = event["num_steps"]
                elif kind == "session_ended" or (kind == "error"
                                                 and event["code"] in ("worker_lost", "session_failed")):
                    return
