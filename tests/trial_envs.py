"""Environments that misbehave, for the trial tests: a worker imports this module only where ENV_MODULES (or a
test's EnvAccess) allows it, as 'tests.trial_envs:Die-v0'."""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class DyingEnv(CartPoleEnv):
    """Its process exits at reset, as one the kernel killed for its memory would."""

    def reset(self, **kwargs: Any) -> Any:
        os._exit(3)


if "Die-v0" not in gym.registry:
    gym.register("Die-v0", entry_point=DyingEnv)
