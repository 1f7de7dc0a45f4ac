"""Draining a gateway (SIGTERM, as Kubernetes stops a pod after its preStop): /readyz fails at once, new sockets are
refused with 1012, open ones are closed with 1012 one after the other over GATEWAY_DRAIN_SPREAD, and the clients
(the SDK bot, the web player, the load bots) reconnect to another gateway and resume their session, losing no
step; the gateway exits within GATEWAY_DRAIN_TIMEOUT.

A stack of its own: two gateways ("a", drained, then started again, and "b") on the same NATS and PostgreSQL, one
worker, a recorder.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.sdk import Client
from playcorder.sdk.bot import CLOSE_RESTART, connect, play
from playcorder.sdk.load import run_load
from playcorder_gateway.draining import RESTART_REASON
from tests.balancer import Balancer
from tests.conftest import tenant
from tests.factories import study
from tests.stored import all_steps, stored_episode
from tests.webpage import Page

pytestmark = pytest.mark.e2e
SPREAD, TIMEOUT = 1.0, 4.0  # gateway a's GATEWAY_DRAIN_SPREAD and GATEWAY_DRAIN_TIMEOUT
BOT_STEPS = 240  # realtime at 60 fps: 4 s of play, the drain in the middle
LOAD_PLAYERS = 4  # half of them on gateway a
EXIT_SLACK_S = 5.0  # a drained gateway exits this soon after its drain bound (the server's shutdown, a loaded machine)


@dataclass
class Cluster:
    gateways: dict[str, ServiceProcess]
    client: Client  # through gateway b, up throughout
    env: dict[str, str]
    designer_token: str

    @property
    def a(self) -> ServiceProcess:
        return self.gateways["a"]

    @property
    def b(self) -> ServiceProcess:
        return self.gateways["b"]

    def a_running(self) -> None:
        """Gateway a again, if a previous test drained it."""
        if self.a.process is None or self.a.process.poll() is not None:
            self.gateways["a"] = _gateway(self.env, self.a.log_path.parent, "a")
            self.a.start()
            self.a.wait_ready()


def _live(fps: int) -> dict[str, Any]:
    return {"id": "live", "env_id": "ALE/Pong-v5", "fps": fps, "idle_pause_s": 60}


def _gateway(env: dict[str, str], logs: Path, name: str) -> ServiceProcess:
    drain = {"GATEWAY_DRAIN_SPREAD": f"{SPREAD:g}", "GATEWAY_DRAIN_TIMEOUT": f"{TIMEOUT:g}"}
    return ServiceProcess("gateway", env | drain | {"GATEWAY_ID": name}, logs, name=f"gateway-drain-{name}")


@pytest.fixture(scope="module")
def cluster(stack, tmp_path_factory) -> Iterator[Cluster]:  # type: ignore[no-untyped-def]
    logs = tmp_path_factory.mktemp("gateway-drain-logs")
    own = tenant(stack, "gwdrain")
    env = own.env | {"NATS_SUBJECT_PREFIX": "pcgwdrain", "NATS_STREAM_PREFIX": "PCGWDRAIN", "HEARTBEAT_INTERVAL": "0.3",
                     "CHUNK_MAX_AGE": "0.3", "RESUME_GRACE": "30", "LOG_LEVEL": "INFO",
                     # a loaded test machine must not make the worker refuse players: what is tested is the drain
                     "WORKER_MAX_LATENESS": "1000", "WORKER_MAX_CPU": "100", "WORKER_ADMIT_BURST": "16"}
    gateways = {name: _gateway(env, logs, name) for name in ("a", "b")}
    others = [ServiceProcess("env-worker", env | {"WORKER_ID": "gwdrain"}, logs, name="worker-gwdrain"),
              ServiceProcess("recorder", env, logs, name="recorder-gwdrain")]
    cluster = Cluster(gateways, Client(gateways["b"].url, own.designer_token), env, own.designer_token)
    try:
        start_all([*gateways.values(), *others])
        yield cluster
    finally:
        stop_all([*cluster.gateways.values(), *others])


async def _closed(url: str, token: str) -> tuple[float, int | None, str | None]:
    """A socket that opens and waits: when it closed (monotonic), with what code and reason."""
    ws = await connect(url, token)
    try:
        await ws.recv()
        raise AssertionError("Expected nothing on a socket that never selected an environment")
    except websockets.ConnectionClosed as err:
        return time.monotonic(), err.rcvd.code if err.rcvd else None, err.rcvd.reason if err.rcvd else None


async def _watch_closed(url: str, session_id: str, designer_token: str) -> tuple[int | None, str | None]:
    """Watch a session until the socket closes: with what code and reason."""
    async with websockets.connect(f"ws://{url.split('://', 1)[1]}/ws/watch/{session_id}",
                                  subprotocols=["playcorder", f"token.{designer_token}"],  # type: ignore[list-item]
                                  max_size=None) as ws:
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed as err:
            return (err.rcvd.code, err.rcvd.reason) if err.rcvd else (None, None)


async def _readyz(url: str) -> int:
    async with httpx.AsyncClient(timeout=1.0) as http:
        return (await http.get(f"{url}/readyz")).status_code


async def _active(client: Client) -> int:
    workers = await asyncio.to_thread(client._call, "GET", "/api/workers")
    return sum(w["active"] for w in workers)


def _exited_at(process: ServiceProcess, seconds: float) -> float:
    """When (monotonic) the process exited, waiting at most `seconds`."""
    assert process.process is not None
    process.process.wait(seconds)
    return time.monotonic()


async def test_a_bot_plays_on_through_another_gateway_when_its_gateway_drains(cluster: Cluster) -> None:
    client = cluster.client
    await asyncio.to_thread(cluster.a_running)
    study_id = client.create_study(study(_live(fps=60), name="gwdrain"))["id"]
    token = client.create_participant(study_id)["token"]
    # Three sockets without a session open first, so that the bot's is asked last (at 3/4 of the spread) and a
    # handshake during the drain meets a gateway still draining.
    idle = [asyncio.create_task(_closed(cluster.a.url, token)) for _ in range(3)]
    await asyncio.sleep(0.3)
    participant = client.create_participant(study_id)
    bot = asyncio.create_task(play([cluster.a.url, cluster.b.url], participant["token"], "live", episodes=1,
                                   max_steps=BOT_STEPS, seed=3))
    while not await _active(client):
        assert not bot.done(), bot
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # mid-episode
    cluster.a.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    sigterm = time.monotonic()
    exited = asyncio.create_task(asyncio.to_thread(_exited_at, cluster.a, TIMEOUT + EXIT_SLACK_S))
    while (code := await _readyz(cluster.a.url)) == 200:
        await asyncio.sleep(0.02)
    unready_s = time.monotonic() - sigterm
    with pytest.raises(websockets.ConnectionClosed) as refused:  # a newcomer is sent elsewhere
        await (await connect(cluster.a.url, token)).recv()
    refused_s = time.monotonic() - sigterm
    closes = await asyncio.gather(*idle)
    summary = await asyncio.wait_for(bot, 90)
    exit_s = await exited - sigterm
    print(f"readyz 503 after {unready_s:.3f} s; a newcomer refused after {refused_s:.3f} s; idle sockets closed at "
          f"{[round(t - sigterm, 2) for t, _, _ in closes]} s; gateway a exited by {exit_s:.2f} s")
    assert code == 503 and unready_s < 0.5
    assert exit_s < TIMEOUT + EXIT_SLACK_S  # (here: once its sockets closed, well within the timeout)
    assert refused.value.rcvd is not None and refused.value.rcvd.code == CLOSE_RESTART
    assert refused.value.rcvd.reason == RESTART_REASON
    assert all(c[1:] == (CLOSE_RESTART, RESTART_REASON) for c in closes), closes
    spread = max(t for t, _, _ in closes) - min(t for t, _, _ in closes)
    assert SPREAD * 0.3 < spread < SPREAD + 1.0, closes  # spread out, not all at once
    # The bot left a for b, and resumed the same session there: one episode, completed, every step stored in order.
    assert (summary.reconnects, summary.resumed, summary.episodes) == (1, 1, 1), summary
    (episode,) = summary.episode_details
    assert (episode["state"], episode["reason"]) == ("completed", "ended_by_participant")
    steps = await asyncio.to_thread(all_steps, client, episode["episode_id"])  # indexed 0..n-1, no gap
    assert len(steps) == episode["num_steps"] == summary.steps >= BOT_STEPS
    assert (await asyncio.to_thread(stored_episode, client, episode["episode_id"]))["state"] == "completed"


async def test_the_web_player_resumes_its_session_quickly_when_its_gateway_drains(cluster: Cluster,
                                                                                   tmp_path: Path) -> None:
    client = cluster.client
    await asyncio.to_thread(cluster.a_running)
    token = client.create_participant(client.create_study(study(_live(fps=30), name="gwdrain"))["id"])["token"]
    async with Balancer([cluster.a.url, cluster.b.url]) as balancer:
        page = Page(balancer.url, token, tmp_path / "node.log")
        try:
            running: dict[str, Any] = await asyncio.to_thread(
                page.until, lambda p: p["state"].startswith("running") and p["session"])
            assert balancer.chosen == [cluster.a.url]
            watcher = asyncio.create_task(_watch_closed(cluster.a.url, running["session"], cluster.designer_token))
            await asyncio.sleep(0.5)  # the watcher has joined
            assert not watcher.done(), watcher
            cluster.a.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            sigterm = time.monotonic()
            back = await asyncio.to_thread(page.until, lambda p: p["status"].startswith("playing")
                                           and len(balancer.chosen) > 1, 15)
            back_s = time.monotonic() - sigterm
        finally:
            page.close()
    print(f"the web player played again {back_s:.2f} s after SIGTERM, through {balancer.chosen[1:]}")
    assert back["session"] == running["session"]  # the same session, resumed
    assert balancer.chosen[1:] == [cluster.b.url]  # one reconnect, to the other gateway
    assert "Server restarting — reconnecting…" in back["messages"]  # shown briefly, not an error
    assert back_s < 3.0  # within the spread and the under-1-s jitter, not a slow backoff
    assert await asyncio.wait_for(watcher, 10) == (CLOSE_RESTART, RESTART_REASON)  # a watcher is sent off alike
    await asyncio.to_thread(_exited_at, cluster.a, TIMEOUT + EXIT_SLACK_S)


async def test_a_load_run_across_a_gateway_drain_loses_no_step(cluster: Cluster) -> None:
    client = cluster.client
    await asyncio.to_thread(cluster.a_running)
    created = client.create_study(study(_live(fps=10), name="gwload"))
    tokens = [client.create_participant(created["id"])["token"] for _ in range(LOAD_PLAYERS)]
    before = await _active(client)  # (the web player's session may still wait for its resume)
    load = asyncio.create_task(run_load([cluster.a.url, cluster.b.url], tokens, "live", 5.0, seed=5, client=client,
                                        study_id=created["id"], join_spread_s=0.5))
    while await _active(client) < before + LOAD_PLAYERS:
        assert not load.done(), load
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # every player running, inside the window
    cluster.a.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    report = (await asyncio.wait_for(load, 90)).to_dict()
    print(f"load across a gateway drain: {report['reconnects']} reconnects, {report['steps_played']} steps played, "
          f"{report['steps_stored']} stored")
    assert (report["joined"], report["refused"], report["failed"]) == (LOAD_PLAYERS, 0, 0), report
    assert report["reconnects"] == LOAD_PLAYERS // 2  # those on gateway a (every other player starts there)
    assert report["steps_lost"] == 0 and report["steps_played"] > 0
    assert report["episodes_stored"] == report["episodes"] == LOAD_PLAYERS  # one each, resumed, not a new one
