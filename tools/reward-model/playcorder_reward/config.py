"""The reward model's settings: the network (saved with the model) and the training run (saved in the summary)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Network = Literal["mlp"]


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"Expected {name} > 0, got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """An ensemble of small MLPs over one step's features; RL-Teacher's predictor is one member of 64-64.

    `leaky_slope` 0.3 is Keras's LeakyReLU default, which RL-Teacher's predictor used (torch's is 0.01)."""

    members: int = 3
    hidden: tuple[int, ...] = (64, 64)
    dropout: float = 0.5
    leaky_slope: float = 0.3
    normalise: bool = True  # features standardised by the training steps' mean and std
    network: Network = "mlp"

    def __post_init__(self) -> None:
        if self.members < 1:
            raise ValueError(f"Expected members >= 1, got {self.members}")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(f"Expected hidden layer sizes >= 1 (at least one layer), got {list(self.hidden)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"Expected dropout in [0, 1), got {self.dropout}")
        if self.network != "mlp":
            raise ValueError(f"Expected network 'mlp', got {self.network!r}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hidden"] = list(self.hidden)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Expected model config keys among {sorted(known)}, got unknown {unknown}")
        values = dict(data)
        if "hidden" in values:
            values["hidden"] = tuple(int(h) for h in values["hidden"])
        return cls(**values)


@dataclass(frozen=True)
class TrainConfig:
    """Adam on batches of 64 preference pairs, as RL-Teacher; each member on its own bootstrap of the labels.

    `noise_prob` is imitation's: the model's P(left > right) is mixed with a coin flip, which keeps a few
    mislabelled pairs from driving returns apart without bound."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    noise_prob: float = 0.0
    bootstrap: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"Expected epochs >= 0, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"Expected batch_size >= 1, got {self.batch_size}")
        _positive("learning_rate", self.learning_rate)
        if self.weight_decay < 0:
            raise ValueError(f"Expected weight_decay >= 0, got {self.weight_decay}")
        if not 0.0 <= self.noise_prob < 1.0:
            raise ValueError(f"Expected noise_prob in [0, 1), got {self.noise_prob}")
