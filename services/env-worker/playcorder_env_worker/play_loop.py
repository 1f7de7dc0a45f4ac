"""One pacing loop per worker: every session step that is due runs in one executor hop, not a task, a timer, a
thread hop and a wake-up per session per tick.

Measured on Pong with 16 sessions (bench/worker_overhead.py), a task per session cost ~1 ms of worker CPU per step
on top of env.step + render + JPEG: asyncio timers, futures crossing threads and lock hand-offs, once per session
per tick. Here the loop sleeps until the earliest due tick, takes every session due within _SLACK of it, works out
their actions on the event loop (cheap), and steps them all on pool threads in a few calls (env.step, render, JPEG
encode each); what follows a step (the recorded step, the frame published, an episode's end) runs back on the
event loop, session by session, under that session's lock. Sessions stay isolated: a session whose environment
raises ends with an error (session.run raises it), the others step on.

Realtime sessions of one fps tick on a shared grid (multiples of their period), so their ticks coincide and
batch; a session's first step after it starts running is immediate, as before.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from .metrics import STEPS, TICK_LATENESS

if TYPE_CHECKING:
    from .pacing import Pacer

log = logging.getLogger(__name__)
_SLACK = 0.002  # seconds: ticks due this soon join the batch being stepped (a step early, never late)
_PER_CALL = 8  # sessions one executor call steps at least, before the batch is spread over more threads
StepResult = tuple[Any, float, bool, bool, dict[str, Any], bytes]


def grid_after(t: float, period: float) -> float:
    """The first multiple of `period` after t: sessions of one fps share these ticks. t is often a multiple itself
    (the tick just run), and k * period / period can come out a hair below k: then floor() gives the same tick
    again, a step at once, and a realtime session would run as fast as the machine lets it."""
    nxt = (math.floor(t / period) + 1) * period
    return nxt if nxt > t + period / 2 else nxt + period


def _step_all(jobs: list[tuple[Callable[..., StepResult], Any, int]]) -> list[StepResult | BaseException]:
    """On a pool thread: each job's env step + render + encode; one that raises does not stop the others."""
    out: list[StepResult | BaseException] = []
    for step, action, quality in jobs:
        try:
            out.append(step(action, quality))
        except Exception as err:
            out.append(err)
    return out


class PlayLoop:
    """The worker's pacing loop. Pacers (one per session) schedule their next tick here (schedule) and cancel it
    (unschedule); on_tick(lateness_s) is called for every realtime step it runs (admission measures load by it)."""

    def __init__(self, executor: Executor, threads: int, on_tick: Callable[[float], None] | None = None) -> None:
        self.executor, self.threads = executor, max(1, threads)
        self.on_tick = on_tick or (lambda lateness: None)
        self._heap: list[tuple[float, int, Pacer]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # executor rounds run (tests and benchmarks read how well ticks batch)
        self.steps = 0

    # ---------------------------------------------------------------- pacers call these (on the event loop)
    def schedule(self, pacer: Pacer, at: float) -> None:
        """Step this session at loop time `at` (replaces a tick it had scheduled)."""
        pacer.due_at = at
        heapq.heappush(self._heap, (at, next(self._order), pacer))
        if self._heap[0][2] is pacer:
            self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    @staticmethod
    def unschedule(pacer: Pacer) -> None:
        pacer.due_at = None  # its heap entry is now stale and skipped

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # ---------------------------------------------------------------- the loop
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            heap = self._heap
            while heap and heap[0][2].due_at != heap[0][0]:
                heapq.heappop(heap)  # stale: rescheduled or stopped since
            self._wake.clear()
            if not heap:
                await self._wake.wait()
                continue
            delay = heap[0][0] - loop.time()
            if delay > 0:
                timer = loop.call_later(delay, self._wake.set)
                try:
                    await self._wake.wait()  # the tick, or an earlier one scheduled meanwhile
                finally:
                    timer.cancel()
                continue
            now = loop.time()
            due: list[tuple[Pacer, float]] = []
            while heap and heap[0][0] <= now + _SLACK:
                at, _, pacer = heapq.heappop(heap)
                if pacer.due_at == at:
                    pacer.due_at = None
                    due.append((pacer, at))
            try:
                await self._tick(due)
            except Exception:  # a bug here must not stop every session's play: log it, keep ticking
                log.exception("play loop tick failed")

    async def _tick(self, due: list[tuple[Pacer, float]]) -> None:
        taken: list[tuple[Pacer, float, Any]] = []
        try:
            taken = await self._take(due)
            if not taken:
                return
            jobs = [(p.session.env.step_now, action, p.session.quality)  # type: ignore[union-attr]
                    for p, _, action in taken]
            started = asyncio.get_running_loop().time()
            results = await self._step(jobs)
            self.batches += 1
            ok = 0
            for (pacer, at, action), result in zip(taken, results, strict=True):
                ok += await self._finish(pacer, at, action, result, started)
            self.steps += ok
            STEPS.inc(ok)
        except BaseException:
            for pacer, _, _ in taken:  # cancelled mid-way: nobody may be left holding a session's lock
                if pacer.session.lock.locked():
                    pacer.session.lock.release()
            raise

    async def _take(self, due: list[tuple[Pacer, float]]) -> list[tuple[Pacer, float, Any]]:
        """The due sessions that step now, each with its lock held and its action worked out."""
        loop = asyncio.get_running_loop()
        taken: list[tuple[Pacer, float, Any]] = []
        for pacer, at in due:
            s = pacer.session
            if s.over or not pacer.ticking():
                continue  # it schedules again when it runs again
            if s.lock.locked():  # a control message is using the env: this tick is skipped, not bunched
                pacer.tick_done(at, loop.time())
                continue
            await s.lock.acquire()
            try:
                action = pacer.next_action(loop.time())
            except Exception as err:
                s.lock.release()
                pacer.failed(err)
                continue
            taken.append((pacer, at, action))
        return taken

    async def _finish(self, pacer: Pacer, at: float, action: Any, result: StepResult | BaseException,
                      started: float) -> int:
        """A stepped session's bookkeeping, then its lock released and its next tick scheduled; 1 if it stepped."""
        s = pacer.session
        try:
            if isinstance(result, BaseException):
                raise result
            if pacer.realtime:
                lateness = max(0.0, started - at)
                TICK_LATENESS.observe(lateness)
                self.on_tick(lateness)
            await s.stepped(action, result)
        except Exception as err:
            pacer.failed(err)
            return 0
        finally:
            s.lock.release()
        if pacer.ticking():
            pacer.tick_done(at, asyncio.get_running_loop().time())
        return 1

    async def _step(self, jobs: list[tuple[Callable[..., StepResult], Any, int]]) -> list[StepResult | BaseException]:
        """All jobs in at most `threads` executor calls of at least _PER_CALL jobs each, in order."""
        loop = asyncio.get_running_loop()
        calls = max(1, min(self.threads, len(jobs) // _PER_CALL))
        if calls == 1:
            return await loop.run_in_executor(self.executor, _step_all, jobs)
        size = math.ceil(len(jobs) / calls)
        parts = await asyncio.gather(*(loop.run_in_executor(self.executor, _step_all, jobs[i:i + size])
                                       for i in range(0, len(jobs), size)))
        return [r for part in parts for r in part]
