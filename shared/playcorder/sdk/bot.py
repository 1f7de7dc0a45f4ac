"""A bot participant: plays through the same WebSocket protocol as the browser, with a random policy."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np
import websockets

from playcorder import frames
from playcorder.records import jsonable
from playcorder.spaces import Spec, sample

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

# What BotSummary.episode_details keeps of each episode_ended event.
_EPISODE_DETAILS = ("episode_id", "state", "reason", "num_steps", "total_reward")


class BotError(Exception):
    pass


@dataclass
class BotSummary:
    episodes: int = 0
    steps: int = 0
    frames: int = 0
    actions: int = 0
    episode_details: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ws_url(base_url: str, token: str) -> str:
    scheme = "wss" if base_url.startswith("https") else "ws"
    return f"{scheme}://{base_url.split('://', 1)[1].rstrip('/')}/ws/play?token={quote(token)}"


async def play(base_url: str, token: str, env: str, episodes: int, max_steps: int | None = None,
               seed: int | None = None, timeout: float = 60.0) -> BotSummary:
    """Play `episodes` episodes, acting on every frame; with max_steps the bot ends (and saves) an episode early.

    Works in both modes: turn-based, each action is one step; realtime, the worker steps at its fps with the
    bot's latest action held. Finished episodes are kept (`save`), as a participant confirming would.
    """
    async with websockets.connect(ws_url(base_url, token), max_size=None) as ws:
        await ws.send(json.dumps({"type": "select_env", "env": env}))
        bot = _Bot(ws, episodes, max_steps, seed)
        while True:
            message = await asyncio.wait_for(ws.recv(), timeout)
            if isinstance(message, bytes):
                await bot.on_frame(message)
            elif await bot.on_event(json.loads(message)):
                return bot.summary


class _Bot:
    """One session's play: the action space once the session is ready, and whether an episode is being ended."""

    def __init__(self, ws: ClientConnection, episodes: int, max_steps: int | None, seed: int | None) -> None:
        self.ws, self.episodes, self.max_steps = ws, episodes, max_steps
        self.summary = BotSummary()
        self.space: Spec | None = None
        self.rng = np.random.default_rng(seed)
        self.ending = False

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def on_frame(self, message: bytes) -> None:
        frame = frames.unpack(message)
        self.summary.frames += 1
        if frame.is_last or self.ending or self.space is None:
            return
        if self.max_steps is not None and frame.step >= self.max_steps:
            self.ending = True
            await self.send({"type": "end_episode", "save": True})
            return
        await self.send({"type": "action", "action": jsonable(sample(self.space, self.rng)), "keys": []})
        self.summary.actions += 1

    async def on_event(self, event: dict[str, Any]) -> bool:
        """Act on one JSON event; True once every episode is played (and the session closed)."""
        kind = event["type"]
        if kind == "error":
            raise BotError(f"{event['code']}: {event['message']}")
        if kind == "session_ended":
            raise BotError(f"the worker ended the session: {event['reason']}")
        if kind == "session":
            self.space = event["action_space"]
        elif kind == "episode_started":
            self.ending = False
        elif kind == "episode_finished":
            await self.send({"type": "save", "save": True})
        elif kind == "episode_ended":
            return await self._episode_ended(event)
        return False

    async def _episode_ended(self, event: dict[str, Any]) -> bool:
        summary = self.summary
        summary.episodes += 1
        summary.steps += event["num_steps"]
        summary.episode_details.append({k: event[k] for k in _EPISODE_DETAILS})
        if summary.episodes >= self.episodes:
            await self.send({"type": "close"})
            return True
        await self.send({"type": "new_episode"})
        return False
