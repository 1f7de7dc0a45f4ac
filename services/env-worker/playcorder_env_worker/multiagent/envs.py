"""Multi-agent environments: `make_game(spec)` builds a game of several agents with its per-agent spaces, default
input maps and action meanings, from a PettingZoo parallel env ('pettingzoo/<subpackage>/<module>',
families/pettingzoo.py) or a registered Gymnasium env whose spaces are Dicts keyed by agent (dict_env.py).

Agents whose episode ended: PettingZoo drops an agent from the episode once it is terminated or truncated, and
`PreparedGame.step` follows it. An agent appears in the step's dicts for the last time at the step whose
termination or truncation says it ended; after that it is no longer `live`, actions given for it are ignored
(a runtime may keep sending every seat's action) and it is absent from the step's dicts. Once no agent is live the
game is `done` and a step returns empty dicts until the next reset. Blocking: call it on the worker's env threads,
never on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from playcorder.inputs import InputMap
from playcorder.specs import EnvironmentSpec

from ..families import as_frame
from ..families.access import EnvAccess, worker_access
from ..families.problems import EnvProblem, closest

Observations = dict[str, Any]
Infos = dict[str, dict[str, Any]]
StepResult = tuple[dict[str, Any], dict[str, float], dict[str, bool], dict[str, bool], Infos]


class GameBackend(Protocol):
    """What a family gives PreparedGame: the env's own reset, step (the live agents' actions), render and close."""

    def reset(self, seed: int) -> tuple[Observations, Infos]: ...

    def step(self, actions: dict[str, Any]) -> tuple[Observations, dict[str, Any], dict[str, Any], dict[str, Any],
                                                     dict[str, Any]]: ...

    def render(self, agent: str | None) -> Any: ...

    def close(self) -> None: ...


class ViewBackend:
    """What both families' backends share: the env, its per-agent view (`render_agent`, when it has one), render
    and close."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.own_view = getattr(env.unwrapped, "render_agent", None)

    def render(self, agent: str | None) -> Any:
        if agent is not None and callable(self.own_view):
            return self.own_view(agent)
        return self.env.render()

    def close(self) -> None:
        self.env.close()


@dataclass(eq=False)
class PreparedGame:
    """A ready multi-agent env (render_mode "rgb_array") plus what the worker needs to show and control each agent.
    default_input_maps lacks an agent whose action space has no default map (its seat needs an input_map)."""

    family: str
    agents: list[str]
    observation_spaces: dict[str, gym.Space]
    action_spaces: dict[str, gym.Space]
    default_input_maps: dict[str, InputMap]
    action_meanings: dict[str, list[str] | None]
    backend: GameBackend = field(repr=False)
    max_steps: int | None = None  # every live agent is truncated at this step (spec.max_episode_steps)
    own_views: bool = False  # render(agent) differs per agent; else one render() serves every participant
    live: list[str] = field(default_factory=list)  # the agents still in the episode
    steps: int = 0  # steps since the reset

    @property
    def done(self) -> bool:
        return not self.live

    def reset(self, seed: int) -> tuple[Observations, Infos]:
        """A new episode: (observation, info) per agent."""
        observations, infos = self.backend.reset(seed)
        self.live = [a for a in self.agents if a in observations]
        self.steps = 0
        return observations, {a: dict(infos.get(a) or {}) for a in self.live}

    def step(self, actions: dict[str, Any]) -> StepResult:
        """One step of every live agent: (observations, rewards, terminations, truncations, infos), each keyed by the
        agents that acted. `actions` must hold a valid action (envs.to_action) for each live agent."""
        unknown = sorted(set(actions) - set(self.agents))
        if unknown:
            raise ValueError(f"Expected actions for the game's agents {self.agents}, got ones for {unknown}")
        missing = [a for a in self.live if a not in actions]
        if missing:
            raise ValueError(f"Expected an action for each agent still in the episode {self.live}, got none for "
                             f"{missing}")
        acting = self.live
        if not acting:
            return {}, {}, {}, {}, {}
        observations, rewards, terminations, truncations, infos = self.backend.step({a: actions[a] for a in acting})
        self.steps += 1
        at_limit = self.max_steps is not None and self.steps >= self.max_steps
        ended_by = {a: bool(terminations.get(a, False)) for a in acting}
        cut = {a: bool(truncations.get(a, False)) or (at_limit and not ended_by[a]) for a in acting}
        self.live = [a for a in acting if not (ended_by[a] or cut[a])]
        return ({a: observations.get(a) for a in acting}, {a: float(rewards.get(a, 0.0)) for a in acting}, ended_by,
                cut, {a: dict(infos.get(a) or {}) for a in acting})

    def render(self, agent: str | None = None) -> np.ndarray:
        """HxWx3 uint8: `agent`'s own view where the env has one (a `render_agent(agent)` method), else the shared
        frame."""
        if agent is not None and agent not in self.agents:
            raise ValueError(f"Expected one of the game's agents {self.agents}, got {agent!r}")
        return as_frame(self.backend.render(agent))

    def close(self) -> None:
        self.backend.close()


def check_seats(spec: EnvironmentSpec, agents: list[str]) -> None:
    """EnvProblem at agents.seats when the spec's seats are not named after the environment's agents."""
    if spec.agents is None:
        return
    seats = list(spec.agents.seats)
    if set(seats) == set(agents):
        return
    missing = [a for a in agents if a not in seats]
    unknown = [s for s in seats if s not in agents]
    meant = closest(unknown[0], missing) if unknown else []
    raise EnvProblem("agents.seats", f"Expected seats named after {spec.env_id!r}'s agents {agents}, got {seats} "
                                     f"(missing {missing}, unknown {unknown})", meant)


def make_game(spec: EnvironmentSpec, access: EnvAccess | None = None) -> PreparedGame:
    """Build the spec's multi-agent environment; ValueError (EnvProblem at the field) for unknown ids, bad kwargs,
    families or modules `access` (default: the worker's settings) does not allow, spaces that are not per agent,
    and seats named otherwise than the env's agents."""
    access = access or worker_access()
    if spec.resolved_family == "pettingzoo":
        from ..families.pettingzoo import make_game as make
    else:
        from .dict_env import make_game as make
    game = make(spec, access)
    try:
        check_seats(spec, game.agents)
    except BaseException:
        game.close()
        raise
    return game
