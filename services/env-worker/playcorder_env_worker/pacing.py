"""When a session steps and when it gives up waiting: ticks at fps while running (realtime, or turn-based while an
input is held), an idle pause, and the end of a session paused past its expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from playcorder.messages import SessionEnded, SessionState

from .metrics import TICK_LATENESS

if TYPE_CHECKING:
    from .session import PlaySession

_MAX_DT = 0.25  # held keys ramp a continuous action by dt: after a stall, one step moves it a quarter second's worth
_WAITING = (SessionState.PAUSED, SessionState.AWAITING_SAVE, SessionState.IDLE)


def _ignore(lateness_s: float) -> None:
    pass


class Pacer:
    def __init__(self, session: PlaySession) -> None:
        self.session, self.spec, self.loop = session, session.spec, session.loop
        self.last_input = self.paused_since = self.last_tick = self.loop.time()
        self._wake = asyncio.Event()
        self.on_tick: Callable[[float], None] = _ignore  # told how late each paced step starts (the worker's admission)

    def input_seen(self) -> None:
        self.last_input = self.loop.time()

    def input_pressed(self) -> None:
        """A turn-based press while running: a ticker idle since the last release steps again while it is held."""
        self._wake.set()

    def state_changed(self, state: SessionState, now: float) -> None:
        if state != SessionState.RUNNING:
            self.paused_since = now
        else:
            self.last_tick = now
            self._wake.set()

    def _ticking(self) -> bool:
        s = self.session
        assert s.controls is not None
        if s.state != SessionState.RUNNING:
            return False
        return self.spec.mode == "realtime" or (self.spec.step_while_held and s.controls.held())

    async def ticker(self) -> None:
        """Steps at fps while ticking; late ticks are skipped, not bunched."""
        s = self.session
        assert s.controls is not None
        next_t = self.loop.time()
        while True:
            if not self._ticking():
                self._wake.clear()
                await self._wake.wait()
                # a held key ramps by the time since the last tick: count it from the wake, not the last hold
                self.last_tick = self.loop.time()
                # turn-based: the press that started holding already stepped, so the next step is one tick later
                next_t = self.loop.time() + (0 if self.spec.mode == "realtime" else 1.0 / s.fps)
            now = self.loop.time()
            scheduled = next_t  # lateness counts from here, skipped ticks included
            if next_t < now - 1.0 / s.fps:
                next_t = now
            await asyncio.sleep(max(0.0, next_t - now))
            next_t += 1.0 / s.fps
            async with s.lock:
                if self._ticking():
                    now = self.loop.time()
                    self.on_tick(max(0.0, now - scheduled))
                    dt, self.last_tick = now - self.last_tick, now
                    if self.spec.mode == "realtime":  # scheduled at next_t - one period (advanced above)
                        TICK_LATENESS.observe(max(0.0, now - next_t + 1.0 / s.fps))
                    await s.step(s.controls.action(min(dt, _MAX_DT)))

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
