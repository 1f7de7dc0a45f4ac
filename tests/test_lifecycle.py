"""Every lifecycle transition a participant meets, with shortened timeouts, on the real stack."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets

from playcorder.sdk import Client
from tests.factories import study
from tests.stored import stored_episode
from tests.wsclient import Player

pytestmark = pytest.mark.e2e


async def join(client: Client, **env: Any) -> Player:
    spec = {"id": "game", "env_id": "ALE/Pong-v5", **env}
    created = client.create_study(study(spec, name="lifecycle"))
    token = client.create_participant(created["id"])["token"]
    player = await Player.join(client.url, token, "game")
    await player.until("session")
    return player


async def test_episode_starts_paused_and_pause_resume(client: Client) -> None:
    player = await join(client, mode="realtime", fps=30)
    started = await player.until("episode_started")
    assert (await player.until("state"))["state"] == "paused"
    assert await player.drain(0.4) == 1  # only the first observation while paused
    await player.send(type="resume")
    await player.until("state", state="running")
    for _ in range(5):  # realtime: steps at fps with no input needed
        await player.until("frame", timeout=10)
    await player.send(type="pause")
    await player.until("state", state="paused", reason="participant")
    # Frames and events keep their order, so any frame after the paused event would be a step taken while paused.
    assert await player.drain(0.4) == 0
    await player.send(type="cancel")
    ended = await player.until("episode_ended")
    assert ended["state"] == "cancelled" and ended["episode_id"] == started["episode_id"]
    await player.close()
    assert stored_episode(client, started["episode_id"])["state"] == "cancelled"


async def test_idle_pause_then_expiry_abandons(client: Client) -> None:
    player = await join(client, mode="realtime", fps=30, idle_pause_s=0.5, pause_expiry_s=1.5)
    started = await player.until("episode_started")
    await player.send(type="input", keys=["ArrowRight"])  # Pong: RIGHT moves the paddle
    await player.until("state", state="running")
    seen, loop = len(player.events), asyncio.get_running_loop()
    held_from = loop.time()
    while loop.time() - held_from < 1.0:  # twice the idle interval, with the key held
        await player.until("frame", timeout=10)  # a held key is not idleness: it keeps stepping ...
    assert not [e for e in player.events[seen:] if e["type"] == "state"]  # ... and never pauses
    await player.send(type="input", keys=[])
    paused = await player.until("state", state="paused")
    assert paused["reason"] == "idle"
    ended = await player.until("episode_ended", timeout=10)
    assert ended["state"] == "abandoned" and ended["reason"] == "expired"
    await player.until("session_ended", reason="expired")
    with pytest.raises(websockets.ConnectionClosed):
        await player.drain(5) or await player.ws.recv()
    stored = stored_episode(client, started["episode_id"])
    assert stored["state"] == "abandoned" and stored["num_steps"] == ended["num_steps"] > 1


async def test_new_episode_restarts_and_enter_after_end(client: Client) -> None:
    player = await join(client, mode="turn_based")
    first = await player.until("episode_started")
    await player.send(type="action", action=0)
    await player.until("frame")
    await player.until("frame")
    await player.send(type="new_episode")
    ended = await player.until("episode_ended")
    assert (ended["episode_id"], ended["state"], ended["reason"]) == (first["episode_id"], "cancelled", "restarted")
    second = await player.until("episode_started")
    assert second["index"] == 1 and second["episode_id"] != first["episode_id"]
    await player.send(type="close")
    assert stored_episode(client, second["episode_id"])["state"] == "abandoned"


@pytest.mark.parametrize("save,state", [(True, "completed"), (False, "rejected")])
async def test_end_of_episode_asks_to_save(client: Client, save: bool, state: str) -> None:
    player = await join(client, mode="turn_based", max_episode_steps=5)
    started = await player.until("episode_started")
    for _ in range(5):
        await player.send(type="action", action=0)
    finished = await player.until("episode_finished")
    assert finished["reason"] == "step_limit" and finished["num_steps"] == 6
    await player.send(type="new_episode")  # must answer first
    assert (await player.until("error"))["code"] == "awaiting_save"
    await player.send(type="save", save=save)
    ended = await player.until("episode_ended")
    assert ended["state"] == state
    await player.close()
    stored = stored_episode(client, started["episode_id"])
    assert stored["state"] == state and stored["num_steps"] == 6


async def test_quality_switch_changes_frames(client: Client) -> None:
    player = await join(client, mode="turn_based", render={"jpeg_quality": 95})
    await player.until("episode_started")
    high = await player.until("frame")
    await player.send(type="set_quality", jpeg_quality=10)
    assert (await player.until("state"))["jpeg_quality"] == 10
    await player.send(type="action", action=0)
    low = await player.until("frame")
    assert len(low.jpeg) < len(high.jpeg) * 0.7
    await player.send(type="set_camera", camera="nope")
    error = await player.until("error")
    assert error["code"] == "bad_camera"
    await player.close()


async def test_fps_change_live(client: Client) -> None:
    player = await join(client, mode="realtime", fps=5)
    await player.until("episode_started")
    await player.send(type="resume")
    await player.until("state", state="running")
    slow = await player.drain(1.0)
    await player.send(type="set_fps", fps=40)
    await player.until("state", fps=40)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(20):
        await player.until("frame", timeout=10)
    # Bounds a busy machine cannot break: at 5 fps a second never holds more than ~6 frames, and 20 frames take
    # 4 s; at 40 fps they take 0.5 s.
    assert slow <= 8 and loop.time() - start < 3.0
    await player.close()
