"""Preference labels over pairs of segments as the soft targets of the Bradley-Terry loss.

left = 1, right = 0, tie = 0.5 (imitation's soft label: both clips equally good); "can't tell" carries no
information about the reward and is dropped, as in RL-Teacher."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Response = Literal["left", "right", "tie", "cant_tell"]
TARGETS: dict[str, float] = {"left": 1.0, "right": 0.0, "tie": 0.5}
RESPONSES = (*TARGETS, "cant_tell")


@dataclass(frozen=True)
class Preferences:
    """Pairs (`left[i]`, `right[i]`) of indices into a SegmentSet and the target P(left preferred) `label[i]`."""

    left: np.ndarray
    right: np.ndarray
    label: np.ndarray

    def __post_init__(self) -> None:
        n = self.left.shape
        if len(n) != 1 or self.right.shape != n or self.label.shape != n:
            raise ValueError(f"Expected left, right and label of one shape (N,), got {self.left.shape}, "
                             f"{self.right.shape} and {self.label.shape}")
        if n[0] and (self.label.min() < 0 or self.label.max() > 1):
            raise ValueError(f"Expected labels in [0, 1], got values from {self.label.min()} to {self.label.max()}")

    @classmethod
    def of(cls, left: Sequence[int] | np.ndarray, right: Sequence[int] | np.ndarray,
           label: Sequence[float] | np.ndarray) -> Preferences:
        return cls(np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64),
                   np.asarray(label, dtype=np.float32))

    @classmethod
    def from_responses(cls, left: Sequence[int], right: Sequence[int], responses: Sequence[str]) -> Preferences:
        """Labels from labellers' responses; cant_tell answers are dropped."""
        if not len(left) == len(right) == len(responses):
            raise ValueError(f"Expected one response per pair ({len(left)}), got {len(responses)}")
        unknown = sorted({r for r in responses if r not in RESPONSES})
        if unknown:
            raise ValueError(f"Expected responses among {list(RESPONSES)}, got {unknown}")
        keep = [i for i, r in enumerate(responses) if r in TARGETS]
        return cls.of([left[i] for i in keep], [right[i] for i in keep], [TARGETS[responses[i]] for i in keep])

    def __len__(self) -> int:
        return int(self.left.shape[0])

    def take(self, indices: np.ndarray | slice) -> Preferences:
        return Preferences(self.left[indices], self.right[indices], self.label[indices])

    def check(self, segments: int) -> None:
        """Refuse pairs that point past a set of `segments` segments, or an empty set of labels."""
        if len(self) == 0:
            raise ValueError("Expected at least one preference label (left, right or tie), got 0")
        highest = int(max(self.left.max(), self.right.max()))
        lowest = int(min(self.left.min(), self.right.min()))
        if lowest < 0 or highest >= segments:
            raise ValueError(f"Expected segment indices in [0, {segments}), got values from {lowest} to {highest}")

    def split(self, holdout: float, seed: int) -> tuple[Preferences, Preferences]:
        """(train, held out): a random `holdout` share of the pairs held out for evaluation."""
        if not 0.0 <= holdout < 1.0:
            raise ValueError(f"Expected holdout in [0, 1), got {holdout}")
        order = np.random.default_rng(seed).permutation(len(self))
        cut = int(round(len(self) * holdout))
        return self.take(np.sort(order[cut:])), self.take(np.sort(order[:cut]))
