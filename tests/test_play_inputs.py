"""Input kinds and modes through the real stack: keys, held keys, gamepad axes, custom maps, a slow client."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import gymnasium as gym
import pytest
import websockets

from playcorder.sdk import Client
from playcorder.sdk.bot import ws_url
from tests.factories import study
from tests.stored import all_steps
from tests.wsclient import Player

pytestmark = pytest.mark.e2e


async def join(client: Client, env: dict[str, Any]) -> tuple[Player, dict[str, Any]]:
    created = client.create_study(study({"id": "game", **env}, name="inputs"))
    token = client.create_participant(created["id"])["token"]
    player = await Player.join(client.url, token, "game")
    session = await player.until("session")
    await player.until("episode_started")
    return player, session


async def recorded(client: Client, player: Player) -> list[dict[str, Any]]:
    """End the episode (kept), then read back every recorded step."""
    await player.send(type="end_episode", save=True)
    ended = await player.until("episode_ended")
    await player.close()
    steps = all_steps(client, ended["episode_id"])
    assert len(steps) == ended["num_steps"]
    return steps


def pong_meanings() -> list[str]:
    import ale_py

    gym.register_envs(ale_py)
    env = gym.make("ALE/Pong-v5")
    try:
        return env.unwrapped.get_action_meanings()
    finally:
        env.close()


async def test_keys_map_to_atari_actions_one_step_per_press(client: Client) -> None:
    meanings = pong_meanings()
    player, session = await join(client, {"env_id": "ALE/Pong-v5", "mode": "turn_based"})
    assert session["family"] == "atari" and session["input_map"]["kind"] == "discrete"
    await player.send(type="input", keys=["ArrowRight"])
    await player.send(type="input", keys=[])  # release: no step
    await player.send(type="input", keys=["ArrowLeft", " "])
    await player.send(type="input", keys=["ArrowLeft", " "])  # still held, nothing new pressed: no step
    await player.drain(0.5)
    steps = await recorded(client, player)
    assert [meanings[s["action"]] for s in steps[:-1]] == ["RIGHT", "LEFTFIRE"]
    assert steps[0]["input"]["keys"] == ["ArrowRight"] and steps[1]["input"]["keys"] == ["ArrowLeft", " "]


async def test_held_key_steps_while_held(client: Client) -> None:
    player, _ = await join(client, {"env_id": "ALE/Pong-v5", "mode": "turn_based", "step_while_held": True, "fps": 20})
    await player.send(type="input", keys=["ArrowRight"])
    while (await player.until("frame", timeout=10)).step < 5:  # one press, and the env keeps stepping while held
        pass
    await player.send(type="input", keys=[])
    await player.drain(1.0)  # steps taken before the release was processed
    assert await player.drain(0.5) == 0  # released: no more steps
    steps = await recorded(client, player)
    assert len(steps) - 1 >= 5


async def test_held_key_steps_again_on_every_new_hold(client: Client) -> None:
    """The episode stays running between holds: each new press steps at fps while held, not only the first."""
    player, _ = await join(client, {"env_id": "ALE/Pong-v5", "mode": "turn_based", "step_while_held": True, "fps": 20})
    for hold in range(3):
        await player.send(type="input", keys=["ArrowRight"])
        # ~20 steps in a second at 20 fps; a press that stepped only once would give 1
        assert await player.drain(1.0) >= 3, f"hold {hold}"
        await player.send(type="input", keys=[])
        await player.drain(1.0)  # steps taken before the release was processed
        assert await player.drain(0.5) == 0, f"released after hold {hold}"
    assert [e["state"] for e in player.events if e["type"] == "state"] == ["paused", "running"]
    steps = await recorded(client, player)
    assert len(steps) - 1 >= 9


async def test_custom_input_map_for_a_generic_env(client: Client) -> None:
    env = {"env_id": "CartPole-v1", "mode": "turn_based",
           "input_map": {"kind": "discrete", "bindings": {"A": 0, "D": 1}}}
    player, session = await join(client, env)
    assert session["family"] == "gymnasium" and session["input_map"]["bindings"] == {"A": 0, "D": 1}
    for key in ("d", "", "a", "", "d"):
        await player.send(type="input", keys=[key] if key else [])
    await player.drain(0.5)
    steps = await recorded(client, player)
    assert [s["action"] for s in steps[:-1]] == [1, 0, 1]


async def test_slow_client_loses_frames_never_steps(client: Client) -> None:
    """A client that stops reading: the worker keeps its pace, the client misses display frames, every step is
    recorded. A tiny receive buffer makes the kernel push back at once instead of buffering megabytes."""
    created = client.create_study(study({"id": "game", "env_id": "ALE/Pong-v5", "fps": 60,
                                         "render": {"jpeg_quality": 100}}, name="slow"))
    token = client.create_participant(created["id"])["token"]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", urlsplit(client.url).port))
    # close_timeout: with a one-message queue the client library reads the server's close frame only late
    async with websockets.connect(ws_url(client.url, token), sock=sock, max_size=None, max_queue=1,
                                  close_timeout=1) as ws:
        await ws.send('{"type": "select_env", "env": "game"}')
        await ws.send('{"type": "action", "action": 2}')  # held in realtime mode: no more input needed
        await asyncio.sleep(4.0)  # not reading at all
        await ws.send('{"type": "end_episode", "save": true}')
        frames = 0
        while True:
            message = await asyncio.wait_for(ws.recv(), 30)
            if isinstance(message, bytes):
                frames += 1
            elif '"episode_ended"' in message:
                ended = json.loads(message)
                break
    # ~4 s at 60 fps: the env ran at its own pace, not the client's ...
    assert ended["num_steps"] > 120
    # ... the client saw only the frames its buffers held ...
    assert frames < ended["num_steps"] / 2
    # ... and nothing the env produced was lost.
    assert len(all_steps(client, ended["episode_id"])) == ended["num_steps"]
