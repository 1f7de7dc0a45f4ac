"""The torch modules: an ensemble of MLPs from one step's features to its reward, standardising the features first.

The normalisation (mean and std of the training steps) lives in the ensemble's buffers, so the saved state dict
alone reproduces predictions."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .config import ModelConfig

MIN_STD = 1e-6  # a constant feature is left as it is, not divided by ~0


class Dropout(nn.Module):
    """Dropout whose mask comes from numpy's random bytes (a byte below round(p * 256) drops its unit).

    On the CPU, torch's dropout spends most of a training step drawing its mask (about 10x slower for these
    sizes); numpy's generator is also one the trainer seeds and owns, leaving torch's global state alone."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p, self.threshold = p, round(p * 256)
        self.rng = np.random.default_rng(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.threshold:
            return x
        keep = np.frombuffer(self.rng.bytes(x.numel()), dtype=np.uint8).reshape(x.shape) >= self.threshold
        return x * torch.from_numpy(keep) * (256 / (256 - self.threshold))

    def extra_repr(self) -> str:
        return f"p={self.p}"


def mlp(inputs: int, config: ModelConfig) -> nn.Sequential:
    """RL-Teacher's FullyConnectedMLP: Dense, LeakyReLU, Dropout per hidden layer, then one linear output."""
    layers: list[nn.Module] = []
    width = inputs
    for hidden in config.hidden:
        layers += [nn.Linear(width, hidden), nn.LeakyReLU(config.leaky_slope), Dropout(config.dropout)]
        width = hidden
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class Ensemble(nn.Module):
    """`members` independent MLPs sharing the input normalisation."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, features: int, config: ModelConfig) -> None:
        super().__init__()
        self.members = nn.ModuleList(mlp(features, config) for _ in range(config.members))
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    def set_normalisation(self, steps: torch.Tensor) -> None:
        """Standardise by these (S, F) steps' statistics."""
        self.mean.copy_(steps.mean(dim=0))
        self.std.copy_(steps.std(dim=0, unbiased=False).clamp_min(MIN_STD) if len(steps) > 1
                       else torch.ones_like(self.std))

    def seed_dropout(self, seed: int) -> None:
        """Give every dropout layer its own stream, from the seed, the member and the layer."""
        for i, member in enumerate(self.members):
            for j, layer in enumerate(m for m in member.modules() if isinstance(m, Dropout)):
                layer.rng = np.random.default_rng([seed, i, j])

    def member(self, index: int, features: torch.Tensor) -> torch.Tensor:
        """(...,) per-step rewards of one member for (..., F) features."""
        network = self.members[index]
        return network((features - self.mean) / self.std).squeeze(-1)  # type: ignore[no-any-return]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(members, ...) per-step rewards of every member."""
        return torch.stack([self.member(i, features) for i in range(len(self.members))])
