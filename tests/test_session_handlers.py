"""The env-worker's control-message dispatch: a message type without a handler would fail the whole session, and an
explicit action outside the action space is answered before anything steps."""

from __future__ import annotations

from types import SimpleNamespace
from typing import get_args

import gymnasium as gym
import pytest

from playcorder.inputs import DiscreteMap
from playcorder.messages import ActionInput, CloseSession, SessionState, WorkerInput
from playcorder_env_worker.controls import Controls
from playcorder_env_worker.handlers import HANDLERS


def test_every_control_message_has_a_handler() -> None:
    union, _ = get_args(WorkerInput)
    assert set(get_args(union)) - {CloseSession} == set(HANDLERS)


class _Session:
    """What the action handler uses of a PlaySession: a turn-based episode, paused, on a Discrete(2) space."""

    def __init__(self) -> None:
        self.controls = Controls(DiscreteMap(bindings={"A": 1}), gym.spaces.Discrete(2))
        self.pacer = SimpleNamespace(input_seen=lambda: None)
        self.spec = SimpleNamespace(mode="turn_based")
        self.episode, self.state = object(), SessionState.PAUSED
        self.errors: list[tuple[str, str]] = []
        self.steps: list[object] = []

    async def error(self, code: str, message: str) -> None:
        self.errors.append((code, message))

    async def set_state(self, state: SessionState, reason: str) -> None:
        self.state = state

    async def step(self, action: object) -> None:
        self.steps.append(action)


@pytest.mark.parametrize("action", [2 ** 63, 1e308, -1e308, float("nan"), 2, [0, 1]])
async def test_an_action_outside_the_space_is_answered_and_never_stepped(action: object) -> None:
    s = _Session()
    await HANDLERS[ActionInput](s, ActionInput.model_construct(type="action", action=action, keys=["A"]))
    assert [code for code, _ in s.errors] == ["bad_action"]
    assert s.errors[0][1].startswith("Expected an action in Discrete(2), got ")
    assert s.steps == [] and s.state == SessionState.PAUSED and s.controls.raw() == {}  # nothing taken from it


async def test_an_action_in_the_space_steps_and_records_its_keys() -> None:
    s = _Session()
    await HANDLERS[ActionInput](s, ActionInput(type="action", action=1, keys=["A"]))
    assert s.errors == [] and s.steps == [1] and s.state == SessionState.RUNNING
    assert s.controls.raw() == {"keys": ["A"], "explicit": True}
