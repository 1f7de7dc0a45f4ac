"""Sessions outlive a lost connection: a gateway killed with SIGKILL, a socket dropped without a close, NATS
restarted. The worker pauses within a second of losing its client and keeps the session for the client (a test
client, the bot, the web player) to resume, on the real stack (a NATS, gateways, worker and recorder of its own,
in a tenant database, so killing them cannot hurt other tests)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import websockets

from playcorder.devstack.nats import NatsServer
from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.sdk import Client
from playcorder.sdk.bot import play
from tests.conftest import tenant
from tests.factories import study
from tests.stored import all_steps, stored_episode
from tests.webpage import Page
from tests.wsclient import Player

pytestmark = pytest.mark.e2e
FPS = 30
CLIENT_TIMEOUT = 1.0  # the worker's default: the bound on steps recorded after a client went away


@dataclass
class Cluster:
    nats: NatsServer
    gateway: ServiceProcess  # the one the tests kill
    other: ServiceProcess  # another gateway, which serves the REST API throughout
    worker: ServiceProcess
    recorder: ServiceProcess
    client: Client

    @property
    def url(self) -> str:
        return self.gateway.url


@pytest.fixture(scope="module")
def cluster(stack, tmp_path_factory) -> Iterator[Cluster]:  # type: ignore[no-untyped-def]
    nats = NatsServer(tmp_path_factory.mktemp("resume-nats"))
    nats.start()
    logs = tmp_path_factory.mktemp("resume-logs")
    own = tenant(stack, "resume")
    env = own.env | {"NATS_URL": nats.url, "S3_BUCKET": "resume", "HEARTBEAT_INTERVAL": "0.5", "CHUNK_MAX_AGE": "0.2",
                     "CLIENT_TIMEOUT": str(CLIENT_TIMEOUT), "RESUME_GRACE": "60"}
    gateway = ServiceProcess("gateway", env | {"GATEWAY_ID": "victim"}, logs, name="victim")
    other = ServiceProcess("gateway", env | {"GATEWAY_ID": "other"}, logs, name="other")
    worker = ServiceProcess("env-worker", env | {"WORKER_ID": "keeper"}, logs, name="worker")
    recorder = ServiceProcess("recorder", env, logs)
    procs = [gateway, other, worker, recorder]
    try:
        start_all(procs)
        yield Cluster(nats, gateway, other, worker, recorder, Client(other.url, own.designer_token))
    finally:
        stop_all(procs)
        nats.stop()


def realtime_study(client: Client, **env: Any) -> str:
    spec = {"id": "live", "env_id": "ALE/Pong-v5", "fps": FPS, "idle_pause_s": 60, **env}
    return str(client.create_study(study(spec, name="resume"))["id"])


def token_for(client: Client, study_id: str) -> str:
    return str(client.create_participant(study_id)["token"])


def steps_so_far(client: Client, episode_id: str) -> list[dict[str, Any]]:
    """The steps stored of an episode still recording."""
    steps: list[dict[str, Any]] = []
    while page := client.get_steps(episode_id, start=len(steps))["steps"]:
        steps += page
    return steps


async def settled_steps(client: Client, episode_id: str) -> list[dict[str, Any]]:
    """Stored steps once their number stops growing (the worker paused, the recorder caught up)."""
    before: list[dict[str, Any]] = []
    while True:
        await asyncio.sleep(1.0)
        now = await asyncio.to_thread(steps_so_far, client, episode_id)
        if now and len(now) == len(before):
            return now
        before = now


async def closed(player: Player, timeout: float = 10) -> None:
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(player.drain(timeout + 1), timeout)


async def play_running(player: Player, frames: int) -> None:
    await player.send(type="action", action=2)  # realtime: held until the next one; starts the paused episode
    for _ in range(frames):
        await player.until("frame", timeout=10)


async def resumed(player: Player, session_id: str, episode_id: str) -> Any:
    """The worker's picture of the session again; returns the frame it shows (the current observation)."""
    assert (await player.until("session", timeout=15))["session_id"] == session_id
    assert (await player.until("episode_started"))["episode_id"] == episode_id
    state = await player.until("state")
    assert (state["state"], state["reason"]) == ("paused", "client_lost")
    return await player.until("frame")


