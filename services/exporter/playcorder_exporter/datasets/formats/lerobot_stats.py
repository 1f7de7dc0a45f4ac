"""Statistics of a LeRobot v3 export (meta/stats.json and the stats/ columns of meta/episodes): min, max, mean, std
and count per feature, computed as LeRobot computes them but merged batch by batch."""

from __future__ import annotations

from typing import Any

import numpy as np


class Stats:
    """One feature's statistics, merged with Chan et al.'s parallel update (the formula of LeRobot's
    aggregate_stats)."""

    def __init__(self) -> None:
        self.count = 0  # LeRobot's count: frames (for videos, the frames sampled)
        self.n = 0  # values merged per element: frames, or pixels for videos
        self.mean: Any = None
        self.m2: Any = None
        self.min: Any = None
        self.max: Any = None

    def add(self, values: np.ndarray, frames: int) -> None:
        """values: (n, d), n samples of the feature's d elements."""
        mean = values.mean(axis=0, dtype=np.float64)
        m2 = np.square(values - mean).sum(axis=0)
        self._merge(values.shape[0], frames, mean, m2, values.min(axis=0), values.max(axis=0))

    def merge(self, other: Stats) -> None:
        if other.n:
            self._merge(other.n, other.count, other.mean, other.m2, other.min, other.max)

    def _merge(self, n: int, count: int, mean: Any, m2: Any, lo: Any, hi: Any) -> None:
        if not self.n:
            self.n, self.count, self.mean, self.m2, self.min, self.max = n, count, mean, m2, lo, hi
            return
        total = self.n + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + np.square(delta) * (self.n * n / total)
        self.min, self.max = np.minimum(self.min, lo), np.maximum(self.max, hi)
        self.n, self.count = total, self.count + count

    def result(self, shape: tuple[int, ...]) -> dict[str, list[Any]]:
        """As LeRobot writes them: each statistic in the feature's stats `shape` (count alone: [count])."""
        result = {"min": self.min, "max": self.max, "mean": self.mean, "std": np.sqrt(self.m2 / self.n)}
        return {k: v.reshape(shape).tolist() for k, v in result.items()} | {"count": [self.count]}


def sample_indices(n: int) -> set[int]:
    """The frames of an episode LeRobot computes image stats on (estimate_num_samples + sample_indices)."""
    num = max(min(n, 100), min(int(n**0.75), 10_000))
    return set(np.round(np.linspace(0, n - 1, num)).astype(int).tolist())


def stats_pixels(frame: np.ndarray) -> np.ndarray:
    """A frame as LeRobot's image stats see it: every k-th pixel of large frames, as (pixels, 3) in 0..1."""
    h, w, _ = frame.shape
    if max(h, w) >= 300:
        k = int(w / 150) if w > h else int(h / 150)
        frame = frame[::k, ::k]
    return frame.reshape(-1, 3) / 255.0
