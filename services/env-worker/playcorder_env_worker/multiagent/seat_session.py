"""A participant's session in a multi-agent game: their input to their seat, the game's frames and events to them.

It is a session like any other for the worker and the gateway (its own subjects, keepalives, liveness, drain), but
the game decides the pace: there is no pause, fps, camera or save in a game. The participant's actions are held by
their seat until they change; a participant who closes, ends their episode or whose client is lost leaves the game
(its fallback policy takes over, see game.py) and the session ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from playcorder.gym_spaces import space_spec
from playcorder.messages import (
    ActionInput,
    CloseSession,
    EndEpisode,
    EndState,
    EpisodeEnded,
    EpisodeStarted,
    ErrorEvent,
    InputMsg,
    OpenSession,
    Resync,
    SessionEnded,
    SessionReady,
    SessionState,
    StateChanged,
)

from ..controls import Controls
from ..draining import Draining, Interrupt
from ..liveness import ClientLink, ClientLost, Reattached
from ..mapping import touch_controls
from ..session import InputQueue

if TYPE_CHECKING:
    from .envs import PreparedGame
    from .game import Game, Seat

log = logging.getLogger(__name__)
_PLAY = ("input", "action", "close", "end_episode", "resync")


class _NoPacer:
    """A game keeps its own pace: what liveness tells a session's pacer does not apply."""

    def input_seen(self) -> None:
        pass


class SeatSession:
    def __init__(self, open_msg: OpenSession, game: Game, send_frame: Callable[[bytes], Any],
                 send_event: Callable[[Any], Any], link: Callable[[Any], ClientLink]) -> None:
        assert open_msg.game is not None
        self.open, self.game, self.agent = open_msg, game, open_msg.game.agent
        self.send_frame, self._send_event = send_frame, send_event
        self.inputs = InputQueue(open_msg.session_id)
        self.publisher = game.seats[self.agent].publisher if self.agent in game.seats else None
        self.over = False
        self.loop = asyncio.get_running_loop()
        self.lock = asyncio.Lock()
        self.pacer = _NoPacer()
        self.controls: Controls | None = None
        self.sent: list[Any] = []  # the events a client that comes back needs again (session, lobby or episode)
        self._done = asyncio.Event()
        self.link = link(self)

    async def send_event(self, event: Any) -> None:
        if getattr(event, "type", "") in ("session", "lobby", "countdown", "episode_started"):
            self.sent = [e for e in self.sent if e.type != event.type] + [event]
        await self._send_event(event)

    # ---------------------------------------------------------------- the session
    async def run(self) -> None:
        refused = self.game.take(self)
        if refused is not None:
            self.over = True
            await self._send_event(ErrorEvent(code="seat_taken", message=refused))
            await self._send_event(SessionEnded(reason="seat_taken"))
            return
        reader = asyncio.create_task(self._read())
        watcher = asyncio.create_task(self.link.watch())
        done = asyncio.create_task(self._done.wait())
        tasks: list[asyncio.Task[Any]] = [reader, watcher, done]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in (reader, watcher):
                if task.done() and not task.cancelled() and (error := task.exception()) is not None:
                    raise error
        finally:
            self.over = True
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.game.left(self, "left")

    async def _read(self) -> None:
        while not self._done.is_set():
            msg = await self.inputs.get()
            async with self.lock:
                if await self._handle(msg):
                    return

    async def _handle(self, msg: Any) -> bool:
        """One input; True when the participant has left the game."""
        if isinstance(msg, CloseSession | EndEpisode):
            self.game.left(self, "left")
            return True
        if isinstance(msg, ClientLost):
            self.game.left(self, "client_lost")  # a player gone: the fallback takes over now, not after the grace
            await self._send_event(SessionEnded(reason="disconnected"))
            return True
        if isinstance(msg, Interrupt):
            await self.game.interrupt()
            return True
        if isinstance(msg, Draining):
            await self._send_event(msg.notice)
        elif isinstance(msg, Reattached | Resync):
            for event in self.sent:
                await self._send_event(event)
        elif isinstance(msg, InputMsg):
            if self.controls is not None:
                self.controls.update(msg)
                self.game.set_action(self, self.controls.action(0.0), self.controls.raw())
        elif isinstance(msg, ActionInput):
            await self._action(msg)
        else:
            kind = getattr(msg, "type", type(msg).__name__)
            await self._send_event(ErrorEvent(code="not_in_game", message=f"Expected one of {list(_PLAY)} in a "
                                                                          f"multi-agent game, got {kind}"))
        return False

    async def _action(self, msg: ActionInput) -> None:
        if self.controls is None:
            await self._send_event(ErrorEvent(code="no_episode", message="Expected an action once the game has "
                                                                         "started, got one in the lobby"))
            return
        try:
            action = self.controls.set_explicit(msg.action)
        except ValueError as err:
            await self._send_event(ErrorEvent(code="bad_action", message=str(err)))
            return
        raw = self.controls.raw()
        if msg.keys:
            raw = {**raw, "keys": list(msg.keys)}
        self.game.set_action(self, action, raw)

    async def abandon(self, reason: str) -> None:
        """The client stayed away past the grace (liveness.ClientLink.watch)."""
        self.game.left(self, reason)

    # ---------------------------------------------------------------- told by the game
    async def ready(self, env: PreparedGame) -> None:
        """The game's environment is made: the participant's seat, its spaces and input map (told once)."""
        if self.controls is not None:
            return
        seat = self.game.seats[self.agent]
        input_map = seat.spec.input_map or env.default_input_maps[self.agent]
        self.controls = Controls(input_map, env.action_spaces[self.agent])
        spec = self.game.spec
        await self.send_event(SessionReady(
            session_id=self.open.session_id, worker_id=self.game.worker_id, env=spec.id, env_id=spec.env_id,
            family=env.family, mode="realtime", step_while_held=False, fps=spec.fps,
            instructions=seat.spec.instructions or spec.instructions,
            action_space=space_spec(env.action_spaces[self.agent]),
            observation_space=space_spec(env.observation_spaces[self.agent]), input_map=input_map.model_dump(),
            touch_controls=touch_controls(input_map), cameras=[], jpeg_quality=self.game.quality,
            game_id=self.game.id, agent=self.agent))

    async def started(self, seat: Seat) -> None:
        assert seat.episode is not None
        await self.send_event(EpisodeStarted(episode_id=seat.episode.id, index=0))
        await self._send_event(StateChanged(state=SessionState.RUNNING, reason="game_started", fps=self.game.spec.fps,
                                            jpeg_quality=self.game.quality, camera=None))

    async def game_over(self, seat: Seat, state: EndState, reason: str, detail: str) -> None:
        ep = seat.episode
        if ep is not None:
            await self._send_event(EpisodeEnded(episode_id=ep.id, state=state, reason=reason, num_steps=ep.step,
                                                total_reward=ep.total_reward))
        if detail:
            await self._send_event(ErrorEvent(code=reason, message=f"Expected partners for the game, got {detail}"))
        await self._send_event(SessionEnded(reason=reason))
        self._done.set()
