"""The CPU time the stack's gateway and recorder spend on one load step: what sizing their replicas needs.

A load step's measurement window (all players playing) is only known once the step is over (LoadReport.join_s:
from run_load's start to the window's opening), so a thread samples the services' CPU seconds (user + system,
psutil: CPU time, not wall time) every `every_s` while the step runs, and the CPU seconds at the window's edges are
interpolated between samples. The bench's clock starts just before run_load's own (asyncio.run's start: about a
millisecond), so the window read here is that much early: nothing next to 10 s windows.

Per step (`step_numbers`):
  gateway_cpu_s                   gateway CPU seconds inside the window
  frames_window                   frames the joined players received while running inside the window
  gateway_cpu_ms_per_frame        gateway_cpu_s ÷ frames_window, in ms: relaying a frame to a player (the events
                                  next to the frames, resync answers and the like, included), idle work included
  gateway_cores_per_100_players   gateway_cpu_s ÷ window seconds ÷ joined players × 100, at the step's fps
  gateway_cpu_s_run, gateway_cpu_ms_per_frame_run
                                  the same over the whole step (joins, episode ends, the listing polls of the
                                  durability wait) ÷ every frame received: an upper bound for short sessions
  recorder_cpu_s, recorder_cpu_ms_per_step
                                  recorder CPU seconds over the whole step (it stores chunks behind the play and
                                  flushes at each episode's end, which the step waits for) ÷ the steps it stored
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Sequence
from typing import Any

import common
import psutil

SERVICES = ("gateway", "recorder")
Sample = tuple[float, dict[str, float]]  # (time.monotonic(), CPU seconds so far per service)


class CpuTimeline:
    """CPU seconds of each service's processes, sampled in a thread (the event loop stays the bots') from
    __enter__ to __exit__, a sample at each end. A process that ends meanwhile stops the timeline: its CPU time
    would go missing, so `error` says which and the numbers are left out."""

    def __init__(self, groups: dict[str, Sequence[psutil.Process]], every_s: float = 0.05) -> None:
        if every_s <= 0:
            raise ValueError(f"Expected a sampling period > 0 s, got {every_s}")
        self.groups, self.every_s = {k: list(v) for k, v in groups.items()}, every_s
        self.samples: list[Sample] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        if self.error is not None:
            return
        try:
            now = time.monotonic()
            self.samples.append((now, {k: common.cpu_seconds(v) for k, v in self.groups.items()}))
        except psutil.Error as err:
            self.error = f"Expected the measured services to run throughout the step, got {err!r}"

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def __enter__(self) -> CpuTimeline:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def cpu_at(samples: Sequence[Sample], service: str, t: float) -> float:
    """CPU seconds of `service` at time `t`, interpolated linearly between the samples around it."""
    if len(samples) < 2:
        raise ValueError(f"Expected at least 2 CPU samples, got {len(samples)}")
    first, last = samples[0][0], samples[-1][0]
    if not first <= t <= last:
        raise ValueError(f"Expected a time within the sampled {first:.3f}..{last:.3f} s, got {t:.3f} s")
    i = max(1, bisect.bisect_left([s[0] for s in samples], t))
    (t0, v0), (t1, v1) = samples[i - 1], samples[i]
    a, b = v0[service], v1[service]
    return a if t1 == t0 else a + (b - a) * (t - t0) / (t1 - t0)


def step_numbers(samples: Sequence[Sample], window: tuple[float, float] | None, joined: int, frames_window: int,
                 frames: int, steps_stored: int | None) -> dict[str, Any]:
    """The per-step numbers of the module docstring from a timeline's samples; `window` (start, end) in the
    samples' clock, None when it never opened (then only the whole-step numbers)."""
    out: dict[str, Any] = dict.fromkeys(("gateway_cpu_s", "frames_window", "gateway_cpu_ms_per_frame",
                                         "gateway_cores_per_100_players"))
    if len(samples) < 2:
        return out | {"cpu_error": f"Expected at least 2 CPU samples over the step, got {len(samples)}"}
    if window is not None:
        start, end = window
        gateway = cpu_at(samples, "gateway", end) - cpu_at(samples, "gateway", start)
        out |= {"gateway_cpu_s": round(gateway, 3), "frames_window": frames_window,
                "gateway_cpu_ms_per_frame": round(gateway * 1e3 / frames_window, 4) if frames_window else None,
                "gateway_cores_per_100_players": (round(gateway / (end - start) / joined * 100, 4)
                                                  if joined and end > start else None)}
    first, last = samples[0][1], samples[-1][1]
    gateway_run, recorder = last["gateway"] - first["gateway"], last["recorder"] - first["recorder"]
    return out | {
        "gateway_cpu_s_run": round(gateway_run, 3),
        "gateway_cpu_ms_per_frame_run": round(gateway_run * 1e3 / frames, 4) if frames else None,
        "recorder_cpu_s": round(recorder, 3),
        "recorder_cpu_ms_per_step": round(recorder * 1e3 / steps_stored, 4) if steps_stored else None,
    }


def idle_cores(samples: Sequence[Sample]) -> dict[str, float | None]:
    """Each service's CPU seconds per second over the samples: with nobody playing, its fixed cost."""
    if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
        return dict.fromkeys(SERVICES)
    span = samples[-1][0] - samples[0][0]
    return {k: round((samples[-1][1][k] - samples[0][1][k]) / span, 4) for k in SERVICES}
