"""The Bradley-Terry preference model on summed per-step rewards: P(left > right) = sigmoid(R_left - R_right).

With imitation's `noise_prob` e the modelled probability is (1 - e) * sigmoid + e / 2: a labeller answers at random
with probability e."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def segment_returns(step_rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(..., N) summed rewards of (..., N, T) per-step rewards over the (N, T) real steps."""
    return (step_rewards * mask).sum(dim=-1)


def probability(return_left: torch.Tensor, return_right: torch.Tensor, noise_prob: float = 0.0) -> torch.Tensor:
    """P(left preferred over right)."""
    p = torch.sigmoid(return_left - return_right)
    return (1 - noise_prob) * p + noise_prob / 2 if noise_prob else p


def loss(return_left: torch.Tensor, return_right: torch.Tensor, label: torch.Tensor,
         noise_prob: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy of soft labels (1 left, 0 right, 0.5 tie) against the Bradley-Terry probability."""
    logit = return_left - return_right
    if not noise_prob:
        return F.binary_cross_entropy_with_logits(logit, label)
    # log((1-e) sigmoid(x) + e/2), in log space so a large |x| does not underflow
    keep, flip = math.log(1 - noise_prob), math.log(noise_prob / 2)
    log_p = torch.logaddexp(keep + F.logsigmoid(logit), torch.full_like(logit, flip))
    log_q = torch.logaddexp(keep + F.logsigmoid(-logit), torch.full_like(logit, flip))
    return -(label * log_p + (1 - label) * log_q).mean()
