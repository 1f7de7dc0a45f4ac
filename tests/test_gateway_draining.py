"""The gateway's drain schedule (services/gateway/playcorder_gateway/draining.py) on its own: sockets asked to leave
spread over GATEWAY_DRAIN_SPREAD in the order they opened, the whole bounded by GATEWAY_DRAIN_TIMEOUT, a second
SIGTERM asking the rest at once; and the settings refusing a timeout that does not leave room for the spread.
test_gateway_drain.py checks the same on real gateways."""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack

import pytest
from pydantic import ValidationError

from playcorder_gateway.draining import Drain, Leave
from playcorder_gateway.settings import Settings

_REQUIRED = {"database": {"url": "postgresql+asyncpg://x@127.0.0.1/x"},
             "s3": {"endpoint": "127.0.0.1:1", "access_key": "a", "secret_key": "b"}}


async def _leaves_when_asked(leave: Leave, asked: list[float], stack: ExitStack) -> None:
    await leave.wait()
    asked.append(time.monotonic())
    stack.close()  # the socket closes


async def _sockets(drain: Drain, n: int, asked: list[float]) -> list[asyncio.Task[None]]:
    tasks = []
    for _ in range(n):
        stack = ExitStack()
        leave = stack.enter_context(drain.hold())
        tasks.append(asyncio.create_task(_leaves_when_asked(leave, asked, stack)))
    return tasks


async def test_sockets_are_asked_one_after_the_other_over_the_spread() -> None:
    drain = Drain(spread=0.6, timeout=5.0)
    asked: list[float] = []
    tasks = await _sockets(drain, 4, asked)
    started = time.monotonic()
    await drain.run()
    took = time.monotonic() - started
    offsets = [round(t - started, 2) for t in asked]
    assert len(asked) == 4 and drain.sockets == 0 and all(t.done() for t in tasks)
    assert offsets[0] < 0.05 and 0.4 < offsets[-1] < 0.6, offsets  # 0, 0.15, 0.3, 0.45: spread, not at once
    assert all(b - a > 0.1 for a, b in zip(offsets, offsets[1:], strict=False)), offsets
    assert took < 0.7  # over once every socket has closed, not at the timeout


async def test_a_socket_opened_while_draining_is_asked_at_once() -> None:
    drain = Drain(spread=1.0, timeout=2.0)
    running = asyncio.create_task(drain.run())
    await asyncio.sleep(0)
    assert drain.draining
    with drain.hold() as late:
        assert late.asked.is_set()
    await running


async def test_the_drain_ends_at_its_timeout_with_sockets_still_open() -> None:
    drain = Drain(spread=0.1, timeout=0.4)
    with drain.hold() as stuck:
        started = time.monotonic()
        await drain.run()
        took = time.monotonic() - started
        assert stuck.asked.is_set() and drain.sockets == 1
    assert 0.35 < took < 0.6


async def test_a_second_sigterm_asks_every_socket_left_at_once() -> None:
    drain = Drain(spread=10.0, timeout=20.0)
    asked: list[float] = []
    await _sockets(drain, 5, asked)
    started = time.monotonic()
    running = asyncio.create_task(drain.run())
    await asyncio.sleep(0.2)
    assert len(asked) == 1  # the first at once, the next not for 2 s
    drain.hurry()
    await asyncio.wait_for(running, 2)
    assert len(asked) == 5 and asked[-1] - started < 0.5


def test_the_settings_want_the_timeout_above_the_spread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DRAIN_SPREAD", "5")
    monkeypatch.setenv("GATEWAY_DRAIN_TIMEOUT", "5")
    with pytest.raises(ValidationError, match=r"Expected GATEWAY_DRAIN_TIMEOUT above GATEWAY_DRAIN_SPREAD \(5 s\).*"
                                              r"got 5 s"):
        Settings(**_REQUIRED)
    monkeypatch.setenv("GATEWAY_DRAIN_SPREAD", "61")
    monkeypatch.setenv("GATEWAY_DRAIN_TIMEOUT", "100")
    with pytest.raises(ValidationError, match="less than or equal to 60"):
        Settings(**_REQUIRED)
    monkeypatch.delenv("GATEWAY_DRAIN_SPREAD")
    monkeypatch.delenv("GATEWAY_DRAIN_TIMEOUT")
    settings = Settings(**_REQUIRED)
    assert (settings.drain_spread, settings.drain_timeout) == (2.0, 10.0)
