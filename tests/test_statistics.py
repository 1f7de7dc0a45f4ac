"""The worker's per-episode statistics: CrowdPlay's active playtime on hand-made sequences, custom statistics that
misbehave, and on a real gateway, worker and recorder of their own (whose worker has custom statistics installed
as `playcorder.statistics` entry points) each episode's stored statistics equal to what its recorded steps give,
told to the client about once a second, and a study naming a statistic that would fail refused at its field."""

from __future__ import annotations

import asyncio
import json
import math
import os
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from playcorder import frames
from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.sdk import ApiError, Client
from playcorder.sdk.bot import connect
from playcorder.specs import EnvironmentSpec
from playcorder_env_worker.statistics import (
    ACTIVE_ACTION_WINDOW,
    ACTIVE_REWARD_WINDOW,
    BUDGET_STEPS,
    EpisodeStatistics,
)
from tests.conftest import tenant
from tests.factories import study
from tests.stored import all_steps, stored_episode

SPEC = EnvironmentSpec(id="x", env_id="CartPole-v1")


def crowdplay_active(rewards: list[float], actions: list[Any], noop: Any) -> int:
    """Active steps as CrowdPlay's ActiveTimeCallable counts frames (written from its definition, independently of
    the worker's code): time from 1, the last reward and action times from 0, a frame active while both are within
    their timeouts (3600 and 1200 frames)."""
    last_reward = last_action = active = 0
    for t, (reward, action) in enumerate(zip(rewards, actions, strict=True), start=1):
        if reward != 0:
            last_reward = t
        if not np.array_equal(action, noop):
            last_action = t
        if last_reward + 3600 >= t and last_action + 1200 >= t:
            active += 1
    return active


def played(stats: EpisodeStatistics, rewards: list[float], actions: list[Any]) -> None:
    for reward, action in zip(rewards, actions, strict=True):
        stats.update(action, reward, None, {})


# ---------------------------------------------------------------- the active windows, by hand
def test_active_playtime_counts_crowdplays_windows() -> None:
    assert (ACTIVE_REWARD_WINDOW, ACTIVE_ACTION_WINDOW) == (3600, 1200)
    # (steps, reward, action) segments: idle from the start, one action, idle, acting without reward, a reward
    segments = [(1500, 0.0, 0), (1, 0.0, 2), (2099, 0.0, 0), (100, 0.0, 3), (1, 1.0, 0), (1300, 0.0, 0)]
    rewards = [r for n, r, _ in segments for _ in range(n)]
    actions = [a for n, _, a in segments for _ in range(n)]
    stats = EpisodeStatistics(fps=60.0, noop=0, custom=[], spec=SPEC)
    played(stats, rewards[:1200], actions[:1200])
    assert stats.active_steps == 1200  # the start counts as an action: the first 1200 steps are active
    played(stats, rewards[1200:1201], actions[1200:1201])
    assert stats.active_steps == 1200  # step 1201: no action within 1200 steps
    played(stats, rewards[1201:1501], actions[1201:1501])
    assert stats.active_steps == 1201  # the action at step 1501 (the start's reward is 1501 steps back)
    played(stats, rewards[1501:2701], actions[1501:2701])
    assert stats.active_steps == 2401  # up to 1200 steps after it
    played(stats, rewards[2701:3700], actions[2701:3700])
    assert stats.active_steps == 2401  # steps 2702..3600 idle, then acting with no reward for 3600+ steps
    played(stats, rewards[3700:], actions[3700:])
    # the reward at step 3701 (its action, 3700, one step back) makes it and the next 1199 steps active
    assert stats.active_steps == 2401 + 1200 == crowdplay_active(rewards, actions, 0)
    values = stats.values(running_s=90.0)
    assert values == {"score": 1.0, "steps": 5001.0, "minutes": 1.5, "active_steps": 3601.0,
                      "active_minutes": round(3601 / 60 / 60, 4)}


