"""A PettingZoo parallel env whose agents end at different steps: 'fast' terminates at step 2, 'slow' at step 4
(each observes the step count and its own last action). Registered in PettingZoo's registry as 'tests/race-v0',
i.e. 'pettingzoo/tests/race_v0', when this module is imported."""

from __future__ import annotations

from typing import Any

import numpy as np
import pettingzoo
from gymnasium import spaces
from pettingzoo import ParallelEnv

ENDS = {"fast": 2, "slow": 4}


class RaceEnv(ParallelEnv):  # type: ignore[misc]
    metadata = {"render_modes": ["rgb_array"], "name": "race_v0"}

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        self.possible_agents = list(ENDS)
        self.agents: list[str] = []
        self.t = 0
        self.seen: list[dict[str, Any]] = []  # the actions each step got

    def observation_space(self, agent: str) -> spaces.Space:
        return spaces.Box(0, 100, (2,), np.int64)

    def action_space(self, agent: str) -> spaces.Space:
        return spaces.Discrete(4)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        self.agents, self.t, self.seen = list(self.possible_agents), 0, []
        return {a: np.array([0, 0]) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> Any:
        if set(actions) != set(self.agents):
            raise AssertionError(f"actions for {sorted(actions)}, but the live agents are {self.agents}")
        self.t += 1
        self.seen.append(dict(actions))
        observations = {a: np.array([self.t, int(actions[a])]) for a in self.agents}
        rewards = {a: 1.0 for a in self.agents}
        terminations = {a: self.t >= ENDS[a] for a in self.agents}
        truncations = {a: False for a in self.agents}
        infos: dict[str, dict[str, Any]] = {a: {} for a in self.agents}
        self.agents = [a for a in self.agents if not terminations[a]]
        return observations, rewards, terminations, truncations, infos

    def render(self) -> np.ndarray:
        return np.full((16, 16, 3), self.t * 10, dtype=np.uint8)


if "tests/race-v0" not in pettingzoo.parallel_registry:
    pettingzoo.register("parallel", "tests/race-v0", entry_point=RaceEnv)
