"""AI policies acting for an agent of a multi-agent game (PolicySpec): random, scripted (a Python entry point) or
served by an external process over NATS request/reply. `decide` asks one for a step's action within a deadline: a
policy that is late, busy with an earlier step or failing gets the agent's previous action, and the Decision says
so. Nothing here blocks the event loop: a scripted policy's code and the NATS payloads' JSON run in the executor.

Access: a scripted entry point is imported only from a package the operator allowed (ENV_MODULES, the rule
'module:EnvId' ids and wrappers follow), and must be defined there. A NATS policy is asked on
`Subjects.policy(subject)` (`<prefix>.policies.<subject>`), never on a subject of the stack's own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import functools
import importlib
import inspect
import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import gymnasium as gym
import numpy as np
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError

from playcorder.bus import subjects_for
from playcorder.multiagent import NatsPolicy, PolicySpec, RandomPolicy, ScriptedPolicy
from playcorder.records import jsonable
from playcorder.subjects import Subjects

from ..envs import to_action
from ..families.access import EnvAccess, worker_access
from ..families.problems import EnvProblem
from ..settings import Settings

log = logging.getLogger(__name__)
PolicyKind = Literal["random", "scripted", "nats"]
MAX_ERROR = 300  # characters of a policy's failure a Decision keeps


class Policy(Protocol):
    kind: PolicyKind

    async def act(self, observation: Any, step: int) -> Any:
        """The agent's action for this step, a valid value of its action space (ValueError otherwise)."""

    def reset(self) -> None:
        """A new episode begins (a scripted class's reset() runs before its next act, in the executor)."""

    async def close(self) -> None: ...


class PolicyBusy(Exception):
    """The policy is still deciding an earlier step (a scripted call past its deadline cannot be stopped)."""


@dataclass(frozen=True)
class Decision:
    action: Any
    late: bool  # the action is the previous one, not the policy's answer for this step (late, busy or failing)
    error: str | None  # why the policy failed (None when it answered, or was only late)


async def decide(policy: Policy, observation: Any, step: int, previous: Any, deadline_s: float) -> Decision:
    """The policy's action for `step` if it comes within `deadline_s`; else `previous`, marked late (with the error
    when the policy failed). Never raises, but for cancellation."""
    try:
        action = await asyncio.wait_for(policy.act(observation, step), timeout=deadline_s)
    except (TimeoutError, PolicyBusy):
        return Decision(previous, late=True, error=None)
    except Exception as err:  # whatever a policy does wrong, the game goes on
        text = f"{type(err).__name__}: {err}"
        return Decision(previous, late=True, error=text if len(text) <= MAX_ERROR else text[:MAX_ERROR] + "...")
    return Decision(action, late=False, error=None)


def valid_action(space: gym.Space[Any], value: Any) -> Any:
    """`value` (numpy values allowed) as a value of `space`; ValueError naming the space and the value otherwise."""
    return to_action(space, _plain(value))


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------ random
class RandomActor:
    kind: PolicyKind = "random"

    def __init__(self, action_space: gym.Space[Any], seed: int | None) -> None:
        self._space = copy.deepcopy(action_space)  # its own generator: the env's space is left alone
        self._space.seed(seed)

    async def act(self, observation: Any, step: int) -> Any:
        return self._space.sample()

    def reset(self) -> None:
        """The seed's sequence goes on across episodes (one seeded sequence per game)."""

    async def close(self) -> None:
        return None


