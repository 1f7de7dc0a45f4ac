"""When a session steps and when it gives up waiting: ticks at fps while running (realtime, or turn-based while an
input is held), an idle pause, and the end of a session paused past its expiry.

The ticks themselves are run by the worker's one PlayLoop (play_loop.py); a session's Pacer only says when its
next one is due and what action it takes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from playcorder.messages import SessionEnded, SessionState

from .play_loop import PlayLoop, grid_after

if TYPE_CHECKING:
    from .session import PlaySession

_MAX_DT = 0.25  # held keys ramp a continuous action by dt: after a stall, one step moves it a quarter second's worth
_WAITING = (SessionState.PAUSED, SessionState.AWAITING_SAVE, SessionState.IDLE)


class Pacer:
    def __init__(self, session: PlaySession, play_loop: PlayLoop) -> None:
        self.session, self.spec, self.loop = session, session.spec, session.loop
        self.play_loop = play_loop
        self.realtime = self.spec.mode == "realtime"
        self.last_input = self.paused_since = self.last_tick = self.loop.time()
        self.due_at: float | None = None  # the tick scheduled with the play loop, if any
        self._active = False  # between run()'s start and its end: ticks may be scheduled
        self._failure: asyncio.Future[None] | None = None

    def input_seen(self) -> None:
        self.last_input = self.loop.time()

    def input_pressed(self) -> None:
        """A turn-based press while running: the press steps now (the handler), and while the input stays held
        the session steps again one tick later, and on at fps."""
        if self._active and self.due_at is None and self.session.controls is not None:
            now = self.loop.time()
            self.last_tick = now
            self.play_loop.schedule(self, now + 1.0 / self.session.fps)

    def state_changed(self, state: SessionState, now: float) -> None:
        if state != SessionState.RUNNING:
            self.paused_since = now
            self.play_loop.unschedule(self)
        else:
            self.last_tick = now
            if self._active:  # realtime: the first step of a run is immediate; turn-based: a tick after the press
                self.play_loop.schedule(self, now if self.realtime else now + 1.0 / self.session.fps)

    def ticking(self) -> bool:
        s = self.session
        if s.state != SessionState.RUNNING or s.controls is None:
            return False
        return self.realtime or (self.spec.step_while_held and s.controls.held())

    # ---------------------------------------------------------------- called by the play loop
    def next_action(self, now: float) -> Any:
        """The action of the step about to run; a held key ramps by the time since the last tick."""
        assert self.session.controls is not None
        dt, self.last_tick = now - self.last_tick, now
        return self.session.controls.action(min(dt, _MAX_DT))

    def tick_done(self, at: float, now: float) -> None:
        """Schedule the tick after the one due at `at`; late ticks are skipped, not bunched."""
        period = 1.0 / self.session.fps
        nxt = grid_after(at, period) if self.realtime else at + period
        if nxt < now - period:
            nxt = grid_after(now, period) if self.realtime else now
        self.play_loop.schedule(self, nxt)

    def failed(self, err: BaseException) -> None:
        """The session's environment (or its step's bookkeeping) raised: the session ends with an error."""
        self.play_loop.unschedule(self)
        if self._failure is not None and not self._failure.done():
            self._failure.set_exception(err)

    # ---------------------------------------------------------------- session tasks
    async def ticker(self) -> None:
        """While the session runs: its ticks come from the play loop; raises what made a step fail."""
        self._failure = self.loop.create_future()
        self._active = True
        try:
            if self.ticking():
                self.play_loop.schedule(self, self.loop.time())
            await self._failure
        finally:
            self._active = False
            self.play_loop.unschedule(self)

    async def watchdog(self) -> None:
        """Auto-pause after idle time; end the session once paused longer than its expiry."""
        s = self.session
        period = max(0.05, min(self.spec.idle_pause_s, self.spec.pause_expiry_s) / 4)
        while True:
            await asyncio.sleep(period)
            now = self.loop.time()
            async with s.lock:
                assert s.controls is not None
                idle = now - self.last_input > self.spec.idle_pause_s and not s.controls.input_held()
                if s.state == SessionState.RUNNING and idle:
                    await s.set_state(SessionState.PAUSED, "idle")
                # while its client is away, the session waits for it to resume instead (liveness.py)
                elif s.state in _WAITING and not s.link.lost and (
                        now - max(self.paused_since, self.last_input) > self.spec.pause_expiry_s):
                    await s.abandon("expired")
                    await s.send_event(SessionEnded(reason="expired"))
                    return
