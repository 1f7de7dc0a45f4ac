"""A small test client for the play WebSocket: keeps events and frames apart, waits for a given event."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from playcorder import frames
from playcorder.sdk.bot import connect


class Player:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.frames: list[frames.Frame] = []

    @classmethod
    async def join(cls, url: str, token: str, env: str) -> Player:
        player = cls(await connect(url, token))
        await player.send(type="select_env", env=env)
        return player

    @classmethod
    async def resume(cls, url: str, token: str, session_id: str) -> Player:
        player = cls(await connect(url, token))
        await player.send(type="resume_session", session_id=session_id)
        return player

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def _receive(self, timeout: float) -> Any:
        message = await asyncio.wait_for(self.ws.recv(), timeout)
        if isinstance(message, bytes):
            frame = frames.unpack(message)
            self.frames.append(frame)
            return frame
        event = json.loads(message)
        self.events.append(event)
        return event

    async def until(self, kind: str, timeout: float = 30.0, **fields: Any) -> Any:
        """Read until an event of `kind` (with these field values) or, for kind="frame", a frame arrives."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            item = await self._receive(max(0.01, deadline - loop.time()))
            if kind == "frame" and isinstance(item, frames.Frame):
                return item
            if isinstance(item, dict) and item["type"] == kind and all(item.get(k) == v for k, v in fields.items()):
                return item
            if isinstance(item, dict) and item["type"] == "error" and kind != "error":
                raise AssertionError(f"unexpected error while waiting for {kind}: {item}")

    async def drain(self, seconds: float) -> int:
        """Read everything for a while; returns the number of frames received."""
        loop = asyncio.get_running_loop()
        end, before = loop.time() + seconds, len(self.frames)
        while (left := end - loop.time()) > 0:
            try:
                await self._receive(left)
            except TimeoutError:
                break
        return len(self.frames) - before

    async def close(self) -> None:
        await self.ws.close()

    def drop(self) -> None:
        """Lose the connection without a close handshake, as a network failure would."""
        self.ws.transport.abort()


async def play_episode(url: str, token: str, env: str, actions: list[Any], save: bool = True) -> str:
    """One turn-based episode of these actions, then kept (save) or cancelled; returns its id."""
    player = await Player.join(url, token, env)
    episode_id = str((await player.until("episode_started"))["episode_id"])
    for action in actions:
        await player.send(type="action", action=action)
        await player.until("frame")
    await player.send(type="end_episode", save=save)
    await player.until("episode_ended")
    await player.close()
    return episode_id
