"""Trying an environment spec before a study is saved (the gateway asks on `Subjects.trial`, queue group "trial"):
build it through its family, check its input map against the action space and that its spaces can be recorded,
reset, take one idle step, render a preview (JPEG, at most 640 px wide), try the custom statistics it names on that
step, measure what a step costs (step_cost.py: a warning when its fps asks for more) and close it. Every problem is
reported at the field of the spec that causes it, with the values probably meant; the env runs only in a trial
process (trial_pool.py), never on the sessions' threads."""

from __future__ import annotations

import base64
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from playcorder.gym_spaces import space_spec
from playcorder.inputs import ContinuousMap, DiscreteMap, InputMap, parse_combo
from playcorder.messages import TrialProblem, TrialReply
from playcorder.spaces import format_limits
from playcorder.specs import EnvironmentSpec

from .controls import Controls
from .envs import encode_jpeg
from .families import PreparedEnv, make_env
from .families.access import EnvAccess
from .families.problems import EnvProblem
from .statistics import tried
from .step_cost import MEASURED_STEPS, Timing, jpeg_timed, mark, measure, pace_warnings, since

log = logging.getLogger(__name__)
PREVIEW_MAX_WIDTH = 640
QUEUE_GROUP = "trial"
_SHOWN_MEANINGS = 18  # action names an out-of-range binding's message lists at most


def _problem(field: str, message: str, suggestions: list[str] | None = None) -> TrialProblem:
    return TrialProblem(field=field, message=message[:2000], suggestions=(suggestions or [])[:5])


def preview(frame: np.ndarray, quality: int) -> tuple[bytes, int, int]:
    """The frame as JPEG, shrunk by a whole factor to at most PREVIEW_MAX_WIDTH wide: (jpeg, width, height)."""
    step = max(1, math.ceil(frame.shape[1] / PREVIEW_MAX_WIDTH))
    small = np.ascontiguousarray(frame[::step, ::step])
    return encode_jpeg(small, quality), int(small.shape[1]), int(small.shape[0])


# ---------------------------------------------------------------- the input map against the action space
def _actions(n: int, meanings: list[str] | None) -> str:
    if not meanings:
        return f"0..{n - 1}"
    names = ", ".join(meanings[:_SHOWN_MEANINGS]) + (", ..." if len(meanings) > _SHOWN_MEANINGS else "")
    return f"0..{n - 1} ({names})"


def _discrete_problems(input_map: DiscreteMap, n: int, default: InputMap | None,
                       meanings: list[str] | None) -> list[TrialProblem]:
    meant = default.bindings if isinstance(default, DiscreteMap) else {}
    by_keys = {frozenset(parse_combo(c)): a for c, a in meant.items()}
    problems = []
    for combo, action in input_map.bindings.items():
        if not 0 <= action < n:
            usual = by_keys.get(frozenset(parse_combo(combo)))  # what the family's default map binds these keys to
            problems.append(_problem(f"input_map.bindings.{combo}", f"Expected an action in "
                                     f"{_actions(n, meanings)}, got {action}",
                                     [str(usual)] if usual is not None else []))
    if not 0 <= input_map.noop < n:
        noop = default.noop if isinstance(default, DiscreteMap) else 0
        problems.append(_problem("input_map.noop", f"Expected an action in {_actions(n, meanings)}, "
                                                   f"got {input_map.noop}", [str(noop)]))
    return problems


def _continuous_problems(input_map: ContinuousMap, size: int) -> list[TrialProblem]:
    return [_problem(f"input_map.{kind}.{i}.dim", f"Expected a dimension in 0..{size - 1} (the action space has "
                                                  f"{size}), got {b.dim}")
            for kind, bindings in (("axes", input_map.axes), ("keys", input_map.keys))
            for i, b in enumerate(bindings) if b.dim >= size]


def input_map_problems(input_map: InputMap, prepared: PreparedEnv) -> list[TrialProblem]:
    return problems_of_map(input_map, prepared.env.action_space, prepared.default_input_map, prepared.action_meanings)


def problems_of_map(input_map: InputMap, space: gym.Space, default: InputMap | None,
                    meanings: list[str] | None) -> list[TrialProblem]:
    """Problems of `input_map` against the action space, at input_map.* (default: the family's map, for the
    actions its keys usually mean)."""
    if isinstance(input_map, DiscreteMap):
        if not isinstance(space, gym.spaces.Discrete):
            return [_problem("input_map.kind", f"Expected a continuous input map for the action space {space}, got "
                                               "a discrete one", ["continuous"])]
        return _discrete_problems(input_map, int(space.n), default, meanings)
    if not isinstance(space, gym.spaces.Box):
        kind = "discrete" if isinstance(space, gym.spaces.Discrete) else None
        return [_problem("input_map.kind", f"Expected a discrete input map for the action space {space}, got a "
                                           "continuous one" if kind else f"Expected no input map of keys and axes "
                                           f"for the action space {space} (explicit actions only), got one",
                         [kind] if kind else [])]
    return _continuous_problems(input_map, int(np.prod(space.shape)))