async def finish(client: Client, player: Player, episode_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    await player.send(type="end_episode", save=True)
    ended = await player.until("episode_ended")
    await player.send(type="close")
    episode = await asyncio.to_thread(stored_episode, client, episode_id, 30)
    steps = await asyncio.to_thread(all_steps, client, episode_id)  # indexed 0..n-1: none lost or duplicated
    assert (episode["state"], ended["state"]) == ("completed", "completed")
    assert episode["num_steps"] == ended["num_steps"] == len(steps)
    return episode, steps


async def test_gateway_killed_mid_episode_pauses_the_worker_and_the_client_resumes(cluster: Cluster) -> None:
    client = cluster.client
    study_id = realtime_study(client)
    token = token_for(client, study_id)
    player = await Player.join(cluster.url, token, "live")
    session_id = (await player.until("session"))["session_id"]
    episode_id = (await player.until("episode_started"))["episode_id"]
    await play_running(player, 30)
    seen_before = {f.step for f in player.frames}

    killed_at = time.time()
    cluster.gateway.kill()
    await closed(player)
    before_resume = await settled_steps(client, episode_id)
    pause_latency = before_resume[-1]["time"] - killed_at
    print(f"last step recorded {pause_latency:.3f} s after the gateway was killed")
    assert pause_latency < CLIENT_TIMEOUT + 0.25, "the worker kept stepping after its gateway died"

    await asyncio.to_thread(cluster.gateway.start)
    await asyncio.to_thread(cluster.gateway.wait_ready)
    ready = time.monotonic()
    player = await Player.resume(cluster.url, token, session_id)
    shown = await resumed(player, session_id, episode_id)
    resume_s = time.monotonic() - ready
    print(f"resumed {resume_s:.3f} s after the restarted gateway was ready")
    assert resume_s < 5.0
    assert shown.step == len(before_resume)  # the observation it paused at, which no step has left yet
    resumed_at = time.time()
    await player.send(type="resume")
    await player.until("state", state="running")
    await play_running(player, 30)

    episode, steps = await finish(client, player, episode_id)
    while_away = [s["index"] for s in steps if killed_at + CLIENT_TIMEOUT + 0.25 < s["time"] < resumed_at]
    assert not while_away, "steps recorded while the client was away"
    seen_after = {f.step for f in player.frames}
    assert max(seen_before) <= len(before_resume) <= min(seen_after)
    assert seen_after <= set(range(episode["num_steps"]))


async def test_a_dropped_socket_pauses_at_once_and_resumes_on_another_gateway(cluster: Cluster) -> None:
    client = cluster.client
    token = token_for(client, realtime_study(client))
    player = await Player.join(cluster.url, token, "live")
    session_id = (await player.until("session"))["session_id"]
    episode_id = (await player.until("episode_started"))["episode_id"]
    await play_running(player, 20)
    dropped_at = time.time()
    player.drop()
    before_resume = await settled_steps(client, episode_id)
    # The gateway saw the socket drop and told the worker: no waiting for the keepalive timeout.
    assert before_resume[-1]["time"] - dropped_at < 0.5

    player = await Player.resume(cluster.other.url, token, session_id)  # any gateway will do
    shown = await resumed(player, session_id, episode_id)
    assert shown.step == len(before_resume)
    await player.send(type="resume")
    await play_running(player, 20)
    await finish(client, player, episode_id)


async def test_resuming_an_unknown_foreign_or_ended_session_is_refused(cluster: Cluster) -> None:
    client = cluster.client
    study_id = realtime_study(client)
    owner_token, other_token = token_for(client, study_id), token_for(client, study_id)
    owner = await Player.join(cluster.url, owner_token, "live")
    assert owner.ws.subprotocol == "playcorder"  # the token travelled as a subprotocol, out of the URL
    session_id = (await owner.until("session"))["session_id"]

    other = await Player.resume(cluster.url, other_token, session_id)
    refused = await other.until("error")
    assert refused["code"] == "unknown_session" and session_id in refused["message"]
    await other.send(type="resume_session", session_id="0" * 32)  # well formed, nobody's
    assert (await other.until("error"))["code"] == "unknown_session"
    for malformed in ("no-such-session", "\x00" * 32):  # not an id: refused before any lookup
        await other.send(type="resume_session", session_id=malformed)
        assert (await other.until("error"))["code"] == "bad_message"
    await other.send(type="select_env", env="live")  # the socket is still good for a new session
    assert (await other.until("session"))["session_id"] != session_id
    await other.close()

    await owner.send(type="close")  # a deliberate end: nothing to resume
    await closed(owner)
    owner = await Player.resume(cluster.url, owner_token, session_id)
    gone = await owner.until("error")
    assert gone["code"] == "session_gone" and session_id in gone["message"]
    await owner.close()


async def test_the_bot_rides_out_a_gateway_kill(cluster: Cluster) -> None:
    client = cluster.client
    study_id = realtime_study(client, max_episode_steps=2000)
    bot = asyncio.create_task(play(cluster.url, token_for(client, study_id), "live", episodes=2, max_steps=90,
                                   timeout=15))
    while not client.list_episodes(study_id):  # playing its first episode
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    cluster.gateway.kill()
    await asyncio.sleep(1.5)
    await asyncio.to_thread(cluster.gateway.start)
    summary = await asyncio.wait_for(bot, 90)
    assert summary.episodes == 2 and summary.reconnects >= 1 and summary.resumed == 1
    for detail in summary.episode_details:
        stored = await asyncio.to_thread(stored_episode, client, detail["episode_id"], 30)
        assert (stored["state"], stored["num_steps"]) == ("completed", detail["num_steps"])
        assert len(await asyncio.to_thread(all_steps, client, detail["episode_id"])) == detail["num_steps"]


async def test_the_web_player_reconnects_and_resumes_after_a_gateway_kill(cluster: Cluster, tmp_path: Path) -> None:
    client = cluster.client
    page = Page(cluster.url, token_for(client, realtime_study(client)), tmp_path / "node.log")
    try:
        running = await asyncio.to_thread(page.until, lambda p: p["state"].startswith("running") and p["session"])
        # realtime: the round trip is measured too (the meter shows a number, not "– ms")
        assert (await asyncio.to_thread(page.until, lambda p: p["rtt_ms"] is not None, 1.5))["rtt_ms"] >= 0
        cluster.gateway.kill()
        await asyncio.to_thread(page.until, lambda p: p["status"] == "reconnecting…")
        await asyncio.to_thread(cluster.gateway.start)
        back = await asyncio.to_thread(page.until, lambda p: p["status"].startswith("playing")
                                       and p["state"].startswith("paused (client_lost)"), 60)
        assert back["session"] == running["session"]  # the same session, not a new one
    finally:
        page.close()
        await asyncio.to_thread(cluster.gateway.wait_ready)


async def test_a_nats_restart_tells_the_client_and_the_session_carries_on(cluster: Cluster) -> None:
    client = cluster.client
    token = token_for(client, realtime_study(client))
    player = await Player.join(cluster.url, token, "live")
    await player.until("session")
    episode_id = (await player.until("episode_started"))["episode_id"]
    await play_running(player, 20)
    stopping = time.monotonic()
    await asyncio.to_thread(cluster.nats.stop)
    try:
        lost = await player.until("error", timeout=10)
        told_s = time.monotonic() - stopping
        print(f"connection_lost {told_s:.3f} s after NATS began to stop")
        assert lost["code"] == "connection_lost" and lost["retry_after"] > 0 and told_s < 2.0
    finally:
        await asyncio.to_thread(cluster.nats.start)
    # Back: the gateway and the worker resync; the worker paused when it lost NATS, so nothing ran unseen.
    state = await player.until("state", timeout=30)
    assert (state["state"], state["reason"]) == ("paused", "client_lost")
    await player.send(type="resume")
    await play_running(player, 20)
    await finish(client, player, episode_id)


async def test_a_killed_worker_is_reported_within_two_seconds(cluster: Cluster) -> None:
    client = cluster.client
    player = await Player.join(cluster.url, token_for(client, realtime_study(client)), "live")
    await player.until("episode_started")
    await play_running(player, 10)
    cluster.worker.kill()
    killed = time.monotonic()
    try:
        lost = await player.until("error", timeout=10)
        told_s = time.monotonic() - killed
        print(f"worker_lost {told_s:.3f} s after the worker was killed")
        assert lost["code"] == "worker_lost" and told_s < 2.0
        await closed(player)
    finally:
        await asyncio.to_thread(cluster.worker.start)
        await asyncio.to_thread(cluster.worker.wait_ready)


async def test_a_session_not_resumed_within_its_grace_ends_abandoned(cluster: Cluster, tmp_path: Path) -> None:
    client = cluster.client
    await asyncio.to_thread(cluster.worker.stop)  # only the brief worker takes sessions now
    brief = ServiceProcess("env-worker", cluster.worker.env | {"WORKER_ID": "brief", "RESUME_GRACE": "2"}, tmp_path,
                           name="brief")
    await asyncio.to_thread(brief.start)
    try:
        await asyncio.to_thread(brief.wait_ready)
        while not any(w["worker_id"] == "brief" for w in client._call("GET", "/api/workers")):
            await asyncio.sleep(0.1)
        token = token_for(client, realtime_study(client))
        player = await Player.join(cluster.url, token, "live")
        session_id = (await player.until("session"))["session_id"]
        episode_id = (await player.until("episode_started"))["episode_id"]
        await play_running(player, 10)
        player.drop()
        episode = await asyncio.to_thread(stored_episode, client, episode_id, 30)
        assert (episode["state"], episode["end_reason"]) == ("abandoned", "disconnected")
        assert len(await asyncio.to_thread(all_steps, client, episode_id)) == episode["num_steps"] >= 10
        player = await Player.resume(cluster.url, token, session_id)
        assert (await player.until("error"))["code"] == "session_gone"
        await player.close()
    finally:
        await asyncio.to_thread(brief.stop)
        await asyncio.to_thread(cluster.worker.start)
        await asyncio.to_thread(cluster.worker.wait_ready)