def test_random_sequences_agree_with_crowdplays_definition() -> None:
    rng = np.random.default_rng(0)
    for reward_p, action_p, some_idle in [(0.0005, 0.002, True), (0.0002, 0.0005, True), (0.01, 0.5, False)]:
        rewards = [float(x) for x in rng.choice([0.0, 1.0, -1.0], size=9000, p=[1 - reward_p, reward_p / 2,
                                                                              reward_p / 2])]
        actions = [int(x) for x in np.where(rng.random(9000) < action_p, rng.integers(1, 6, 9000), 0)]
        stats = EpisodeStatistics(fps=15.0, noop=0, custom=[], spec=SPEC)
        played(stats, rewards, actions)
        assert stats.active_steps == crowdplay_active(rewards, actions, 0)
        assert 0 < stats.active_steps < 9000 or not some_idle


def test_the_noop_of_a_box_action_is_the_centre_whatever_its_dtype() -> None:
    noop = np.zeros(6, np.float32)
    stats = EpisodeStatistics(fps=30.0, noop=noop, custom=[], spec=SPEC)
    played(stats, [0.0] * 1201, [np.zeros(6, np.float32)] * 1200 + [np.zeros(6)])  # float64: still the centre
    assert stats.active_steps == 1200
    played(stats, [0.5], [np.array([0, 0, 0.1, 0, 0, 0], np.float32)])
    assert stats.active_steps == 1201 and stats.values(0.0)["score"] == 0.5
    played(stats, [0.0], [np.int64(0) + np.zeros(6, np.float32)])
    assert stats.active_steps == 1202  # the action one step back


# ---------------------------------------------------------------- custom statistics that misbehave
class _Counting:
    def __init__(self, spec: EnvironmentSpec, fail_at: int = 0, report: dict[str, Any] | None = None,
                 sleep_s: float = 0.0) -> None:
        self.n, self.fail_at, self.report, self.sleep_s = 0, fail_at, report, sleep_s

    def update(self, action: Any, reward: float, observation: Any, info: dict[str, Any]) -> None:
        self.n += 1
        if self.n == self.fail_at:
            raise RuntimeError("boom")
        if self.sleep_s:
            time.sleep(self.sleep_s)

    def values(self) -> dict[str, Any]:
        return self.report if self.report is not None else {"updates": float(self.n)}


def _custom(**kw: Any) -> list[tuple[str, Any]]:
    return [("good", _Counting), ("bad", lambda spec: _Counting(spec, **kw))]


@pytest.mark.parametrize("kw,says", [
    ({"fail_at": 3}, "'bad' failed (RuntimeError: boom)"),
    ({"report": {"Bad Name": 1.0}}, "Expected value names of lowercase letters, digits and '_'"),
    ({"report": {"score": 1.0}}, "Expected value names no other statistic reports"),
    ({"report": {"updates": 1.0}}, "got 'updates'"),  # the good one reports it first
    ({"report": {"x": math.nan}}, "Expected a finite number for 'x', got nan"),
    ({"report": {"x": "1"}}, "Expected a number for 'x', got str"),
    ({"report": [1.0]}, "Expected values() to return a dict of names to numbers, got list"),
    ({"report": {f"v{i}": 1.0 for i in range(17)}}, "at most 16 names, got 17"),
])
def test_a_failing_custom_statistic_is_left_out_and_told(kw: dict[str, Any], says: str) -> None:
    stats = EpisodeStatistics(fps=30.0, noop=0, custom=_custom(**kw), spec=SPEC)
    played(stats, [1.0] * 3, [1] * 3)
    values = stats.values(0.0)
    assert len(stats.failures) == 1 and says in stats.failures[0], stats.failures
    assert "'bad'" in stats.failures[0] and "left out of this episode" in stats.failures[0]
    assert values["updates"] == 3.0 and values["steps"] == 3.0  # the others go on
    played(stats, [1.0], [1])
    assert stats.values(0.0)["updates"] == 4.0 and len(stats.failures) == 1  # told once


def test_a_factory_that_raises_leaves_only_its_statistic_out() -> None:
    def broken(spec: EnvironmentSpec) -> Any:
        raise KeyError("needs RAM")

    stats = EpisodeStatistics(fps=30.0, noop=0, custom=[("ram", broken), ("good", _Counting)], spec=SPEC)
    played(stats, [0.0], [0])
    assert stats.values(0.0)["updates"] == 1.0 and "'ram' failed (KeyError: 'needs RAM')" in stats.failures[0]


