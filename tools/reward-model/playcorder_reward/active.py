"""Active selection: of candidate pairs, the ones the ensemble disagrees on most (imitation's
ActiveSelectionFragmenter), so a labeller's answer teaches the most.

Disagreement is measured across members either on P(left > right) ("probability": its variance) or on the
predicted return difference ("return": its standard deviation)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from .model import RewardModel
from .segments import SegmentSet

Measure = Literal["probability", "return"]


def _pairs(candidates: np.ndarray, segments: int) -> np.ndarray:
    candidates = np.asarray(candidates, dtype=np.int64)
    if candidates.ndim != 2 or candidates.shape[1] != 2:
        raise ValueError(f"Expected candidate pairs of shape (M, 2), got {candidates.shape}")
    if len(candidates) and (candidates.min() < 0 or candidates.max() >= segments):
        raise ValueError(f"Expected segment indices in [0, {segments}), got values from {candidates.min()} to "
                         f"{candidates.max()}")
    return candidates


def disagreement(model: RewardModel, segments: SegmentSet, candidates: np.ndarray,
                 measure: Measure = "probability") -> np.ndarray:
    """(M,) the ensemble's disagreement on each (left, right) candidate pair of segment indices."""
    candidates = _pairs(candidates, len(segments))
    returns = model.returns(segments)  # (members, N)
    difference = returns[:, candidates[:, 0]] - returns[:, candidates[:, 1]]
    if measure == "return":
        return np.asarray(difference.std(axis=0))
    if measure == "probability":
        return np.asarray((1 / (1 + np.exp(-difference))).var(axis=0))
    raise ValueError(f"Expected measure 'probability' or 'return', got {measure!r}")


def select_pairs(model: RewardModel, segments: SegmentSet, candidates: np.ndarray, k: int,
                 measure: Measure = "probability") -> np.ndarray:
    """Indices into `candidates` of the `k` most disputed pairs, most disputed first (ties in candidate order)."""
    if k < 0:
        raise ValueError(f"Expected k >= 0, got {k}")
    scores = disagreement(model, segments, candidates, measure)
    return np.argsort(-scores, kind="stable")[:k]


def random_pairs(segments: int, count: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """(count, 2) random pairs of distinct segment indices: the candidates, or the first labels before any model."""
    if segments < 2:
        raise ValueError(f"Expected at least 2 segments to pair, got {segments}")
    rng = np.random.default_rng(seed)
    left = rng.integers(0, segments, count)
    right = (left + rng.integers(1, segments, count)) % segments  # never the same segment twice
    return np.stack([left, right], axis=1)
