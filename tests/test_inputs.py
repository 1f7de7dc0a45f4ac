"""Unit tests of input: key names and input state validation (playcorder.inputs), the env-worker's mappers,
default maps and touch controls."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from playcorder.inputs import (
    AxisBinding,
    ContinuousMap,
    DiscreteMap,
    InputMap,
    InputState,
    KeyBinding,
    ToggleBinding,
    normalise_key,
    parse_combo,
)
from playcorder_env_worker.default_maps import (
    default_arm_map,
    default_atari_map,
    default_box_map,
    default_discrete_map,
    default_map_for,
    default_procgen_map,
)
from playcorder_env_worker.mapping import ContinuousMapper, DiscreteMapper, touch_controls, virtual_keys

PROCGEN_COMBOS = [("LEFT", "DOWN"), ("LEFT",), ("LEFT", "UP"), ("DOWN",), (), ("UP",), ("RIGHT", "DOWN"), ("RIGHT",),
                  ("RIGHT", "UP"), ("D",), ("A",), ("W",), ("S",), ("Q",), ("E",)]


def keys(*names: str) -> InputState:
    return InputState(keys=list(names))


def pad(buttons: dict[int, float] | None = None, axes: dict[int, float] | None = None) -> InputState:
    b, a = [0.0] * 17, [0.0] * 4
    for i, v in (buttons or {}).items():
        b[i] = v
    for i, v in (axes or {}).items():
        a[i] = v
    return InputState(buttons=b, axes=a)


# ---------------------------------------------------------------- key names
@pytest.mark.parametrize(("raw", "canonical"), [
    ("ArrowUp", "Up"), ("Up", "Up"), ("up", "Up"), ("ArrowDown", "Down"), ("ArrowLeft", "Left"),
    ("ArrowRight", "Right"),
    (" ", "Space"), ("Spacebar", "Space"), ("Space", "Space"), ("Enter", "Enter"), ("NumpadEnter", "Enter"),
    ("Escape", "Escape"), ("Esc", "Escape"), ("Shift", "Shift"), ("ShiftLeft", "Shift"), ("ShiftRight", "Shift"),
    ("Control", "Control"), ("ControlLeft", "Control"), ("a", "A"), ("A", "A"), ("KeyA", "A"), ("keyz", "Z"),
    ("1", "1"), ("Digit1", "1"), ("Numpad7", "7"), ("Comma", ","), ("+", "Plus"), ("button3", "Button3"),
    ("Button03", "Button3"), ("axis1-", "Axis1-"), ("f5", "F5"), ("UP", "Up"), (" Tab ", "Tab"),
])
def test_normalise_key(raw: str, canonical: str) -> None:
    assert normalise_key(raw) == canonical


@pytest.mark.parametrize(("raw", "out"), [
    (" MediaPlay ", "MediaPlay"), ("Unidentified", "Unidentified"), ("Axis1", "Axis1"), ("", ""),
])
def test_unknown_keys_pass_through_trimmed(raw: str, out: str) -> None:
    assert normalise_key(raw) == out


@pytest.mark.parametrize(("text", "parsed"), [
    ("Up+Space", ("Up", "Space")), (" space + arrowup ", ("Space", "Up")), ("Up+ArrowUp", ("Up",)),
    ("Axis0+", ("Axis0+",)), ("Axis0++Space", ("Axis0+", "Space")), ("Axis1-+Button7", ("Axis1-", "Button7")),
    ("Shift+Plus", ("Shift", "Plus")),
])
def test_parse_combo(text: str, parsed: tuple[str, ...]) -> None:
    assert parse_combo(text) == parsed


@pytest.mark.parametrize(("text", "message"), [
    ("Uup+Space", "Expected key names like 'Up', 'A', 'Space', 'Button3', 'Axis1-', got 'Uup' in 'Uup+Space'"),
    ("Up+", "Expected a key combination like 'Up+Space', got 'Up+'"),
    ("Up++Space", "Expected a key combination like 'Up+Space', got 'Up++Space'"),
    ("", "Expected a key combination like 'Up+Space', got ''"),
])
def test_parse_combo_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_combo(text)
    assert str(e.value) == message


# ---------------------------------------------------------------- input state
def test_input_state_defaults_and_round_trip() -> None:
    state = InputState(keys=["ArrowUp"], buttons=[1.0], axes=[-0.3], sixdof=[0.0] * 6, touch=["Space"])
    assert InputState.model_validate_json(state.model_dump_json()) == state
    assert state.keys == ["ArrowUp"]  # raw names are kept for the record; mapping normalises them
    assert InputState().model_dump() == {"keys": [], "buttons": [], "axes": [], "sixdof": [], "touch": []}


@pytest.mark.parametrize(("fields", "message"), [
    ({"sixdof": [0.0] * 5}, "Expected 0 or 6 sixdof values (x, y, z, rx, ry, rz), got 5"),
    ({"sixdof": [0, 0, 2, 0, 0, 0]}, "Expected sixdof values in -1..1, got 2.0 at index 2"),
    ({"keys": ["A"] * 33}, "Expected at most 32 held keys, got 33"),
    ({"touch": ["x" * 33]}, "Expected a touch control name of at most 32 characters, got 33"),
    ({"buttons": [0.0, 1.5]}, "Expected gamepad buttons values in 0..1, got 1.5 at index 1"),
    ({"buttons": [-0.2]}, "Expected gamepad buttons values in 0..1, got -0.2 at index 0"),
    ({"buttons": [0.0] * 65}, "Expected at most 64 gamepad buttons, got 65"),
    ({"axes": [0.0, -2.0]}, "Expected gamepad axes values in -1..1, got -2.0 at index 1"),
    ({"axes": [float("nan")]}, "Expected gamepad axes values in -1..1, got nan at index 0"),
    ({"mouse": [1]}, "Extra inputs are not permitted"),
    ({"keys": ["A\x00"]}, "Expected a key name without control characters, got '\\x00' at index 1 in 'A\\x00'"),
    ({"touch": ["Up", "\x1b[A"]}, "Expected a touch control name without control characters, got '\\x1b'"),
    ({"keys": ["x" * 200_000]}, "Expected a key name of at most 32 characters, got 200000: 'xxxx"),
    ({"buttons": [2.0 ** 63]}, "Expected gamepad buttons values in 0..1, got 9.223372036854776e+18 at index 0"),
    ({"axes": [1e308]}, "Expected gamepad axes values in -1..1, got 1e+308 at index 0"),
    ({"axes": [0.0] * 65}, "Expected at most 64 gamepad axes, got 65"),
])
def test_input_state_validation(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError) as e:
        InputState(**fields)
    assert message in str(e.value)


def test_input_state_clamps_driver_noise() -> None:
    assert InputState(axes=[1.0004, -1.0004], buttons=[1.0004]).model_dump(include={"axes", "buttons"}) == {
        "axes": [1.0, -1.0], "buttons": [1.0]}


# ---------------------------------------------------------------- virtual keys
def test_virtual_keys_from_keys_and_touch() -> None:
    state = InputState(keys=["ArrowUp", " ", "KeyW"], touch=["left", "Button2"])
    assert virtual_keys(state) == {"Up", "Space", "W", "Left", "Button2"}


def test_gamepad_dpad_buttons_and_fire() -> None:
    assert virtual_keys(pad({12: 1.0})) == {"Button12", "Up"}
    assert virtual_keys(pad({13: 1.0, 14: 1.0})) == {"Button13", "Button14", "Down", "Left"}
    assert virtual_keys(pad({15: 1.0})) == {"Button15", "Right"}
    assert virtual_keys(pad({0: 1.0})) == {"Button0", "Space"}
    assert virtual_keys(pad({3: 0.9, 7: 0.6})) == {"Button3", "Button7"}


def test_gamepad_threshold() -> None:
    assert virtual_keys(pad({7: 0.5}, {0: 0.5})) == frozenset()
    assert virtual_keys(pad({7: 0.51}, {0: 0.51})) == {"Button7", "Axis0+", "Right"}
    assert virtual_keys(pad({7: 0.3}, {0: -0.3}), dead_zone=0.2) == {"Button7", "Axis0-", "Left"}


def test_left_stick_acts_as_arrows_right_stick_does_not() -> None:
    assert virtual_keys(pad(axes={0: -0.8})) == {"Axis0-", "Left"}
    assert virtual_keys(pad(axes={1: -0.9})) == {"Axis1-", "Up"}  # y is negative upwards
    assert virtual_keys(pad(axes={1: 0.9})) == {"Axis1+", "Down"}
    assert virtual_keys(pad(axes={2: 0.9, 3: -0.9})) == {"Axis2+", "Axis3-"}


# ---------------------------------------------------------------- discrete maps
def test_discrete_map_normalises_combos() -> None:
    m = DiscreteMap(bindings={"arrowup+space": 1, "KeyA": 2, "Axis0+": 3})
    assert m.bindings == {"Up+Space": 1, "A": 2, "Axis0+": 3}
    assert DiscreteMap(bindings={"Up+Space": 1, "Space+Up": 1}).bindings == {"Up+Space": 1}


@pytest.mark.parametrize(("bindings", "message"), [
    ({"Uup": 1}, "Expected key names like 'Up', 'A', 'Space', 'Button3', 'Axis1-', got 'Uup' in 'Uup'"),
    ({"Up+": 1}, "Expected a key combination like 'Up+Space', got 'Up+'"),
    ({"Up": -1}, "Expected action indices >= 0, got -1 for 'Up'"),
    ({"Up+Space": 1, "Space+Up": 2}, "Expected one action per key combination, got 1 and 2 for 'Space+Up'"),
])
def test_discrete_map_validation(bindings: dict, message: str) -> None:
    with pytest.raises(ValidationError) as e:
        DiscreteMap(bindings=bindings)
    assert message in str(e.value)


def test_input_map_is_a_discriminated_union() -> None:
    adapter = TypeAdapter(InputMap)
    assert isinstance(adapter.validate_python({"kind": "discrete", "bindings": {"Up": 1}}), DiscreteMap)
    cont = adapter.validate_python({"kind": "continuous", "keys": [{"key": "q", "dim": 0}], "release": "hold"})
    assert isinstance(cont, ContinuousMap) and cont.keys[0].key == "Q"
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        adapter.validate_python({"kind": "joystick"})


def test_environment_spec_accepts_an_input_map() -> None:
    from playcorder.specs import EnvironmentSpec

    spec = EnvironmentSpec(id="pong", env_id="ALE/Pong-v5", input_map={"kind": "discrete", "bindings": {"ArrowUp": 2}})
    assert spec.input_map == DiscreteMap(bindings={"Up": 2})


def test_largest_combination_wins() -> None:
    mapper = DiscreteMapper(DiscreteMap(bindings={"Up": 2, "Space": 1, "Up+Space": 10, "Up+Right+Space": 14}), 18)
    assert mapper.action(keys()) == 0
    assert mapper.action(keys("ArrowUp")) == 2
    assert mapper.action(keys(" ", "ArrowUp")) == 10
    assert mapper.action(keys("ArrowUp", "ArrowRight", " ")) == 14
    assert mapper.action(keys("ArrowUp", "ArrowRight")) == 2  # Up+Right is unbound: Up is the largest held subset
    assert mapper.action(keys("Q")) == 0


def test_ties_go_to_the_earlier_binding() -> None:
    mapper = DiscreteMapper(DiscreteMap(bindings={"Right": 3, "Space": 1, "Left": 4}), 5)
    assert mapper.action(keys("Space", "Right")) == 3
    assert mapper.action(keys("Left", "Space")) == 1


def test_gamepad_and_touch_drive_discrete_maps() -> None:
    mapper = DiscreteMapper(DiscreteMap(bindings={"Up": 2, "Space": 1, "Up+Space": 10, "Button3": 5}, noop=0), 18)
    assert mapper.action(pad({0: 1.0, 12: 1.0})) == 10
    assert mapper.action(pad({0: 1.0}, {1: -0.7})) == 10
    assert mapper.action(pad({3: 1.0})) == 5
    assert mapper.action(InputState(touch=["Up", "Space"])) == 10


@pytest.mark.parametrize(("bindings", "noop", "message"), [
    ({"Up": 6}, 0, "Expected action indices below 6 (the action space's n), got 6 for 'Up'"),
    ({"Up": 1}, 9, "Expected action indices below 6 (the action space's n), got 9 for 'noop'"),
])
def test_discrete_mapper_checks_actions(bindings: dict, noop: int, message: str) -> None:
    with pytest.raises(ValueError) as e:
        DiscreteMapper(DiscreteMap(bindings=bindings, noop=noop), 6)
    assert str(e.value) == message


def test_held_and_pressed_new() -> None:
    mapper = DiscreteMapper(DiscreteMap(bindings={"Up": 2, "Space": 1, "Shift+Down": 3}), 4)
    none, up, up_fire = keys(), keys("ArrowUp"), keys("ArrowUp", " ")
    assert not mapper.held(none) and mapper.held(up) and mapper.held(pad({12: 1.0}))
    assert not mapper.held(keys("Shift"))  # only part of a combination
    assert not mapper.held(keys("Q"))
    assert mapper.pressed_new(none, up)
    assert not mapper.pressed_new(up, up)  # still held: no new turn
    assert mapper.pressed_new(up, up_fire)
    assert not mapper.pressed_new(up_fire, up)  # releasing never steps
    assert not mapper.pressed_new(none, keys("Shift"))
    assert mapper.pressed_new(keys("Shift"), keys("Shift", "ArrowDown"))
    assert not mapper.pressed_new(none, keys("Q"))


# ---------------------------------------------------------------- continuous maps
def cont(release: str = "return", **kw) -> ContinuousMap:
    return ContinuousMap(keys=[KeyBinding(key="Q", dim=0, direction=1), KeyBinding(key="A", dim=0, direction=-1)],
                         release=release, **kw)


def test_key_ramp_integrates_over_dt_and_returns() -> None:
    mapper = ContinuousMapper(cont(), np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    out = mapper.action(keys("q"), 0.25)
    assert out.dtype == np.float32 and out.shape == (2,)
    np.testing.assert_allclose(out, [0.5, 0.0])
    np.testing.assert_allclose(mapper.action(keys("q"), 0.1), [0.7, 0.0], atol=1e-6)
    np.testing.assert_allclose(mapper.action(keys(), 0.1), [0.5, 0.0], atol=1e-6)  # ramps back, not a jump
    np.testing.assert_allclose(mapper.action(keys(), 1.0), [0.0, 0.0])  # and stops at the centre
    np.testing.assert_allclose(mapper.action(keys("KeyA"), 5.0), [-1.0, 0.0])  # saturates at low


def test_key_ramp_hold_release_and_reset() -> None:
    mapper = ContinuousMapper(cont("hold", ramp_per_s=4.0), np.array([0.0]), np.array([10.0]))
    np.testing.assert_allclose(mapper.action(keys("Q"), 0.1), [7.0])  # centre 5 + 0.4 half-range of 5
    np.testing.assert_allclose(mapper.action(keys(), 1.0), [7.0])
    np.testing.assert_allclose(mapper.action(keys("Q", "A"), 1.0), [7.0])  # opposite keys cancel
    mapper.reset()
    np.testing.assert_allclose(mapper.action(keys(), 0.1), [5.0])


def test_toggle_flips_a_dim_once_per_press_and_reset_restores_its_start() -> None:
    """A gripper on Space: each press flips open/closed, holding it does not flicker, the gamepad's A counts too."""
    m = ContinuousMap(keys=[KeyBinding(key="Q", dim=0, direction=1)], toggles=[ToggleBinding(key="Space", dim=1)])
    mapper = ContinuousMapper(m, np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    np.testing.assert_allclose(mapper.action(keys(), 0.1), [0.0, -1.0])  # starts open (low)
    np.testing.assert_allclose(mapper.action(keys(" ", "q"), 0.1), [0.2, 1.0])
    np.testing.assert_allclose(mapper.action(keys(" "), 1.0), [0.0, 1.0])  # held: no flip back, nor a return
    np.testing.assert_allclose(mapper.action(keys(), 1.0), [0.0, 1.0])
    np.testing.assert_allclose(mapper.action(pad(buttons={0: 1.0}), 0.1), [0.0, -1.0])
    assert mapper.held(keys("Space"))
    mapper.action(keys(), 0.1)
    mapper.action(keys(" "), 0.1)
    mapper.reset()
    np.testing.assert_allclose(mapper.action(keys(), 0.1), [0.0, -1.0])
    mapper.note(keys(" "))  # a tap that came and went between two ticks
    mapper.note(keys())
    np.testing.assert_allclose(mapper.action(keys(), 0.1), [0.0, 1.0])
    with pytest.raises(ValueError, match=r"toggles\[0\]"):
        ContinuousMapper(ContinuousMap(toggles=[ToggleBinding(key="Space", dim=3)]), np.zeros(2), np.ones(2))


def test_arm_map_follows_robosuite_keys() -> None:
    layout = ("x", "y", "z", "rx", "ry", "rz", "gripper")
    mapper = ContinuousMapper(default_arm_map(layout), -np.ones(7), np.ones(7))
    out = mapper.action(keys("ArrowUp", "ArrowRight", ";", "o", " "), 0.25)
    np.testing.assert_allclose(out, [-0.5, 0.5, 0.5, 0.0, 0.0, -0.5, 1.0])
    mapper.reset()
    np.testing.assert_allclose(mapper.action(InputState(sixdof=[1, 0, 0, 0, 0, -1]), 0.1), [1, 0, 0, 0, 0, -1, -1])
    desk = default_arm_map(("x", "y", "z", "rz", "gripper"))
    assert [t.dim for t in desk.toggles] == [4] and {k.key for k in desk.keys if k.dim == 3} == {"O", "P"}
    with pytest.raises(ValueError, match="distinct arm dims"):
        default_arm_map(("x", "elbow"))


def test_axes_rescale_dead_zone_invert_scale_and_clip() -> None:
    m = ContinuousMap(axes=[AxisBinding(source="axis:0", dim=0, dead_zone=0.2),
                            AxisBinding(source="axis:1", dim=1, invert=True, dead_zone=0.0),
                            AxisBinding(source="axis:2", dim=2, scale=3.0)])
    mapper = ContinuousMapper(m, np.array([-1.0, -2.0, 0.0]), np.array([1.0, 2.0, 1.0]))
    np.testing.assert_allclose(mapper.action(pad(axes={0: 0.2}), 0.1), [0.0, 0.0, 0.5])
    np.testing.assert_allclose(mapper.action(pad(axes={0: 0.21}), 0.1)[0], 0.0125, atol=1e-6)  # no jump at the edge
    np.testing.assert_allclose(mapper.action(pad(axes={0: -0.6, 1: -0.5}), 0.1)[:2], [-0.5, 1.0])
    np.testing.assert_allclose(mapper.action(pad(axes={0: 1.0, 2: 0.55}), 0.1), [1.0, 0.0, 1.0])  # 0.5+1.5 clipped
    np.testing.assert_allclose(mapper.action(pad(axes={2: -1.0}), 0.1)[2], 0.0)  # clipped to low


def test_axis_overrides_key_ramp_for_its_dim() -> None:
    m = ContinuousMap(axes=[AxisBinding(source="axis:0", dim=0)], keys=[KeyBinding(key="Right", dim=0, direction=1)])
    mapper = ContinuousMapper(m, np.array([-1.0]), np.array([1.0]))
    np.testing.assert_allclose(mapper.action(keys("Right"), 0.25), [0.5])
    # the stick (also a virtual Right arrow) overrides, and the ramp does not wind up behind it
    np.testing.assert_allclose(mapper.action(pad(axes={0: 0.55}), 1.0), [0.5])
    np.testing.assert_allclose(mapper.action(pad(axes={0: -1.0}), 1.0), [-1.0])
    np.testing.assert_allclose(mapper.action(keys(), 0.1), [0.3], atol=1e-6)


def test_trigger_and_sixdof_sources_and_unbounded_dims() -> None:
    m = ContinuousMap(axes=[AxisBinding(source="button:7", dim=0, dead_zone=0.0),
                            AxisBinding(source="sixdof:5", dim=1, dead_zone=0.0),
                            AxisBinding(source="axis:9", dim=2)])  # absent on this pad: reads as 0
    mapper = ContinuousMapper(m, np.array([0.0, -np.inf, -1.0]), np.array([4.0, np.inf, 1.0]))
    state = InputState(buttons=[0.0] * 7 + [0.5], sixdof=[0, 0, 0, 0, 0, -0.25], axes=[0.0])
    np.testing.assert_allclose(mapper.action(state, 0.1), [3.0, -0.25, 0.0])
    assert mapper.held(state) and not mapper.held(InputState())


def test_continuous_mapper_keeps_the_space_shape() -> None:
    m = ContinuousMap(keys=[KeyBinding(key="W", dim=4, direction=-1)])
    out = ContinuousMapper(m, -np.ones((2, 3), np.float32), np.ones((2, 3), np.float32)).action(keys("w"), 0.5)
    assert out.shape == (2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, [[0, 0, 0], [0, -1, 0]])


@pytest.mark.parametrize(("input_map", "message"), [
    (ContinuousMap(keys=[KeyBinding(key="Q", dim=6)]),
     "Expected dims below 6 (the action space's size), got 6 in keys[0]"),
    (ContinuousMap(axes=[AxisBinding(source="axis:0", dim=0), AxisBinding(source="axis:1", dim=9)]),
     "Expected dims below 6 (the action space's size), got 9 in axes[1]"),
])
def test_continuous_mapper_checks_dims(input_map: ContinuousMap, message: str) -> None:
    with pytest.raises(ValueError) as e:
        ContinuousMapper(input_map, -np.ones(6), np.ones(6))
    assert str(e.value) == message


def test_continuous_mapper_rejects_bad_dt() -> None:
    mapper = ContinuousMapper(cont(), -np.ones(1), np.ones(1))
    with pytest.raises(ValueError, match=r"Expected dt as seconds >= 0, got -0.1"):
        mapper.action(keys(), -0.1)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: AxisBinding(source="axes:0", dim=0),
     "Expected a source like 'axis:0', 'sixdof:2' (0..5) or 'button:7', got 'axes:0'"),
    (lambda: AxisBinding(source="sixdof:6", dim=0), "got 'sixdof:6'"),
    (lambda: AxisBinding(source="axis:0", dim=0, dead_zone=1.0), "Input should be less than 1"),
    (lambda: KeyBinding(key="Q+A", dim=0), "Expected one key name, got 'Q+A'"),
    (lambda: KeyBinding(key="Qq", dim=0), "got 'Qq' in 'Qq'"),
    (lambda: KeyBinding(key="Q", dim=0, direction=0), "Input should be 1 or -1"),
    (lambda: ContinuousMap(ramp_per_s=0), "Input should be greater than 0"),
])
def test_continuous_map_validation(make, message: str) -> None:
    with pytest.raises(ValidationError) as e:
        make()
    assert message in str(e.value)


