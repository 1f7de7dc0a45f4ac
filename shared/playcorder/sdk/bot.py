"""A bot participant: plays through the same WebSocket protocol as the browser, with a random policy."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

import numpy as np
import websockets

from playcorder import frames
from playcorder.records import jsonable
from playcorder.spaces import Spec, sample


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
    summary = BotSummary()
    async with websockets.connect(ws_url(base_url, token), max_size=None) as ws:
        await ws.send(json.dumps({"type": "select_env", "env": env}))
        space: Spec | None = None
        rng = np.random.default_rng(seed)
        ending = False

        async def send(message: dict[str, Any]) -> None:
            await ws.send(json.dumps(message))

        while True:
            message = await asyncio.wait_for(ws.recv(), timeout)
            if isinstance(message, bytes):
                frame = frames.unpack(message)
                summary.frames += 1
                if frame.is_last or ending or space is None:
                    continue
                if max_steps is not None and frame.step >= max_steps:
                    ending = True
                    await send({"type": "end_episode", "save": True})
                    continue
                await send({"type": "action", "action": jsonable(sample(space, rng)), "keys": []})
                summary.actions += 1
                continue
            event = json.loads(message)
            kind = event["type"]
            if kind == "error":
                raise BotError(f"{event['code']}: {event['message']}")
            if kind == "session_ended":
                raise BotError(f"the worker ended the session: {event['reason']}")
            if kind == "session":
                space = event["action_space"]
            elif kind == "episode_started":
                ending = False
            elif kind == "episode_finished":
                await send({"type": "save", "save": True})
            elif kind == "episode_ended":
                summary.episodes += 1
                summary.steps += event["num_steps"]
                summary.episode_details.append({k: event[k] for k in ("episode_id", "state", "reason", "num_steps", "total_reward")})
                if summary.episodes >= episodes:
                    await send({"type": "close"})
                    return summary
                await send({"type": "new_episode"})
