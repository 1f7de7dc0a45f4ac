"""A set of segments as one padded array of step features, the form every training and scoring step reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .features import FeatureSpec


@dataclass(frozen=True)
class SegmentSet:
    """`features` (N, T_max, F) float32, zero past each segment's length; `lengths` (N,) its steps.

    Segments may differ in length (a posted segment holds 1..600 frames); the padding is masked out of returns."""

    features: np.ndarray
    lengths: np.ndarray
    spec: FeatureSpec

    def __post_init__(self) -> None:
        if self.features.ndim != 3 or self.features.shape[2] != self.spec.size:
            raise ValueError(f"Expected features of shape (N, T, {self.spec.size}), got {self.features.shape}")
        if self.lengths.shape != (self.features.shape[0],):
            raise ValueError(f"Expected lengths of shape ({self.features.shape[0]},), got {self.lengths.shape}")

    @classmethod
    def from_arrays(cls, observations: Sequence[np.ndarray], actions: Sequence[np.ndarray],
                    spec: FeatureSpec | None = None, action_classes: int | None = None) -> SegmentSet:
        """Segments from per-segment (T_i, ...) observation and action arrays; the spec is the first one's unless
        given."""
        if len(observations) != len(actions):
            raise ValueError(f"Expected one action array per observation array ({len(observations)}), "
                             f"got {len(actions)}")
        if not observations:
            raise ValueError("Expected at least one segment, got 0")
        spec = spec or FeatureSpec.infer(observations[0], actions[0], action_classes)
        rows = []
        for i, (observation, action) in enumerate(zip(observations, actions, strict=True)):
            try:
                rows.append(spec.step_features(observation, action))
            except ValueError as error:
                raise ValueError(f"Segment {i}: {error}") from None
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        features = np.zeros((len(rows), int(lengths.max()), spec.size), dtype=np.float32)
        for i, row in enumerate(rows):
            features[i, : len(row)] = row
        return cls(features, lengths, spec)

    def __len__(self) -> int:
        return int(self.features.shape[0])

    @property
    def mask(self) -> np.ndarray:
        """(N, T_max) True on real steps."""
        return np.arange(self.features.shape[1])[None, :] < self.lengths[:, None]

    def steps(self, indices: np.ndarray | None = None) -> np.ndarray:
        """(S, F) the real steps of the given segments (all by default), for normalisation statistics."""
        chosen = np.arange(len(self)) if indices is None else np.unique(indices)
        return np.asarray(self.features[chosen][self.mask[chosen]])