def test_a_custom_statistic_slower_than_its_budget_is_left_out() -> None:
    stats = EpisodeStatistics(fps=30.0, noop=0, custom=_custom(sleep_s=0.001, report={"slow": 1.0}), spec=SPEC)
    played(stats, [0.0] * (BUDGET_STEPS - 1), [0] * (BUDGET_STEPS - 1))
    assert not stats.failures and stats.values(0.0)["slow"] == 1.0
    played(stats, [0.0], [0])  # the budget is judged every BUDGET_STEPS steps
    assert len(stats.failures) == 1 and "ms per step over 256 steps; at most 0.5 ms" in stats.failures[0]
    assert stats.values(0.0)["updates"] == BUDGET_STEPS and "slow" not in stats.values(0.0)  # the fast one stays


# ---------------------------------------------------------------- on a stack whose worker has custom statistics
PLUGIN = '''
"""Custom statistics for tests/test_statistics.py, installed as `playcorder.statistics` entry points."""


class Moves:
    def __init__(self, spec):
        self.moves, self.points, self.fps = 0, 0, spec.fps

    def update(self, action, reward, observation, info):
        self.moves += int(action) != 0
        self.points += reward != 0

    def values(self):
        return {"moves": float(self.moves), "points": float(self.points), "spec_fps": float(self.fps)}


class Explodes:
    def __init__(self, spec):
        self.n = 0

    def update(self, action, reward, observation, info):
        self.n += 1
        if self.n == 5:
            raise RuntimeError("boom at step 5")

    def values(self):
        return {"explodes_steps": float(self.n)}


class BadNames:
    def __init__(self, spec):
        pass

    def update(self, action, reward, observation, info):
        pass

    def values(self):
        return {"Bad Name": 1.0}


def needs_ram(spec):
    return {}["RAM"]
'''
ENTRY_POINTS = """
[playcorder.statistics]
moves = playcorder_test_statistics:Moves
explodes = playcorder_test_statistics:Explodes
bad_names = playcorder_test_statistics:BadNames
needs_ram = playcorder_test_statistics:needs_ram
unloadable = playcorder_no_such_module:Nothing
"""


def install_plugin(root: Path) -> Path:
    """A distribution with the statistics above as entry points, as `pip install` would leave it in site-packages."""
    (root / "playcorder_test_statistics.py").write_text(textwrap.dedent(PLUGIN))
    info = root / "playcorder_test_statistics-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: playcorder-test-statistics\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS.lstrip())
    return root


@pytest.fixture(scope="module")
def plugged(stack, tmp_path_factory) -> Iterator[Client]:  # type: ignore[no-untyped-def]
    """A gateway, a worker with the plugin on its path and a recorder, on a database and subjects of their own."""
    logs, plugin = tmp_path_factory.mktemp("statistics-logs"), install_plugin(tmp_path_factory.mktemp("plugin"))
    own = tenant(stack, "statistics")
    env = own.env | {"NATS_SUBJECT_PREFIX": "pcstats", "NATS_STREAM_PREFIX": "PCSTATS", "HEARTBEAT_INTERVAL": "0.5",
                     "WORKER_MAX_LATENESS": "1000", "WORKER_MAX_CPU": "100"}
    path = os.pathsep.join(p for p in (str(plugin), os.environ.get("PYTHONPATH")) if p)
    procs = [ServiceProcess("gateway", env, logs, name="gateway-stats"),
             ServiceProcess("env-worker", env | {"PYTHONPATH": path}, logs, name="worker-stats"),
             ServiceProcess("recorder", env, logs, name="recorder-stats")]
    try:
        start_all(procs)
        yield Client(procs[0].url, own.designer_token)
    finally:
        stop_all(procs)


@dataclass
class Seen:
    episode_id: str = ""
    stats: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # (arrival, values)
    errors: list[dict[str, Any]] = field(default_factory=list)


