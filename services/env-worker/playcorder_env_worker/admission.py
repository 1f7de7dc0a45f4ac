"""Admission by measured load: a worker takes a new session only while the players it runs keep their frame rate.

A fixed session count is wrong both ways: 8 Atari players leave a core idle, and 100 overload it so that every
player's frame rate falls. So the worker measures what its players feel and what it spends:

- tick lateness: how late each paced step starts after its scheduled tick (the pacing loop reports every one);
  the p95 over the last window is what a player sees as stutter;
- CPU: the process's share of one core over the same window (time.process_time deltas, every thread of it).

Either above its threshold refuses newcomers ("overloaded"); the refusal holds until both are back below
RESUME_BELOW of their thresholds, so a worker at the edge does not flip at every heartbeat. Load is felt late:
a session admitted now steps only once its participant starts, and its cost shows in the window only after that.
So sessions admitted within the last window are pending load: each counts as an average session's CPU in the
projection, and at most WORKER_ADMIT_BURST of them may be pending at once ("settling"). Turn-based sessions step
only on input (or while a key is held): their cost reaches the CPU share, their few paced ticks the lateness only
once there are enough of them for a p95 to mean something. WORKER_CAPACITY stays a hard ceiling ("full").
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

RESUME_BELOW = 0.8  # a worker refusing for load accepts again once lateness and CPU are below 80% of their limits
MIN_TICKS = 30  # fewer paced ticks in the window than this: their p95 is noise, lateness does not judge
MAX_TICKS = 200_000  # ticks kept at most (1,500 players at 15 fps for a 5 s window is 112,500)
MAX_RETRY_WINDOWS = 4.0  # a retry time never asks for more than this many windows


class AdmissionSettings(Protocol):
    worker_capacity: int
    max_lateness_ms: float
    max_cpu: float
    load_window: float
    admit_burst: int


class Admission:
    """The worker's load and its verdict on one more session; observe_tick is on the play path (an append)."""

    def __init__(self, settings: AdmissionSettings, clock: Callable[[], float] = time.monotonic,
                 cpu_clock: Callable[[], float] = time.process_time) -> None:
        self.capacity = settings.worker_capacity
        self.max_lateness = settings.max_lateness_ms / 1000
        self.max_cpu = settings.max_cpu
        self.window = settings.load_window
        self.burst = settings.admit_burst
        self._clock, self._cpu_clock = clock, cpu_clock
        self._ticks: deque[tuple[float, float]] = deque(maxlen=MAX_TICKS)  # (when, lateness_s)
        self._cpu: deque[tuple[float, float]] = deque([(clock(), cpu_clock())])  # (when, process CPU seconds)
        self._admitted: deque[float] = deque()
        self._overloaded = False
        self.lateness_p95 = 0.0  # seconds, as of the last sample()
        self.cpu_share = 0.0  # of one core, as of the last sample()

    # ---------------------------------------------------------------- measuring
    def restart(self) -> None:
        """Measure CPU from now: the worker has started, and its imports and connections are not its sessions'
        load (a freshly scaled-out worker would otherwise refuse its second player for a whole window)."""
        self._cpu = deque([(self._clock(), self._cpu_clock())])
        self.cpu_share = 0.0

    def observe_tick(self, lateness_s: float) -> None:
        """One paced step began `lateness_s` after its scheduled tick (the pacing loop calls this per step)."""
        self._ticks.append((self._clock(), lateness_s))

    def admitted(self) -> None:
        """A session was just accepted: pending load until a window has passed."""
        self._admitted.append(self._clock())

    def sample(self) -> None:
        """Bring the window's lateness p95 and CPU share up to date (the heartbeat loop calls this)."""
        now = self._clock()
        start = now - self.window
        while self._ticks and self._ticks[0][0] < start:
            self._ticks.popleft()
        while self._admitted and self._admitted[0] < start:
            self._admitted.popleft()
        late = sorted(lateness for _, lateness in self._ticks)
        self.lateness_p95 = late[min(len(late) - 1, math.ceil(0.95 * len(late)) - 1)] if len(late) >= MIN_TICKS else 0.0
        self._cpu.append((now, self._cpu_clock()))
        while len(self._cpu) > 2 and self._cpu[1][0] <= start:  # keep one sample at or before the window's start
            self._cpu.popleft()
        (t0, c0), (t1, c1) = self._cpu[0], self._cpu[-1]
        self.cpu_share = (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0

    def pending(self, active: int) -> int:
        """Sessions admitted within the last window (still running, at most): load not yet felt."""
        start = self._clock() - self.window
        return min(active, sum(1 for t in self._admitted if t >= start))

    # ---------------------------------------------------------------- judging
    def verdict(self, active: int) -> tuple[bool, str, float]:
        """Whether one more session may come in now: (accepts, reason, retry_after_s).

        reason: "" (accepted), "full" (WORKER_CAPACITY sessions; retry 0: the worker cannot tell when one ends),
        "overloaded" (lateness or CPU above its limit, or would be with the pending sessions' share) or
        "settling" (WORKER_ADMIT_BURST sessions admitted within the window, their load not yet measured).
        """
        if active >= self.capacity:
            return False, "full", 0.0
        if active == 0:  # nobody's frame rate to keep; an empty worker's numbers are only idle noise
            self._overloaded = False
            return True, "", 0.0
        pending = self.pending(active)
        per_session = self.cpu_share / active
        projected_cpu = self.cpu_share + per_session * (pending + 1)
        limit = RESUME_BELOW if self._overloaded else 1.0
        over = max(self.lateness_p95 / (self.max_lateness * limit), projected_cpu / (self.max_cpu * limit))
        self._overloaded = over > 1.0
        if self._overloaded:
            # Measurements take a window to reflect a change; the further over, the longer until room is likely.
            return False, "overloaded", round(self.window * min(MAX_RETRY_WINDOWS, max(1.0, over)), 1)
        if pending >= self.burst:
            oldest = self._clock() - self.window
            first = next(t for t in self._admitted if t >= oldest)
            return False, "settling", round(max(0.5, first + self.window - self._clock()), 1)
        return True, "", 0.0
