"""PettingZoo parallel environments, 'pettingzoo/<subpackage>/<module>' ('pettingzoo/atari/space_invaders_v2',
'pettingzoo/butterfly/cooperative_pong_v6'; without the version, the newest). Ids are looked up only in PettingZoo's
own registry, so a spec never names a module to import. The two-player Atari games run on multi-agent-ale-py with the
ROMs ale-py bundles; their default input maps are single-player Atari's, from the ALE action meanings."""

from __future__ import annotations

import importlib
import inspect
import os
from typing import Any

from playcorder.inputs import InputMap
from playcorder.specs import EnvironmentSpec

from ..default_maps import default_atari_map, default_map_for
from ..multiagent.envs import Infos, Observations, PreparedGame, ViewBackend
from . import limits
from .access import EnvAccess
from .problems import EnvProblem, closest, unexpected_keyword
from .signature import accepted_kwargs

PREFIX = "pettingzoo/"
# set by the worker, or fixed by the game's module: never a spec's
_WORKER_KWARGS = frozenset({"render_mode", "auto_rom_install_path", "game", "num_players", "mode_num", "env_name",
                            "randomizer"})
# meanings of the discrete actions of games that do not name them, so their default maps make sense
_MEANINGS = {"butterfly/cooperative_pong": ["NOOP", "UP", "DOWN"]}


def _registry_id(env_id: str) -> str:
    if not env_id.startswith(PREFIX):
        raise EnvProblem("env_id", f"Expected a PettingZoo id 'pettingzoo/<subpackage>/<module>' (e.g. "
                                   f"'pettingzoo/atari/space_invaders_v2'), got {env_id!r}")
    return env_id.removeprefix(PREFIX)


def _shown_id(registry_id: str) -> str:
    """'atari/space_invaders-v2' -> 'pettingzoo/atari/space_invaders_v2' (the module's name, as specs write it)."""
    head, _, version = registry_id.rpartition("-v")
    return PREFIX + (f"{head}_v{version}" if head and version.isdigit() else registry_id)


def lookup(env_id: str) -> Any:
    """The PettingZoo registry entry of `env_id`; EnvProblem with the registered ids most like it."""
    import pettingzoo
    from pettingzoo.env_registry.exceptions import PettingZooRegistryError, VersionNotFound

    name = _registry_id(env_id)
    try:
        return pettingzoo.spec("parallel", name)
    except PettingZooRegistryError as err:
        known = {_shown_id(i): i for i in pettingzoo.parallel_registry}
        meant = closest(env_id, known) or closest(env_id.rsplit("_v", 1)[0], [k.rsplit("_v", 1)[0] for k in known])
        meant = [m if m in known else next(k for k in known if k.startswith(m + "_v")) for m in meant]
        why = f": {err}" if isinstance(err, VersionNotFound) else ""  # (the others list the whole registry)
        raise EnvProblem("env_id", f"Expected a registered PettingZoo parallel environment "
                                   f"'pettingzoo/<subpackage>/<module>', got {env_id!r}{why}", meant) from None


def _known_kwargs(entry: Any) -> set[str]:
    """Keyword arguments the game probably takes (for suggestions): its module's raw_env and the classes it defines,
    and for Atari the ALE env's own."""
    entry_point = entry.entry_point if isinstance(entry.entry_point, str) else ""
    try:
        module = importlib.import_module(entry_point.split(":", 1)[0])
    except ImportError:
        return set()
    names: set[str] = set()
    for value in vars(module).values():
        if callable(value) and getattr(value, "__module__", None) == module.__name__ and (
                inspect.isclass(value) or getattr(value, "__name__", "") == "raw_env"):
            names |= accepted_kwargs(value)[0]
    if entry.namespace == "atari":
        from pettingzoo.atari.base_atari_env import ParallelAtariEnv

        names |= accepted_kwargs(ParallelAtariEnv)[0]
    return names - _WORKER_KWARGS


def _check_kwargs(spec: EnvironmentSpec) -> None:
    limits.check_paths(spec.kwargs, "kwargs")
    for key in spec.kwargs:
        if key in _WORKER_KWARGS:
            raise EnvProblem(f"kwargs.{key}", f"Expected kwargs without {key!r} (the worker or the game sets it), "
                                              f"got {key}={spec.kwargs[key]!r}")


