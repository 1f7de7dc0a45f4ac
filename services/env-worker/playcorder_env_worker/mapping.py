"""Input mapping: virtual keys from an input state, the discrete and continuous mappers, and touch controls."""

from __future__ import annotations

import math

import numpy as np

from playcorder.inputs import AxisBinding, ContinuousMap, DiscreteMap, InputMap, InputState, normalise_key, parse_combo

_DPAD = {12: "Up", 13: "Down", 14: "Left", 15: "Right"}  # Gamepad API standard mapping
_STICK = {0: ("Left", "Right"), 1: ("Up", "Down")}  # left stick x, y (y is negative upwards)


def virtual_keys(state: InputState, dead_zone: float = 0.5) -> frozenset[str]:
    """Held keys and touch controls, plus gamepad inputs beyond dead_zone as Button{i} and Axis{i}+/-.

    The d-pad and left stick also act as arrows and button 0 (A) as Space, so keyboard maps work on a pad.
    """
    held = {normalise_key(k) for k in (*state.keys, *state.touch)}
    for i, v in enumerate(state.buttons):
        if v > dead_zone:
            held.update({f"Button{i}", _DPAD.get(i, ""), "Space" if i == 0 else ""})
    for i, v in enumerate(state.axes):
        if abs(v) > dead_zone:
            held.update({f"Axis{i}{'+' if v > 0 else '-'}", _STICK[i][v > 0] if i in _STICK else ""})
    held.discard("")
    return frozenset(held)


class DiscreteMapper:
    """Held virtual keys -> one action: of the bound combinations fully held, the one with most keys wins."""

    def __init__(self, input_map: DiscreteMap, n_actions: int) -> None:
        for text, action in [*input_map.bindings.items(), ("noop", input_map.noop)]:
            if not 0 <= action < n_actions:
                raise ValueError(
                    f"Expected action indices below {n_actions} (the action space's n), got {action} for {text!r}")
        self.map, self.n_actions = input_map, n_actions
        # sorted() is stable, so ties between equally large combinations go to the earlier binding
        combos = [(frozenset(parse_combo(t)), a) for t, a in input_map.bindings.items()]
        self._combos = sorted(combos, key=lambda c: -len(c[0]))

    def _matches(self, state: InputState) -> list[int]:
        held = virtual_keys(state)
        return [a for keys, a in self._combos if keys <= held]

    def action(self, state: InputState) -> int:
        return next(iter(self._matches(state)), self.map.noop)

    def held(self, state: InputState) -> bool:
        """Whether a whole bound combination is held (a lone modifier of 'Shift+Up' is not)."""
        return bool(self._matches(state))

    def pressed_new(self, prev: InputState, state: InputState) -> bool:
        """Whether a bound combination became held since prev (releasing keys never counts)."""
        now, before = virtual_keys(state), virtual_keys(prev)
        return any(keys <= now and not keys <= before for keys, _ in self._combos)