# ---------------------------------------------------------------- one trial, on a pool thread
def _spaces(prepared: PreparedEnv, reply: TrialReply) -> None:
    for name, space in (("observation_space", prepared.env.observation_space),
                        ("action_space", prepared.env.action_space)):
        try:
            setattr(reply, name, space_spec(space))
        except (TypeError, ValueError) as err:
            reply.problems.append(_problem(name, f"Expected a space that can be recorded (Box, Discrete, "
                                                 f"MultiDiscrete, MultiBinary, Dict, Tuple and what the record "
                                                 f"format holds), got {space}: {err}"))
    if reply.observation_space is not None and reply.action_space is not None:
        reply.format_limits = format_limits(reply.observation_space, reply.action_space)


def _build(spec: EnvironmentSpec, reply: TrialReply, access: EnvAccess | None) -> PreparedEnv | None:
    try:
        return make_env(spec, access)
    except EnvProblem as err:
        reply.problems.append(_problem(err.field, err.message, err.suggestions))
    except Exception as err:  # the env's own code failed: a message for the designer, never a crash
        field = "kwargs" if spec.kwargs and isinstance(err, TypeError) else "env_id"
        reply.problems.append(_problem(field, f"Expected {spec.env_id!r} to build, got "
                                              f"{type(err).__name__}: {err}"))
    return None


def _run(prepared: PreparedEnv, spec: EnvironmentSpec, reply: TrialReply) -> None:
    _spaces(prepared, reply)
    input_map = spec.input_map or prepared.default_input_map
    map_problems = input_map_problems(input_map, prepared)
    reply.problems += map_problems
    if spec.render.camera is not None:
        try:
            prepared.set_camera(spec.render.camera)
        except ValueError as err:
            reply.problems.append(_problem("render.camera", str(err), prepared.cameras[:5]))
    try:
        controls = Controls(input_map if not map_problems else prepared.default_input_map, prepared.env.action_space)
        idle = controls.action(0.0)
    except ValueError as err:  # no default map for this space (the spec must give one), or another map problem
        if not map_problems:
            reply.problems.append(_problem("input_map", str(err)))
        idle = prepared.env.action_space.sample()
    stage = "reset"
    try:
        prepared.env.reset(seed=0)
        stage = "step"
        started = mark()
        observation, reward, terminated, truncated, info = prepared.env.step(idle)
        stage, stepped, rendering = "render", since(started), mark()
        frame = prepared.render()
        first = Timing(stepped, since(rendering), jpeg_timed(frame, spec.render.jpeg_quality))
    except EnvProblem as err:  # e.g. a frame larger than the limits
        reply.problems.append(_problem(err.field, err.message, err.suggestions))
        return
    except Exception as err:
        reply.problems.append(_problem("env_id", f"Expected {spec.env_id!r} to {stage} (reset, one idle step, "
                                                 f"render), got {type(err).__name__}: {err}"))
        return
    reply.problems += [_problem(f"statistics.{i}", message, suggestions)
                       for i, message, suggestions in tried(spec, idle, float(reward), observation, info)]
    jpeg, reply.width, reply.height = preview(frame, spec.render.jpeg_quality)
    reply.preview_jpeg = base64.b64encode(jpeg).decode()
    try:
        reply.step_cost = measure(prepared, idle, spec.render.jpeg_quality, first, bool(terminated or truncated))
    except Exception as err:  # it stepped once, then broke: a session would too
        reply.problems.append(_problem("env_id", f"Expected {spec.env_id!r} to keep stepping (the idle action, "
                                                 f"{MEASURED_STEPS} steps at most), got {type(err).__name__}: {err}"))
        return
    reply.warnings += pace_warnings(spec, reply.step_cost)


def try_environment(spec: EnvironmentSpec, access: EnvAccess | None = None) -> TrialReply:
    """Build, check, reset, step once, render and close `spec`'s environment (blocking: the worker calls it in a
    trial process)."""
    started = time.perf_counter()
    reply = TrialReply(env=spec.id, ok=False)
    if spec.agents is not None or spec.resolved_family == "pettingzoo":
        from .multiagent.trial import try_game

        try_game(spec, access, reply)  # several agents: each seat's map, the seats' names
        return _finished(reply, started)
    prepared = _build(spec, reply, access)
    if prepared is not None:
        run_and_close(prepared, spec, reply, _run)
    return _finished(reply, started)


def run_and_close(env: Any, spec: EnvironmentSpec, reply: TrialReply,
                  run: Callable[[Any, EnvironmentSpec, TrialReply], None]) -> None:
    """The checks of a built env (one agent's or a game's) into `reply`, then the env closed: a check that itself
    fails is still an answer, never a crash."""
    reply.family = env.family
    try:
        run(env, spec, reply)
    except Exception as err:
        log.exception("trial of %s failed", spec.env_id)
        reply.problems.append(_problem("env_id", f"Expected {spec.env_id!r} to be tried, got "
                                                 f"{type(err).__name__}: {err}"))
    finally:
        try:
            env.close()
        except Exception:
            log.exception("trial of %s: closing the environment failed", spec.env_id)


def _finished(reply: TrialReply, started: float) -> TrialReply:
    reply.ok = not reply.problems
    reply.seconds = round(time.perf_counter() - started, 4)
    return reply


def bad_request(data: bytes, err: Exception) -> TrialReply:
    return TrialReply(env="", ok=False, problems=[_problem("", f"Expected a TrialRequest, got {data[:200]!r}: {err}")])
