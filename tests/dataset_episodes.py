"""Episodes for the dataset writers' tests: every space kind the formats must carry, RLDS-aligned steps with the
JPEG shown, raw input, info and step tags, one episode that terminated and one that was truncated."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import simplejpeg

from playcorder.gym_spaces import space_spec
from playcorder.records import Step
from playcorder.spaces import zeros
from playcorder_exporter.datasets.formats.base import DatasetConfig, EpisodeMeta

SPACES: dict[str, tuple[gym.Space, gym.Space]] = {
    "image": (gym.spaces.Box(0, 255, (16, 16, 3), np.uint8), gym.spaces.Discrete(4)),
    "continuous": (gym.spaces.Box(-np.inf, np.inf, (5,), np.float64), gym.spaces.Box(-1, 1, (2,), np.float32)),
    "discrete": (gym.spaces.Discrete(7), gym.spaces.Discrete(3)),
    "dict": (gym.spaces.Dict({"image": gym.spaces.Box(0, 255, (8, 8, 3), np.uint8),
                              "state": gym.spaces.Box(-1, 1, (4,), np.float32)}),
             gym.spaces.Box(-1, 1, (2,), np.float32)),
}
STEP_TAGS = ("crash", "goal")


def jpeg(rng: np.random.Generator, size: int = 24) -> bytes:
    return simplejpeg.encode_jpeg(rng.integers(0, 255, (size, size, 3), dtype=np.uint8), quality=80)


def make_episodes(kind: str, lengths: tuple[int, ...] = (6, 4, 1), seed: int = 0, keep_metadata: bool = True,
                  spaces: tuple[gym.Space, gym.Space] | None = None,
                  ) -> tuple[DatasetConfig, list[tuple[EpisodeMeta, list[Step]]]]:
    """Episodes of `lengths` steps each (the last step included): the first terminated, the others truncated.
    Returns the config a writer gets and (metadata, steps) per episode (of SPACES[kind], or of `spaces`)."""
    obs_space, act_space = spaces or SPACES[kind]
    obs_space.seed(seed)
    act_space.seed(seed + 1)
    rng = np.random.default_rng(seed)
    config = DatasetConfig(name=f"test_{kind}", version="1.2.0", observation_spec=space_spec(obs_space),
                           action_spec=space_spec(act_space), keep_metadata=keep_metadata, step_tags=STEP_TAGS,
                           fps=10, description=f"{kind} test episodes")
    episodes = []
    for e, n in enumerate(lengths):
        terminated = e == 0
        steps = []
        for i in range(n):
            last = i == n - 1
            steps.append(Step(
                index=i, observation=obs_space.sample(),
                action=zeros(config.action_spec) if last else act_space.sample(),
                reward=0.0 if last else float(rng.normal()), discount=0.0 if last and terminated else 1.0,
                is_first=i == 0, is_last=last, is_terminal=last and terminated, time=1000.0 + i / 10,
                image=jpeg(rng), input={"keys": ["Up"]} if i % 2 else {}, info={"lives": 3 - e, "step": i},
                tags=["goal"] if last and terminated else (["crash"] if i == 1 else []),
            ))
        meta = EpisodeMeta(
            episode_id=f"ep{e}", episode_index=e, agent_id=f"agent{e % 2}", study_id="study1", environment=kind,
            env_id=f"{kind}-v0", state="completed", seed=100 + e, num_steps=n,
            total_reward=float(sum(s.reward for s in steps)), tags=("good",) if e == 0 else (), notes=f"episode {e}",
        )
        episodes.append((meta, steps))
    return config, episodes


def as_array(value: Any) -> Any:
    """A space value with numpy leaves, for comparisons (dicts and tuples kept)."""
    if isinstance(value, dict):
        return {k: as_array(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(as_array(v) for v in value)
    return np.asarray(value)
