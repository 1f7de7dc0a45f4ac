"""Procgen games as Gymnasium envs 'procgen/<game>' over procgen-mirror's gym3 API: 64x64x3 observations,
Discrete(15) actions, 512x512 frames from render(); reset(seed=s) rebuilds the game with procgen's rand_seed=s.

Final observation of an episode: procgen resets inside the step that ends an episode and renders only the next
level, so the true last frame never exists. The terminal step returns the episode's last rendered observation
(the one before the final action, repeated; info["final_observation_repeated"] is True) and render() repeats the
last 512x512 frame. terminated: the game ended the level (death or success, see info["level_complete"]);
truncated: the game's own step limit ran out (1000 steps for most games; 500 leaper, maze; 4000 bossfight,
plunder; 6000 bigfish). The next level procgen already started is what the following reset() returns.
"""

from __future__ import annotations

import os
import struct
import warnings
from typing import Any

import gymnasium as gym
import numpy as np

from playcorder.specs import EnvironmentSpec

from ..default_maps import default_procgen_map
from . import PreparedEnv, make_gym
from .access import EnvAccess

GAMES = ("bigfish", "bossfight", "caveflyer", "chaser", "climber", "coinrun", "dodgeball", "fruitbot", "heist",
         "jumper", "leaper", "maze", "miner", "ninja", "plunder", "starpilot")
# distribution modes beyond easy/hard, and the games supporting them (procgen aborts the process otherwise)
_MODES = {"extreme": {"chaser", "dodgeball", "leaper", "starpilot"},
          "memory": {"caveflyer", "dodgeball", "heist", "jumper", "maze", "miner"},
          "exploration": {"coinrun", "caveflyer", "leaper", "jumper", "maze", "heist", "climber", "ninja"}}
# Participants see procgen's frame at half its 512x512 unless render.width/height say otherwise: encoding 512x512
# as JPEG costs ~1.1 ms a step, more than the rest of the worker's work per step (bench/worker_overhead.py); at
# 256x256 it costs a quarter of that (plus ~0.2 ms to pick the pixels), and the player's canvas shows it scaled up,
# pixelated, as it shows Atari's 160x210.
NATIVE_SIZE, SHOWN_SIZE = 512, 256
INSTALL = "pip install --no-deps procgen-mirror==0.10.7 gym3==0.3.3 gym==0.26.2 && pip install cffi cloudpickle imageio"


def register_procgen_envs() -> None:
    for game in GAMES:
        if f"procgen/{game}" not in gym.registry:
            gym.register(f"procgen/{game}", entry_point=f"{__name__}:ProcgenEnv", kwargs={"game": game})


def _gym3_env_class() -> Any:
    """procgen imports the unmaintained `gym`, which rewrites SDL env vars on import; keep ours."""
    saved = {k: os.environ.get(k) for k in ("SDL_AUDIODRIVER", "PYGAME_HIDE_SUPPORT_PROMPT")}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # procgen/__init__ leaves version.txt open
            from procgen import ProcgenGym3Env
    except ImportError as err:
        raise ImportError(f"Procgen needs procgen-mirror and its runtime deps: {INSTALL} ({err})") from err
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return ProcgenGym3Env


def _step_limit(state: bytes) -> int:
    """The game's `timeout` from its serialized state (procgen's Game::serialize header)."""
    offset = 0

    def read_int() -> int:
        nonlocal offset
        offset += 4
        return struct.unpack_from("<i", state, offset - 4)[0]

    def skip_string() -> None:
        nonlocal offset
        length = read_int()
        offset += length

    read_int()  # version
    skip_string()  # game name
    for _ in range(12 + 5):  # options, then grid_step, level seed bounds, game_type, game_n
        read_int()
    for _ in range(2):  # level seed and game RandGens: is_seeded, state string
        read_int()
        skip_string()
    for _ in range(4):  # reward, done, level_complete, action
        read_int()
    return read_int()


