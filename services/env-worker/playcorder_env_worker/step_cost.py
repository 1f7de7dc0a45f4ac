"""What one step of an environment costs on this worker (env.step, render and JPEG encode, as the play loop runs
them), measured by the trial after its preview step, and the warning for a spec that paces steps faster than that:
such a study still works, but its game runs slower than its fps says (a 300 ms RoboDesk step plays at 3 fps, not 15).

Each part is its wall time, or the trial process's CPU time where that is less: the trial runs at nice 10 and, on a
busy worker, waits for the CPU (a 170 ms MuJoCo frame measured 175-410 ms of wall time on two loaded cores); where
rendering runs on several threads (Mesa's llvmpipe), the wall time is the less. Time spent waiting on a GPU counts
only where the wall time is the less.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from playcorder.messages import StepCost, TrialProblem
from playcorder.specs import EnvironmentSpec

from .envs import encode_jpeg
from .families import PreparedEnv

MEASURED_STEPS = 5  # steps measured after the preview's at most
BUDGET_S = 1.0  # ... and no further step once it would take the measuring past this
ALONE_AFTER_S = 5.0  # a preview step slower than this is the measure: more such steps push the trial to its limit


Mark = tuple[float, float]  # (wall clock, process CPU clock)


def mark() -> Mark:
    return time.perf_counter(), time.process_time()


def since(start: Mark) -> float:
    """Seconds spent since `start`: wall time, or the process's CPU time when that is less."""
    wall, cpu = mark()
    return min(wall - start[0], cpu - start[1])


@dataclass(frozen=True)
class Timing:
    """One step's parts, in seconds."""

    step: float
    render: float
    jpeg: float

    @property
    def total(self) -> float:
        return self.step + self.render + self.jpeg


def jpeg_timed(frame: Any, quality: int) -> float:
    """Seconds to encode `frame` as the play loop does (full size, the spec's quality)."""
    started = mark()
    encode_jpeg(frame, quality)
    return since(started)


def _one(prepared: PreparedEnv, action: Any, quality: int) -> tuple[Timing, bool]:
    started = mark()
    _, _, terminated, truncated, _ = prepared.env.step(action)
    stepped, rendering = since(started), mark()
    frame = prepared.render()
    return Timing(stepped, since(rendering), jpeg_timed(frame, quality)), bool(terminated or truncated)


def measure(prepared: PreparedEnv, action: Any, quality: int, first: Timing, ended: bool) -> StepCost:
    """The median step of up to MEASURED_STEPS more steps taking `action` (an episode that ends is reset, off the
    clock), within about BUDGET_S; `first` (the preview step, which paid the renderer's warm-up) is the measure only
    when it alone took longer than ALONE_AFTER_S."""
    timings: list[Timing] = []
    if first.total <= ALONE_AFTER_S:
        started = time.perf_counter()
        while len(timings) < MEASURED_STEPS:
            if timings and time.perf_counter() - started + timings[-1].total > BUDGET_S:
                break
            if ended:
                prepared.env.reset()
            timing, ended = _one(prepared, action, quality)
            timings.append(timing)
    timings = timings or [first]
    return StepCost(total_ms=_median_ms([t.total for t in timings]), step_ms=_median_ms([t.step for t in timings]),
                    render_ms=_median_ms([t.render for t in timings]), jpeg_ms=_median_ms([t.jpeg for t in timings]),
                    steps=len(timings))


def _median_ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 2)


def _shown(ms: float) -> str:
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.3g}"


def pace_warnings(spec: EnvironmentSpec, cost: StepCost) -> list[TrialProblem]:
    """A warning at `fps` when the spec paces steps (realtime, or turn_based with step_while_held) faster than one
    step takes on this worker; none otherwise."""
    realtime = spec.mode == "realtime"
    if not (realtime or spec.step_while_held):
        return []
    budget_ms = 1000 / spec.fps
    if cost.total_ms <= budget_ms:
        return []
    paced = f"realtime at {spec.fps} fps" if realtime else f"turn_based with step_while_held at {spec.fps} fps"
    other = "mode turn_based" if realtime else "step_while_held off"
    fits = int(1000 // cost.total_ms)  # the highest fps whose budget one step fits in
    fix = f"set fps to {fits} or less, or {other}" if fits >= 1 else f"no fps keeps up (1 is the least): {other}"
    return [TrialProblem(field="fps", suggestions=[str(fits)] if fits >= 1 else [], message=(
        f"Expected a step within {_shown(budget_ms)} ms for {paced}, got ~{_shown(cost.total_ms)} ms per step "
        f"(step {_shown(cost.step_ms)} ms, render {_shown(cost.render_ms)} ms, JPEG {_shown(cost.jpeg_ms)} ms) on "
        f"this worker: {fix}"))]