# ---------------------------------------------------------------- defaults: Atari (real ALE meanings)
@pytest.fixture(scope="module")
def ale_meanings() -> dict[str, list[str]]:
    ale_py = pytest.importorskip("ale_py")
    gym.register_envs(ale_py)
    out = {}
    for name, kwargs in [("Pong", {}), ("Breakout", {}), ("MsPacman", {}), ("Full", {"full_action_space": True})]:
        env = gym.make(f"ALE/{'Pong' if name == 'Full' else name}-v5", **kwargs)
        out[name] = env.unwrapped.get_action_meanings()
        env.close()
    return out


def atari(meanings: list[str]) -> DiscreteMapper:
    return DiscreteMapper(default_atari_map(meanings), len(meanings))


def test_atari_pong(ale_meanings: dict[str, list[str]]) -> None:
    m = ale_meanings["Pong"]
    assert m == ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]
    mapper = atari(m)
    assert mapper.action(keys()) == m.index("NOOP")
    assert mapper.action(keys("ArrowRight", " ")) == m.index("RIGHTFIRE")
    assert mapper.action(keys("a", " ")) == m.index("LEFTFIRE")
    assert mapper.action(keys("ArrowUp", " ")) == m.index("FIRE")  # Pong has no UP: Space alone matches
    assert mapper.action(pad({0: 1.0, 14: 1.0})) == m.index("LEFTFIRE")
    assert touch_controls(mapper.map) == ["Left", "Right", "Space"]


