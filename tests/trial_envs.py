"""Environments that misbehave, for the trial tests: a worker imports this module only where ENV_MODULES (or a
test's EnvAccess) allows it, as 'tests.trial_envs:Die-v0' (or Slow-v0, BreaksLater-v0)."""

from __future__ import annotations

import os
import time
from typing import Any

import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class DyingEnv(CartPoleEnv):
    """Its process exits at reset, as one the kernel killed for its memory would."""

    def reset(self, **kwargs: Any) -> Any:
        os._exit(3)


class SlowEnv(CartPoleEnv):
    """Each step burns `step_s` of CPU (a physics engine that cannot keep up), whatever the machine."""

    def __init__(self, step_s: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step_s = step_s

    def step(self, action: Any) -> Any:
        started = time.process_time()
        while time.process_time() - started < self.step_s:
            pass
        return super().step(action)


class BreaksLaterEnv(CartPoleEnv):
    """Its first step after a reset works, the second raises."""

    def reset(self, **kwargs: Any) -> Any:
        self.stepped = 0
        return super().reset(**kwargs)

    def step(self, action: Any) -> Any:
        self.stepped += 1
        if self.stepped > 1:
            raise RuntimeError("the simulation diverged")
        return super().step(action)


for _id, _entry in (("Die-v0", DyingEnv), ("Slow-v0", SlowEnv), ("BreaksLater-v0", BreaksLaterEnv)):
    if _id not in gym.registry:
        gym.register(_id, entry_point=_entry)