def recomputed(steps: list[dict[str, Any]], fps: float) -> dict[str, float]:
    """The statistics from the recorded steps: each env step is a recorded step's action and reward (RLDS: the last
    step carries the final observation only); Pong's no-op is action 0."""
    actions, rewards = [s["action"] for s in steps[:-1]], [s["reward"] for s in steps[:-1]]
    active = crowdplay_active(rewards, actions, 0)
    return {"score": float(sum(rewards)), "steps": float(len(actions)), "active_steps": float(active),
            "active_minutes": round(active / fps / 60, 4), "moves": float(sum(a != 0 for a in actions)),
            "points": float(sum(r != 0 for r in rewards)), "spec_fps": float(fps)}


def check_stored(client: Client, seen: Seen, fps: float) -> dict[str, Any]:
    stored = stored_episode(client, seen.episode_id)
    steps = all_steps(client, seen.episode_id)
    assert stored["stats"] == {"minutes": stored["stats"]["minutes"], **recomputed(steps, fps)}
    assert stored["stats"]["minutes"] == pytest.approx(stored["active_s"] / 60, abs=2e-4)
    assert seen.stats[-1][1] == stored["stats"]  # the last event is the episode's end
    return stored


def each_second(seen: Seen) -> list[float]:
    """The gaps between the stats events while the episode stepped (the one at its end comes when it ends)."""
    times = [t for t, _ in seen.stats[:-1]]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(0.5 < g < 3.0 for g in gaps), gaps
    return gaps


async def _realtime_episode(url: str, token: str) -> Seen:
    seen, n = Seen(), 0
    ws = await connect(url, token)
    try:
        await ws.send(json.dumps({"type": "select_env", "env": "pong"}))
        while True:
            message = await asyncio.wait_for(ws.recv(), 30)
            if isinstance(message, bytes):
                n += 1  # hold Right every 3rd frame, nothing otherwise: some no-ops, some actions
                await ws.send(json.dumps({"type": "input", "keys": ["ArrowRight"] if n % 3 == 0 else []}))
                continue
            event = json.loads(message)
            if event["type"] == "episode_started" and not seen.episode_id:
                seen.episode_id = event["episode_id"]
                await ws.send(json.dumps({"type": "resume"}))
            elif event["type"] == "stats":
                assert event["episode_id"] == seen.episode_id
                seen.stats.append((time.monotonic(), event["values"]))
            elif event["type"] == "error":
                seen.errors.append(event)
            elif event["type"] == "episode_finished":
                await ws.send(json.dumps({"type": "save", "save": True}))
            elif event["type"] == "episode_ended":
                return seen
    finally:
        await ws.close()


@pytest.mark.e2e
def test_realtime_statistics_are_stored_as_the_steps_give_them_and_told_each_second(plugged: Client) -> None:
    fps = 30
    s = plugged.create_study(study({"id": "pong", "env_id": "ALE/Pong-v5", "mode": "realtime", "fps": fps,
                                    "max_episode_steps": 90, "statistics": ["moves"]}, name="stats"))
    seen = asyncio.run(_realtime_episode(plugged.url, plugged.create_participant(s["id"])["token"]))
    stored = check_stored(plugged, seen, fps)
    assert seen.errors == [] and stored["stats"]["steps"] == 90 and 0 < stored["stats"]["moves"] < 90
    assert len(each_second(seen)) >= 1  # 3 s of play: events at about 0, 1 and 2 s, and the end's


# (steps, action): acting, then the no-op for longer than the action window, then acting again
TURNS = [(20, 2), (ACTIVE_ACTION_WINDOW + 60, 0), (10, 3)]


