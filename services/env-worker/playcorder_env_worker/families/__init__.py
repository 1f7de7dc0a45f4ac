"""Environment families: `make_env(spec)` builds the Gymnasium env of an EnvironmentSpec together with its
default input map, action meanings, selectable cameras and the frame to show participants."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from playcorder.inputs import InputMap
from playcorder.specs import EnvironmentSpec

_KNOWN = ("atari ('ALE/<Game>-v5'), procgen ('procgen/<game>'), mujoco (e.g. 'HalfCheetah-v5'), "
          "gymnasium (any registered id, e.g. 'CartPole-v1', or 'module:EnvId')")
# ids whose registering package gymnasium does not import by itself
_PLUGINS = {"MiniGrid-": "minigrid", "BabyAI-": "minigrid"}


@dataclass(eq=False)
class PreparedEnv:
    """A ready env (render_mode="rgb_array") plus what the worker needs to show and control it."""

    env: gym.Env
    family: str
    default_input_map: InputMap
    cameras: list[str] = field(default_factory=list)  # selectable cameras; [] when there is only one
    action_meanings: list[str] | None = None  # per discrete action, when the family names them
    camera: str | None = None  # the camera render() shows, when there is a choice
    _render: Callable[[], np.ndarray] | None = field(default=None, repr=False)
    _select_camera: Callable[[int], None] | None = field(default=None, repr=False)
    _release: Callable[[], None] | None = field(default=None, repr=False)  # runs before env.close()

    def render(self) -> np.ndarray:
        """The frame to show: HxWx3 uint8 (spec.render size where the family renders any size, else native)."""
        frame = np.asarray(self._render() if self._render is not None else self.env.render())
        if frame.ndim == 2:
            frame = np.repeat(frame[:, :, None], 3, axis=2)
        elif frame.shape[-1] == 4:
            frame = frame[:, :, :3]
        if frame.dtype != np.uint8:
            frame = np.clip(frame, 0, 255).astype(np.uint8)
        return frame

    def set_camera(self, name_or_index: str | int) -> None:
        """Switch what render() shows, by camera name or index into `cameras`."""
        if not self.cameras or self._select_camera is None:
            raise ValueError(f"Expected no camera choice: this {self.family} environment has a single camera, "
                             f"got {name_or_index!r}")
        index: int | None = None
        if isinstance(name_or_index, str) and name_or_index in self.cameras:
            index = self.cameras.index(name_or_index)
        elif isinstance(name_or_index, str) and name_or_index.isdigit():
            index = int(name_or_index)
        elif isinstance(name_or_index, (int, np.integer)) and not isinstance(name_or_index, bool):
            index = int(name_or_index)
        if index is None or not 0 <= index < len(self.cameras):
            raise ValueError(f"Expected a camera among {self.cameras} (name or index), got {name_or_index!r}")
        self._select_camera(index)
        self.camera = self.cameras[index]

    def close(self) -> None:
        try:
            if self._release is not None:
                self._release()
        finally:
            self.env.close()


def make_gym(spec: EnvironmentSpec, **extra: Any) -> gym.Env:
    """gym.make with the spec's kwargs (plus `extra`), max_episode_steps and render_mode="rgb_array"."""
    kwargs = {**spec.kwargs, **extra}
    if spec.max_episode_steps is not None:
        kwargs["max_episode_steps"] = spec.max_episode_steps
    try:
        return gym.make(spec.env_id, render_mode="rgb_array", **kwargs)
    except TypeError as err:
        raise ValueError(f"Expected kwargs that {spec.env_id!r} accepts, got {sorted(spec.kwargs)}: {err}") from err
    except gym.error.Error as err:
        raise ValueError(f"Expected a makeable Gymnasium environment {spec.env_id!r}: {err}") from err


def registered_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registry entry of `env_id` (importing 'module:' prefixes and known plugin packages first)."""
    name = env_id
    if ":" in env_id:
        module, name = env_id.split(":", 1)
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ValueError(f"Expected an importable module registering {name!r}, got {module!r}: {err}") from err
    elif name not in gym.registry:
        for prefix, module in _PLUGINS.items():
            if name.startswith(prefix):
                try:
                    importlib.import_module(module)
                except ImportError:
                    pass
    try:
        return gym.spec(name)
    except gym.error.Error as err:
        raise ValueError(f"Expected a registered Gymnasium environment id, got {env_id!r}; "
                         f"known families: {_KNOWN}") from err


def _register(family: str) -> None:
    if family == "atari":
        import ale_py

        gym.register_envs(ale_py)
    elif family == "procgen":
        from .procgen import register_procgen_envs

        register_procgen_envs()


def resolve_family(spec: EnvironmentSpec) -> str:
    """The spec's family; 'auto' is inferred from the id and, for MuJoCo, from the registry's entry point."""
    family = spec.resolved_family
    for needed in {family, spec.model_copy(update={"family": "auto"}).resolved_family}:
        _register(needed)
    entry = registered_spec(spec.env_id).entry_point
    if spec.family == "auto" and family == "gymnasium":
        module = entry if isinstance(entry, str) else getattr(entry, "__module__", "")
        if module.startswith("gymnasium.envs.mujoco"):
            family = "mujoco"
    return family


def make_env(spec: EnvironmentSpec) -> PreparedEnv:
    """Build the spec's environment with its family's defaults; ValueError for unknown ids or bad kwargs."""
    family = resolve_family(spec)
    if family == "atari":
        from .atari import make
    elif family == "procgen":
        from .procgen import make
    elif family == "mujoco":
        from .mujoco import make
    else:
        from .generic import make
    return make(spec)
