"""One episode's bookkeeping on the worker: the pending observation, counters, and RLDS-aligned step records."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from playcorder.records import Step


@dataclass
class Episode:
    """Step i pairs o_i (with the image shown and info) with the action a_i taken at it and its reward r_i."""

    index: int
    seed: int
    observation: Any
    info: dict[str, Any]
    image: bytes
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    step: int = 0
    total_reward: float = 0.0
    closed: bool = False  # the last step (final observation) has been recorded
    active_s: float = 0.0
    running_since: float | None = None

    def transition(
        self, action: Any, reward: float, raw_input: dict[str, Any], obs: Any, info: dict[str, Any], image: bytes,
    ) -> Step:
        record = Step(
            index=self.step, observation=self.observation, action=action, reward=reward, discount=1.0,
            is_first=self.step == 0, is_last=False, is_terminal=False, time=time.time(), image=self.image,
            input=raw_input, info=self.info,
        )
        self.step += 1
        self.total_reward += reward
        self.observation, self.info, self.image = obs, info, image
        return record

    def last(self, placeholder_action: Any, terminated: bool) -> Step | None:
        """The final observation as the last step (once); its action is a placeholder, as RLDS defines it."""
        if self.closed:
            return None
        self.closed = True
        record = Step(
            index=self.step, observation=self.observation, action=placeholder_action, reward=0.0,
            discount=0.0 if terminated else 1.0, is_first=self.step == 0, is_last=True, is_terminal=terminated,
            time=time.time(), image=self.image, input={}, info=self.info,
        )
        self.step += 1
        return record

    def run(self, now: float) -> None:
        if self.running_since is None:
            self.running_since = now

    def stop(self, now: float) -> None:
        if self.running_since is not None:
            self.active_s += now - self.running_since
            self.running_since = None

    def running_s(self, now: float) -> float:
        """Seconds it has been running so far (pauses excluded)."""
        return self.active_s + (now - self.running_since if self.running_since is not None else 0.0)
