"""Environment families: `make_env(spec)` builds the Gymnasium env of an EnvironmentSpec together with its
default input map, action meanings, selectable cameras and the frame to show participants. Ids are resolved only
through the Gymnasium registry, after importing what the operator allowed (access.py)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import load_env_creator

from playcorder.inputs import InputMap
from playcorder.specs import EnvironmentSpec

from . import limits, wrappers
from .access import EnvAccess, family_of_entry, split_module, worker_access
from .problems import EnvProblem, closest, unexpected_keyword
from .signature import accepted_kwargs

_KNOWN = ("atari ('ALE/<Game>-v5'), procgen ('procgen/<game>'), mujoco (e.g. 'HalfCheetah-v5'), "
          "gymnasium (any registered id, e.g. 'CartPole-v1', or 'module:EnvId' for a module in ENV_MODULES), "
          "pettingzoo (multi-agent, 'pettingzoo/<subpackage>/<module>', e.g. 'pettingzoo/atari/space_invaders_v2'), "
          "robosuite ('robosuite/<Task>', e.g. 'robosuite/Lift'), robodesk ('robodesk/<task>', e.g. "
          "'robodesk/open_slide'), nethack (NLE's ids, e.g. 'NetHackScore-v0')")
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
        return as_frame(self._render() if self._render is not None else self.env.render())

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


def as_frame(rendered: Any) -> np.ndarray:
    """What an env rendered as the frame to show: HxWx3 uint8 (grey expanded, alpha dropped); EnvProblem when it is
    larger than the limits."""
    frame = np.asarray(rendered)
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    elif frame.shape[-1] == 4:
        frame = frame[:, :, :3]
    limits.check_frame(frame)
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    return frame


def make_gym(spec: EnvironmentSpec, access: EnvAccess | None = None, **extra: Any) -> gym.Env:
    """gym.make with the spec's kwargs (plus `extra`), max_episode_steps and render_mode="rgb_array", then the spec's
    wrappers (wrappers.py). It is given the registry entry, not the id: gym.make would import the module of a
    'module:EnvId' id itself. Unknown kwargs, kwargs naming files and spaces over MAX_OBSERVATION_BYTES are an
    EnvProblem (limits.py)."""
    access = access or worker_access()
    entry = _lookup(spec.env_id)
    check_kwargs(spec, entry)
    kwargs = {**spec.kwargs, **extra}
    if spec.max_episode_steps is not None:
        kwargs["max_episode_steps"] = spec.max_episode_steps
    try:
        env = gym.make(entry, render_mode="rgb_array", **kwargs)
    except TypeError as err:
        bad = unexpected_keyword(err)
        names, _ = entry_kwargs(entry)
        field = f"kwargs.{bad}" if bad in spec.kwargs else "kwargs"
        raise EnvProblem(field, f"Expected kwargs that {spec.env_id!r} accepts, got {sorted(spec.kwargs)}: {err}",
                         closest(bad, names) if bad else []) from err
    except gym.error.Error as err:
        raise ValueError(f"Expected a makeable Gymnasium environment {spec.env_id!r}: {err}") from err
    env = wrappers.apply(env, spec.wrappers, access)
    try:
        limits.check_spaces(env, access.max_observation_bytes)
    except BaseException:
        env.close()
        raise
    return env


# what gym.make itself takes, besides the environment's own keyword arguments; render_mode is the worker's
_MAKE_KWARGS = frozenset({"max_episode_steps", "disable_env_checker"})
_WORKER_KWARGS = frozenset({"render_mode"})


def entry_kwargs(entry: gym.envs.registration.EnvSpec) -> tuple[set[str], bool]:
    """(keyword arguments the registry entry's constructor accepts, whether it passes on others unchecked)."""
    try:
        creator = load_env_creator(entry.entry_point) if isinstance(entry.entry_point, str) else entry.entry_point
    except (ImportError, AttributeError, ValueError):
        return set(), True
    names, open_ended = accepted_kwargs(creator)
    return (names | _MAKE_KWARGS) - _WORKER_KWARGS, open_ended


def check_kwargs(spec: EnvironmentSpec, entry: gym.envs.registration.EnvSpec) -> None:
    """EnvProblem for the first kwarg the environment does not take, with the names probably meant."""
    limits.check_paths(spec.kwargs, "kwargs")
    names, open_ended = entry_kwargs(entry)
    for key in spec.kwargs:
        if key in _WORKER_KWARGS:
            raise EnvProblem(f"kwargs.{key}", f"Expected kwargs without {key!r} (the worker sets render_mode "
                                              f"'rgb_array'), got {key}={spec.kwargs[key]!r}")
        if key not in names and not open_ended:
            shown = ", ".join(sorted(names))
            raise EnvProblem(f"kwargs.{key}", f"Expected kwargs that {spec.env_id!r} accepts ({shown}), got {key!r}",
                             closest(key, names))


def _lookup(env_id: str, suggest: Callable[[str], list[str]] | None = None) -> gym.envs.registration.EnvSpec:
    """The registry entry of `env_id`, importing nothing; EnvProblem with the registered ids most like it."""
    _, name = split_module(env_id)
    try:
        return gym.spec(name)
    except gym.error.Error as err:
        hint = next((f"; {prefix} ids need the module {module!r} in ENV_MODULES" for prefix, module in _PLUGINS.items()
                     if name.startswith(prefix)), "")
        meant = (suggest or _registered_like)(name)
        raise EnvProblem("env_id", f"Expected a registered Gymnasium environment id, got {env_id!r}; "
                                   f"known families: {_KNOWN}{hint}", meant) from err


def _registered_like(name: str) -> list[str]:
    return closest(name, gym.registry)


def _import(module: str, name: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise ValueError(f"Expected an importable module registering {name!r}, got {module!r}: {err}") from err


def registered_spec(env_id: str, access: EnvAccess | None = None) -> gym.envs.registration.EnvSpec:
    """The registry entry of `env_id`, first importing its 'module:' prefix or known plugin package where `access`
    (default: the worker's settings) allows that module; ValueError naming the allowed modules otherwise."""
    access = access or worker_access()
    module, name = split_module(env_id)
    if module is not None:
        access.check_module(module, env_id)
        _import(module, name)
    elif name not in gym.registry:
        for prefix, plugin in _PLUGINS.items():
            if name.startswith(prefix) and plugin in access.modules:
                try:
                    importlib.import_module(plugin)
                except ImportError:
                    pass

    def suggest(unknown: str) -> list[str]:
        """Registered ids like it, among every family (and plugin) this worker may make."""
        for family in access.families:
            _register(family)
        for plugin in set(_PLUGINS.values()) & access.modules:
            try:
                importlib.import_module(plugin)
            except ImportError:
                pass
        # (a callable entry point stands for an id retired with a message, e.g. the mujoco-py versions)
        makeable = [i for i, entry in gym.registry.items()
                    if isinstance(entry.entry_point, str) and family_of_entry(entry.entry_point) in access.families]
        meant = closest(unknown, makeable)
        return [f"{module}:{m}" for m in meant] if module is not None else meant

    return _lookup(env_id, suggest)


def _register(family: str) -> None:
    if family == "atari":
        import ale_py

        gym.register_envs(ale_py)
    elif family == "procgen":
        from .procgen import register_procgen_envs

        register_procgen_envs()
    elif family == "robosuite":
        from .robosuite import register_robosuite_envs

        register_robosuite_envs()
    elif family == "robodesk":
        from .robodesk import register_robodesk_envs

        register_robodesk_envs()
    elif family == "nethack":
        from .nethack import register_nethack_envs

        register_nethack_envs()


def resolve_family(spec: EnvironmentSpec, access: EnvAccess | None = None) -> str:
    """The spec's family; 'auto' is inferred from the id and, for MuJoCo, from the registry's entry point. Only
    families `access` enables are registered and returned, whatever the spec says (ValueError otherwise)."""
    access = access or worker_access()
    family = spec.resolved_family
    access.check_family(family, spec.env_id)
    for needed in {family, spec.model_copy(update={"family": "auto"}).resolved_family} & access.families:
        _register(needed)
    entry_family = family_of_entry(registered_spec(spec.env_id, access).entry_point)
    access.check_family(entry_family, spec.env_id)  # e.g. a MuJoCo env declared family "gymnasium"
    if spec.family == "auto" and family == "gymnasium" and entry_family == "mujoco":
        family = "mujoco"
    return family


def make_env(spec: EnvironmentSpec, access: EnvAccess | None = None) -> PreparedEnv:
    """Build the spec's environment with its family's defaults; ValueError for unknown ids, bad kwargs, and
    families or modules `access` (default: the worker's settings) does not allow."""
    family = resolve_family(spec, access)
    if family == "atari":
        from .atari import make
    elif family == "procgen":
        from .procgen import make
    elif family == "mujoco":
        from .mujoco import make
    elif family == "robosuite":
        from .robosuite import make
    elif family == "robodesk":
        from .robodesk import make
    elif family == "nethack":
        from .nethack import make
    else:
        from .generic import make
    return make(spec, access)
