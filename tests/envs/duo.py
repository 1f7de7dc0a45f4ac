"""A Gymnasium env played by two agents, 'left' and 'right' (action and observation spaces are Dicts keyed by
agent): each moves its own counter down, not at all, or up (0, 1, 2) and is rewarded by how far up it is, in
info["rewards"]; `shared_reward=True` gives one scalar reward (the sum) instead. The episode ends after `length`
steps. render_agent(agent) shows that agent's half of the frame lit. As 'tests.envs.duo:Duo-v0'."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

AGENTS = ("left", "right")


class DuoEnv(gym.Env[dict[str, np.ndarray], dict[str, int]]):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, render_mode: str | None = None, length: int = 5, shared_reward: bool = False) -> None:
        self.render_mode, self.length, self.shared_reward = render_mode, length, shared_reward
        self.action_space = gym.spaces.Dict({a: gym.spaces.Discrete(3) for a in AGENTS})
        self.observation_space = gym.spaces.Dict({a: gym.spaces.Box(-100, 100, (1,), np.int64) for a in AGENTS})
        self.position = {a: 0 for a in AGENTS}
        self.t = 0

    def _observation(self) -> dict[str, np.ndarray]:
        return {a: np.array([self.position[a]], dtype=np.int64) for a in AGENTS}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        super().reset(seed=seed)
        start = int(self.np_random.integers(0, 5))
        self.position, self.t = {a: start for a in AGENTS}, 0
        return self._observation(), {"start": start}

    def step(self, action: dict[str, int]) -> Any:
        for a in AGENTS:
            self.position[a] += int(action[a]) - 1
        self.t += 1
        rewards = {a: float(self.position[a]) for a in AGENTS}
        info: dict[str, Any] = {"t": self.t}
        if not self.shared_reward:
            info["rewards"] = rewards
        return self._observation(), sum(rewards.values()), self.t >= self.length, False, info

    def _frame(self, lit: str | None) -> np.ndarray:
        frame = np.zeros((32, 64, 3), dtype=np.uint8)
        for i, a in enumerate(AGENTS):
            frame[:, i * 32:(i + 1) * 32, i] = 255 if lit in (None, a) else 40
        return frame

    def render(self) -> np.ndarray:
        return self._frame(None)

    def render_agent(self, agent: str) -> np.ndarray:
        return self._frame(agent)


if "Duo-v0" not in gym.registry:
    gym.register("Duo-v0", entry_point=DuoEnv)
