"""One load-bot player: plays a session over the browser's WebSocket protocol the way a person does, and measures
what that person would notice (frame rate, late frames, input-to-frame latency, bytes), cheaply.

Cheap, so that one process drives a hundred and more: frames are never decoded, only their 16-byte header is read
(no copy of the JPEG); per player one reading task, one that sleeps until the window ends and, realtime, one that
sleeps between input changes.

How it plays (see load.py for the report):
- realtime: every 100-300 ms (uniformly random) a new action, held until the next; the worker steps at its fps.
- turn-based: one action per step period (1/fps, on a clock, like a key repeating), each sent once the frame of
  the previous one has arrived (at most one in flight), so a player that the stack keeps up with steps at the
  study's fps; the action itself changes every 100-300 ms like a realtime player's. `step_while_held` sessions
  are played the same way (each explicit action steps once; nothing stays held).
- an episode the environment finishes is kept (`save`) and a new one started (`new_episode`), as a participant
  confirming would.
- at the window's end: the running episode is ended and kept (`end_episode` with save; an episode already
  finished is saved), then the session is closed (`close`) and the socket closed, as a participant leaving would.
- a gateway restarting (the socket closed with 1012, docs/protocol.md "Gateway restarts"): the player reconnects
  after a random wait under RESTART_JITTER_S, to the next of its gateway URLs if it has several, and resumes its
  session (`resume_session`, then `resume` of the paused episode), as the web player does; any other drop ends it.

What counts: only what happens inside the measurement window (Window), which all players share: it opens once
every player is running, refused or failed, so that it measures N players at once rather than a ramp.

How latency is measured:
- turn-based: from sending an action to the arrival of its frame (the frame whose header step is one more than the
  step the action was taken at). Exact: each action makes exactly one step and one frame.
- realtime: the frame header carries no input id, so after an input change the player sends `resync` right
  behind it. The worker handles one session's messages in order, so the `state` event answering it is published
  after the action was applied; it publishes a session's frames and events on one NATS connection and the gateway
  relays them through one ordered queue, so the first frame arriving after that `state` event was stepped with the
  new action. Latency = input sent -> that frame. When a tick fell between the action and the resync, the frame
  of that tick already reflected the action and the measure is one period too long: an upper bound, never below
  the truth. One probe at a time: a change while a probe is unanswered is not timed. The cost: one small `state`
  event per change (3-10 a second, next to the frames).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import websockets

from playcorder import frames
from playcorder.records import jsonable
from playcorder.spaces import Spec, sample

from .bot import RESTART_JITTER_S, connect, gateway_urls, restarting

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

CHANGE_MIN_S, CHANGE_MAX_S = 0.1, 0.3  # a person's input changes this often (uniformly random in between)
LATE_PERIODS = 1.5  # a frame arriving more than this many periods after the previous one is late
END_TIMEOUT_S = 30.0  # waiting for the episode to end after end_episode
RECV_TIMEOUT_S = 60.0  # without any message from the gateway, the player gives up
MAX_RESTARTS = 10  # gateway restarts (close 1012) one player reconnects after, at most


class Window:
    """The measurement window the players share: opens once each has settled (running, refused or failed), or
    when told to (a join timeout), and lasts `duration_s`. Times are time.monotonic()."""

    def __init__(self, players: int, duration_s: float) -> None:
        self.players, self.duration_s = players, duration_s
        self.start = self.end = math.inf
        self.settled = 0
        self.opened = asyncio.Event()

    def settle(self) -> None:
        self.settled += 1
        if self.settled >= self.players:
            self.open()

    def open(self) -> None:
        if not self.opened.is_set():
            self.start = time.monotonic()
            self.end = self.start + self.duration_s
            self.opened.set()

    def inside(self, t: float) -> bool:
        return self.start <= t < self.end

    def clip(self, a: float, b: float) -> float:
        """How much of [a, b] lies inside the window."""
        return max(0.0, min(b, self.end) - max(a, self.start))


@dataclass
class PlayerStats:
    """What one player measured inside the window (`running_s`: time its episode was running, as events say)."""

    joined: bool = False
    refused: bool = False  # no_capacity
    error: str | None = None  # what stopped the player otherwise (code: message)
    mode: str = ""
    fps: int = 0
    frames_running: int = 0  # frames received while running
    frames: int = 0  # all frames received, in the window or not
    intervals: int = 0  # inter-arrival gaps between two frames received while running
    late: int = 0  # of which longer than LATE_PERIODS periods
    running_s: float = 0.0
    bytes: int = 0  # messages received (frames and events)
    connected_s: float = 0.0  # time connected with a session (bytes/min is over this)
    actions: int = 0  # sent, in the window or not
    latencies: list[float] = field(default_factory=list)  # seconds
    episodes: list[dict[str, Any]] = field(default_factory=list)  # the episode_ended events
    episode_ids: list[str] = field(default_factory=list)  # every episode started
    max_step: dict[str, int] = field(default_factory=dict)  # episode -> the highest frame step received
    errors: dict[str, int] = field(default_factory=dict)  # error events by code (non-fatal ones too)
    reconnects: int = 0  # after a gateway restart (close 1012), the session resumed

    @property
    def fps_share(self) -> float | None:
        if self.running_s <= 0 or not self.fps:
            return None
        return self.frames_running / (self.running_s * self.fps)


class _Stop(Exception):
    """The player is done (refused, failed)."""


class LoadPlayer:
    """One participant's play until the window ends, then a clean end of its episode and session."""

    def __init__(self, base_url: str | Sequence[str], token: str, env: str, window: Window, seed: int | None,
                 probe_latency: bool = True) -> None:
        self.urls, self.token, self.env, self.window = gateway_urls(base_url), token, env, window
        self.session_id: str | None = None  # resumed after a gateway restart
        self.rng = np.random.default_rng(seed)
        self.probe_latency = probe_latency
        self.stats = PlayerStats()
        self.ws: ClientConnection | None = None
        self.space: Spec | None = None
        self.period = 0.0
        self.turn_based = False
        self.action: Any = None
        self.next_change = 0.0
        self.settled = False
        self.connected_at: float | None = None
        # play state as the events tell it
        self.running = False
        self.running_since = 0.0
        self.last_frame_at: float | None = None  # the previous frame's arrival while running
        self.episode_id: str | None = None
        self.awaiting_save = False
        self.ending = False  # the window ended: ending the episode, then closing
        self.done = False
        # latency probes
        self.probe_sent: float | None = None  # realtime: input sent, `state` answer not yet seen
        self.probe_armed = False  # realtime: the state answer arrived; the next frame ends the probe
        self.expect_step: int | None = None  # turn-based: the frame step the action in flight produces
        self.sent_at = 0.0
        self.next_turn = 0.0  # turn-based: when the next action is due
        self._turn: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> PlayerStats:
        while True:
            try:
                await self._connection(self.urls[self.stats.reconnects % len(self.urls)])
            except _Stop:
                pass
            except (OSError, websockets.ConnectionClosed, websockets.InvalidHandshake, TimeoutError) as err:
                if self._resumable(err):
                    self.stats.reconnects += 1
                    self._stop_running(time.monotonic())  # (the worker paused it: `resume` follows the resume)
                    await asyncio.sleep(random.uniform(0, RESTART_JITTER_S))
                    continue
                if not self.done and self.stats.error is None:
                    self.stats.error = f"connection: {err!r}"
            break
        now = time.monotonic()
        self._stop_running(now)
        if self.connected_at is not None:
            self.stats.connected_s = self.window.clip(self.connected_at, now)
        self._settle()
        return self.stats

    async def _connection(self, url: str) -> None:
        async with await connect(url, self.token) as ws:
            self.ws = ws
            await self._send({"type": "resume_session", "session_id": self.session_id} if self.session_id
                             else {"type": "select_env", "env": self.env})
            helpers = [asyncio.create_task(self._changes()), asyncio.create_task(self._ender())]
            try:
                await self._read(ws)
            finally:
                for t in [*helpers, *self._tasks]:
                    t.cancel()
                if self._turn is not None:
                    self._turn.cancel()

    def _resumable(self, err: BaseException) -> bool:
        """A gateway restart in the middle of play: reconnect and resume (not while ending: the session is left to
        the worker's resume grace, as a participant who closed the tab then)."""
        return (restarting(err) and self.session_id is not None and not self.done and not self.ending
                and self.stats.reconnects < MAX_RESTARTS)

    def _settle(self) -> None:
        if not self.settled:
            self.settled = True
            self.window.settle()

    # ------------------------------------------------------------------ receiving
    async def _read(self, ws: ClientConnection) -> None:
        while not self.done:
            message = await asyncio.wait_for(ws.recv(), END_TIMEOUT_S if self.ending else RECV_TIMEOUT_S)
            if self.window.inside(time.monotonic()):
                self.stats.bytes += len(message)
            if isinstance(message, bytes):
                self._on_frame(message)
            else:
                await self._on_event(json.loads(message))

    def _on_frame(self, message: bytes) -> None:
        now = time.monotonic()
        _, _, flags, step, _, _ = frames.HEADER.unpack_from(message)  # the header only: the JPEG is not read
        s = self.stats
        s.frames += 1
        if self.episode_id is not None and step > s.max_step.get(self.episode_id, -1):
            s.max_step[self.episode_id] = step
        if self.running and self.window.inside(now):
            s.frames_running += 1
            if self.last_frame_at is not None and self.last_frame_at >= self.window.start:
                s.intervals += 1
                s.late += now - self.last_frame_at > LATE_PERIODS * self.period
            self.last_frame_at = now
        inside = self.window.inside(now)
        if self.probe_armed and self.probe_sent is not None:
            if inside and self.probe_sent >= self.window.start:
                s.latencies.append(now - self.probe_sent)
            self.probe_sent, self.probe_armed = None, False
        if self.turn_based and self.expect_step is not None and step == self.expect_step:
            if inside and self.sent_at >= self.window.start:
                s.latencies.append(now - self.sent_at)
            self.expect_step = None
        if self.turn_based and not self.ending and not (flags & frames.IS_LAST) and self.space is not None:
            self._schedule_turn(now)

    async def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        now = time.monotonic()
        if kind == "session":
            self._on_session(event, now)
        elif kind == "state":
            self._on_state(event, now)
            if event["state"] == "paused" and event.get("reason") == "client_lost" and not self.ending:
                await self._send({"type": "resume"})
        elif kind == "episode_started":
            if event["episode_id"] != self.episode_id:  # (resumed: the same episode again)
                self.stats.episode_ids.append(event["episode_id"])
            self.episode_id = event["episode_id"]
            self.awaiting_save = False
        elif kind == "episode_finished":
            self.awaiting_save = True
            await self._send({"type": "save", "save": True})
        elif kind == "episode_ended":
            self.stats.episodes.append({k: event[k] for k in ("episode_id", "state", "reason", "num_steps")})
            self.episode_id, self.awaiting_save = None, False
            if self.ending:
                await self._close()
            else:
                await self._send({"type": "new_episode"})
        elif kind == "session_ended":
            self.stats.error = f"session_ended: {event.get('reason')}"
            raise _Stop
        elif kind == "error":
            await self._on_error(event)

    def _on_session(self, event: dict[str, Any], now: float) -> None:
        s = self.stats
        s.joined, s.mode, s.fps = True, event["mode"], int(event["fps"])
        self.turn_based = s.mode == "turn_based"
        self.period = 1.0 / s.fps
        self.space = event["action_space"]
        self.action = jsonable(sample(self.space, self.rng))
        self.next_change = now + self._change_gap()
        self.session_id = event["session_id"]
        if self.connected_at is None:  # (not again at a resume)
            self.connected_at = now

    def _on_state(self, event: dict[str, Any], now: float) -> None:
        if event.get("fps"):
            self.stats.fps = int(event["fps"])
            self.period = 1.0 / self.stats.fps
        running = event["state"] == "running"
        if running and not self.running and not self.ending:
            self.running, self.running_since, self.last_frame_at = True, now, None
            self._settle()
        elif not running:
            self._stop_running(now)
        if self.probe_sent is not None:
            self.probe_armed = True

    def _stop_running(self, now: float) -> None:
        if self.running:
            self.stats.running_s += self.window.clip(self.running_since, now)
            self.running, self.last_frame_at = False, None

    async def _on_error(self, event: dict[str, Any]) -> None:
        code = str(event.get("code"))
        self.stats.errors[code] = self.stats.errors.get(code, 0) + 1
        if code == "no_capacity" and not self.stats.joined:
            self.stats.refused = True
            raise _Stop
        if code in ("rate_limited", "connection_lost", "not_finished", "no_episode"):
            return  # transient, or a race with the episode's end: play goes on
        self.stats.error = f"{code}: {event.get('message')}"
        raise _Stop

    # ------------------------------------------------------------------ sending
    async def _send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(message))

    def _change_gap(self) -> float:
        return float(self.rng.uniform(CHANGE_MIN_S, CHANGE_MAX_S))

    async def _act(self) -> None:
        self.stats.actions += 1
        await self._send({"type": "action", "action": self.action, "keys": []})

    async def _changes(self) -> None:
        """Realtime: a new action every 100-300 ms, held in between (the first one starts the episode running).
        Turn-based players change their action in _turn_now instead."""
        while self.space is None:
            await asyncio.sleep(0.02)
        if self.turn_based:
            return
        while not self.ending:
            if self.episode_id is not None and not self.awaiting_save:
                self.action = jsonable(sample(self.space, self.rng))
                sent = time.monotonic()
                await self._act()
                if self.probe_latency and self.probe_sent is None and self.running:
                    self.probe_sent, self.probe_armed = sent, False
                    await self._send({"type": "resync"})
            await asyncio.sleep(self._change_gap())

    def _schedule_turn(self, now: float) -> None:
        """Turn-based: the next action one period after the previous one was due. A late frame so does not push
        every later action back, and a player more than a period behind (the stack is slow) does not rush."""
        if self._turn is not None:
            self._turn.cancel()
        self.next_turn = max(self.next_turn + self.period, now - self.period) if self.next_turn else now
        self._turn = asyncio.get_running_loop().call_later(max(0.0, self.next_turn - now), self._turn_due)

    def _turn_due(self) -> None:
        self._turn = None
        task = asyncio.create_task(self._turn_now())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _turn_now(self) -> None:
        if self.ending or self.episode_id is None or self.awaiting_save or self.space is None:
            return
        now = time.monotonic()
        if now >= self.next_change:
            self.action = jsonable(sample(self.space, self.rng))
            self.next_change = now + self._change_gap()
        self.expect_step = self.stats.max_step.get(self.episode_id, 0) + 1
        self.sent_at = now
        try:
            await self._act()
        except websockets.ConnectionClosed:
            pass  # the reader sees it too

    async def _ender(self) -> None:
        await self.window.opened.wait()
        await asyncio.sleep(max(0.0, self.window.end - time.monotonic()))
        try:
            await self._end()
        except websockets.ConnectionClosed:
            pass  # the reader sees it too

    async def _end(self) -> None:
        """The window ended: keep the episode (as a participant ending it would), then close."""
        self._stop_running(time.monotonic())
        self.ending = True
        if self._turn is not None:
            self._turn.cancel()
        if self.episode_id is None:
            await self._close()
        elif not self.awaiting_save:  # (a finished episode's save is on its way: its episode_ended closes)
            await self._send({"type": "end_episode", "save": True})

    async def _close(self) -> None:
        self.done = True
        await self._send({"type": "close"})
        assert self.ws is not None
        await self.ws.close()
