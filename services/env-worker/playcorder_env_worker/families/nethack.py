"""NetHack through NLE ('NetHack-v0', 'NetHackScore-v0', ...): the frame shown is NetHack's 24x80 terminal drawn
from tty_chars/tty_colors/tty_cursor (terminal.py); keys are NetHack's own commands (nethack_keys.py).

NLE fills the same arrays on every step, so the observations returned here are copies: a recorded step never
changes under the recorder. The default observation keys are NLE's own less `screen_descriptions` (21x79x80
bytes, 132 KB a step, a description of each map cell); a spec's kwargs.observation_keys replaces them, and the
terminal's three keys are always added (the frame is drawn from them, and a recording can redraw it). An episode
is a function of its seed and actions: reset(seed) seeds NetHack's RNGs and fix_moon_phase defaults to True.
Play it turn-based (spec mode "turn_based"): every NLE action is a command, none is a no-op, so a realtime
session would send one at every tick.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from playcorder.specs import EnvironmentSpec

from . import PreparedEnv, make_gym
from .access import EnvAccess
from .nethack_keys import nethack_map
from .problems import EnvProblem, closest
from .terminal import TerminalRenderer

TERMINAL_KEYS = ("tty_chars", "tty_colors", "tty_cursor")
DEFAULT_OBSERVATION_KEYS = ("glyphs", "chars", "colors", "specials", "blstats", "message", "inv_glyphs", "inv_strs",
                            "inv_letters", "inv_oclasses", *TERMINAL_KEYS)
# NLE names CompassDirection and CompassDirectionLonger members alike ('N'); the long moves read 'FAR_N'
_PREFIXES = {"CompassDirectionLonger": "FAR_"}
_renderer: TerminalRenderer | None = None


def register_nethack_envs() -> None:
    import nle  # noqa: F401  (registers NetHack-v0, NetHackScore-v0, ... with gymnasium)


def terminal_renderer() -> TerminalRenderer:
    """One renderer (its glyph atlas) for every NetHack env of the process: it only reads its atlas."""
    global _renderer
    if _renderer is None:
        _renderer = TerminalRenderer()
    return _renderer


def observation_keys(spec: EnvironmentSpec) -> tuple[str, ...]:
    """The keys NLE is asked for: the spec's kwargs.observation_keys (else the defaults) plus the terminal's."""
    from nle.env.base import NLE_SPACE_ITEMS

    known = [key for key, _ in NLE_SPACE_ITEMS]
    asked = spec.kwargs.get("observation_keys", DEFAULT_OBSERVATION_KEYS)
    if isinstance(asked, str) or not isinstance(asked, (list, tuple)):
        raise EnvProblem("kwargs.observation_keys", f"Expected a list of NLE observation keys among {known}, "
                                                    f"got {asked!r}")
    for key in asked:
        if key not in known:
            raise EnvProblem("kwargs.observation_keys", f"Expected NLE observation keys among {known}, got {key!r}",
                             closest(str(key), known))
    keys = list(dict.fromkeys(asked))
    return tuple(keys + [key for key in TERMINAL_KEYS if key not in keys])


class NetHackEpisodes(gym.ObservationWrapper):
    """reset(seed=s) seeds NetHack itself (NLE's reset seeds only np_random: the game would differ from the same
    seed), so a recorded episode's seed and actions replay it; and each observation comes as arrays of its own
    (NLE's are views of buffers it overwrites at the next step)."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if seed is not None:
            # core and display RNGs from the seed; reseed=False: no NetHack 3.6 anti-TAS reseeding mid-game
            self.env.unwrapped.seed(core=int(seed), disp=int(seed), reseed=False)  # type: ignore[attr-defined]
        return super().reset(seed=seed, options=options)

    def observation(self, observation: Any) -> Any:
        if isinstance(observation, dict):
            return {key: np.array(value, copy=True) for key, value in observation.items()}
        return np.array(observation, copy=True)


def action_meanings(actions: Any) -> list[str]:
    return [_PREFIXES.get(type(a).__name__, "") + getattr(a, "name", str(int(a))) for a in actions]


def make(spec: EnvironmentSpec, access: EnvAccess | None = None) -> PreparedEnv:
    register_nethack_envs()
    keys = observation_keys(spec)
    # NLE accepts render_mode "rgb_array" and never uses it: the frame is drawn here (gymnasium warns it is not
    # among NLE's modes)
    extra: dict[str, Any] = {"observation_keys": keys}
    if "fix_moon_phase" not in spec.kwargs:
        extra["fix_moon_phase"] = True  # moon phase, Friday 13th, night from the seed, not the clock
    env = NetHackEpisodes(make_gym(spec, access, **extra))
    game = env.unwrapped
    if not hasattr(game, "actions") or not hasattr(game, "last_observation"):
        env.close()
        raise ValueError(f"Expected an NLE environment for family 'nethack', got {spec.env_id!r}")
    codes = [int(a) for a in game.actions]
    input_map, _ = nethack_map(codes)
    index = [game._observation_keys.index(key) for key in TERMINAL_KEYS]  # NLE's buffers, by key
    renderer = terminal_renderer()

    def render() -> np.ndarray:
        if not game.last_observation:
            raise RuntimeError(f"Expected reset() before render() of {spec.env_id!r}")
        chars, colors, cursor = (game.last_observation[i] for i in index)
        return renderer.render(chars, colors, cursor)

    return PreparedEnv(env=env, family="nethack", default_input_map=input_map,
                       action_meanings=action_meanings(game.actions), _render=render)
