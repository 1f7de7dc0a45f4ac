"""Input contracts: the raw input state a client sends, key names, and the input-map models of a spec.

The env-worker's mapping.py turns an input state into actions with these maps; default_maps.py holds its defaults.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

# Limits of what a client may send (documented in docs/protocol.md, "Limits"); they also bound what every
# recorded step carries as its input.
MAX_HELD = 32  # keys, or on-screen touch controls, held at once
MAX_NAME = 32  # characters of a key or touch control name
MAX_GAMEPAD = 64  # gamepad buttons, and gamepad axes
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # NUL and other control characters: never part of a name

# canonical name -> its browser aliases (KeyboardEvent.key and .code); lookup ignores case
_ALIASES = {
    "Up": "ArrowUp", "Down": "ArrowDown", "Left": "ArrowLeft", "Right": "ArrowRight",
    "Space": "Spacebar", "Enter": "Return NumpadEnter", "Escape": "Esc", "Tab": "", "Backspace": "",
    "Shift": "ShiftLeft ShiftRight", "Control": "ControlLeft ControlRight Ctrl", "Alt": "AltLeft AltRight AltGraph",
    "Meta": "MetaLeft MetaRight OS", "CapsLock": "", "Delete": "Del", "Insert": "", "Home": "", "End": "",
    "PageUp": "", "PageDown": "", "Plus": "+ NumpadAdd", "-": "Minus NumpadSubtract", "*": "NumpadMultiply",
    "/": "Slash NumpadDivide", ".": "Period NumpadDecimal", ",": "Comma", ";": "Semicolon", "'": "Quote",
    "=": "Equal", "`": "Backquote", "[": "BracketLeft", "]": "BracketRight", "\\": "Backslash",
}
_CANON = {a.lower(): c for c, aliases in _ALIASES.items() for a in (c, *aliases.split())}
_CHAR = re.compile(r"(?i)(?:key|digit|numpad)?([a-z0-9])")
_NUMBERED = re.compile(r"(?i)(button|axis|f)(\d{1,2})([+-]?)")
# other printable punctuation, as KeyboardEvent.key gives it ('<' is Shift+',' on a US layout): NetHack's commands
_PUNCTUATION = "!\"#$%&()<>?@^_{|}~:"
_KNOWN = re.compile(r"[A-Z0-9]|[" + re.escape(_PUNCTUATION) + r"]|F\d{1,2}|Button\d{1,2}|Axis\d{1,2}[+-]")
_KEY_ERROR = "Expected key names like 'Up', 'A', 'Space', 'Button3', 'Axis1-'"


def normalise_key(name: str) -> str:
    """Canonical key name: 'ArrowUp' -> 'Up', ' ' -> 'Space', 'KeyA'/'a' -> 'A', 'Digit1' -> '1'.

    Unknown names pass through, trimmed.
    """
    if name and not name.strip():
        return "Space"  # KeyboardEvent.key of the space bar is " "
    name = name.strip()
    if name.lower() in _CANON:
        return _CANON[name.lower()]
    if m := _CHAR.fullmatch(name):
        return m[1].upper()
    if (m := _NUMBERED.fullmatch(name)) and (m[1].lower() == "axis") == bool(m[3]):
        return f"{m[1].capitalize()}{int(m[2])}{m[3]}"
    return name


def parse_combo(text: str) -> tuple[str, ...]:
    """'Up+Space' -> ('Up', 'Space'): names normalised, order kept, repeats dropped; 'Axis0+' is one name."""
    raw, keys, i = text.split("+"), [], 0
    while i < len(raw):
        part = raw[i].strip()
        if re.fullmatch(r"(?i)axis\d+", part) and i + 1 < len(raw) and not raw[i + 1].strip():
            part, i = part + "+", i + 1  # the '+' belonged to the axis name, not a separator
        if not part:
            raise ValueError(f"Expected a key combination like 'Up+Space', got {text!r}")
        key = normalise_key(part)
        if key not in _CANON.values() and not _KNOWN.fullmatch(key):
            raise ValueError(f"{_KEY_ERROR}, got {part!r} in {text!r}")
        keys += [key] if key not in keys else []
        i += 1
    return tuple(keys)


def check_text(value: str, what: str, most: int) -> str:
    """A client's string: at most `most` characters, no NUL or other control characters."""
    if len(value) > most:
        raise ValueError(f"Expected {what} of at most {most} characters, got {len(value)}: {value[:40]!r}")
    if bad := _CONTROL.search(value):
        raise ValueError(f"Expected {what} without control characters, got {bad[0]!r} at index {bad.start()} "
                         f"in {value[:40]!r}")
    return value


def text_check(what: str, most: int) -> Callable[[str], str]:
    """A check_text validator, for `Annotated[str, AfterValidator(text_check(...))]` fields of client messages."""
    return lambda v: check_text(v, what, most)


def _held_check(what: str, name: str) -> Callable[[list[str]], list[str]]:
    def check(values: list[str]) -> list[str]:
        if len(values) > MAX_HELD:
            raise ValueError(f"Expected at most {MAX_HELD} {what}, got {len(values)}")
        return [check_text(v, name, MAX_NAME) for v in values]
    return check


