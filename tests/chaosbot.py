"""A bot that keeps playing while servers fail around it. It plays realtime (the worker steps whatever reaches the
bot), acts on the session's state events as a participant would, and notes the step count the worker reported for
every episode it saw end. When its socket drops it reconnects with the SDK bot's backoff and resumes its session
(or starts a new one if its worker no longer holds it, or was lost). It never asks for a lost event again itself:
the gateway and worker re-send state after a reconnect, and that is part of what the bot tests.

It keeps a timeline (`marks`) of what it saw and when, on the client's clocks, so that the fault drills can tell how
soon a client learnt of a fault and how soon it played again."""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import websockets

from playcorder.sdk.bot import BACKOFF_CAP_S, BACKOFF_FIRST_S, connect

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

_GONE = ("session_gone", "unknown_session")  # the session cannot be resumed: start a new one
_OVER = ("worker_lost", "session_failed")  # the session ended with its worker
# The errors a fault can cause (others, such as no_episode for an action that crossed an episode's end, cannot).
FAULT_ERRORS = (*_GONE, *_OVER, "connection_lost", "no_capacity")


@dataclass(frozen=True)
class Mark:
    """Something the bot saw: `kind` is connected, lost (the socket ended), session, episode (started), state,
    error or frame; `detail` the session or episode id, the state, the error code, or for a frame the state the
    bot believed its episode in."""

    at: float  # time.monotonic()
    wall: float  # time.time(), to compare with stored steps' times
    kind: str
    detail: str
    session: str | None  # the bot's session at the time


class _Retry(Exception):
    """This connection cannot give the bot its session now: connect again after the backoff."""


@dataclass
class ChaosBot:
    url: str
    token: str
    env: str
    seed: int
    ended: dict[str, int] = field(default_factory=dict)  # episode id -> num_steps the worker reported
    marks: list[Mark] = field(default_factory=list)
    session_id: str | None = None  # resumed after a lost socket
    attached: bool = False  # this connection has the bot's session

    @property
    def sessions(self) -> int:
        return len({m.detail for m in self.marks if m.kind == "session"})

    def note(self, kind: str, detail: str = "") -> None:
        self.marks.append(Mark(time.monotonic(), time.time(), kind, detail, self.session_id))

    def first(self, kind: str, after: float, detail: str | None = None) -> Mark | None:
        return next((m for m in self.marks if m.at >= after and m.kind == kind
                     and (detail is None or m.detail == detail)), None)

    def last(self, kind: str, before: float) -> Mark | None:
        return next((m for m in reversed(self.marks) if m.at < before and m.kind == kind), None)

    def playing(self, after: float) -> Mark | None:
        """The first frame the bot received, after `after`, of a running episode."""
        return self.first("frame", after, "running")

    def longest_wait(self, start: float, end: float) -> float:
        """The longest time between start and end that the bot received no frame."""
        times = [start] + [m.at for m in self.marks if m.kind == "frame" and start < m.at < end] + [end]
        return max(b - a for a, b in zip(times, times[1:], strict=False))

    async def run(self, stop: asyncio.Event) -> None:
        rng = random.Random(self.seed)
        wait = BACKOFF_FIRST_S
        while not stop.is_set():
            self.attached = False
            try:
                await self._connection(rng, stop)
            except (TimeoutError, OSError, websockets.ConnectionClosed, websockets.InvalidHandshake, _Retry) as err:
                self.note("lost", type(err).__name__)
            if self.attached:
                wait = BACKOFF_FIRST_S
            if not stop.is_set():
                await asyncio.sleep(wait)
                wait = min(2 * wait, BACKOFF_CAP_S)

    async def _connection(self, rng: random.Random, stop: asyncio.Event) -> None:
        async with await connect(self.url, self.token) as ws:
            self.note("connected")
            session = _Session(ws, rng, stop, self)
            if self.session_id is None:
                await session.send(type="select_env", env=self.env)
            else:
                await session.send(type="resume_session", session_id=self.session_id)
            while True:
                try:
                    message = await asyncio.wait_for(ws.recv(), 1.0)
                except TimeoutError:  # an event lost (not a NATS restart: the gateway resyncs the session then)
                    await session.keep_going()
                    continue
                if isinstance(message, bytes):
                    await session.on_frame()
                elif await session.on_event(json.loads(message)):
                    return


class _Session:
    """One connection's play: the last state the worker reported, and whether the bot is ending an episode."""

    def __init__(self, ws: ClientConnection, rng: random.Random, stop: asyncio.Event, bot: ChaosBot) -> None:
        self.ws, self.rng, self.stop, self.bot = ws, rng, stop, bot
        self.frames, self.state, self.ending = 0, "idle", False
        self.cut_off = False  # told connection_lost: input would wait in the gateway; the worker resyncs later

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def act(self) -> None:
        await self.send(type="action", action=self.rng.randrange(6))

    async def keep_going(self) -> None:
        if self.state in ("running", "paused") and not self.cut_off:
            await self.act()

    async def on_frame(self) -> None:
        self.frames += 1
        self.bot.note("frame", self.state)
        if self.stop.is_set() and not self.ending and self.state == "running":
            self.ending = True
            await self.send(type="end_episode", save=True)
        elif self.frames % 10 == 0 and self.state in ("running", "paused"):
            await self.act()

    async def on_event(self, event: dict[str, Any]) -> bool:
        """Act on one JSON event; True when the session is over."""
        kind, bot = event["type"], self.bot
        if kind == "session":
            bot.session_id, bot.attached = event["session_id"], True
            bot.note("session", event["session_id"])
        elif kind == "episode_started":
            bot.note("episode", event["episode_id"])
        elif kind == "state":
            bot.note("state", event["state"])
            self.cut_off = False
            return await self._on_state(event["state"])
        elif kind == "episode_ended":
            bot.ended[event["episode_id"]] = event["num_steps"]
        elif kind == "session_ended":
            bot.session_id = None
            return True
        elif kind == "error":
            return await self._on_error(event["code"])
        return False

    async def _on_error(self, code: str) -> bool:
        bot = self.bot
        bot.note("error", code)
        if code in _GONE and not bot.attached:
            bot.session_id = None
            await self.send(type="select_env", env=bot.env)
        elif code == "connection_lost" and not bot.attached:  # the gateway cannot resume it yet
            raise _Retry(code)
        elif code == "connection_lost":
            self.cut_off = True
        elif code in _OVER:
            bot.session_id = None
            return True
        return False  # no_capacity: the gateway closes the socket, and the bot tries again

    async def _on_state(self, state: str) -> bool:
        self.state = state
        if state == "paused":
            await self.act()
        elif state == "awaiting_save":
            await self.send(type="save", save=True)
        elif state == "idle" and self.stop.is_set():
            await self.send(type="close")
            self.bot.session_id = None
            return True
        elif state == "idle":
            self.ending = False
            await self.send(type="new_episode")
        return False