class ProcgenEnv(gym.Env):
    """One procgen game (num=1, no worker threads) with Gymnasium's reset/step contract."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, game: str, render_mode: str | None = None, **kwargs: Any):
        if game not in GAMES:
            raise ValueError(f"Expected a procgen game among {list(GAMES)}, got {game!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"Expected render_mode None or 'rgb_array', got {render_mode!r}")
        for key in ("num", "env_name", "render_mode"):
            if key in kwargs:
                raise ValueError(f"Expected procgen kwargs without {key!r} (set by 'procgen/{game}'), got {kwargs}")
        mode = kwargs.get("distribution_mode", "hard")
        if mode not in ("easy", "hard") and game not in _MODES.get(mode, ()):
            supported = ["easy", "hard", *(m for m, games in _MODES.items() if game in games)]
            raise ValueError(f"Expected a distribution_mode of {game} among {supported}, got {mode!r}")
        for key in ("num_levels", "start_level"):
            if not isinstance(kwargs.get(key, 0), int) or kwargs.get(key, 0) < 0:
                raise ValueError(f"Expected {key} to be an int >= 0, got {kwargs[key]!r}")
        self.game, self.render_mode = game, render_mode
        self._seed = kwargs.pop("rand_seed", None)  # the seed of a first reset() without one
        self._kwargs = kwargs
        self._cls = _gym3_env_class()
        self._venv: Any = None
        self._obs: np.ndarray | None = None
        self._frame: np.ndarray | None = None
        self._t = 0
        self._open(self._seed)  # validates the kwargs now rather than at the first reset
        self.combos: list[tuple[str, ...]] = [tuple(c) for c in self._venv.combos]
        self.observation_space = gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
        self.action_space = gym.spaces.Discrete(len(self.combos))

    @classmethod
    def accepted_kwargs(cls) -> set[str]:
        """What a spec's kwargs may hold: procgen's options (those of ProcgenGym3Env and the env it builds on),
        less what this class sets itself, plus `game` and `rand_seed`."""
        from .signature import accepted_kwargs

        names, _ = accepted_kwargs(_gym3_env_class())
        return (names - {"num", "env_name", "num_threads", "render_mode"}) | {"game", "rand_seed"}

    def get_action_meanings(self) -> list[str]:
        return ["+".join(combo) or "NOOP" for combo in self.combos]

    def _open(self, rand_seed: int | None) -> None:
        if self._venv is not None:
            self._venv.close()
        try:
            self._venv = self._cls(num=1, env_name=self.game, num_threads=0, rand_seed=rand_seed,
                                   render_mode=self.render_mode, **self._kwargs)
        except (TypeError, AssertionError) as err:
            raise ValueError(f"Expected procgen kwargs for {self.game}, got {self._kwargs}: {err}") from err
        _, ob, _, raw = self._observe()
        self._started(ob, raw)

    def _observe(self) -> tuple[float, np.ndarray, bool, dict[str, Any]]:
        rew, ob, first = self._venv.observe()
        return float(rew[0]), ob["rgb"][0], bool(first[0]), self._venv.get_info()[0]

    def _started(self, ob: np.ndarray, raw: dict[str, Any]) -> None:
        """Procgen began a level: keep its first observation for the next reset()."""
        self._pending = (ob, raw.get("rgb"), {"level_seed": int(raw["level_seed"])})
        self._limit = _step_limit(self._venv.get_state()[0])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._open(int(seed) % 2**31)
        elif self._pending is None:  # mid-episode: make procgen end it and start its next level
            self._venv.act(np.array([-1], dtype=np.int32))
            _, ob, _, raw = self._observe()
            self._started(ob, raw)
        (self._obs, self._frame, info), self._pending = self._pending, None
        self._t = 0
        return self._obs, dict(info)

    def step(self, action: Any):
        if not self.action_space.contains(action):
            raise ValueError(f"Expected an action in {self.action_space}, got {action!r}")
        if self._pending is not None:  # stepping on without reset() plays the level procgen started
            self._pending, self._t = None, 0
        self._venv.act(np.array([int(action)], dtype=np.int32))
        rew, ob, first, raw = self._observe()
        self._t += 1
        info: dict[str, Any] = {"level_seed": int(raw["prev_level_seed"]),
                                "level_complete": bool(raw["prev_level_complete"])}
        if not first:
            self._obs, self._frame = ob, raw.get("rgb")
            if info["level_complete"]:  # use_sequential_levels: the next level goes on in this episode
                self._t, self._limit = 0, _step_limit(self._venv.get_state()[0])
            return ob, rew, False, False, info
        truncated = not info["level_complete"] and self._t >= self._limit
        info["final_observation_repeated"] = True
        self._started(ob, raw)
        return self._obs, rew, not truncated, truncated, info

    def render(self) -> np.ndarray | None:
        return self._frame if self.render_mode == "rgb_array" else None

    def close(self) -> None:
        if self._venv is not None:
            self._venv.close()
            self._venv = None


def shown_size(spec: EnvironmentSpec) -> tuple[int, int]:
    """(width, height) of the frame participants see: render.width/height, else SHOWN_SIZE; at most procgen's own
    512x512 (a given width alone keeps the frame square, as procgen's is)."""
    width = min(spec.render.width or spec.render.height or SHOWN_SIZE, NATIVE_SIZE)
    height = min(spec.render.height or width, NATIVE_SIZE)
    return width, height


def shrink(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Procgen's frame at `size` (width, height), nearest neighbour (what the canvas does scaling a frame up)."""
    height, width = frame.shape[:2]
    w, h = size
    if (width, height) == (w, h):
        return frame
    pixels = np.ascontiguousarray(frame).reshape(height, width * 3).view("V3")  # a pixel's 3 bytes copied at once
    if height % h == 0 and width % w == 0:
        picked = pixels[:: height // h, :: width // w]
    else:
        picked = pixels[(np.arange(h) * height) // h][:, (np.arange(w) * width) // w]
    return np.ascontiguousarray(picked).view(np.uint8).reshape(h, w, 3)


def make(spec: EnvironmentSpec, access: EnvAccess | None = None) -> PreparedEnv:
    register_procgen_envs()
    env = make_gym(spec, access)
    game: ProcgenEnv = env.unwrapped  # type: ignore[assignment]
    size = shown_size(spec)

    def render() -> np.ndarray:
        frame = env.render()
        return shrink(np.asarray(frame), size)

    return PreparedEnv(env=env, family="procgen", default_input_map=default_procgen_map(game.combos),
                       action_meanings=game.get_action_meanings(), _render=render)
