"""Nothing recorded is lost, nothing is stored twice: recorders killed with SIGKILL and restarted, NATS restarted,
a worker killed mid-episode, all while bots play. Every stored episode is then replayed against the environment."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from playcorder.devstack.nats import NatsServer
from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.sdk import Client
from tests.chaosbot import ChaosBot
from tests.conftest import tenant
from tests.factories import study
from tests.replay import replay_atari
from tests.stored import all_steps
from tests.wsclient import Player

pytestmark = pytest.mark.e2e
QUALITY, FPS, LIMIT = 70, 30, 120


@dataclass
class Cluster:
    nats: NatsServer
    gateway: ServiceProcess
    worker: ServiceProcess
    recorders: list[ServiceProcess]
    env: dict[str, str]
    logs: Any
    client: Client


@pytest.fixture(scope="module")
def cluster(stack, tmp_path_factory) -> Iterator[Cluster]:  # type: ignore[no-untyped-def]
    """Gateway, worker and two recorder replicas on a NATS server of their own, which the tests may restart."""
    nats = NatsServer(tmp_path_factory.mktemp("chaos-nats"))
    nats.start()
    logs = tmp_path_factory.mktemp("chaos-logs")
    own = tenant(stack, "durability")
    env = own.env | {"NATS_URL": nats.url, "S3_BUCKET": "durability", "HEARTBEAT_INTERVAL": "0.5",
                         "WORKER_TTL": "3", "CHUNK_MAX_AGE": "0.3", "WORKER_CAPACITY": "6"}
    gateway = ServiceProcess("gateway", env, logs)
    worker = ServiceProcess("env-worker", env | {"WORKER_ID": "steady"}, logs, name="worker")
    recorders = [ServiceProcess("recorder", env, logs, name=f"recorder-{i}") for i in (1, 2)]
    try:
        start_all([gateway, worker, *recorders])
        yield Cluster(nats, gateway, worker, recorders, env, logs, Client(gateway.url, own.designer_token))
    finally:
        stop_all([gateway, worker, *recorders])
        nats.stop()


def finished(client: Client, study_id: str, expected: set[str], timeout: float = 90) -> list[dict[str, Any]]:
    """The study's episodes once all the expected ones are stored and none is still recording."""
    deadline = time.monotonic() + timeout
    while True:
        episodes = client.list_episodes(study_id)
        if expected <= {e["id"] for e in episodes} and all(e["state"] != "recording" for e in episodes):
            return episodes
        assert time.monotonic() < deadline, [(e["id"], e["state"]) for e in episodes if e["state"] == "recording"]
        time.sleep(0.2)


async def test_recorder_kills_and_a_nats_restart_lose_and_duplicate_nothing(cluster: Cluster) -> None:
    client = cluster.client
    created = client.create_study(study({"id": "pong", "env_id": "ALE/Pong-v5", "fps": FPS, "max_episode_steps": LIMIT,
                                         "render": {"jpeg_quality": QUALITY}}, name="chaos"))
    bots = [ChaosBot(cluster.gateway.url, client.create_participant(created["id"])["token"], "pong", seed=i)
            for i in range(3)]
    stop = asyncio.Event()
    playing = [asyncio.create_task(bot.run(stop)) for bot in bots]

    async def kill(recorder: ServiceProcess, down: float) -> None:
        recorder.kill()
        await asyncio.sleep(down)
        recorder.start()

    await asyncio.sleep(3)
    for round_ in range(2):
        await kill(cluster.recorders[0], 1.5)
        await asyncio.sleep(1.5)
        await kill(cluster.recorders[1], 1.5)
        await asyncio.sleep(1.5)
        if round_ == 0:
            await asyncio.to_thread(cluster.nats.stop)  # down for 2 s: workers hold their steps and retry
            await asyncio.sleep(2)
            await asyncio.to_thread(cluster.nats.start)  # streams and unacknowledged messages survive it
            await asyncio.sleep(3)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*playing), 60)
    for recorder in cluster.recorders:
        await asyncio.to_thread(recorder.wait_ready)

    reported = {eid: n for bot in bots for eid, n in bot.ended.items()}
    episodes = await asyncio.to_thread(finished, client, created["id"], set(reported))
    assert len(episodes) >= 6 and len(reported) >= 6  # every bot played through the failures
    for episode in episodes:
        steps = await asyncio.to_thread(all_steps, client, episode["id"], True)
        if episode["id"] in reported:  # the worker's own count of the steps it recorded
            assert episode["num_steps"] == reported[episode["id"]], (
                {k: episode[k] for k in ("id", "state", "end_reason", "num_steps")}, reported[episode["id"]],
                [(s["index"], s["is_last"]) for s in steps[-2:]])
        replay_atari("ALE/Pong-v5", episode, steps, jpeg_quality=QUALITY, max_episode_steps=LIMIT)
        assert steps[-1]["is_last"], episode  # every episode was ended by its worker, so it has its final step


async def test_killed_worker_leaves_its_episodes_interrupted_with_every_published_step(cluster: Cluster) -> None:
    client = cluster.client
    await asyncio.to_thread(cluster.worker.stop)  # only the victim takes sessions now
    victim = ServiceProcess("env-worker", cluster.env | {"WORKER_ID": "victim"}, cluster.logs, name="victim")
    await asyncio.to_thread(victim.start)
    await asyncio.to_thread(victim.wait_ready)
    try:
        created = client.create_study(study(
            {"id": "turns", "env_id": "ALE/Pong-v5", "mode": "turn_based"},
            {"id": "live", "env_id": "ALE/Pong-v5", "fps": FPS}, name="victim"))
        while not any(w["worker_id"] == "victim" for w in client._call("GET", "/api/workers")):
            await asyncio.sleep(0.1)
        turns = await Player.join(cluster.gateway.url, client.create_participant(created["id"])["token"], "turns")
        live = await Player.join(cluster.gateway.url, client.create_participant(created["id"])["token"], "live")
        turned = (await turns.until("episode_started"))["episode_id"]
        lived = (await live.until("episode_started"))["episode_id"]
        assert [e["worker_id"] for p in (turns, live) for e in p.events if e["type"] == "session"] == ["victim"] * 2
        await live.send(type="action", action=2)
        for i in range(40):
            await turns.send(type="action", action=i % 6)
            await turns.until("frame")
        while len(client.get_steps(turned)["steps"]) < 40:  # published (within CHUNK_MAX_AGE) and stored
            await asyncio.sleep(0.05)
        await live.drain(0.5)
        victim.kill()
        for player in (turns, live):
            assert (await player.until("error", timeout=15))["code"] == "worker_lost"
            await player.close()
    finally:
        victim.kill()
        await asyncio.to_thread(cluster.worker.start)

    episodes = {e["id"]: e for e in await asyncio.to_thread(finished, client, created["id"], {turned, lived}, 30)}
    for eid in (turned, lived):
        episode = episodes[eid]
        assert (episode["state"], episode["end_reason"]) == ("interrupted", "worker_lost")
        steps = await asyncio.to_thread(all_steps, client, eid)
        replay_atari("ALE/Pong-v5", episode, steps)
        assert not any(s["is_last"] for s in steps)  # the final step never came: the exporter must close it
    assert episodes[turned]["num_steps"] == 40  # all it had published, and it had published every step taken
    assert episodes[lived]["num_steps"] >= 5