# ------------------------------------------------------------------ scripted
def resolve_entry_point(entry_point: str, access: EnvAccess) -> Callable[..., Any]:
    """The callable 'package.module:name' names, from a package in ENV_MODULES and defined there; EnvProblem at
    field 'entry_point' otherwise. Imports the module (blocking: run it off the event loop)."""
    module_name, _, name = entry_point.partition(":")
    allowed = sorted(access.modules) or "none"
    if module_name.split(".")[0] not in access.modules:
        raise EnvProblem("entry_point", f"Expected a scripted policy of a module this worker may import "
                                        f"(ENV_MODULES: {allowed}), got module {module_name!r} in {entry_point!r}")
    if not name or any(part.startswith("_") for part in name.split(".")):
        raise EnvProblem("entry_point", f"Expected a public callable after ':', got {name!r} in {entry_point!r}")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as err:  # ImportError, or whatever the module raised while importing
        raise EnvProblem("entry_point", f"Expected an importable module {module_name!r}, got "
                                        f"{type(err).__name__}: {err}") from err
    for part in name.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise EnvProblem("entry_point", f"Expected {module_name} to define {name!r}, got no {part!r}")
    home = str(getattr(target, "__module__", "") or "")
    if not callable(target) or home.split(".")[0] not in access.modules:
        raise EnvProblem("entry_point", f"Expected a function or class defined in an allowed module (ENV_MODULES: "
                                        f"{allowed}), got {type(target).__name__} {name!r} of module {home!r}")
    return target  # type: ignore[no-any-return]


class ScriptedActor:
    """A function (observation, agent) -> action, or an instance of a class made with (agent, action_space) with
    act(observation) -> action and optionally reset() and close(). Its code runs only in the executor, one call at
    a time: while a call runs past its deadline, later steps are answered PolicyBusy."""

    kind: PolicyKind = "scripted"

    def __init__(self, target: Callable[..., Any], agent: str, action_space: gym.Space[Any],
                 executor: Executor) -> None:
        self._space, self._executor = action_space, executor
        self._reset: Callable[[], Any] | None = None
        self._close: Callable[[], Any] | None = None
        if inspect.isclass(target):
            try:
                instance = target(agent, action_space)  # type: ignore[call-arg]
            except Exception as err:
                raise EnvProblem("entry_point", f"Expected {target.__name__}(agent, action_space) to make a policy, "
                                                f"got {type(err).__name__}: {err}") from err
            act = getattr(instance, "act", None)
            if not callable(act):
                raise EnvProblem("entry_point", f"Expected a class with act(observation), got {target.__name__} "
                                                f"without one")
            self._act: Callable[[Any], Any] = act
            self._reset, self._close = _method(instance, "reset"), _method(instance, "close")
        else:
            self._act = functools.partial(_call_function, target, agent)
        self._pending_reset = False
        self._running: concurrent.futures.Future[Any] | None = None

    async def act(self, observation: Any, step: int) -> Any:
        if self._running is not None and not self._running.done():
            raise PolicyBusy(f"still deciding an earlier step than {step}")
        reset, self._pending_reset = self._pending_reset, False
        self._running = self._executor.submit(self._call, observation, reset)
        if reset:  # a call cancelled before it ran (late, still queued) leaves the reset to the next one
            self._running.add_done_callback(self._keep_reset)
        return await asyncio.wrap_future(self._running)

    def _keep_reset(self, call: concurrent.futures.Future[Any]) -> None:
        if call.cancelled():
            self._pending_reset = True

    def _call(self, observation: Any, reset: bool) -> Any:
        if reset and self._reset is not None:
            self._reset()
        return valid_action(self._space, self._act(observation))

    def reset(self) -> None:
        self._pending_reset = self._reset is not None

    async def close(self) -> None:
        if self._close is None:
            return
        running = self._running
        close = self._close
        self._close = None

        def after_running() -> None:
            if running is not None:
                concurrent.futures.wait([running])
            close()
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, after_running)
        except Exception:
            log.exception("a scripted policy's close() failed")


def _method(instance: Any, name: str) -> Callable[[], Any] | None:
    found = getattr(instance, name, None)
    return found if callable(found) else None


def _call_function(function: Callable[..., Any], agent: str, observation: Any) -> Any:
    return function(observation, agent)


