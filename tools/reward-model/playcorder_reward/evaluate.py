"""How well a model orders held-out pairs: agreement (share of pairs whose predicted return difference has the sign
of the truth) and the Bradley-Terry loss of the ensemble's mean return.

Ties in the truth are left out of agreement: no sign to agree with. The truth is a labeller's answer or, for
synthetic data, the sign of the true return difference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import bradley_terry
from .model import RewardModel
from .preferences import Preferences
from .segments import SegmentSet


def agreement(predicted_difference: np.ndarray, label: np.ndarray) -> float | None:
    """Share of non-tie pairs (label != 0.5) where sign(predicted R_left - R_right) matches the label (1 left,
    0 right); None when every pair is a tie."""
    predicted_difference, label = np.asarray(predicted_difference), np.asarray(label)
    if predicted_difference.shape != label.shape:
        raise ValueError(f"Expected one predicted difference per label {label.shape}, got "
                         f"{predicted_difference.shape}")
    decided = label != 0.5
    if not decided.any():
        return None
    truth = label[decided] > 0.5
    return float(np.mean((predicted_difference[decided] > 0) == truth))


@dataclass(frozen=True)
class Evaluation:
    pairs: int
    agreement: float | None
    loss: float


def evaluate(model: RewardModel, segments: SegmentSet, preferences: Preferences) -> Evaluation:
    """Agreement and loss of the ensemble (mean return over members) on these labelled pairs."""
    preferences.check(len(segments))
    returns = model.returns(segments).mean(axis=0)
    r_left, r_right = returns[preferences.left], returns[preferences.right]
    value = bradley_terry.loss(torch.from_numpy(r_left), torch.from_numpy(r_right),
                               torch.from_numpy(preferences.label))
    return Evaluation(len(preferences), agreement(r_left - r_right, preferences.label), float(value))