def test_atari_breakout_and_mspacman(ale_meanings: dict[str, list[str]]) -> None:
    breakout = atari(ale_meanings["Breakout"])
    assert breakout.action(keys("ArrowLeft")) == ale_meanings["Breakout"].index("LEFT")
    assert breakout.action(keys("ArrowLeft", " ")) == ale_meanings["Breakout"].index("FIRE")  # tie: FIRE binds first
    m = ale_meanings["MsPacman"]
    pacman = atari(m)
    assert pacman.action(keys("ArrowUp", "ArrowRight")) == m.index("UPRIGHT")
    assert pacman.action(keys("s", "a")) == m.index("DOWNLEFT")
    assert pacman.action(keys(" ")) == m.index("NOOP")
    assert pacman.action(pad(axes={0: 0.9, 1: 0.9})) == m.index("DOWNRIGHT")
    assert touch_controls(pacman.map) == ["Up", "Down", "Left", "Right"]


def test_atari_full_action_space(ale_meanings: dict[str, list[str]]) -> None:
    m = ale_meanings["Full"]
    assert len(m) == 18
    mapper = atari(m)
    cases = {("ArrowUp", " "): "UPFIRE", ("w", " "): "UPFIRE", ("ArrowDown", "ArrowLeft", " "): "DOWNLEFTFIRE",
             ("KeyS", "KeyA", "Space"): "DOWNLEFTFIRE", ("ArrowUp", "ArrowRight"): "UPRIGHT", ("ArrowUp",): "UP",
             (" ",): "FIRE", ("ArrowUp", "ArrowRight", "ArrowDown", " "): "UPRIGHTFIRE"}
    for held, meaning in cases.items():
        assert mapper.action(keys(*held)) == m.index(meaning), (held, meaning)
    assert default_atari_map(m).bindings["Up+Space"] == m.index("UPFIRE")
    assert default_atari_map(m).bindings["W+D"] == m.index("UPRIGHT")
    assert touch_controls(mapper.map) == ["Up", "Down", "Left", "Right", "Space"]


