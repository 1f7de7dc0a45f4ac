"""The env-worker's control-message dispatch: a message type without a handler would fail the whole session."""

from __future__ import annotations

from typing import get_args

from playcorder.messages import CloseSession, WorkerInput
from playcorder_env_worker.handlers import HANDLERS


def test_every_control_message_has_a_handler() -> None:
    union, _ = get_args(WorkerInput)
    assert set(get_args(union)) - {CloseSession} == set(HANDLERS)
