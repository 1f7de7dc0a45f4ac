"""Training the ensemble on preference labels: each member on its own bootstrap of the labels, Adam, batches of 64.

A Trainer keeps its optimisers and random streams between calls, so labels that arrive later continue the same
run (the training curve and `follow` do this) and the same seed gives the same model. Torch's global random
state is left as it was: initialisation draws from a forked stream, dropout and bootstraps from numpy generators
the trainer seeds."""

from __future__ import annotations

import time

import numpy as np
import torch

from . import bradley_terry
from .config import ModelConfig, TrainConfig
from .features import FeatureSpec
from .model import RewardModel
from .preferences import Preferences
from .segments import SegmentSet


class Trainer:
    def __init__(self, spec: FeatureSpec, model_config: ModelConfig | None = None,
                 config: TrainConfig | None = None) -> None:
        self.config = config or TrainConfig()
        model_config = model_config or ModelConfig()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            self.model = RewardModel(spec, model_config)
        self.model.ensemble.seed_dropout(self.config.seed)
        self._optimisers = [torch.optim.Adam(m.parameters(), lr=self.config.learning_rate,
                                             weight_decay=self.config.weight_decay)
                            for m in self.model.ensemble.members]
        self._rngs = [np.random.default_rng([self.config.seed, i]) for i in range(model_config.members)]
        self._normalised = not model_config.normalise
        self.seconds = 0.0  # spent training, over every call

    def train(self, segments: SegmentSet, preferences: Preferences, epochs: int | None = None) -> float:
        """Train every member for `epochs` (the config's by default) on these labels; the last epoch's mean loss.

        The normalisation is fixed on the first call, from the steps of the segments its labels compare: changing
        it later would move what the network has already learnt."""
        if segments.spec != self.model.spec:
            raise ValueError(f"Expected segments with features {self.model.spec}, got {segments.spec}")
        preferences.check(len(segments))
        features, mask = torch.from_numpy(segments.features), torch.from_numpy(segments.mask)
        if not self._normalised:
            referenced = np.concatenate([preferences.left, preferences.right])
            self.model.ensemble.set_normalisation(torch.from_numpy(segments.steps(referenced)))
            self._normalised = True
        left, right = torch.from_numpy(preferences.left), torch.from_numpy(preferences.right)
        label = torch.from_numpy(preferences.label)
        losses: list[float] = []
        started = time.perf_counter()
        self.model.ensemble.train()
        try:
            for _ in range(self.config.epochs if epochs is None else epochs):
                losses = [self._epoch(i, features, mask, left, right, label) for i in range(len(self._rngs))]
        finally:
            self.model.ensemble.eval()
            self.seconds += time.perf_counter() - started
        return float(np.mean(losses)) if losses else float("nan")

    def _epoch(self, member: int, features: torch.Tensor, mask: torch.Tensor, left: torch.Tensor,
               right: torch.Tensor, label: torch.Tensor) -> float:
        n, rng = len(label), self._rngs[member]
        order = rng.integers(0, n, n) if self.config.bootstrap else rng.permutation(n)
        optimiser, total = self._optimisers[member], 0.0
        for start in range(0, n, self.config.batch_size):
            batch = torch.from_numpy(order[start:start + self.config.batch_size])
            both = torch.cat([left[batch], right[batch]])  # one forward pass for both sides of the pairs
            returns = bradley_terry.segment_returns(self.model.ensemble.member(member, features[both]), mask[both])
            r_left, r_right = returns.chunk(2)
            value = bradley_terry.loss(r_left, r_right, label[batch], self.config.noise_prob)
            optimiser.zero_grad()
            torch.autograd.backward(value)
            optimiser.step()
            total += float(value.detach()) * len(batch)
        return total / n


def fit(segments: SegmentSet, preferences: Preferences, model_config: ModelConfig | None = None,
        config: TrainConfig | None = None) -> RewardModel:
    """A new model trained on these labels."""
    trainer = Trainer(segments.spec, model_config, config)
    trainer.train(segments, preferences)
    return trainer.model