def test_atari_map_rejects_unknown_meanings() -> None:
    with pytest.raises(ValueError, match=r"Expected ALE action meanings made of NOOP, UP, .* FIRE, got 'JUMP' at 2"):
        default_atari_map(["NOOP", "FIRE", "JUMP"])


# ---------------------------------------------------------------- defaults: procgen, Box, Discrete
def test_procgen_map() -> None:
    m = default_procgen_map(PROCGEN_COMBOS)
    assert m.noop == 4 and m.bindings["Left+Down"] == 0 and m.bindings["Q"] == 13 and len(m.bindings) == 14
    mapper = DiscreteMapper(m, 15)
    assert mapper.action(keys()) == 4
    assert mapper.action(keys("ArrowLeft", "ArrowUp")) == 2
    assert mapper.action(keys("ArrowRight")) == 7
    assert mapper.action(keys("KeyD")) == 9 and mapper.action(keys("e")) == 14
    assert touch_controls(m) == ["Up", "Down", "Left", "Right", "D", "A", "W", "S", "Q", "E"]


def test_box_map_for_halfcheetah_shape() -> None:
    space = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
    m = default_map_for(space)
    assert isinstance(m, ContinuousMap)
    assert [(a.source, a.dim, a.invert) for a in m.axes[:6]] == [
        ("axis:0", 0, False), ("axis:1", 1, True), ("axis:2", 2, False), ("axis:3", 3, True), ("button:6", 4, False),
        ("button:7", 5, False)]
    assert [(a.source, a.dim) for a in m.axes[6:]] == [(f"sixdof:{i}", i) for i in range(6)]
    assert [(k.key, k.dim, k.direction) for k in m.keys[:4]] == [("Q", 0, 1), ("A", 0, -1), ("W", 1, 1), ("S", 1, -1)]
    assert {k.key for k in m.keys} == set("QAWSEDRFTGYH")
    assert touch_controls(m) == list("QAWSEDRFTGYH")
    mapper = ContinuousMapper(m, space.low, space.high)
    np.testing.assert_allclose(mapper.action(keys("y"), 0.25), [0, 0, 0, 0, 0, 0.5])
    np.testing.assert_allclose(mapper.action(InputState(sixdof=[1, 0, 0, 0, 0, -1]), 0.0), [1, 0, 0, 0, 0, -1])
    mapper.reset()  # the ramp of Y sat frozen under the 6-DOF override
    np.testing.assert_allclose(mapper.action(pad({6: 1.0}, {1: -1.0}), 0.0), [0, 1, 0, 0, 1, 0])  # stick up is +
    assert space.contains(mapper.action(keys("Q", "S"), 10.0))


