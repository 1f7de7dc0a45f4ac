"""Scripted policies for tests/test_policies.py, named as 'tests.policy_scripts:<name>' entry points."""

from __future__ import annotations

import threading
import time
from time import sleep  # noqa: F401  (an imported callable: not defined here, so not an entry point)
from typing import Any

import numpy as np

calls: list[dict[str, Any]] = []  # what each call saw, for the tests to read


def by_observation(observation: Any, agent: str) -> int:
    """Discrete: the observation's sum modulo 4."""
    calls.append({"agent": agent, "thread": threading.get_ident()})
    return int(np.asarray(observation).sum()) % 4


def slow(observation: Any, agent: str) -> int:
    time.sleep(float(np.asarray(observation).reshape(-1)[0]))
    return 1


def out_of_range(observation: Any, agent: str) -> int:
    return 99


def crashes(observation: Any, agent: str) -> int:
    raise RuntimeError("the script broke")


def box_action(observation: Any, agent: str) -> np.ndarray:
    return np.full(2, 0.5, dtype=np.float32)


class Counter:
    """Made with (agent, action_space); act counts the steps of the episode, reset starts again at 0."""

    made: list[tuple[str, Any]] = []
    closed: list[str] = []

    def __init__(self, agent: str, action_space: Any) -> None:
        self.agent, self.count = agent, 0
        Counter.made.append((agent, action_space))

    def act(self, observation: Any) -> int:
        self.count += 1
        return (self.count - 1) % 4

    def reset(self) -> None:
        self.count = 0

    def close(self) -> None:
        Counter.closed.append(self.agent)


class NoAct:
    def __init__(self, agent: str, action_space: Any) -> None:
        pass


class NeedsMore:
    def __init__(self, agent: str, action_space: Any, model_path: str) -> None:
        pass
