"""Admission by measured load: an overloaded worker turns newcomers away with no_capacity and its own retry time
while the sessions already in keep playing, and takes them again once its load falls."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from playcorder.devstack.ports import free_ports
from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.sdk import Client
from playcorder.sdk.load import run_load
from tests.conftest import tenant
from tests.factories import cartpole_study, pong_study
from tests.wsclient import Player

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(stack, tmp_path_factory) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """One worker whose lateness limit is tiny: any realtime player makes it overloaded, deterministically."""
    logs = tmp_path_factory.mktemp("admission-logs")
    own = tenant(stack, "admission")
    env = own.env | {"NATS_SUBJECT_PREFIX": "pcadmit", "NATS_STREAM_PREFIX": "PCADMIT", "HEARTBEAT_INTERVAL": "0.3",
                     "NO_CAPACITY_RETRY": "7", "WORKER_MAX_LATENESS": "0.000001", "WORKER_LOAD_WINDOW": "1.5"}
    procs = [ServiceProcess("gateway", env, logs, name="gateway-admit"),
             ServiceProcess("env-worker", env | {"WORKER_ID": "busy"}, logs, name="worker-admit"),
             ServiceProcess("recorder", env, logs, name="recorder-admit")]
    try:
        start_all(procs)
        yield procs[0].url, own.designer_token
    finally:
        stop_all(procs)


async def _worker(client: Client) -> dict[str, object]:
    for _ in range(100):
        workers = client._call("GET", "/api/workers")
        if workers:
            return dict(workers[0])
        await asyncio.sleep(0.1)
    raise AssertionError("expected the worker to announce itself")


async def test_an_overloaded_worker_refuses_newcomers_while_players_keep_playing(cluster: tuple[str, str]) -> None:
    url, token = cluster
    client = Client(url, token)
    assert (await _worker(client))["accepting"] is True
    study = client.create_study(pong_study(mode="realtime", fps=30, max_episode_steps=100_000))
    first = await Player.join(url, client.create_participant(study["id"])["token"], "pong")
    await first.until("episode_started")
    await first.send(type="action", action=1)  # realtime: the first input starts the ticks
    await first.until("frame")
    for _ in range(100):  # the window fills with ticks, each later than the tiny limit
        if not (await _worker(client))["accepting"]:
            break
        await first.drain(0.1)
    worker = await _worker(client)
    assert worker["accepting"] is False and worker["free"] == 0, worker

    newcomer_token = client.create_participant(study["id"])["token"]
    newcomer = await Player.join(url, newcomer_token, "pong")
    refused = await newcomer.until("error")
    # the worker's own estimate (a window or more), not the gateway's fixed NO_CAPACITY_RETRY
    assert refused["code"] == "no_capacity" and 1.5 <= refused["retry_after"] <= 6 and refused["retry_after"] != 7
    assert f"retry in {refused['retry_after']:g} s" in refused["message"]

    # the player already in keeps its frames coming meanwhile
    await first.send(type="action", action=0)
    assert await first.drain(1.0) >= 10

    # load falls (the player pauses: no more ticks): the worker accepts again, the newcomer gets in
    await first.send(type="pause")
    for _ in range(100):
        if (await _worker(client))["accepting"]:
            break
        await first.drain(0.1)
    again = await Player.join(url, newcomer_token, "pong")
    assert (await again.until("session"))["worker_id"] == "busy"
    await first.close()
    await again.close()


async def test_playcorder_dev_runs_worker_processes_workers_and_places_across_them(tmp_path: Path) -> None:
    """`make run` with WORKER_PROCESSES=2: two env-worker processes, each its own id and port; sessions spread."""
    root = Path(tempfile.mkdtemp(prefix="playcorder-dev-"))  # not under basetemp: see conftest.stack
    gateway, nats_port, s3_port = free_ports(3)
    script = ("import pathlib, sys; from playcorder.devstack.launcher import run_dev; "
              "run_dev(pathlib.Path(sys.argv[1]), port=int(sys.argv[2]), nats_port=int(sys.argv[3]), "
              "s3_port=int(sys.argv[4]))")
    env = os.environ | {"PLAYCORDER_CONFIG": str(tmp_path / "config.json"), "WORKER_PROCESSES": "2"}
    env.pop("FRONTEND_DIR", None)
    log = open(tmp_path / "dev.log", "w")
    dev = subprocess.Popen([sys.executable, "-c", script, str(root), str(gateway), str(nats_port), str(s3_port)],
                           env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{gateway}"
    try:
        for _ in range(1200):
            if "Press Ctrl-C to stop." in (tmp_path / "dev.log").read_text():
                break
            assert dev.poll() is None, (tmp_path / "dev.log").read_text()
            await asyncio.sleep(0.1)
        assert "env-workers: 2 processes" in (tmp_path / "dev.log").read_text()
        client = Client(url, (root / "designer-token").read_text().strip())
        for _ in range(100):
            workers = client._call("GET", "/api/workers")
            if len(workers) == 2:
                break
            await asyncio.sleep(0.1)
        assert len({w["worker_id"] for w in workers}) == 2, workers
        assert {p.name for p in (root / "logs").glob("env-worker*.log")} == {"env-worker-1.log", "env-worker-2.log"}
        study = client.create_study(cartpole_study())
        players = []
        for _ in range(4):
            player = await Player.join(url, client.create_participant(study["id"])["token"], "cartpole")
            players.append((player, (await player.until("session"))["worker_id"]))
        assert sorted(Counter(w for _, w in players).values()) == [2, 2]
        for player, _ in players:
            await player.close()
        dev.send_signal(signal.SIGINT)
        assert dev.wait(90) == 0
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


async def test_players_in_keep_their_rate_while_twice_as_many_are_turned_away(cluster: tuple[str, str]) -> None:
    """The issue's promise: overload turns newcomers away instead of slowing everyone. Four load-bot players (the
    real protocol, input changing every 100-300 ms) join together; once the worker's measured load refuses, twice
    as many try to join while the four play: all of those get no_capacity, and the four keep >= 95% of 15 fps."""
    url, token = cluster
    client = Client(url, token)
    for _ in range(200):  # the previous test's load has left the window
        if (await _worker(client))["accepting"]:
            break
        await asyncio.sleep(0.1)
    study = client.create_study(pong_study(mode="realtime", fps=15, max_episode_steps=100_000))
    tokens = [client.create_participant(study["id"])["token"] for _ in range(12)]
    inside = asyncio.create_task(run_load(url, tokens[:4], "pong", 6.0, seed=1, client=client,
                                          study_id=study["id"], join_spread_s=0.3))
    for _ in range(200):
        if not (await _worker(client))["accepting"]:
            break
        await asyncio.sleep(0.1)
    newcomers = (await run_load(url, tokens[4:], "pong", 0.5, seed=2, join_spread_s=1.0)).to_dict()
    assert (newcomers["joined"], newcomers["refused"]) == (0, 8), newcomers
    report = (await inside).to_dict()
    assert report["joined"] == 4 and report["refused"] == 0, report
    assert report["fps_share"]["min"] >= 0.95, report["fps_share"]
    assert report["steps_lost"] == 0, report