async def _turn_based_episode(url: str, token: str) -> Seen:
    seen = Seen()
    actions = [a for n, a in TURNS for _ in range(n)]
    ws = await connect(url, token)

    async def until(done: Any) -> None:
        while True:
            message = await asyncio.wait_for(ws.recv(), 30)
            if isinstance(message, bytes):
                if done(frames.unpack(message)):
                    return
                continue
            event = json.loads(message)
            if event["type"] == "episode_started":
                seen.episode_id = seen.episode_id or event["episode_id"]
            elif event["type"] == "stats":
                seen.stats.append((time.monotonic(), event["values"]))
            elif event["type"] == "error":
                seen.errors.append(event)
            if done(event):
                return

    try:
        await ws.send(json.dumps({"type": "select_env", "env": "pong"}))
        await until(lambda e: isinstance(e, dict) and e["type"] == "episode_started")
        for i, action in enumerate(actions, start=1):
            await ws.send(json.dumps({"type": "action", "action": action}))
            await until(lambda e, i=i: isinstance(e, frames.Frame) and e.step == i)
        await until(lambda e: isinstance(e, dict) and e["type"] == "episode_finished")
        await ws.send(json.dumps({"type": "save", "save": True}))
        await until(lambda e: isinstance(e, dict) and e["type"] == "episode_ended")
        return seen
    finally:
        await ws.close()


@pytest.mark.e2e
def test_idle_play_leaves_active_time_and_a_failing_statistic_leaves_the_session_playing(plugged: Client) -> None:
    steps = sum(n for n, _ in TURNS)
    # one emulator frame a step, so that the opponent's 21 points take longer than the episode
    s = plugged.create_study(study({"id": "pong", "env_id": "ALE/Pong-v5", "mode": "turn_based",
                                    "kwargs": {"frameskip": 1}, "max_episode_steps": steps,
                                    "statistics": ["explodes", "moves"]}, name="stats-pong"))
    seen = asyncio.run(_turn_based_episode(plugged.url, plugged.create_participant(s["id"])["token"]))
    assert [e["code"] for e in seen.errors] == ["statistic_failed"]
    assert seen.errors[0]["message"] == ("statistic 'explodes' failed (RuntimeError: boom at step 5) and is left out "
                                         "of this episode")
    stored = check_stored(plugged, seen, fps=15)  # the spec's default fps
    stats = stored["stats"]
    assert stats["steps"] == steps and "explodes_steps" not in stats
    # active: the first 20, the 1200 after the last of them, then the last 10
    assert stats["active_steps"] == 20 + ACTIVE_ACTION_WINDOW + 10 and stats["moves"] == 30
    assert stats["points"] >= 5  # a point every ~140 frames: the reward window never runs out here
    each_second(seen)


@pytest.mark.e2e
def test_a_study_naming_a_statistic_that_would_fail_is_refused_at_its_field(plugged: Client) -> None:
    envs = [{"id": f"e{i}", "env_id": "CartPole-v1", "mode": "turn_based", "statistics": names}
            for i, names in enumerate([["moves", "movs"], ["bad_names"], ["unloadable"], ["moves", "moves"],
                                       ["needs_ram"]])]
    with pytest.raises(ApiError) as caught:
        plugged.create_study(study(*envs, name="stats-refused"))
    assert caught.value.status == 422, caught.value.detail
    detail = {tuple(d["loc"]): d for d in caught.value.detail}
    assert sorted(detail) == [("body", "environments", i, "statistics", j) for i, j in [(0, 1), (1, 0), (2, 0),
                                                                                         (3, 1), (4, 0)]]
    typo = detail["body", "environments", 0, "statistics", 1]
    assert typo["msg"].startswith("Expected a statistic installed as a 'playcorder.statistics' entry point (")
    assert "moves" in typo["msg"] and typo["msg"].endswith("got 'movs'") and typo["suggestions"][0] == "moves"
    assert "Expected value names of lowercase letters" in detail["body", "environments", 1, "statistics", 0]["msg"]
    unloadable = detail["body", "environments", 2, "statistics", 0]["msg"]
    assert unloadable.startswith("Expected the statistic 'unloadable' (playcorder_no_such_module:Nothing) to load, "
                                 "got ModuleNotFoundError")
    assert detail["body", "environments", 3, "statistics", 1]["msg"] == ("Expected each statistic named once, got "
                                                                         "'moves' again")
    assert detail["body", "environments", 4, "statistics", 0]["msg"] == (
        "Expected the statistic 'needs_ram' to start, take a step and report its values, got KeyError: 'RAM'")