# at most MAX_HELD names of at most MAX_NAME characters each (InputState, and the keys of an `action` message)
HeldKeys = Annotated[list[str], AfterValidator(_held_check("held keys", "a key name"))]
HeldTouch = Annotated[list[str], AfterValidator(_held_check("held touch controls", "a touch control name"))]


def _checked(values: list[float], what: str, most: int, low: float, high: float) -> list[float]:
    if len(values) > most:
        raise ValueError(f"Expected at most {most} {what}, got {len(values)}")
    for i, v in enumerate(values):
        if not low - 1e-3 <= v <= high + 1e-3:  # small float noise from drivers is clamped, not rejected
            raise ValueError(f"Expected {what} values in {low:g}..{high:g}, got {v!r} at index {i}")
    return [min(max(v, low), high) for v in values]


class InputState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: HeldKeys = Field(default_factory=list, description="held keys, browser KeyboardEvent.key or .code names")
    buttons: list[float] = Field(default_factory=list, description="gamepad buttons, value 0..1 by index")
    axes: list[float] = Field(default_factory=list, description="gamepad axes, -1..1 by index")
    sixdof: list[float] = Field(default_factory=list, description="6-DOF controller: x, y, z, rx, ry, rz in -1..1")
    touch: HeldTouch = Field(default_factory=list, description="held on-screen controls, named like keys")

    @field_validator("buttons")
    @classmethod
    def _buttons(cls, v: list[float]) -> list[float]:
        return _checked(v, "gamepad buttons", MAX_GAMEPAD, 0.0, 1.0)

    @field_validator("axes")
    @classmethod
    def _axes(cls, v: list[float]) -> list[float]:
        return _checked(v, "gamepad axes", MAX_GAMEPAD, -1.0, 1.0)

    @field_validator("sixdof")
    @classmethod
    def _sixdof(cls, v: list[float]) -> list[float]:
        if len(v) not in (0, 6):
            raise ValueError(f"Expected 0 or 6 sixdof values (x, y, z, rx, ry, rz), got {len(v)}")
        return _checked(v, "sixdof", 6, -1.0, 1.0)


class DiscreteMap(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # spec models: no coercion

    kind: Literal["discrete"] = "discrete"
    bindings: dict[str, int] = Field(default_factory=dict, description="key combination ('Up+Space') -> action index")
    noop: int = Field(0, ge=0, description="action taken while no binding is held")

    @field_validator("bindings")
    @classmethod
    def _combos(cls, v: dict[str, int]) -> dict[str, int]:
        out: dict[str, int] = {}
        names: dict[frozenset[str], str] = {}
        for text, action in v.items():
            if action < 0:
                raise ValueError(f"Expected action indices >= 0, got {action} for {text!r}")
            keys = parse_combo(text)
            name = names.setdefault(frozenset(keys), "+".join(keys))
            if out.setdefault(name, action) != action:
                raise ValueError(f"Expected one action per key combination, got {out[name]} and {action} for {text!r}")
        return out


class AxisBinding(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # spec models: no coercion

    source: str = Field(..., description="'axis:i' (gamepad), 'sixdof:i' (0..5) or 'button:i' (analog trigger, 0..1)")
    dim: int = Field(..., ge=0, description="action dimension it drives")
    scale: float = Field(1.0, allow_inf_nan=False)
    dead_zone: float = Field(0.1, ge=0, lt=1)
    invert: bool = False

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        m = re.fullmatch(r"(axis|sixdof|button):(\d{1,2})", v.strip())
        if not m or int(m[2]) > (5 if m[1] == "sixdof" else 63):
            raise ValueError(f"Expected a source like 'axis:0', 'sixdof:2' (0..5) or 'button:7', got {v!r}")
        return f"{m[1]}:{int(m[2])}"


class KeyBinding(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # spec models: no coercion

    key: str
    dim: int = Field(..., ge=0)
    direction: Literal[1, -1] = 1

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        keys = parse_combo(v)
        if len(keys) != 1:
            raise ValueError(f"Expected one key name, got {v!r}")
        return keys[0]


class ToggleBinding(BaseModel):
    """A key (or gamepad button as 'Button0') whose each press flips a dimension between its low and high end: a
    gripper's open/close on one button. The dimension starts at `start`."""

    model_config = ConfigDict(extra="forbid", strict=True)  # spec models: no coercion

    key: str
    dim: int = Field(..., ge=0)
    start: Literal["low", "high"] = "low"

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        return KeyBinding._key(v)


class ContinuousMap(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # spec models: no coercion

    kind: Literal["continuous"] = "continuous"
    axes: list[AxisBinding] = Field(default_factory=list)
    keys: list[KeyBinding] = Field(default_factory=list)
    toggles: list[ToggleBinding] = Field(default_factory=list, max_length=8,
                                         description="keys whose each press flips a dimension between low and high")
    ramp_per_s: float = Field(2.0, gt=0, allow_inf_nan=False, description="held key speed, half-ranges per second")
    release: Literal["hold", "return"] = Field("return", description="released keys: keep the value, or ramp to centre")


InputMap = Annotated[DiscreteMap | ContinuousMap, Field(discriminator="kind")]
