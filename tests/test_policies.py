"""AI policies for multi-agent games (issue 16): random (seeded), scripted entry points (run in the executor, only
from ENV_MODULES) and policies served over NATS request/reply on a real nats-server, each asked within a deadline
by decide(), which falls back to the previous action (late) and reports failures."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gymnasium as gym
import nats
import numpy as np
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from playcorder.devstack.nats import NatsServer
from playcorder.multiagent import NatsPolicy, RandomPolicy, ScriptedPolicy
from playcorder.subjects import Subjects
from playcorder_env_worker.families.access import EnvAccess
from playcorder_env_worker.families.problems import EnvProblem
from playcorder_env_worker.multiagent.policies import Decision, Policy, decide, make_policy, open_policy
from tests import policy_scripts

ACCESS = EnvAccess(modules=frozenset({"tests"}))
SUBJECTS = Subjects(prefix="policytest")
DISCRETE = gym.spaces.Discrete(4)
FRAME = np.arange(210 * 160 * 3, dtype=np.uint8).reshape(210, 160, 3)  # an Atari-sized observation


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = NatsServer(Path(tmp_path_factory.mktemp("policies-nats")))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4, thread_name_prefix="steps") as pool:
        yield pool


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    conn = await nats.connect(nats_url)
    try:
        yield conn
    finally:
        await conn.close()


def policy(spec: Any, executor: ThreadPoolExecutor, nc: NATS | None = None, space: gym.Space[Any] = DISCRETE,
           agent: str = "first_0") -> Policy:
    return make_policy(spec, agent=agent, action_space=space, game_id="g1", executor=executor, nc=nc,
                       access=ACCESS, subjects=SUBJECTS)


async def serve(nc: NATS, name: str, answer: Any, seen: list[dict[str, Any]] | None = None) -> Any:
    """A policy server on `name`: answer(request) -> (delay seconds, reply bytes)."""
    async def on_request(msg: Msg) -> None:
        request = json.loads(msg.data)
        if seen is not None:
            seen.append(request)
        delay, reply = answer(request)
        await asyncio.sleep(delay)
        await msg.respond(reply)
    sub = await nc.subscribe(SUBJECTS.policy(name), cb=on_request)
    await nc.flush()
    return sub


# ------------------------------------------------------------------ NATS request/reply
async def test_a_policy_server_chooses_the_action_from_the_observation(nc: NATS, executor: ThreadPoolExecutor) -> None:
    seen: list[dict[str, Any]] = []
    sub = await serve(nc, "invaders", lambda r: (0, json.dumps({"action": r["step"] % 4}).encode()), seen)
    acting = policy(NatsPolicy(subject="invaders", deadline_ms=2000), executor, nc, agent="second_0")
    decisions = [await decide(acting, FRAME, step, previous=0, deadline_s=2.0) for step in (5, 6, 7)]
    await sub.unsubscribe()
    assert decisions == [Decision(1, False, None), Decision(2, False, None), Decision(3, False, None)]
    assert [(r["game_id"], r["agent"], r["step"]) for r in seen] == [("g1", "second_0", s) for s in (5, 6, 7)]
    assert np.array_equal(np.array(seen[0]["observation"], dtype=np.uint8), FRAME)  # the whole frame, exactly
    assert SUBJECTS.policy("invaders") == "policytest.policies.invaders"  # under the stack's prefix only


async def test_a_late_reply_leaves_the_previous_action_and_is_marked_late(nc: NATS,
                                                                          executor: ThreadPoolExecutor) -> None:
    sub = await serve(nc, "slow", lambda r: (0.5, json.dumps({"action": 3}).encode()))
    acting = policy(NatsPolicy(subject="slow", deadline_ms=100), executor, nc)
    started = time.monotonic()
    decision = await decide(acting, [0.0, 1.0], 1, previous=2, deadline_s=0.1)
    waited = time.monotonic() - started
    await sub.unsubscribe()
    assert decision == Decision(2, late=True, error=None)
    assert waited < 0.4, f"decide waited {waited:.2f}s past a 0.1s deadline"


@pytest.mark.parametrize(("reply", "error"), [
    (b"not json", "Expected a reply of JSON {\"action\": ...}, got 'not json'"),
    (b'{"act": 1}', "Expected a reply of JSON {\"action\": ...}"),
    (b'{"action": 99}', "Expected an action in Discrete(4), got 99: outside 0..3"),
    (b'{"action": [1, 2]}', "Expected an action in Discrete(4), got [1, 2]"),
])
async def test_a_garbage_reply_is_an_error_and_the_previous_action_stays(nc: NATS, executor: ThreadPoolExecutor,
                                                                         reply: bytes, error: str) -> None:
    sub = await serve(nc, "garbage", lambda r: (0, reply))
    decision = await decide(policy(NatsPolicy(subject="garbage", deadline_ms=2000), executor, nc), [1], 0,
                            previous=1, deadline_s=2.0)
    await sub.unsubscribe()
    assert decision.action == 1 and decision.late
    assert decision.error is not None and error in decision.error, decision.error


async def test_no_policy_server_is_an_error_naming_the_subject(nc: NATS, executor: ThreadPoolExecutor) -> None:
    decision = await decide(policy(NatsPolicy(subject="nobody.home"), executor, nc), [1], 0, previous=0,
                            deadline_s=1.0)
    assert decision.action == 0 and decision.late
    assert decision.error == "ValueError: Expected a policy server answering on 'policytest.policies.nobody.home', " \
                             "got none"


async def test_a_box_action_from_a_server_is_converted_to_the_space(nc: NATS, executor: ThreadPoolExecutor) -> None:
    space = gym.spaces.Box(-1, 1, (2,), np.float32)
    sub = await serve(nc, "arm", lambda r: (0, b'{"action": [0.25, -1]}'))
    decision = await decide(policy(NatsPolicy(subject="arm"), executor, nc, space), {"pos": np.zeros(3)}, 0,
                            previous=np.zeros(2, np.float32), deadline_s=2.0)
    await sub.unsubscribe()
    assert not decision.late and decision.error is None
    assert decision.action.dtype == np.float32 and decision.action.tolist() == [0.25, -1.0]


async def test_an_observation_over_the_nats_payload_is_an_error(nc: NATS, executor: ThreadPoolExecutor) -> None:
    huge = np.zeros((1024, 1024), np.uint8)  # ~2 MB of JSON, over the 1 MiB max payload
    decision = await decide(policy(NatsPolicy(subject="anyone"), executor, nc), huge, 0, previous=0, deadline_s=5.0)
    assert decision.late and decision.error is not None
    assert "Expected a request of at most 1048576 bytes (the NATS max payload), got" in decision.error


def test_a_nats_policy_needs_a_connection(executor: ThreadPoolExecutor) -> None:
    with pytest.raises(EnvProblem) as err:
        policy(NatsPolicy(subject="invaders"), executor, None)
    assert err.value.field == "subject"
    assert "Expected a NATS connection for the policy on 'invaders', got none" in str(err.value)


# ------------------------------------------------------------------ scripted
async def test_a_scripted_function_acts_in_the_executor(executor: ThreadPoolExecutor) -> None:
    policy_scripts.calls.clear()
    acting = policy(ScriptedPolicy(entry_point="tests.policy_scripts:by_observation"), executor, agent="second_0")
    decisions = [await decide(acting, np.array([n, 1]), n, previous=0, deadline_s=2.0) for n in range(4)]
    assert [d.action for d in decisions] == [1, 2, 3, 0] and not any(d.late for d in decisions)
    assert {c["agent"] for c in policy_scripts.calls} == {"second_0"}
    assert threading.get_ident() not in {c["thread"] for c in policy_scripts.calls}  # never on the event loop


async def test_a_scripted_class_is_made_per_agent_and_reset_per_episode(executor: ThreadPoolExecutor) -> None:
    policy_scripts.Counter.made.clear()
    policy_scripts.Counter.closed.clear()
    acting = await open_policy(ScriptedPolicy(entry_point="tests.policy_scripts:Counter"), agent="first_0",
                               action_space=DISCRETE, game_id="g1", executor=executor, nc=None, access=ACCESS)
    assert policy_scripts.Counter.made == [("first_0", DISCRETE)]
    first = [(await decide(acting, None, i, previous=0, deadline_s=2.0)).action for i in range(3)]
    acting.reset()
    second = [(await decide(acting, None, i, previous=0, deadline_s=2.0)).action for i in range(2)]
    assert (first, second) == ([0, 1, 2], [0, 1])
    await acting.close()
    assert policy_scripts.Counter.closed == ["first_0"]


async def test_a_slow_script_is_late_then_busy_and_never_blocks_the_loop(executor: ThreadPoolExecutor) -> None:
    acting = policy(ScriptedPolicy(entry_point="tests.policy_scripts:slow"), executor)
    stamps: list[float] = []

    async def tick() -> None:
        while True:
            stamps.append(time.monotonic())
            await asyncio.sleep(0.01)
    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    late = await decide(acting, [0.6], 0, previous=2, deadline_s=0.05)  # the script sleeps 0.6 s
    busy = await decide(acting, [0.0], 1, previous=2, deadline_s=0.05)  # the first call still runs
    await asyncio.sleep(0.7)
    answered = await decide(acting, [0.0], 2, previous=2, deadline_s=1.0)
    ticker.cancel()
    assert late == Decision(2, True, None) and busy == Decision(2, True, None)
    assert time.monotonic() - started < 1.5
    gap = max(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    assert gap < 0.3, f"the event loop stalled {gap:.2f}s while the script ran"
    assert answered == Decision(1, False, None)


@pytest.mark.parametrize(("entry_point", "error"), [
    ("tests.policy_scripts:out_of_range", "ValueError: Expected an action in Discrete(4), got 99: outside 0..3"),
    ("tests.policy_scripts:crashes", "RuntimeError: the script broke"),
])
async def test_a_failing_script_is_an_error_and_the_previous_action_stays(executor: ThreadPoolExecutor,
                                                                          entry_point: str, error: str) -> None:
    decision = await decide(policy(ScriptedPolicy(entry_point=entry_point), executor), [0], 0, previous=3,
                            deadline_s=2.0)
    assert decision == Decision(3, True, error)


async def test_a_scripted_numpy_action_is_converted_to_the_space(executor: ThreadPoolExecutor) -> None:
    space = gym.spaces.Box(0, 1, (2,), np.float32)
    decision = await decide(policy(ScriptedPolicy(entry_point="tests.policy_scripts:box_action"), executor, None,
                                   space), [0], 0, previous=None, deadline_s=2.0)
    assert decision.error is None and space.contains(decision.action)


@pytest.mark.parametrize(("entry_point", "error"), [
    ("playcorder.records:jsonable", "Expected a scripted policy of a module this worker may import (ENV_MODULES: "
                                    "['tests']), got module 'playcorder.records'"),
    ("tests.policy_scripts:sleep", "Expected a function or class defined in an allowed module (ENV_MODULES: "
                                   "['tests']), got builtin_function_or_method 'sleep' of module 'time'"),
    ("tests.policy_scripts:np.save", "of module 'numpy'"),
    ("tests.policy_scripts:_private", "Expected a public callable after ':', got '_private'"),
    ("tests.policy_scripts:missing", "Expected tests.policy_scripts to define 'missing', got no 'missing'"),
    ("tests.no_such_module:act", "Expected an importable module 'tests.no_such_module', got ModuleNotFoundError"),
    ("tests.policy_scripts:calls.clear", "Expected a function or class defined in an allowed module"),
    ("tests.policy_scripts:NoAct", "Expected a class with act(observation), got NoAct without one"),
    ("tests.policy_scripts:NeedsMore", "Expected NeedsMore(agent, action_space) to make a policy, got TypeError"),
])
def test_only_callables_of_allowed_modules_are_entry_points(executor: ThreadPoolExecutor, entry_point: str,
                                                            error: str) -> None:
    with pytest.raises(EnvProblem) as err:
        policy(ScriptedPolicy(entry_point=entry_point), executor)
    assert err.value.field == "entry_point"
    assert error in str(err.value), str(err.value)


# ------------------------------------------------------------------ random
async def test_a_seeded_random_policy_is_reproducible_and_leaves_the_env_space_alone(
        executor: ThreadPoolExecutor) -> None:
    space = gym.spaces.Discrete(18)
    space.seed(1)
    expected_env_samples = [space.sample() for _ in range(5)]
    space.seed(1)

    async def actions(seed: int | None) -> list[int]:
        acting = policy(RandomPolicy(seed=seed), executor, space=space)
        return [int((await decide(acting, None, i, previous=0, deadline_s=1.0)).action) for i in range(30)]
    first, again, other = await actions(7), await actions(7), await actions(8)
    assert first == again and first != other
    assert set(first) <= set(range(18)) and len(set(first)) > 5
    assert [space.sample() for _ in range(5)] == expected_env_samples  # its own generator, not the env space's
    assert await actions(None) != await actions(None)


async def test_the_example_policy_server_acts_for_an_agent(nats_url: str, nc: NATS,
                                                           executor: ThreadPoolExecutor) -> None:
    """examples/policy_server.py, as a process of its own, answers the worker's requests."""
    script = Path(__file__).parent.parent / "examples" / "policy_server.py"
    server = await asyncio.create_subprocess_exec(
        sys.executable, str(script), "--subject", "example", "--actions", "6", "--prefix", SUBJECTS.prefix,
        env=os.environ | {"NATS_URL": nats_url}, stdout=asyncio.subprocess.PIPE)
    try:
        assert server.stdout is not None
        line = await asyncio.wait_for(server.stdout.readline(), 30)
        assert line.decode().strip() == "answering on policytest.policies.example"
        acting = policy(NatsPolicy(subject="example", deadline_ms=1000), executor, nc, gym.spaces.Discrete(6))
        frame = np.full((210, 160, 3), 23, np.uint8)
        assert await decide(acting, frame, 0, previous=0, deadline_s=1.0) == Decision(23 % 6, False, None)
    finally:
        server.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.wait(), 10) == 0


async def test_a_reset_is_not_lost_when_the_call_carrying_it_never_ran() -> None:
    with ThreadPoolExecutor(1) as one:
        acting = policy(ScriptedPolicy(entry_point="tests.policy_scripts:Counter"), one)
        assert (await decide(acting, None, 0, previous=0, deadline_s=2.0)).action == 0
        blocker = one.submit(time.sleep, 0.3)  # the executor is busy: the next call waits in its queue
        acting.reset()
        assert await decide(acting, None, 0, previous=3, deadline_s=0.05) == Decision(3, True, None)
        blocker.result()
        assert (await decide(acting, None, 0, previous=3, deadline_s=2.0)).action == 0  # reset, then act