# ------------------------------------------------------------------ NATS request/reply
class NatsActor:
    """Asks `subject` with JSON {game_id, agent, step, observation}; the reply is JSON {"action": ...}, converted to
    the action space. JSON is written and read in the executor (an Atari frame is ~400 kB of it)."""

    kind: PolicyKind = "nats"

    def __init__(self, nc: NATS, subject: str, *, game_id: str, agent: str, action_space: gym.Space[Any],
                 executor: Executor, timeout_s: float) -> None:
        self._nc, self.subject, self._executor, self._timeout = nc, subject, executor, timeout_s
        self._game_id, self._agent, self._space = game_id, agent, action_space

    async def act(self, observation: Any, step: int) -> Any:
        loop = asyncio.get_running_loop()
        payload = await loop.run_in_executor(self._executor, self._request, observation, step)
        if len(payload) > self._nc.max_payload:
            raise ValueError(f"Expected a request of at most {self._nc.max_payload} bytes (the NATS max payload), "
                             f"got {len(payload)} for this observation")
        try:
            reply = await self._nc.request(self.subject, payload, timeout=self._timeout)
        except NoRespondersError:
            raise ValueError(f"Expected a policy server answering on {self.subject!r}, got none") from None
        return await loop.run_in_executor(self._executor, self._action, reply.data)

    def _request(self, observation: Any, step: int) -> bytes:
        body = {"game_id": self._game_id, "agent": self._agent, "step": step,
                "observation": _json_value(observation)}
        return json.dumps(body, separators=(",", ":")).encode()

    def _action(self, data: bytes) -> Any:
        try:
            reply = json.loads(data)
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or "action" not in reply:
            shown = data[:80].decode(errors="replace")
            raise ValueError(f"Expected a reply of JSON {{\"action\": ...}}, got {shown!r}")
        return valid_action(self._space, reply["action"])

    def reset(self) -> None:
        """A new episode shows in the requests as step 0."""

    async def close(self) -> None:
        return None  # the connection is the worker's


def _json_value(value: Any) -> Any:
    """An observation as JSON values, whole (no summary of big arrays); numeric arrays by tolist(), 4x faster than
    records.jsonable's walk over each number."""
    if isinstance(value, np.ndarray) and (value.dtype.kind in "biu" or (value.dtype.kind == "f"
                                                                          and np.isfinite(value).all())):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return jsonable(value, max_items=1 << 62)  # non-finite floats as strings, numpy scalars as numbers


# ------------------------------------------------------------------ making one
def make_policy(spec: PolicySpec, *, agent: str, action_space: gym.Space[Any], game_id: str, executor: Executor,
                nc: NATS | None, access: EnvAccess | None = None, subjects: Subjects | None = None) -> Policy:
    """The policy `spec` describes, acting for `agent`. access and subjects default to the worker's settings
    (ENV_MODULES; NATS_SUBJECT_PREFIX). EnvProblem (field 'entry_point' or 'subject', relative to the policy) when it
    cannot be made. A scripted policy's module is imported and its class constructed here (blocking): on the event
    loop, use open_policy."""
    if isinstance(spec, RandomPolicy):
        return RandomActor(action_space, spec.seed)
    if isinstance(spec, ScriptedPolicy):
        target = resolve_entry_point(spec.entry_point, access or worker_access())
        return ScriptedActor(target, agent, action_space, executor)
    if isinstance(spec, NatsPolicy):
        if nc is None:
            raise EnvProblem("subject", f"Expected a NATS connection for the policy on {spec.subject!r}, got none")
        subject = (subjects or _worker_subjects()).policy(spec.subject)
        return NatsActor(nc, subject, game_id=game_id, agent=agent, action_space=action_space, executor=executor,
                         timeout_s=spec.deadline_ms / 1000)
    raise EnvProblem("kind", f"Expected a policy of kind random, scripted or nats, got {type(spec).__name__}")


async def open_policy(spec: PolicySpec, *, agent: str, action_space: gym.Space[Any], game_id: str, executor: Executor,
                      nc: NATS | None, access: EnvAccess | None = None, subjects: Subjects | None = None) -> Policy:
    """make_policy in the executor (a scripted module's import and constructor may take long)."""
    make = functools.partial(make_policy, spec, agent=agent, action_space=action_space, game_id=game_id,
                             executor=executor, nc=nc, access=access, subjects=subjects)
    return await asyncio.get_running_loop().run_in_executor(executor, make)


@functools.cache
def _worker_subjects() -> Subjects:
    return subjects_for(Settings().nats)
