"""One step's features: the flattened observation followed by the flattened (or one-hot) action.

Every segment of one model must have the same observation and action shapes; a mismatch is an error naming both,
never a silent reshape."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


def _shape(values: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


@dataclass(frozen=True)
class FeatureSpec:
    """Shapes of one step's observation and action (without the leading time axis).

    With `action_classes`, actions are integer class ids (shape ()) encoded one-hot: a discrete action's id is not
    a magnitude the network should read as one."""

    observation_shape: tuple[int, ...]
    action_shape: tuple[int, ...]
    action_classes: int | None = None

    def __post_init__(self) -> None:
        if self.action_classes is not None:
            if self.action_classes < 2:
                raise ValueError(f"Expected action_classes >= 2, got {self.action_classes}")
            if self.action_shape != ():
                raise ValueError(f"Expected scalar actions (shape ()) with action_classes, got shape "
                                 f"{self.action_shape}")

    @property
    def action_size(self) -> int:
        return self.action_classes if self.action_classes is not None else math.prod(self.action_shape)

    @property
    def size(self) -> int:
        return math.prod(self.observation_shape) + self.action_size

    @classmethod
    def infer(cls, observation: np.ndarray, action: np.ndarray, action_classes: int | None = None) -> FeatureSpec:
        """The spec of a segment's (T, ...) observation and action arrays."""
        observation, action = np.asarray(observation), np.asarray(action)
        if observation.ndim < 1 or action.ndim < 1:
            raise ValueError(f"Expected observation and action arrays with a leading time axis (T, ...), got shapes "
                             f"{observation.shape} and {action.shape}")
        return cls(observation.shape[1:], action.shape[1:], action_classes)

    def step_features(self, observation: np.ndarray, action: np.ndarray) -> np.ndarray:
        """(T, size) float32 features of one segment's (T, *observation_shape) and (T, *action_shape) arrays."""
        observation, action = np.asarray(observation), np.asarray(action)
        if observation.shape[1:] != self.observation_shape or observation.ndim != len(self.observation_shape) + 1:
            raise ValueError(f"Expected observation of shape (T, {', '.join(map(str, self.observation_shape))}), "
                             f"got {observation.shape}")
        if action.shape[1:] != self.action_shape or action.ndim != len(self.action_shape) + 1:
            raise ValueError(f"Expected action of shape (T, {', '.join(map(str, self.action_shape))}), "
                             f"got {action.shape}")
        steps = observation.shape[0]
        if action.shape[0] != steps:
            raise ValueError(f"Expected as many actions as observations ({steps}), got {action.shape[0]}")
        if steps == 0:
            raise ValueError("Expected a segment of at least one step, got 0")
        flat_obs = observation.reshape(steps, -1).astype(np.float32)
        return np.concatenate([flat_obs, self._action_features(action)], axis=1)

    def _action_features(self, action: np.ndarray) -> np.ndarray:
        if self.action_classes is None:
            return action.reshape(action.shape[0], -1).astype(np.float32)
        ids = action.astype(np.int64)
        if not np.array_equal(ids, action) or ids.min() < 0 or ids.max() >= self.action_classes:
            raise ValueError(f"Expected integer actions in [0, {self.action_classes}), got values from "
                             f"{action.min()} to {action.max()}")
        return np.eye(self.action_classes, dtype=np.float32)[ids]

    def to_dict(self) -> dict[str, Any]:
        return {"observation_shape": list(self.observation_shape), "action_shape": list(self.action_shape),
                "action_classes": self.action_classes}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(_shape(data["observation_shape"]), _shape(data["action_shape"]), data.get("action_classes"))
