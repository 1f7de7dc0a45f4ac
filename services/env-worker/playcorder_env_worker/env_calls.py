"""A session's environment, called only through the worker's thread pool: env.step, rendering and JPEG encoding
block for milliseconds, and the event loop serves every session of the process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from playcorder.specs import EnvironmentSpec

from .envs import encode_jpeg
from .families import PreparedEnv, make_env
from .metrics import STEP_SECONDS

T = TypeVar("T")


class EnvCalls:
    def __init__(self, prepared: PreparedEnv, executor: Executor) -> None:
        self.prepared, self.executor = prepared, executor

    @classmethod
    async def make(cls, spec: EnvironmentSpec, executor: Executor) -> EnvCalls:
        prepared = await asyncio.get_running_loop().run_in_executor(executor, make_env, spec)
        return cls(prepared, executor)

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def reset(self, seed: int, quality: int) -> tuple[Any, dict[str, Any], bytes]:
        """The first observation, its info and the frame shown, as JPEG."""
        return await self._off_loop(self._reset, seed, quality)

    async def step(self, action: Any, quality: int) -> tuple[Any, float, bool, bool, dict[str, Any], bytes]:
        """Gymnasium's (observation, reward, terminated, truncated, info), plus the frame shown, as JPEG."""
        return await self._off_loop(self.step_now, action, quality)

    async def render(self, quality: int) -> bytes:
        return await self._off_loop(self._render, quality)

    async def set_camera(self, camera: str | int) -> None:
        await self._off_loop(self.prepared.set_camera, camera)

    async def close(self) -> None:
        await self._off_loop(self.prepared.close)

    # ---------------------------------------------------------------- on a pool thread
    def step_now(self, action: Any, quality: int) -> tuple[Any, float, bool, bool, dict[str, Any], bytes]:
        """step() on the calling (pool) thread: the play loop steps many sessions in one call of its own."""
        return self._step(action, quality)  # which observes STEP_SECONDS, once a step

    def _render(self, quality: int) -> bytes:
        return encode_jpeg(self.prepared.render(), quality)

    def _reset(self, seed: int, quality: int) -> tuple[Any, dict[str, Any], bytes]:
        obs, info = self.prepared.env.reset(seed=seed)
        return obs, info, self._render(quality)

    def _step(self, action: Any, quality: int) -> tuple[Any, float, bool, bool, dict[str, Any], bytes]:
        started = time.thread_time()  # CPU time of this thread: what the step costs, not how long it waited
        obs, reward, terminated, truncated, info = self.prepared.env.step(action)
        image = self._render(quality)
        STEP_SECONDS.observe(time.thread_time() - started)
        return obs, float(reward), bool(terminated), bool(truncated), info, image