def make_parallel(spec: EnvironmentSpec) -> tuple[Any, Any]:
    """(the parallel env, its registry entry), built with render_mode "rgb_array" and the spec's kwargs."""
    import pettingzoo

    entry = lookup(spec.env_id)
    _check_kwargs(spec)
    kwargs: dict[str, Any] = {**spec.kwargs, "render_mode": "rgb_array"}
    if entry.namespace == "atari":
        import ale_py

        kwargs["auto_rom_install_path"] = os.path.dirname(ale_py.__file__)  # ale-py's roms/*.bin
    try:
        env = pettingzoo.make("parallel", entry, **kwargs)
    except TypeError as err:
        bad = unexpected_keyword(err)
        if bad is None:
            raise
        names = _known_kwargs(entry)
        raise EnvProblem(f"kwargs.{bad}" if bad in spec.kwargs else "kwargs",
                         f"Expected kwargs that {spec.env_id!r} accepts ({', '.join(sorted(names))}), got {bad!r}",
                         closest(bad, names)) from err
    except (ImportError, pettingzoo.env_registry.exceptions.FailedToImport) as err:
        raise EnvProblem("env_id", f"Expected {spec.env_id!r} to be installed on the env-worker, got {err}") from err
    return env, entry


def _atari_meanings(env: Any) -> list[str] | None:
    """The ALE names of the game's actions (its minimal action set), from the ALE env inside the wrappers."""
    import ale_py

    seen, todo = set(), [env]
    while todo:
        inner = todo.pop()
        if id(inner) in seen or inner is None:
            continue
        seen.add(id(inner))
        mapping = getattr(inner, "action_mapping", None)
        if mapping is not None:
            return [ale_py.Action(int(a)).name for a in mapping]
        todo += [getattr(inner, name, None) for name in ("aec_env", "env", "unwrapped")]
    return None


class _Backend(ViewBackend):
    def reset(self, seed: int) -> tuple[Observations, Infos]:
        observations, infos = self.env.reset(seed=seed)
        return observations, infos

    def step(self, actions: dict[str, Any]) -> tuple[Any, Any, Any, Any, Any]:
        return self.env.step(actions)  # type: ignore[no-any-return]


def make_game(spec: EnvironmentSpec, access: EnvAccess) -> PreparedGame:
    access.check_family("pettingzoo", spec.env_id)
    env, entry = make_parallel(spec)
    try:
        agents = [str(a) for a in env.possible_agents]
        observation_spaces = {a: env.observation_space(a) for a in agents}
        action_spaces = {a: env.action_space(a) for a in agents}
        for a in agents:
            limits.check_agent_spaces(a, observation_spaces[a], action_spaces[a], access.max_observation_bytes)
        named = _atari_meanings(env) if entry.namespace == "atari" else None
        named = named or _MEANINGS.get(f"{entry.namespace}/{entry.name}")
        meanings = {a: named if _fits(action_spaces[a], named) else None for a in agents}
        maps = _default_maps(action_spaces, meanings, atari=entry.namespace == "atari")
        backend = _Backend(env)
    except BaseException:
        env.close()
        raise
    return PreparedGame(family="pettingzoo", agents=agents, observation_spaces=observation_spaces,
                        action_spaces=action_spaces, default_input_maps=maps, action_meanings=meanings,
                        backend=backend, max_steps=spec.max_episode_steps, own_views=callable(backend.own_view))


def _fits(space: Any, meanings: list[str] | None) -> bool:
    return meanings is not None and getattr(space, "n", None) == len(meanings)


def _default_maps(spaces: dict[str, Any], meanings: dict[str, list[str] | None], atari: bool) -> dict[str, InputMap]:
    """Each agent's default map (Atari: single-player Atari's); an agent whose space has none is left out."""
    maps: dict[str, InputMap] = {}
    for agent, space in spaces.items():
        names = meanings[agent]
        try:
            maps[agent] = default_atari_map(names) if atari and names else default_map_for(space, names)
        except ValueError:  # no default for this space: the seat's input_map must say
            pass
    return maps
