"""Trials run in child processes of their own, never on the sessions' thread pool: a spec whose build or step never
returns (Pong with frameskip 1e9), or that fills the memory, costs only its child, which is killed at the time
limit (or found dead) and replaced. Each child runs at a lower priority (nice 10) so live play keeps the CPU, and
imports Gymnasium and the families once, so a trial after the first stays cheap."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from playcorder.messages import TrialProblem, TrialReply
from playcorder.specs import EnvironmentSpec

from .families.access import EnvAccess

log = logging.getLogger(__name__)
NICE = 10


def _child_init() -> None:
    """Lower the child's priority and import what every trial needs (the first trial then pays only its env)."""
    try:
        os.nice(NICE)
    except OSError:  # pragma: no cover - a platform without nice
        pass
    import gymnasium

    from . import trial  # noqa: F401  (the families, spaces and JPEG encoder)
    try:
        import ale_py

        gymnasium.register_envs(ale_py)
    except ImportError:  # pragma: no cover - a worker without Atari
        pass
    try:
        import pettingzoo  # noqa: F401  (its registry, for multi-agent trials)
    except ImportError:  # pragma: no cover - a worker without PettingZoo
        pass


def _warm() -> int:
    return os.getpid()


def _run(spec: EnvironmentSpec, access: EnvAccess) -> TrialReply:
    from .trial import try_environment

    return try_environment(spec, access)


class _Slot:
    """One child process (a ProcessPoolExecutor of one), replaced when it is killed or dies."""

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self.context = context
        self.pool = self._new()

    def _new(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(1, mp_context=self.context, initializer=_child_init)
        pool.submit(_warm)  # start the child now, not at the first trial
        return pool

    def exit_code(self) -> int | None:
        processes = getattr(self.pool, "_processes", None) or {}
        codes = [p.exitcode for p in list(processes.values())]
        return next((c for c in codes if c is not None), None)

    def kill(self) -> None:
        processes = getattr(self.pool, "_processes", None) or {}
        for process in list(processes.values()):
            if process.is_alive():
                process.kill()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def replace(self) -> None:
        self.kill()
        self.pool = self._new()


def _problem(message: str) -> TrialProblem:
    return TrialProblem(field="env_id", message=message[:2000], suggestions=[])


class TrialPool:
    """`await pool.run(spec, timeout)`: the TrialReply of `spec`, tried in a child process within `timeout` s."""

    def __init__(self, processes: int, access: EnvAccess) -> None:
        self.access = access
        self._context = multiprocessing.get_context("forkserver")
        self._slots: asyncio.Queue[_Slot] | None = None
        self._all: list[_Slot] = []
        self._processes = processes
        self.closed = False

    def start(self) -> None:
        self._slots = asyncio.Queue()
        for _ in range(self._processes):
            slot = _Slot(self._context)
            self._all.append(slot)
            self._slots.put_nowait(slot)

    async def run(self, spec: EnvironmentSpec, timeout: float) -> TrialReply:
        """Waiting for a free child counts against `timeout`; a child past it is killed and replaced."""
        assert self._slots is not None, "start() the pool first"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            slot = await asyncio.wait_for(self._slots.get(), timeout)
        except TimeoutError:
            return self._timed_out(spec, timeout)
        try:
            if self.closed:
                raise BrokenProcessPool("the worker is stopping")
            future: Future[TrialReply] = slot.pool.submit(_run, spec, self.access)
            left = max(0.001, deadline - loop.time())
            return await asyncio.wait_for(asyncio.wrap_future(future), left)
        except TimeoutError:
            log.warning("trial of %s (%s) timed out after %s s: killing its process", spec.id, spec.env_id, timeout)
            await asyncio.to_thread(slot.replace)
            return self._timed_out(spec, timeout)
        except BrokenProcessPool as err:
            if self.closed:
                return TrialReply(env=spec.id, ok=False, problems=[_problem(
                    f"Expected {spec.env_id!r} to be tried, got no result: the env-worker is stopping")])
            code = slot.exit_code()
            log.warning("trial of %s (%s): its process died (exit code %s)", spec.id, spec.env_id, code)
            await asyncio.to_thread(slot.replace)
            return TrialReply(env=spec.id, ok=False, problems=[_problem(
                f"Expected {spec.env_id!r} to build, reset, step and render, got no result: the trial process died "
                f"(exit code {code}{', killed: out of memory?' if code == -9 else ''}): {err}")])
        finally:
            self._slots.put_nowait(slot)

    @staticmethod
    def _timed_out(spec: EnvironmentSpec, timeout: float) -> TrialReply:
        return TrialReply(env=spec.id, ok=False, problems=[_problem(
            f"Expected {spec.env_id!r} to build, reset, step and render within {timeout:g} s (TRIAL_TIMEOUT), got no "
            f"result: timed out")])

    def close(self) -> None:
        """Kill every child at once (a stuck trial must not hold up the worker's stop)."""
        self.closed = True
        for slot in self._all:
            slot.kill()
