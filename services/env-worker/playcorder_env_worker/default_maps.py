"""Default input maps per action space and family: ALE meanings, procgen's button combos, Box and Discrete spaces."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gymnasium import spaces

from playcorder.inputs import (
    AxisBinding,
    ContinuousMap,
    DiscreteMap,
    InputMap,
    KeyBinding,
    ToggleBinding,
    normalise_key,
)

_ALE_WORDS = {"UP": "Up", "DOWN": "Down", "LEFT": "Left", "RIGHT": "Right", "FIRE": "Space"}
_WASD = {"Up": "W", "Down": "S", "Left": "A", "Right": "D", "Space": "Space"}


def _ale_keys(meaning: str) -> list[str]:
    """'UPLEFTFIRE' -> ['Up', 'Left', 'Space']; [] when it is not made of ALE's words."""
    rest, keys = meaning.strip().upper(), []
    while rest:
        word = next((w for w in _ALE_WORDS if rest.startswith(w)), None)
        if word is None:
            return []
        keys.append(_ALE_WORDS[word])
        rest = rest[len(word):]
    return keys


def _meaning_bindings(meanings: Sequence[str], strict: bool) -> tuple[dict[str, int], int]:
    combos, noop = [], 0
    for i, meaning in enumerate(meanings):
        if meaning.strip().upper() == "NOOP":
            noop = i
        elif keys := _ale_keys(meaning):
            combos.append((keys, i))
        elif strict:
            raise ValueError(
                f"Expected ALE action meanings made of NOOP, UP, DOWN, LEFT, RIGHT, FIRE, got {meaning!r} at {i}")
    bindings: dict[str, int] = {}
    for keys, i in combos:  # arrows first, then WASD as alternatives, so ties keep preferring arrows
        bindings.setdefault("+".join(keys), i)
    for keys, i in combos:
        bindings.setdefault("+".join(_WASD[k] for k in keys), i)
    return bindings, noop


def default_atari_map(meanings: Sequence[str]) -> DiscreteMap:
    """ALE meanings -> arrows + Space (UPFIRE: 'Up+Space'), with WASD + Space as alternatives; NOOP is the noop."""
    bindings, noop = _meaning_bindings(meanings, strict=True)
    return DiscreteMap(bindings=bindings, noop=noop)


def default_procgen_map(combos: Sequence[tuple[str, ...]]) -> DiscreteMap:
    """Procgen's button combos (('LEFT', 'UP'), ('D',), ...) -> arrows and letter keys; the empty combo is the noop."""
    bindings, noop = {}, 0
    for i, combo in enumerate(combos):
        if not combo:
            noop = i
        else:
            bindings.setdefault("+".join(normalise_key(b) for b in combo), i)
    return DiscreteMap(bindings=bindings, noop=noop)


_KEY_PAIRS = ("QA", "WS", "ED", "RF", "TG", "YH", "UJ", "IK")  # + and - keys of dims 0..7


def default_box_map(low: np.ndarray, high: np.ndarray) -> ContinuousMap:
    """Gamepad axes 0-3 then triggers (buttons 6, 7) and 6-DOF axes drive dims in order; key pairs Q/A, W/S, ...
    ramp them.

    Stick y axes are inverted so pushing up is positive, like the Up arrow; 1-2 dim spaces also get the arrows.
    """
    n = np.asarray(low).size
    if n == 0 or np.asarray(high).size != n:
        raise ValueError(
            f"Expected low and high with one or more values each, got {np.shape(low)} and {np.shape(high)}")
    axes = [AxisBinding(source=f"axis:{i}", dim=i, invert=i in (1, 3)) for i in range(min(n, 4))]
    # triggers rest at 0, so they push their dims from the centre towards high only
    axes += [AxisBinding(source=f"button:{b}", dim=d) for d, b in ((4, 6), (5, 7)) if d < n]
    axes += [AxisBinding(source=f"sixdof:{i}", dim=i) for i in range(min(n, 6))]
    pairs = [("Right", "Left"), ("Up", "Down")][:n] if n <= 2 else []
    pairs += [tuple(p) for p in _KEY_PAIRS[:n]]  # after the arrows, so d % n restarts at dim 0
    keys = [KeyBinding(key=k, dim=d % n, direction=s) for d, pair in enumerate(pairs)
            for k, s in zip(pair, (1, -1), strict=True)]
    return ContinuousMap(axes=axes, keys=keys)