def test_box_map_small_spaces_get_arrows() -> None:
    m = default_box_map(np.array([-2.0]), np.array([2.0]))  # Pendulum
    assert [(k.key, k.dim, k.direction) for k in m.keys] == [
        ("Right", 0, 1), ("Left", 0, -1), ("Q", 0, 1), ("A", 0, -1)]
    assert [a.source for a in m.axes] == ["axis:0", "sixdof:0"]
    mapper = ContinuousMapper(m, np.array([-2.0]), np.array([2.0]))
    np.testing.assert_allclose(mapper.action(keys("ArrowRight"), 0.5), [2.0])
    two = default_box_map(-np.ones(2), np.ones(2))
    assert [(k.key, k.dim) for k in two.keys[:4]] == [("Right", 0), ("Left", 0), ("Up", 1), ("Down", 1)]
    assert touch_controls(two) == ["Up", "Down", "Left", "Right"]
    assert len(default_box_map(-np.ones(17), np.ones(17)).keys) == 16  # eight key pairs at most


def test_discrete_defaults() -> None:
    cartpole = default_map_for(gym.spaces.Discrete(2))
    assert cartpole == DiscreteMap(bindings={"Left": 0, "Right": 1, "1": 0, "2": 1}, noop=0)
    mountain_car = default_discrete_map(3)
    assert mountain_car.noop == 1 and mountain_car.bindings["Left"] == 0 and mountain_car.bindings["Right"] == 2
    frozen_lake = DiscreteMapper(default_discrete_map(4), 4)
    assert [frozen_lake.action(keys(k)) for k in ("ArrowLeft", "ArrowDown", "ArrowRight", "ArrowUp")] == [0, 1, 2, 3]
    twelve = default_discrete_map(12)
    assert twelve.bindings["0"] == 9 and "Minus" not in twelve.bindings and max(twelve.bindings.values()) == 9
    assert touch_controls(default_discrete_map(6)) == ["Up", "Down", "Left", "Right", "5", "6"]


