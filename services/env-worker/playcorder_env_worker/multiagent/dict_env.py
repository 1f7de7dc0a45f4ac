"""A registered Gymnasium env played by several agents: its action space is a Dict keyed by agent, and its
observation space a Dict keyed the same. Its reward is per agent where info["rewards"] is a dict of them, else the
one scalar reward is every agent's; termination and truncation end every agent at once. An agent's own view is the
env's `render_agent(agent)` where it has that method, else the shared render()."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from playcorder.inputs import InputMap
from playcorder.specs import EnvironmentSpec

from ..default_maps import default_map_for
from ..families import make_gym, resolve_family
from ..families.access import EnvAccess
from ..families.problems import EnvProblem
from .envs import Infos, Observations, PreparedGame, ViewBackend


def per_agent_spaces(env: gym.Env, env_id: str) -> tuple[dict[str, gym.Space], dict[str, gym.Space]]:
    """(observation spaces, action spaces) by agent; EnvProblem unless both are Dicts with the same keys."""
    actions, observations = env.action_space, env.observation_space
    if not isinstance(actions, gym.spaces.Dict) or not actions.spaces:
        raise EnvProblem("env_id", f"Expected a multi-agent environment: a PettingZoo id "
                                   f"'pettingzoo/<subpackage>/<module>' or a Gymnasium env whose action space is a "
                                   f"Dict keyed by agent, got {env_id!r} with action space {_shown(actions)}")
    if not isinstance(observations, gym.spaces.Dict) or set(observations.spaces) != set(actions.spaces):
        keys = sorted(observations.spaces) if isinstance(observations, gym.spaces.Dict) else _shown(observations)
        raise EnvProblem("observation_space", f"Expected an observation space that is a Dict keyed by the same "
                                              f"agents as the action space {sorted(actions.spaces)}, got {keys}")
    return dict(observations.spaces), dict(actions.spaces)


def _shown(space: gym.Space) -> str:
    text = " ".join(repr(space).split())
    return text if len(text) <= 200 else text[:200] + "..."


class _Backend(ViewBackend):
    def __init__(self, env: gym.Env, agents: list[str]) -> None:
        super().__init__(env)
        self.agents = agents

    def _infos(self, info: dict[str, Any]) -> Infos:
        shared = {k: v for k, v in info.items() if k != "rewards"}
        return {a: dict(shared) for a in self.agents}

    def reset(self, seed: int) -> tuple[Observations, Infos]:
        observation, info = self.env.reset(seed=seed)
        return {a: observation[a] for a in self.agents}, self._infos(info)

    def step(self, actions: dict[str, Any]) -> tuple[Any, Any, Any, Any, Any]:
        acting = list(actions)
        observation, reward, terminated, truncated, info = self.env.step(actions)
        rewards = info.get("rewards")
        if not isinstance(rewards, dict):
            rewards = {a: reward for a in acting}
        infos = self._infos(info)
        return ({a: observation[a] for a in acting}, {a: rewards.get(a, 0.0) for a in acting},
                {a: bool(terminated) for a in acting}, {a: bool(truncated) for a in acting},
                {a: infos[a] for a in acting})


def make_game(spec: EnvironmentSpec, access: EnvAccess) -> PreparedGame:
    family = resolve_family(spec, access)
    env = make_gym(spec, access)  # the spec's wrappers, TimeLimit and space limits, as for one agent
    try:
        observation_spaces, action_spaces = per_agent_spaces(env, spec.env_id)
        agents = list(action_spaces)
        backend = _Backend(env, agents)
        maps: dict[str, InputMap] = {}
        for agent, space in action_spaces.items():
            try:
                maps[agent] = default_map_for(space)
            except ValueError:  # no default for this space: the seat's input_map must say
                pass
    except BaseException:
        env.close()
        raise
    # an agent whose episode ended still has to be in the Dict action the env takes: the game only ever ends
    # every agent at once here, so that never arises
    return PreparedGame(family=family, agents=agents, observation_spaces=observation_spaces,
                        action_spaces=action_spaces, default_input_maps=maps,
                        action_meanings={a: None for a in agents}, backend=backend,
                        own_views=callable(backend.own_view))