def default_discrete_map(n: int, meanings: Sequence[str] | None = None) -> DiscreteMap:
    """Other Discrete spaces: ALE-style meanings if given, else n=2: Left 0, Right 1; n=3: Left 0, Right 2, noop 1
    (MountainCar, Acrobot); n>=4: Left 0, Down 1, Right 2, Up 3 (FrozenLake). Digits '1'..'9', '0' pick actions 0..9.
    """
    if n < 1:
        raise ValueError(f"Expected a Discrete space with n >= 1, got n={n}")
    if meanings is not None and len(meanings) != n:
        raise ValueError(f"Expected {n} action meanings, got {len(meanings)}")
    bindings, noop = _meaning_bindings(meanings, strict=False) if meanings else ({}, 0)
    if not bindings:
        arrows = {2: ("Left", "Right"), 3: ("Left", "", "Right")}.get(n, ("Left", "Down", "Right", "Up"))
        bindings, noop = {k: a for a, k in enumerate(arrows[:n]) if k}, 1 if n == 3 else noop
    for a in range(min(n, 10)):
        bindings.setdefault(str((a + 1) % 10), a)
    return DiscreteMap(bindings=bindings, noop=noop)


def default_map_for(space: spaces.Space, meanings: Sequence[str] | None = None) -> InputMap:
    """The default input map for a Discrete or Box action space (meanings: ALE-style names of discrete actions)."""
    if isinstance(space, spaces.Discrete):
        return default_discrete_map(int(space.n), meanings)
    if isinstance(space, spaces.Box):
        return default_box_map(space.low, space.high)
    raise ValueError(f"Expected a Discrete or Box action space for a default input map, got {space}; "
                     "set input_map in the environment spec")


# Robot arms in operational space, as robosuite's own keyboard device (robosuite/devices/keyboard.py) drives them:
# Up/Down -x/+x, Left/Right -y/+y, ';'/'.' up/down, E/R roll, H/Y pitch, O/P yaw, Space toggles the gripper.
ARM_DIMS = ("x", "y", "z", "rx", "ry", "rz", "gripper")
_ARM_KEYS = {"x": ("Down", "Up"), "y": ("Right", "Left"), "z": (";", "."), "rx": ("R", "E"), "ry": ("Y", "H"),
             "rz": ("P", "O")}  # (+ key, - key)
_ARM_SIXDOF = {"x": 0, "y": 1, "z": 2, "rx": 3, "ry": 4, "rz": 5}
# gamepad: left stick moves in the table's plane (up = -x, as the Up arrow; right = +y), right stick y lifts
# (up = +z) and its x turns about z
_ARM_AXES = {"x": ("axis:1", False), "y": ("axis:0", False), "z": ("axis:3", True), "rz": ("axis:2", False)}


def default_arm_map(layout: Sequence[str]) -> ContinuousMap:
    """An end-effector delta action whose dims are named by `layout` (of ARM_DIMS, e.g. robosuite's OSC_POSE
    ('x', 'y', 'z', 'rx', 'ry', 'rz', 'gripper'), RoboDesk's ('x', 'y', 'z', 'rz', 'gripper')): robosuite's keys,
    a 6-DOF controller's axes on the motion dims, a gamepad's sticks, Space (or the pad's A) toggling the gripper
    (open first)."""
    unknown = [d for d in layout if d not in ARM_DIMS]
    if unknown or len(set(layout)) != len(layout):
        raise ValueError(f"Expected distinct arm dims among {ARM_DIMS}, got {list(layout)}")
    keys = [KeyBinding(key=key, dim=d, direction=sign) for d, name in enumerate(layout) if name in _ARM_KEYS
            for key, sign in zip(_ARM_KEYS[name], (1, -1), strict=True)]
    axes = [AxisBinding(source=f"sixdof:{_ARM_SIXDOF[name]}", dim=d) for d, name in enumerate(layout)
            if name in _ARM_SIXDOF]
    axes += [AxisBinding(source=_ARM_AXES[name][0], dim=d, invert=_ARM_AXES[name][1]) for d, name in enumerate(layout)
             if name in _ARM_AXES]
    toggles = [ToggleBinding(key="Space", dim=d) for d, name in enumerate(layout) if name == "gripper"]
    return ContinuousMap(axes=axes, keys=keys, toggles=toggles)
