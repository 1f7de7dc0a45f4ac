"""A synthetic labeller (the larger true return wins, as RL-Teacher's SyntheticComparisonCollector) and RL-Teacher's
LabelAnnealer, the schedule of how many labels to have asked for by each point of an agent's training."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .preferences import Preferences, Response


def respond(left_return: float, right_return: float, tolerance: float = 0.0) -> Response:
    """A synthetic labeller's answer: the clip of larger true summed reward; tie when within `tolerance`."""
    if abs(left_return - right_return) <= tolerance:
        return "tie"
    return "left" if left_return > right_return else "right"


def synthetic_preferences(true_returns: np.ndarray, pairs: np.ndarray, tolerance: float = 0.0) -> Preferences:
    """Labels for (M, 2) pairs of indices into `true_returns` (N,)."""
    pairs, true_returns = np.asarray(pairs, dtype=np.int64), np.asarray(true_returns, dtype=np.float64)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"Expected pairs of shape (M, 2), got {pairs.shape}")
    difference = true_returns[pairs[:, 0]] - true_returns[pairs[:, 1]]
    label = np.where(np.abs(difference) <= tolerance, 0.5, (difference > 0).astype(np.float64))
    return Preferences.of(pairs[:, 0], pairs[:, 1], label)


@dataclass(frozen=True)
class LabelAnnealer:
    """n_desired_labels(t) = final_labels * (p + (1 - p) * (1 - 0.01 ** (t / T))), p = pretrain_labels / final_labels.

    At t = 0 it asks for the pretraining labels; the rest follow an exponential approach, reaching 99 % of the way
    to final_labels at t = T (RL-Teacher's formula, which never quite reaches final_labels)."""

    final_timesteps: float
    final_labels: int
    pretrain_labels: int

    def __post_init__(self) -> None:
        if self.final_timesteps <= 0:
            raise ValueError(f"Expected final_timesteps > 0, got {self.final_timesteps}")
        if not 0 <= self.pretrain_labels <= self.final_labels or self.final_labels < 1:
            raise ValueError(f"Expected 0 <= pretrain_labels <= final_labels and final_labels >= 1, got "
                             f"pretrain_labels={self.pretrain_labels}, final_labels={self.final_labels}")

    def n_desired_labels(self, timesteps: float) -> float:
        if timesteps < 0:
            raise ValueError(f"Expected timesteps >= 0, got {timesteps}")
        decay = math.pow(0.01, timesteps / self.final_timesteps)  # 1 -> 0
        pretrain = self.pretrain_labels / self.final_labels
        return self.final_labels * (pretrain + (1 - pretrain) * (1 - decay))
