"""A realtime session steps at its fps, never faster: the worker's pacing loop (play_loop.py) puts sessions of one
fps on a shared grid of ticks, and a tick computed from the one just run must be the next one, not the same one
again (floating point once made it so, and a 15 fps Pong ran at ~250 frames a second)."""

from __future__ import annotations

import asyncio

import pytest

from playcorder.sdk import Client
from playcorder_env_worker.play_loop import grid_after
from tests.factories import pong_study
from tests.wsclient import Player


@pytest.mark.parametrize("fps", [15, 30, 60, 7])
def test_the_tick_after_a_tick_is_one_period_later(fps: int) -> None:
    period, t = 1.0 / fps, 0.0
    for _ in range(20_000):
        t, before = grid_after(t, period), t
        assert period / 2 < t - before < period * 1.5


@pytest.mark.e2e
async def test_a_realtime_player_gets_its_frame_rate_not_more(client: Client) -> None:
    study = client.create_study(pong_study(mode="realtime", fps=15, max_episode_steps=100_000))
    player = await Player.join(client.url, client.create_participant(study["id"])["token"], "pong")
    await player.until("episode_started")
    await player.send(type="action", action=1)  # the first input starts the ticks
    frames = await player.drain(3.0)
    # a busy machine may give fewer; more than the rate (with room for the first frames) is a pacing bug
    assert 0 < frames <= 15 * 3 * 1.2 + 2, frames
    await asyncio.sleep(0)
    await player.close()
