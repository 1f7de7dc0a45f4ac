"""The trial of a multi-agent environment (trial.py hands it over): build the game, check its seats are named after
its agents and that each seat a participant may take has an input map fitting that agent's action space, reset,
take one idle step of every agent, render the shared frame as the preview, try the statistics on each agent's step,
and close it. The reply's spaces are Dicts keyed by agent."""

from __future__ import annotations

import base64
from typing import Any

import gymnasium as gym

from playcorder.gym_spaces import space_spec
from playcorder.inputs import InputMap
from playcorder.messages import TrialProblem, TrialReply
from playcorder.spaces import format_limits
from playcorder.specs import EnvironmentSpec

from ..controls import Controls
from ..families.access import EnvAccess
from ..families.problems import EnvProblem
from ..statistics import tried
from ..trial import _problem, preview, problems_of_map, run_and_close
from .envs import PreparedGame, make_game


def _build(spec: EnvironmentSpec, reply: TrialReply, access: EnvAccess | None) -> PreparedGame | None:
    try:
        return make_game(spec, access)
    except EnvProblem as err:
        reply.problems.append(_problem(err.field, err.message, err.suggestions))
    except Exception as err:  # the env's own code failed: a message for the designer, never a crash
        field = "kwargs" if spec.kwargs and isinstance(err, TypeError) else "env_id"
        reply.problems.append(_problem(field, f"Expected {spec.env_id!r} to build, got {type(err).__name__}: {err}"))
    return None


def _spaces(game: PreparedGame, reply: TrialReply) -> None:
    for name, spaces in (("observation_space", game.observation_spaces), ("action_space", game.action_spaces)):
        try:
            setattr(reply, name, space_spec(gym.spaces.Dict(spaces)))
        except (TypeError, ValueError) as err:
            reply.problems.append(_problem(name, f"Expected per-agent spaces that can be recorded (Box, Discrete, "
                                                 f"MultiDiscrete, MultiBinary, Dict, Tuple and what the record "
                                                 f"format holds), got {spaces}: {err}"))
    if reply.observation_space is not None and reply.action_space is not None:
        reply.format_limits = format_limits(reply.observation_space, reply.action_space)


def _at(prefix: str, problem: TrialProblem) -> TrialProblem:
    """A problem of an input map (at input_map.*) moved to where that map is in the spec."""
    field = prefix + problem.field.removeprefix("input_map")
    return _problem(field, problem.message, problem.suggestions)


def _seat_map(spec: EnvironmentSpec, agent: str) -> tuple[InputMap | None, str, bool]:
    """(the map the spec gives this agent's seat, where it is, whether a participant may play the seat)."""
    seat = spec.agents.seats.get(agent) if spec.agents is not None else None
    playable = seat is None or seat.always is None
    if seat is not None and seat.input_map is not None:
        return seat.input_map, f"agents.seats.{agent}.input_map", playable
    return spec.input_map, "input_map", playable


def _idle_actions(game: PreparedGame, spec: EnvironmentSpec, reply: TrialReply) -> dict[str, Any]:
    """Each agent's idle action under its map, checking each map (the family's default where the spec gives none)."""
    idle: dict[str, Any] = {}
    for agent in game.agents:
        space, default = game.action_spaces[agent], game.default_input_maps.get(agent)
        given, where, playable = _seat_map(spec, agent)
        problems = [_at(where, p) for p in problems_of_map(given, space, default, game.action_meanings[agent])] \
            if given is not None else []
        if given is None and default is None and playable:
            problems.append(_problem(f"agents.seats.{agent}.input_map", f"Expected an input_map for agent {agent!r} "
                                     f"(its action space {space} has no default map), got none"))
        reply.problems += problems
        chosen = default if problems or given is None else given
        try:
            idle[agent] = Controls(chosen, space).action(0.0) if chosen is not None else space.sample()
        except ValueError as err:
            if not problems:
                reply.problems.append(_problem(where, f"agent {agent!r}: {err}"))
            idle[agent] = space.sample()
    return idle


def _run(game: PreparedGame, spec: EnvironmentSpec, reply: TrialReply) -> None:
    _spaces(game, reply)
    if spec.agents is None:
        reply.problems.append(_problem("agents", f"Expected an 'agents' block with a seat for each agent of "
                                                 f"{spec.env_id!r} ({', '.join(game.agents)}), got none"))
    idle = _idle_actions(game, spec, reply)
    stage = "reset"
    try:
        game.reset(seed=0)
        stage = "step"
        observations, rewards, _, _, infos = game.step(idle)
        stage = "render"
        frame = game.render()
    except EnvProblem as err:  # e.g. a frame larger than the limits
        reply.problems.append(_problem(err.field, err.message, err.suggestions))
        return
    except Exception as err:
        reply.problems.append(_problem("env_id", f"Expected {spec.env_id!r} to {stage} (reset, one idle step of "
                                                 f"every agent, render), got {type(err).__name__}: {err}"))
        return
    seen: set[tuple[int, str]] = set()
    for agent in observations:
        for i, message, suggestions in tried(spec, idle[agent], rewards[agent], observations[agent], infos[agent]):
            if (i, message) not in seen:
                seen.add((i, message))
                reply.problems.append(_problem(f"statistics.{i}", message, suggestions))
    jpeg, reply.width, reply.height = preview(frame, spec.render.jpeg_quality)
    reply.preview_jpeg = base64.b64encode(jpeg).decode()


def try_game(spec: EnvironmentSpec, access: EnvAccess | None, reply: TrialReply) -> None:
    """Fill `reply` with the trial of the spec's multi-agent environment (blocking: a trial process runs it)."""
    game = _build(spec, reply, access)
    if game is not None:
        run_and_close(game, spec, reply, _run)
