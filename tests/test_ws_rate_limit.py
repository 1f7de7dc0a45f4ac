"""Client message floods: the gateway lets a connection send WS_BURST messages at once and WS_MAX_RATE a second,
drops the rest with one `rate_limited` error per window, keeps the socket open, and the session plays on; the
worker's inbox is bounded too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from playcorder.devstack.services import ServiceProcess
from playcorder.messages import Pause, SetFps
from playcorder.sdk import Client
from playcorder.sdk.bot import connect
from playcorder_env_worker.liveness import ClientLost
from playcorder_env_worker.session import InputQueue
from playcorder_gateway.ratelimit import TokenBucket
from tests.conftest import Services
from tests.factories import study
from tests.stored import all_steps
from tests.wsclient import Player

RATE, BURST = 20, 50  # small, so that a flood from a busy test machine surely goes beyond them
FLOOD = 400


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_passes_a_burst_then_the_rate_and_notices_once_a_window() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    assert [bucket.take() for _ in range(7)] == [True] * 5 + [False] * 2
    assert bucket.notify() and not bucket.notify()  # one notice for the flood
    assert bucket.retry_after() == pytest.approx(0.1)
    assert "dropped 2 since the last notice" in bucket.message() and "WS_MAX_RATE" in bucket.message()
    clock.now += 0.25  # 2.5 messages' worth
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    assert not bucket.notify()  # still within the window of the last notice (burst / rate = 0.5 s)
    clock.now += 0.5
    while bucket.take():
        pass
    assert bucket.notify()  # a new window: a new notice once dropping again
    clock.now += 60
    assert sum(bucket.take() for _ in range(100)) == 5  # refilled to the burst, not beyond


async def test_the_worker_inbox_drops_client_messages_beyond_its_bound() -> None:
    inbox = InputQueue("s", limit=3)
    for fps in range(1, 6):
        inbox.put_nowait(SetFps(type="set_fps", fps=fps))
    inbox.put_nowait(Pause(type="pause"))
    inbox.put_nowait(ClientLost())  # the worker's own always get in
    assert inbox.dropped == 3
    got = [inbox.get_nowait() for _ in range(inbox.qsize())]
    assert [getattr(m, "fps", None) for m in got[:3]] == [1, 2, 3] and isinstance(got[3], ClientLost)


@pytest.fixture
def limited_gateway(services: Services, tmp_path: Path) -> Iterator[ServiceProcess]:
    """A gateway of its own with small limits, on the suite's NATS, PostgreSQL, S3 and workers."""
    gateway = ServiceProcess("gateway", services.env | {"WS_MAX_RATE": str(RATE), "WS_BURST": str(BURST)}, tmp_path,
                             name=f"gateway-{uuid.uuid4().hex[:6]}")
    gateway.start()
    try:
        gateway.wait_ready()
        yield gateway
    finally:
        gateway.stop()


async def _read_for(player: Player, seconds: float) -> list[dict[str, object]]:
    before = len(player.events)
    await player.drain(seconds)
    return player.events[before:]


@pytest.mark.e2e
async def test_a_flood_is_limited_the_socket_stays_open_and_the_session_plays_on(
        client: Client, limited_gateway: ServiceProcess) -> None:
    created = client.create_study(study({"id": "game", "env_id": "CartPole-v1", "mode": "turn_based"}, name="flood"))
    token = client.create_participant(created["id"])["token"]
    player = await Player.join(limited_gateway.url, token, "game")
    await player.until("session")
    episode_id = (await player.until("episode_started"))["episode_id"]
    await player.until("frame")

    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(FLOOD):  # valid messages, each answered by the worker with a `state` event once it passes
        await player.send(type="set_fps", fps=1 + i % 60)
    events = await _read_for(player, 3.0)  # select_env took one token: the flood meets BURST - 1 at least
    elapsed = loop.time() - started
    limited = [e for e in events if e["type"] == "error"]
    assert limited and {e["code"] for e in limited} == {"rate_limited"}, limited
    assert len(limited) <= 1 + elapsed / (BURST / RATE), f"one notice a window, got {len(limited)} in {elapsed:.1f} s"
    notice = limited[0]
    assert f"at most {RATE} messages a second, in bursts of at most {BURST}" in notice["message"], notice
    assert 0 < notice["retry_after"] <= 1 / RATE + 0.001, notice
    passed = [e for e in events if e["type"] == "state"]
    assert BURST - 1 <= len(passed) <= BURST + RATE * elapsed + 1, f"{len(passed)} of {FLOOD} passed in {elapsed:.1f} s"

    await asyncio.sleep(BURST / RATE)  # the bucket fills up again; the socket stayed open all along
    await player.send(type="resync")
    assert (await player.until("state"))["state"] == "paused"
    actions = [0, 1, 0, 1, 1, 0]
    for action in actions:
        await player.send(type="action", action=action)
        await player.until("frame")
    await player.send(type="end_episode", save=True)
    ended = await player.until("episode_ended", episode_id=episode_id)
    await player.send(type="close")
    await player.close()
    assert ended["state"] == "completed" and ended["num_steps"] == len(actions) + 1
    assert [s["action"] for s in all_steps(client, episode_id)[:-1]] == actions


@pytest.mark.e2e
async def test_binary_and_bad_messages_count_against_the_limit_and_are_dropped_unread(
        client: Client, limited_gateway: ServiceProcess) -> None:
    created = client.create_study(study({"id": "game", "env_id": "CartPole-v1"}, name="flood-bad"))
    token = client.create_participant(created["id"])["token"]
    player = Player(await connect(limited_gateway.url, token))
    for i in range(FLOOD):
        await player.ws.send(b"\x00" * 8 if i % 2 else "{")
    events = await _read_for(player, 2.0)
    codes = [e["code"] for e in events]
    assert codes.count("rate_limited") == 1 and BURST <= codes.count("bad_message") < FLOOD, codes
    await asyncio.sleep(BURST / RATE)
    await player.send(type="select_env", env="game")  # the socket is still open, and plays
    await player.until("session")
    await player.send(type="close")
    await player.close()


def test_large_messages_count_by_their_bytes() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=1000, burst=1000, clock=lambda: now[0], byte_rate=100_000, byte_burst=200_000)
    passed = sum(bucket.take() and bucket.take_bytes(45_000) for _ in range(10))
    assert passed == 4  # the byte burst, though far fewer messages than the message burst
    assert bucket.take() and bucket.take_bytes(100)  # small ones still pass (19,900 bytes left)
    assert not bucket.take_bytes(50_000)
    assert bucket.retry_after() == pytest.approx(0.301, abs=0.002)  # the 30,100 bytes missing, at 100 KB/s
    assert "WS_MAX_BYTE_RATE" in bucket.message()
    now[0] += 0.5
    assert bucket.take() and bucket.take_bytes(50_000)
