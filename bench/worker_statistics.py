"""What the worker's per-episode statistics (playcorder_env_worker/statistics.py) cost per step on the session's
event loop: EpisodeStatistics.update for a Discrete action (Atari, as the input map and explicit actions give it:
np.int64), a 6-D Box action (MuJoCo, float32 from the mapper), with one trivial custom statistic besides, and the
once-a-second stats event (values() and its JSON). Best of REPEATS runs of STEPS steps, sparse rewards.

Usage: .venv/bin/python bench/worker_statistics.py [--quick] [--json PATH]   (no servers needed)
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import common
import numpy as np

from playcorder.messages import StatsEvent
from playcorder.specs import EnvironmentSpec
from playcorder_env_worker.statistics import EpisodeStatistics, Factory

SPEC = EnvironmentSpec(id="bench", env_id="ALE/Pong-v5")


class Presses:
    """A custom statistic as small as one can be: the cost measured is the plugin path's, not the plugin's."""

    def __init__(self, spec: EnvironmentSpec) -> None:
        self.n = 0

    def update(self, action: Any, reward: float, observation: Any, info: dict[str, Any]) -> None:
        self.n += 1

    def values(self) -> dict[str, float]:
        return {"presses": float(self.n)}


def _inputs(kind: str, steps: int) -> tuple[Any, list[Any], list[float]]:
    rng = np.random.default_rng(0)
    rewards = [float(r) for r in np.where(rng.random(steps) < 0.01, 1.0, 0.0)]  # a point every ~100 steps
    pressed = rng.random(steps) < 0.3
    if kind == "discrete":
        return np.int64(0), [np.int64(2) if p else np.int64(0) for p in pressed], rewards
    noop = np.zeros(6, np.float32)
    return noop, [rng.uniform(-1, 1, 6).astype(np.float32) if p else noop.copy() for p in pressed], rewards


def per_step_us(kind: str, custom: list[tuple[str, Factory]], steps: int, repeats: int) -> float:
    noop, actions, rewards = _inputs(kind, steps)
    best = float("inf")
    for _ in range(repeats):
        stats = EpisodeStatistics(15.0, noop, custom, SPEC)
        update: Callable[..., None] = stats.update
        started = time.perf_counter()
        for action, reward in zip(actions, rewards, strict=True):
            update(action, reward, None, {})
        best = min(best, time.perf_counter() - started)
    return round(best / steps * 1e6, 3)


def event_us(repeats: int) -> float:
    stats = EpisodeStatistics(15.0, 0, [("presses", Presses)], SPEC)
    for i in range(1000):
        stats.update(i % 3, float(i % 50 == 0), None, {})
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(100):
            StatsEvent(episode_id="e" * 32, values=stats.values(12.5)).model_dump_json()
        best = min(best, (time.perf_counter() - started) / 100)
    return round(best * 1e6, 2)


def main(argv: list[str]) -> dict[str, Any]:
    args = common.parser(__doc__, stack=False).parse_args(argv)
    steps, repeats = (20_000, 3) if args.quick else (100_000, 7)
    seen = common.Observation().start()
    out: dict[str, Any] = {
        "steps": steps, "repeats": repeats,
        "discrete_us_per_step": per_step_us("discrete", [], steps, repeats),
        "box6_us_per_step": per_step_us("box", [], steps, repeats),
        "discrete_with_custom_us_per_step": per_step_us("discrete", [("presses", Presses)], steps, repeats),
        "stats_event_us": event_us(repeats),
    }
    out["meta"] = seen.finish()
    if args.json:
        common.write_json(args.json, out)
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=1))
