"""A bot participant: plays through the same WebSocket protocol as the browser, with a random policy, and rides
out a lost gateway: it reconnects with backoff and resumes its session (or starts a new one). A gateway that
restarts (it closes the socket with 1012, docs/protocol.md "Gateway restarts") is left at once: the bot reconnects
within a fraction of a second, to the next of its gateway URLs if it has several, and resumes."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
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
SUBPROTOCOL, TOKEN_PROTOCOL = "playcorder", "token."
# Reconnecting: the first wait, doubled after each failed try up to the cap.
BACKOFF_FIRST_S, BACKOFF_CAP_S = 0.25, 2.0
# A gateway restarting closes with 1012 (service restart): reconnect after a random wait below this, not a backoff.
CLOSE_RESTART, RESTART_JITTER_S = 1012, 0.5
# The session is gone (ended, or its worker lost): start a new one.
_GONE = ("session_gone", "unknown_session")


class BotError(Exception):
    pass


class _Reconnect(Exception):
    """The connection is lost for this session's play (socket dropped, worker lost): connect again."""


@dataclass
class BotSummary:
    episodes: int = 0
    steps: int = 0
    frames: int = 0
    actions: int = 0
    reconnects: int = 0
    resumed: int = 0  # sessions continued after a reconnect
    episode_details: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def play_url(base_url: str) -> str:
    scheme = "wss" if base_url.startswith("https") else "ws"
    return f"{scheme}://{base_url.split('://', 1)[1].rstrip('/')}/ws/play"


def ws_url(base_url: str, token: str) -> str:
    """The older form, with the token in the URL (and so in access logs): prefer play_url and subprotocols."""
    return f"{play_url(base_url)}?token={quote(token)}"


def subprotocols(token: str) -> list[str]:
    """How the token travels: as a WebSocket subprotocol next to `playcorder`, which the gateway accepts."""
    return [SUBPROTOCOL, TOKEN_PROTOCOL + token]


async def connect(base_url: str, token: str) -> ClientConnection:
    return await websockets.connect(play_url(base_url), subprotocols=subprotocols(token),  # type: ignore[arg-type]
                                    max_size=None, close_timeout=1)


def restarting(err: BaseException) -> bool:
    """Whether the gateway closed the socket as it restarts (1012): reconnect soon, elsewhere, and resume."""
    return isinstance(err, websockets.ConnectionClosed) and err.rcvd is not None and err.rcvd.code == CLOSE_RESTART


def gateway_urls(base_url: str | Sequence[str]) -> list[str]:
    """One URL or several (gateway replicas, tried in turn on each reconnect); at least one, each http(s)://."""
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    bad = [u for u in urls if not u.startswith(("http://", "https://"))]
    if not urls or bad:
        raise ValueError(f"Expected one or more gateway URLs starting http:// or https://, got {urls!r}")
    return urls


async def play(base_url: str | Sequence[str], token: str, env: str, episodes: int, max_steps: int | None = None,
               seed: int | None = None, timeout: float = 60.0, reconnect_within: float = 30.0) -> BotSummary:
    """Play `episodes` episodes, acting on every frame; with max_steps the bot ends (and saves) an episode early.

    Works in both modes: turn-based, each action is one step; realtime, the worker steps at its fps with the
    bot's latest action held. Finished episodes are kept (`save`), as a participant confirming would. When the
    socket drops or the worker is lost, the bot reconnects (backoff from 0.25 s, doubling, at most 2 s between
    tries, giving up after `reconnect_within` seconds without a session) and resumes its session, or starts a new
    one if its worker no longer holds it; episodes lost that way are not counted. Closed with 1012 (its gateway
    restarts) it reconnects after a random wait under RESTART_JITTER_S instead (once in a row: a gateway that
    refuses it again gets the backoff). With several `base_url`s each reconnect goes to the next.
    """
    urls = gateway_urls(base_url)
    bot = _Bot(env, episodes, max_steps, seed)
    loop = asyncio.get_running_loop()
    lost_at: float | None = None
    wait, restarts = BACKOFF_FIRST_S, 0
    while True:
        try:
            async with await connect(urls[bot.summary.reconnects % len(urls)], token) as ws:
                bot.ws = ws
                await bot.open()
                while True:
                    message = await asyncio.wait_for(ws.recv(), timeout)
                    if isinstance(message, bytes):
                        await bot.on_frame(message)
                    elif await bot.on_event(json.loads(message)):
                        return bot.summary
                    if bot.playing:
                        lost_at, wait, restarts = None, BACKOFF_FIRST_S, 0
        except (OSError, websockets.ConnectionClosed, websockets.InvalidHandshake, _Reconnect) as err:
            lost_at = loop.time() if lost_at is None else lost_at
            if loop.time() - lost_at + wait > reconnect_within:
                raise BotError(f"Expected to reconnect within {reconnect_within:g} s, still failing: {err!r}") from err
            bot.summary.reconnects += 1
            restarts = restarts + 1 if restarting(err) else 0
            if restarts == 1:
                await asyncio.sleep(random.uniform(0, RESTART_JITTER_S))
                continue
            await asyncio.sleep(wait)
            wait = min(wait * 2, BACKOFF_CAP_S)


class _Bot:
    """One bot's play across connections: its session, the action space once the session is ready, and whether
    an episode is being ended."""

    def __init__(self, env: str, episodes: int, max_steps: int | None, seed: int | None) -> None:
        self.env, self.episodes, self.max_steps = env, episodes, max_steps
        self.ws: ClientConnection | None = None
        self.summary = BotSummary()
        self.space: Spec | None = None
        self.rng = np.random.default_rng(seed)
        self.ending = False
        self.session_id: str | None = None
        self.playing = False  # this connection has its session
        self.last_sent: dict[str, Any] | None = None  # sent again when the gateway dropped it (rate_limited)

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        self.last_sent = message
        await self.ws.send(json.dumps(message))

    async def open(self) -> None:
        """On a new connection: resume the session if there is one, else select the environment."""
        self.playing = False
        if self.session_id is None:
            await self.send({"type": "select_env", "env": self.env})
        else:
            await self.send({"type": "resume_session", "session_id": self.session_id})

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
            return await self._error(event)
        if kind == "session_ended":
            raise BotError(f"the worker ended the session: {event['reason']}")
        if kind == "session":
            self.space, self.playing = event["action_space"], True
            self.summary.resumed += self.session_id == event["session_id"]
            self.session_id = event["session_id"]
        elif kind == "episode_started":
            self.ending = False
        elif kind == "state" and event["state"] == "paused" and event["reason"] == "client_lost":
            await self.send({"type": "resume"})  # paused while we were away: carry on
        elif kind == "episode_finished":
            await self.send({"type": "save", "save": True})
        elif kind == "episode_ended":
            return await self._episode_ended(event)
        return False

    async def _error(self, event: dict[str, Any]) -> bool:
        code = event["code"]
        if code in _GONE and not self.playing:
            self.session_id = None  # its worker no longer holds it: a new session, a new episode
            await self.send({"type": "select_env", "env": self.env})
            return False
        if code == "worker_lost":
            self.session_id = None
            raise _Reconnect(code)
        if code == "connection_lost" and self.playing:  # the gateway resyncs this session once it is back
            return False
        if code == "connection_lost":  # it could not resume us yet: try again after a while
            raise _Reconnect(code)
        if code == "rate_limited" and self.last_sent is not None:  # dropped unread: send it again once allowed
            await asyncio.sleep(float(event.get("retry_after") or BACKOFF_FIRST_S))
            await self.send(self.last_sent)
            return False
        raise BotError(f"{code}: {event['message']}")

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
