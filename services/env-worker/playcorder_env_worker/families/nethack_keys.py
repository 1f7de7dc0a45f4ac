"""NetHack's default input map: each NLE action's int value is the key code NetHack reads, so a key press is bound
to the action sending that key ('k' moves north, Shift+K runs north, '<' goes up), plus browser-friendly
alternatives: arrows (Shift+arrows) and Home/PageUp/End/PageDown for the moves, Space for --More--, Backspace for
Escape (the player page keeps Enter and Escape for itself), Alt+letter for NetHack's meta commands (M-x) and
Alt+Shift+letter for its Ctrl commands (browsers keep Ctrl+key: Ctrl+D, kick, is Alt+Shift+D)."""

from __future__ import annotations

from collections.abc import Sequence

from playcorder.inputs import DiscreteMap, parse_combo

_NAMED = {ord(" "): "Space", ord("+"): "Plus", ord("\r"): "Enter", 27: "Escape"}
# key code -> alternatives, after the codes' own keys (so a code's own key wins a tie)
_ALTERNATIVES = {
    ord("k"): ["Up"], ord("j"): ["Down"], ord("h"): ["Left"], ord("l"): ["Right"],
    ord("y"): ["Home"], ord("u"): ["PageUp"], ord("b"): ["End"], ord("n"): ["PageDown"],
    ord("K"): ["Shift+Up"], ord("J"): ["Shift+Down"], ord("H"): ["Shift+Left"], ord("L"): ["Shift+Right"],
    ord("Y"): ["Shift+Home"], ord("U"): ["Shift+PageUp"], ord("B"): ["Shift+End"], ord("N"): ["Shift+PageDown"],
    ord("\r"): ["Space"], 27: ["Backspace"],
}


def key_of(code: int) -> str | None:
    """The key combination that types `code` in NetHack ('Shift+K' for 'K', 'Alt+A' for M-a, 'Control+D' for
    ^D); None for a code no key name stands for."""
    if code in _NAMED:
        return _NAMED[code]
    if code >= 0x80:  # meta: NetHack reads Alt+key as the key with its high bit set
        base = key_of(code & 0x7F)
        return f"Alt+{base}" if base is not None and "Alt" not in base and "Control" not in base else None
    if code < 0x20:  # ^A .. ^Z
        letter = chr(code | 0x40)
        return f"Control+{letter}" if "A" <= letter <= "Z" else None
    char = chr(code)
    if "a" <= char <= "z":
        return char.upper()
    if "A" <= char <= "Z":
        return f"Shift+{char}"
    try:
        return "+".join(parse_combo(char)) if char.isprintable() else None
    except ValueError:
        return None


def _ctrl_alternative(code: int) -> list[str]:
    """Browsers never pass on Ctrl+key (the player page drops them): Ctrl commands also get Alt+Shift+letter."""
    return [f"Alt+Shift+{chr(code | 0x40)}"] if 0 < code < 0x1B and code not in _NAMED else []


def nethack_map(codes: Sequence[int]) -> tuple[DiscreteMap, list[int]]:
    """The default map of an action set given as key codes (action i sends codes[i]), and the actions no key
    reaches. The noop (never stepped in turn-based play) is --More-- where the set has it: it passes no game time."""
    bindings: dict[frozenset[str], tuple[str, int]] = {}

    def bind(combo: str, action: int) -> None:
        bindings.setdefault(frozenset(parse_combo(combo)), (combo, action))

    first: dict[int, int] = {}
    for action, code in enumerate(codes):
        first.setdefault(int(code), action)  # '+', '"', '$' each appear twice in NLE's full set
    for code, action in first.items():
        if (key := key_of(code)) is not None:
            bind(key, action)
    for code, action in first.items():
        for combo in [*_ALTERNATIVES.get(code, []), *_ctrl_alternative(code)]:
            bind(combo, action)
    reached = {action for _, action in bindings.values()}
    unbound = [a for a, code in enumerate(codes) if first[int(code)] not in reached]
    noop = first.get(ord("\r"), 0)
    return DiscreteMap(bindings=dict(bindings.values()), noop=noop), unbound
