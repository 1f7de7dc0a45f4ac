"""Unit tests of the limits on what a client sends: message fields (playcorder.messages), explicit actions checked
against the action space before stepping (envs.to_action), and the size of the input recorded with each step."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from pydantic import ValidationError

from playcorder.gym_spaces import space_spec
from playcorder.inputs import MAX_GAMEPAD, MAX_HELD, MAX_NAME, DiscreteMap, InputState
from playcorder.messages import ActionInput, client_message
from playcorder.records import Step, encode_chunk
from playcorder_env_worker.controls import Controls
from playcorder_env_worker.envs import to_action


def msg(kind: str, **fields: object) -> str:
    return json.dumps({"type": kind, **fields})


def rejected(raw: str) -> str:
    with pytest.raises(ValidationError) as e:
        client_message.validate_json(raw)
    return str(e.value)


# ---------------------------------------------------------------- message fields
@pytest.mark.parametrize(("raw", "message"), [
    (msg("action", action=1, keys=["A"] * 200_000), "Expected at most 32 held keys, got 200000"),
    (msg("action", action=1, keys=["x" * 1_000_000]), "Expected a key name of at most 32"),
    (msg("action", action=1, keys=["A\x00"]), "Expected a key name without control characters"),
    ('{"type": "action", "action": NaN}', "Expected an action of finite numbers"),
    ('{"type": "action", "action": 1e400}', "Expected an action of finite numbers"),
    ('{"type": "action", "action": {"a": null}}', "Expected an action of finite numbers or texts (in lists, or "
                                                "objects for Dict spaces), got None"),
    ('{"type": "action", "action": "go\\u0000"}', "Expected an action text without control characters"),
    (msg("action", action="a" * 1025), "Expected an action text of at most 1024 characters, got 1025"),
    ('{"type": "action", "action": [1, null]}', "Expected an action of finite numbers"),
    ('{"type": "action", "action": ' + "[" * 20 + "]" * 20 + "}", "Expected an action nested at most 8 deep"),
    (msg("action", action=[0.5] * 5000), "Expected an action of at most 4096 numbers"),
    ('{"type": "action", "action": {"a\\u0000": 1}}', "Expected action keys without control characters"),
    ('{"type": "select_env", "env": "pong\\u0000"}', "Expected an environment key without control characters"),
    (msg("select_env", env="p" * 300), "Expected an environment key of at most 256 characters"),
    ('{"type": "set_camera", "camera": 9223372036854775808}', "camera.index"),
    ('{"type": "set_camera", "camera": 256}', "Input should be less than or equal to 255"),
    ('{"type": "set_camera", "camera": -1}', "Input should be greater than or equal to 0"),
    ('{"type": "set_camera", "camera": "top\\u0007"}', "Expected a camera name without control characters"),
    (msg("set_camera", camera="c" * 65), "Expected a camera name of at most 64 characters"),
    ('{"type": "set_fps", "fps": 1e308}', "set_fps.fps"),
    ('{"type": "set_quality", "jpeg_quality": -9223372036854775809}', "set_quality.jpeg_quality"),
    ('{"type": "input", "touch": ["Up\\u0000"]}', "Expected a touch control name without control characters"),
])
def test_client_message_limits(raw: str, message: str) -> None:
    assert message in rejected(raw)


def test_valid_messages_still_pass() -> None:
    msg = client_message.validate_json('{"type": "action", "action": [0.5, -1], "keys": ["ArrowUp", " "]}')
    assert isinstance(msg, ActionInput) and msg.action == [0.5, -1] and msg.keys == ["ArrowUp", " "]
    assert client_message.validate_json('{"type": "action", "action": 9223372036854775808}').action == 2 ** 63
    assert client_message.validate_json('{"type": "set_camera", "camera": 2}').camera == 2
    assert client_message.validate_json('{"type": "set_camera", "camera": "track"}').camera == "track"
    assert client_message.validate_json('{"type": "select_env", "env": "procgen/coinrun"}').env == "procgen/coinrun"


# ---------------------------------------------------------------- explicit actions against the space
@pytest.mark.parametrize(("space", "raw", "message"), [
    (gym.spaces.Discrete(3), 2 ** 63, "Expected an action in Discrete(3), got 9223372036854775808: outside 0..2"),
    (gym.spaces.Discrete(3), 1e308, "Expected an action in Discrete(3), got 1e+308: outside 0..2"),
    (gym.spaces.Discrete(3), -1e308, "got -1e+308: outside 0..2"),
    (gym.spaces.Discrete(3), float("nan"), "got nan: expected integers, got nan"),
    (gym.spaces.Discrete(3), float("inf"), "got inf: expected integers, got inf"),
    (gym.spaces.Discrete(3), True, "got True: expected an integer, got a bool"),
    (gym.spaces.Discrete(3), 1.5, "got 1.5: expected integers"),
    (gym.spaces.Discrete(3, start=-1), 2, "Expected an action in Discrete(3, start=-1), got 2: outside -1..1"),
    (gym.spaces.Box(-1, 1, (2,)), [1e308, 0], "Box(-1.0, 1.0, (2,), float32), got [1e+308, 0]: 1e+308 at index (0,)"),
    (gym.spaces.Box(-1, 1, (2,)), [2 ** 2000, 0], "int too large to convert to float"),
    (gym.spaces.Box(-1, 1, (2,)), [0.5], "expected shape (2,) (2 values at depth 0), got a list of 1"),
    (gym.spaces.Box(-1, 1, (2,)), [[0.5], [0.5]], "expected numbers, got list [0.5]"),
    (gym.spaces.Box(0, 255, (2,), np.uint8), [2 ** 63, 0], "9223372036854775808 at index (0,) is outside 0..255"),
    (gym.spaces.MultiDiscrete([3, 4]), [2, 4], "4 at index (1,) is outside 0..3"),
    (gym.spaces.MultiBinary(2), [0, 2], "2 at index (1,) is outside 0..1"),
    (gym.spaces.Dict({"a": gym.spaces.Discrete(2)}), {"b": 1}, "expected an object with keys ['a']"),
    (gym.spaces.Tuple([gym.spaces.Discrete(2)]), [1, 1], "expected a list of 1 actions"),
])
def test_to_action_rejects_what_the_space_does_not_contain(space: gym.Space, raw: object, message: str) -> None:
    with pytest.raises(ValueError) as e:
        to_action(space, raw)
    assert message in str(e.value)


def test_to_action_quotes_a_long_action_truncated() -> None:
    with pytest.raises(ValueError) as e:
        to_action(gym.spaces.Box(-1, 1, (1000,)), [5.0] * 1000)
    assert len(str(e.value)) < 400 and "..." in str(e.value)


def test_to_action_keeps_valid_actions() -> None:
    assert to_action(gym.spaces.Discrete(3), 2.0) == 2
    box = to_action(gym.spaces.Box(-1, 1, (2,)), [1, -0.25])
    assert box.dtype == np.float32 and box.tolist() == [1.0, -0.25]
    both = to_action(gym.spaces.Dict({"a": gym.spaces.Discrete(2), "b": gym.spaces.MultiBinary(2)}),
                     {"a": 1, "b": [1, 0]})
    assert both["a"] == 1 and both["b"].tolist() == [1, 0]


# ---------------------------------------------------------------- recorded input
def test_a_full_chunk_of_steps_with_the_largest_input_fits_the_default_payload() -> None:
    """The input recorded with each step is bounded by the message limits: 64 steps (CHUNK_MAX_STEPS) holding
    every key, button and axis there can be, with the longest 4-byte-UTF-8 names, fit NATS' default 1 MiB."""
    space = gym.spaces.Discrete(2)
    controls = Controls(DiscreteMap(bindings={"A": 1}), space)
    name = "\U0001f600" * MAX_NAME
    controls.update(InputState(keys=[name] * MAX_HELD, touch=[name] * MAX_HELD, buttons=[0.123456789] * MAX_GAMEPAD,
                               axes=[-0.123456789] * MAX_GAMEPAD, sixdof=[0.123456789] * 6))
    controls.set_explicit(1)
    raw = controls.raw()
    assert raw["explicit"] is True and len(raw["keys"]) == MAX_HELD
    obs = gym.spaces.Box(-1, 1, (4,))
    steps = [Step(i, np.zeros(4, np.float32), 1, 0.0, 1.0, i == 0, False, False, 0.0, input=raw) for i in range(64)]
    data = encode_chunk("e", 0, steps, space_spec(obs), space_spec(space))
    assert len(data) < (1 << 20) - 4096


def test_integers_of_any_size_reach_the_worker_check() -> None:
    """The gateway lets any JSON integer through to the space check (which names the space), never raising."""
    assert client_message.validate_json(msg("action", action=[2 ** 2000, -(2 ** 2000)])).action[0] == 2 ** 2000
    with pytest.raises(ValueError, match="int too large to convert to float"):
        to_action(gym.spaces.Box(-1, 1, (1,)), [2 ** 2000])
