"""Placement across two gateways and two workers: even spread, the no-capacity answer, any gateway relays."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest
import websockets

from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.sdk import Client
from tests.conftest import tenant
from tests.factories import cartpole_study
from tests.wsclient import Player

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(stack, tmp_path_factory) -> Iterator[tuple[list[str], str]]:  # type: ignore[no-untyped-def]
    """Two gateways and two workers (capacity 2 each) on their own subjects, beside the suite's services."""
    logs = tmp_path_factory.mktemp("cluster-logs")
    own = tenant(stack, "placement")
    env = own.env | {"NATS_SUBJECT_PREFIX": "pcplace", "NATS_STREAM_PREFIX": "PCPLACE", "WORKER_CAPACITY": "2",
                         "HEARTBEAT_INTERVAL": "0.3", "NO_CAPACITY_RETRY": "7"}
    procs = [
        ServiceProcess("gateway", env | {"GATEWAY_ID": "g1"}, logs, name="gateway-1"),
        ServiceProcess("gateway", env | {"GATEWAY_ID": "g2"}, logs, name="gateway-2"),
        ServiceProcess("env-worker", env | {"WORKER_ID": "w1"}, logs, name="worker-1"),
        ServiceProcess("env-worker", env | {"WORKER_ID": "w2"}, logs, name="worker-2"),
        ServiceProcess("recorder", env, logs, name="recorder-place"),
    ]
    try:
        start_all(procs)
        yield [procs[0].url, procs[1].url], own.designer_token
    finally:
        stop_all(procs)


async def _wait_for_workers(client: Client, count: int) -> None:
    for _ in range(100):
        if len(client._call("GET", "/api/workers")) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {count} workers to announce themselves")


async def test_sessions_spread_evenly_and_overflow_is_refused(cluster: tuple[list[str], str]) -> None:
    urls, designer_token = cluster
    gateways = [Client(url, designer_token) for url in urls]
    for g in gateways:
        await _wait_for_workers(g, 2)
    created = gateways[0].create_study(cartpole_study())
    players = []
    for i in range(4):
        token = gateways[0].create_participant(created["id"])["token"]
        player = await Player.join(urls[i % 2], token, "cartpole")
        session = await player.until("session")
        await player.until("episode_started")
        players.append((player, session["worker_id"]))
    assert Counter(worker for _, worker in players) == {"w1": 2, "w2": 2}

    token = gateways[1].create_participant(created["id"])["token"]
    extra = await Player.join(urls[1], token, "cartpole")
    refused = await extra.until("error")
    assert refused["code"] == "no_capacity" and refused["retry_after"] == 7 and "retry in 7 s" in refused["message"]
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await extra.ws.recv()
    assert closed.value.rcvd.code == 1013

    # Every session plays, whichever gateway holds its socket and whichever worker runs it.
    for player, _ in players:
        await player.send(type="action", action=1)
        await player.send(type="action", action=0)
        while (await player.until("frame", timeout=10)).step < 2:
            pass

    # A freed slot is offered again.
    await players[0][0].send(type="close")
    await players[0][0].close()
    await asyncio.sleep(1.0)
    again = await Player.join(urls[1], token, "cartpole")
    assert (await again.until("session"))["worker_id"] == players[0][1]
    for player, _ in players[1:]:
        await player.close()
    await again.close()
