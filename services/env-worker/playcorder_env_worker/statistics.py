"""An episode's statistics, updated at every step on the session's event loop (under a microsecond a step,
bench/worker_statistics.py): score (rewards summed), steps, minutes (running, pauses excluded), active playtime
exactly as CrowdPlay's ActiveTimeCallable counts it, and custom statistics from `playcorder.statistics` entry points.

Active playtime: step t (1, 2, ...) is active when the last non-zero reward came at most ACTIVE_REWARD_WINDOW steps
before it and the last action other than the no-op at most ACTIVE_ACTION_WINDOW steps before it, the step itself
included; the episode's start (t = 0) counts as both, so an episode's first ACTIVE_ACTION_WINDOW steps are active
whatever is played. The no-op is the action of the environment's input map with nothing held (a discrete map's
`noop`, the centre of a Box). active_minutes is active steps at the environment's fps.

A custom statistic is an entry point in the group `playcorder.statistics` that an environment spec names
(`statistics: [name]`): a factory called with the EnvironmentSpec at each episode's start, returning an object
with `update(action, reward, observation, info)`, called after every step, and `values() -> {name: number}`, read
about once a second and at the end. Its value names follow StatisticName (requirements and queries name them) and
must not be built-in ones. One that raises, reports something else, or takes more than CUSTOM_BUDGET_S per step
(it runs on the event loop) is dropped from the episode with the reason logged and told; play goes on.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
import time
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol

import numpy as np

from playcorder.specs import EnvironmentSpec

log = logging.getLogger(__name__)
GROUP = "playcorder.statistics"
ACTIVE_REWARD_WINDOW, ACTIVE_ACTION_WINDOW = 3600, 1200  # CrowdPlay's windows, in steps (its frames)
BUILTIN = ("score", "steps", "minutes", "active_steps", "active_minutes")
MAX_VALUES = 16  # names one custom statistic may report
CUSTOM_BUDGET_S = 0.0005  # mean seconds a custom statistic's update may take per step
BUDGET_STEPS = 256  # steps that mean is taken over
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")  # campaigns.StatisticName


class Statistic(Protocol):
    def update(self, action: Any, reward: float, observation: Any, info: dict[str, Any]) -> None: ...

    def values(self) -> dict[str, float]: ...


Factory = Callable[[EnvironmentSpec], Statistic]


def installed() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def _load(name: str, found: dict[str, EntryPoint]) -> Factory:
    """The factory `name` names; ValueError saying what is installed, or why it did not load."""
    if name not in found:
        there = ", ".join(sorted(found)) or "none installed"
        raise ValueError(f"Expected a statistic installed as a {GROUP!r} entry point ({there}), got {name!r}")
    try:
        factory = found[name].load()
    except Exception as err:
        raise ValueError(f"Expected the statistic {name!r} ({found[name].value}) to load, got "
                         f"{type(err).__name__}: {err}") from err
    if not callable(factory):
        raise ValueError(f"Expected the statistic {name!r} ({found[name].value}) to be a factory taking the "
                         f"environment spec, got {type(factory).__name__}")
    return factory  # type: ignore[no-any-return]


def load_custom(spec: EnvironmentSpec) -> tuple[list[tuple[str, Factory]], list[str]]:
    """The factories of the statistics the spec names, and a message for each that cannot be loaded (blocking:
    reading the entry points and importing them; the session calls it on its executor)."""
    if not spec.statistics:
        return [], []
    found = installed()
    factories: list[tuple[str, Factory]] = []
    failures: list[str] = []
    for name in spec.statistics:
        try:
            factories.append((name, _load(name, found)))
        except ValueError as err:
            log.warning("statistic %s left out: %s", name, err)
            failures.append(str(err))
    return factories, failures


def checked(values: Any, taken: dict[str, float] | None = None) -> dict[str, float]:
    """A custom statistic's values() as an episode keeps them; ValueError naming what is not (`taken`: names other
    statistics already report)."""
    if not isinstance(values, dict):
        raise ValueError(f"Expected values() to return a dict of names to numbers, got {type(values).__name__}")
    if len(values) > MAX_VALUES:
        raise ValueError(f"Expected values() to report at most {MAX_VALUES} names, got {len(values)}")
    out = {}
    for key, value in values.items():
        if not isinstance(key, str) or _NAME.fullmatch(key) is None:
            raise ValueError(f"Expected value names of lowercase letters, digits and '_' (starting with a letter, at "
                             f"most 64), got {str(key)[:80]!r}")
        if key in BUILTIN or (taken is not None and key in taken):
            raise ValueError(f"Expected value names no other statistic reports ({', '.join(BUILTIN)}, ...), got "
                             f"{key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ValueError(f"Expected a number for {key!r}, got {type(value).__name__}")
        if not math.isfinite(number := float(value)):
            raise ValueError(f"Expected a finite number for {key!r}, got {number}")
        out[key] = number
    return out


def tried(spec: EnvironmentSpec, action: Any, reward: float, observation: Any,
          info: dict[str, Any]) -> list[tuple[int, str, list[str]]]:
    """Each statistic the spec names built, updated with one step and read, as a study's trial does: (index in
    spec.statistics, message, suggestions) for each problem."""
    found, seen = installed(), set()
    problems: list[tuple[int, str, list[str]]] = []
    for i, name in enumerate(spec.statistics):
        if name in seen:
            problems.append((i, f"Expected each statistic named once, got {name!r} again", []))
            continue
        seen.add(name)
        try:
            factory = _load(name, found)
        except ValueError as err:
            problems.append((i, str(err), difflib.get_close_matches(name, found, n=3) if name not in found else []))
            continue
        try:
            statistic = factory(spec)
            statistic.update(action, reward, observation, info)
            values = statistic.values()
        except Exception as err:
            problems.append((i, f"Expected the statistic {name!r} to start, take a step and report its values, got "
                                f"{type(err).__name__}: {err}", []))
            continue
        try:
            checked(values)
        except ValueError as err:
            problems.append((i, str(err), []))
    return problems


def _noop_test(noop: Any) -> Callable[[Any], bool]:
    """Whether an action is the no-op, as cheaply as its kind allows (the step's hot path)."""
    if isinstance(noop, np.ndarray):
        raw, dtype, shape = noop.tobytes(), noop.dtype, noop.shape
        return lambda a: (a.tobytes() == raw if isinstance(a, np.ndarray) and a.dtype == dtype and a.shape == shape
                          else bool(np.array_equal(a, noop)))
    return lambda a: bool(a == noop) if isinstance(a, int | np.integer) else bool(np.array_equal(a, noop))


class _Custom:
    def __init__(self, name: str, statistic: Statistic) -> None:
        self.name, self.statistic, self.spent = name, statistic, 0.0


class EpisodeStatistics:
    def __init__(self, fps: float, noop: Any, custom: list[tuple[str, Factory]], spec: EnvironmentSpec) -> None:
        self.fps, self.is_noop = fps, _noop_test(noop)
        self.steps, self.score, self.active_steps = 0, 0.0, 0
        self.last_reward = self.last_action = 0  # steps of the last non-zero reward and non-noop action (start: 0)
        self.custom: list[_Custom] = []
        self.failures: list[str] = []  # told to the participant's client once each
        for name, factory in custom:
            try:
                self.custom.append(_Custom(name, factory(spec)))
            except Exception as err:
                self._failed(name, f"{type(err).__name__}: {err}")

    def _failed(self, name: str, why: str) -> None:
        log.warning("statistic %s failed and is left out of the episode: %s", name, why)
        self.failures.append(f"statistic {name!r} failed ({why}) and is left out of this episode")

    def _drop(self, entry: _Custom, why: str) -> None:
        self.custom.remove(entry)
        self._failed(entry.name, why)

    def update(self, action: Any, reward: float, observation: Any, info: dict[str, Any]) -> None:
        t = self.steps = self.steps + 1
        self.score += reward
        if reward != 0:
            self.last_reward = t
        if not self.is_noop(action):
            self.last_action = t
        if t - self.last_reward <= ACTIVE_REWARD_WINDOW and t - self.last_action <= ACTIVE_ACTION_WINDOW:
            self.active_steps += 1
        if self.custom:
            self._update_custom(action, reward, observation, info)

    def _update_custom(self, action: Any, reward: float, observation: Any, info: dict[str, Any]) -> None:
        clock, judge = time.perf_counter, self.steps % BUDGET_STEPS == 0
        for entry in list(self.custom):
            started = clock()
            try:
                entry.statistic.update(action, reward, observation, info)
            except Exception as err:
                self._drop(entry, f"{type(err).__name__}: {err}")
                continue
            entry.spent += clock() - started
            if judge:
                if entry.spent > BUDGET_STEPS * CUSTOM_BUDGET_S:
                    self._drop(entry, f"it took {entry.spent / BUDGET_STEPS * 1000:.2f} ms per step over "
                                      f"{BUDGET_STEPS} steps; at most {CUSTOM_BUDGET_S * 1000:g} ms, it runs on the "
                                      "worker's event loop")
                entry.spent = 0.0

    def values(self, running_s: float) -> dict[str, float]:
        out = {"score": float(self.score), "steps": float(self.steps), "minutes": round(running_s / 60.0, 4),
               "active_steps": float(self.active_steps),
               "active_minutes": round(self.active_steps / self.fps / 60.0, 4)}
        for entry in list(self.custom):
            try:
                out |= checked(entry.statistic.values(), out)
            except Exception as err:
                self._drop(entry, f"{type(err).__name__}: {err}")
        return out