def test_discrete_defaults_with_meanings() -> None:
    m = default_discrete_map(4, ["NOOP", "FIRE", "LEFT", "wait"])
    assert m.noop == 0 and m.bindings == {"Space": 1, "Left": 2, "A": 2, "1": 0, "2": 1, "3": 2, "4": 3}
    assert default_discrete_map(2, ["stick", "hit"]).bindings["Left"] == 0  # unparsed meanings: the n rules
    with pytest.raises(ValueError, match=r"Expected 3 action meanings, got 2"):
        default_discrete_map(3, ["LEFT", "RIGHT"])
    with pytest.raises(ValueError, match=r"Expected a Discrete space with n >= 1, got n=0"):
        default_discrete_map(0)


def test_default_map_for_other_spaces_asks_for_an_input_map() -> None:
    expected = r"Expected a Discrete or Box action space .* got MultiDiscrete\(\[3 2\]\); set inp"
    with pytest.raises(ValueError, match=expected):
        default_map_for(gym.spaces.MultiDiscrete([3, 2]))


# ---------------------------------------------------------------- module layout
def test_input_contracts_import_without_numpy_or_gymnasium() -> None:
    """The SDK and the gateway validate input maps; only the env-worker, which maps input, needs numpy."""
    code = ("import sys; sys.modules['numpy'] = sys.modules['gymnasium'] = None; "
            "from playcorder.inputs import InputMap, InputState; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_a_toggle_tapped_between_two_ticks_still_flips() -> None:
    """The worker reads the input at its ticks: a gripper tap of 50 ms at 5 fps comes and goes in between."""
    from playcorder_env_worker.controls import Controls

    controls = Controls(default_arm_map(("x", "gripper")), gym.spaces.Box(-1.0, 1.0, (2,)))
    assert controls.action(0.2)[1] == -1.0
    controls.update(keys(" "))
    controls.update(keys())
    assert controls.action(0.2)[1] == 1.0