class ContinuousMapper:
    """Axes set a dimension directly (overriding keys while beyond their dead zone); held keys ramp it over time."""

    def __init__(self, input_map: ContinuousMap, low: np.ndarray, high: np.ndarray) -> None:
        low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
        if low.shape != high.shape:
            raise ValueError(f"Expected low and high of one shape, got {low.shape} and {high.shape}")
        size = low.size
        for where, b in [*((f"axes[{i}]", b) for i, b in enumerate(input_map.axes)),
                         *((f"keys[{i}]", b) for i, b in enumerate(input_map.keys)),
                         *((f"toggles[{i}]", b) for i, b in enumerate(input_map.toggles))]:
            if b.dim >= size:
                raise ValueError(f"Expected dims below {size} (the action space's size), got {b.dim} in {where}")
        self.map, self.shape = input_map, low.shape
        self.low, self.high = low.ravel(), high.ravel()
        # an unbounded dimension has no range to map onto: it gets centre 0 and half-range 1
        finite = np.isfinite(self.low) & np.isfinite(self.high)
        lo, hi = np.where(finite, self.low, -1.0), np.where(finite, self.high, 1.0)
        self.centre, self.half = (lo + hi) / 2, (hi - lo) / 2
        self.ramp = np.zeros(size)  # key-driven position per dim, in half-ranges from the centre
        self._toggled = {t.dim for t in input_map.toggles}
        self._toggle_held: set[str] = set()  # toggle keys down at the last input seen, so a held key flips once
        self.reset()

    def _axis(self, b: AxisBinding, state: InputState) -> float:
        kind, index = b.source.split(":")
        values = {"axis": state.axes, "sixdof": state.sixdof, "button": state.buttons}[kind]
        v = values[int(index)] if int(index) < len(values) else 0.0
        v = -v if b.invert else v
        if abs(v) <= b.dead_zone:
            return 0.0
        # rescaled so the output starts at 0 at the dead zone's edge instead of jumping there
        return math.copysign((abs(v) - b.dead_zone) / (1 - b.dead_zone), v) * b.scale

    def note(self, state: InputState) -> frozenset[str]:
        """Take an input state as it arrives (and again at each action): a toggle key newly down flips its dim now,
        so a tap shorter than a tick still counts. Returns the virtual keys held."""
        held = virtual_keys(state)
        for t in self.map.toggles:
            if t.key in held and t.key not in self._toggle_held:
                self.ramp[t.dim] = -1.0 if self.ramp[t.dim] > 0 else 1.0
        self._toggle_held = {t.key for t in self.map.toggles if t.key in held}
        return held

    def action(self, state: InputState, dt: float) -> np.ndarray:
        if not (dt >= 0 and math.isfinite(dt)):
            raise ValueError(f"Expected dt as seconds >= 0, got {dt!r}")
        axis, active = np.zeros_like(self.ramp), np.zeros(self.ramp.shape, bool)
        for b in self.map.axes:
            if v := self._axis(b, state):
                axis[b.dim] += v
                active[b.dim] = True
        held, direction = self.note(state), np.zeros_like(self.ramp)
        for k in self.map.keys:
            direction[k.dim] += k.direction if k.key in held else 0
        direction, step = np.clip(direction, -1, 1), self.map.ramp_per_s * dt
        # an overriding axis freezes the ramp, so letting go of the stick does not reveal a wound-up key value
        moving, idle = (direction != 0) & ~active, (direction == 0) & ~active
        idle[list(self._toggled)] = False  # a toggled dimension stays where its last press put it
        self.ramp[moving] = np.clip(self.ramp[moving] + direction[moving] * step, -1, 1)
        if self.map.release == "return":
            self.ramp[idle] -= np.clip(self.ramp[idle], -step, step)
        out = self.centre + np.where(active, axis, self.ramp) * self.half
        return np.clip(out, self.low, self.high).astype(np.float32).reshape(self.shape)

    def reset(self) -> None:
        self.ramp[:] = 0.0
        for t in self.map.toggles:
            self.ramp[t.dim] = -1.0 if t.start == "low" else 1.0
        self._toggle_held = set()

    def held(self, state: InputState) -> bool:
        held = virtual_keys(state)
        return (any(k.key in held for k in self.map.keys) or any(t.key in held for t in self.map.toggles)
                or any(self._axis(b, state) for b in self.map.axes))


def touch_controls(input_map: InputMap) -> list[str]:
    """Distinct key names a touch UI should offer: enough to reach every bound action, arrows first."""
    if isinstance(input_map, DiscreteMap):
        targets = [(parse_combo(t), a) for t, a in input_map.bindings.items()]
    else:
        targets = [((k.key,), (k.dim, k.direction)) for k in input_map.keys]
        targets += [((t.key,), (t.dim, "toggle")) for t in input_map.toggles]
    names: list[str] = []
    covered = set()
    for keys, target in targets:  # alternatives (WASD next to arrows) add nothing once their action is reachable
        if target not in covered:
            covered.add(target)
            names += [k for k in keys if k not in names]
    arrows = [k for k in ("Up", "Down", "Left", "Right") if k in names]
    return arrows + [k for k in names if k not in arrows]
