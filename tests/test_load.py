"""Load bots through the real stack: 32 players at once, every step they played stored; `playcorder load` prints
the numbers. Not timed: the frame-rate share and latency are reported, not asserted (the machine is shared)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.sdk import Client
from playcorder.sdk.load import run_load
from tests.conftest import tenant
from tests.factories import pong_study

pytestmark = pytest.mark.e2e

PLAYERS = 32


@pytest.fixture(scope="module")
def roomy(stack, tmp_path_factory) -> Iterator[tuple[Client, str]]:  # type: ignore[no-untyped-def]
    """A gateway, a worker with room for the 32 players (the suite's has 4) and a recorder, on their own subjects
    and database."""
    logs = tmp_path_factory.mktemp("load-logs")
    own = tenant(stack, "load")
    env = own.env | {"NATS_SUBJECT_PREFIX": "pcload", "NATS_STREAM_PREFIX": "PCLOAD", "WORKER_CAPACITY": "40",
                     "HEARTBEAT_INTERVAL": "0.5", "SIGNIN_MAX_ADDRESS_FAILURES": "1000000",
                     # what is checked is that nothing is lost, not admission (test_admission.py) or how fast
                     # the shared machine opens 32 Pong environments: no player is turned away or given up on
                     "WORKER_MAX_LATENESS": "1000", "WORKER_MAX_CPU": "100", "WORKER_ADMIT_BURST": "64",
                     "WORKER_SILENCE": "10"}
    procs = [ServiceProcess("gateway", env, logs, name="gateway-load"),
             ServiceProcess("env-worker", env, logs, name="worker-load"),
             ServiceProcess("recorder", env, logs, name="recorder-load")]
    try:
        start_all(procs)
        yield Client(procs[0].url, own.designer_token), own.designer_token
    finally:
        stop_all(procs)


def _tokens(client: Client, study_id: str, n: int) -> list[str]:
    return [client.create_participant(study_id, external_id=f"load-{i}")["token"] for i in range(n)]


def test_32_players_every_step_stored(roomy: tuple[Client, str]) -> None:
    client = roomy[0]
    # Realtime at a low rate: what is checked is that nothing is lost, not how fast the shared machine steps.
    created = client.create_study(pong_study(max_episode_steps=None, mode="realtime", fps=5))
    report = asyncio.run(run_load(client.url, _tokens(client, created["id"], PLAYERS), "pong", 4.0, seed=7,
                                  client=client, study_id=created["id"], join_spread_s=4.0))
    d = report.to_dict()
    assert (d["joined"], d["refused"], d["failed"]) == (PLAYERS, 0, 0), (d["failures"], d["errors"])
    assert d["mode"] == "realtime" and d["fps"] == 5
    # Every player played (a frame of a step while running), then ended its episode, kept.
    assert all(s.frames_running > 0 for s in report.stats), [s.frames_running for s in report.stats]
    assert all(e["state"] == "completed" for s in report.stats for e in s.episodes)
    assert d["episodes"] >= PLAYERS and d["episodes_stored"] == d["episodes"]
    # Played: each episode's actions stepped plus its final observation; more than the 32 final observations.
    assert d["steps_played"] > 2 * PLAYERS
    assert d["steps_stored"] == d["steps_played"] and d["steps_lost"] == 0, d
    # The stored count is the recorder's: one episode's steps, read back, are as many as listed.
    one = report.stats[0].episodes[0]
    steps = client.get_steps(one["episode_id"], stop=one["num_steps"] + 10)["steps"]
    assert [s["index"] for s in steps] == list(range(one["num_steps"])) and steps[-1]["is_last"]
    assert d["latency_ms"]["n"] > 0 and d["bytes_per_min_per_player"] > 0


def _cli(roomy: tuple[Client, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLAYCORDER_URL": roomy[0].url, "PLAYCORDER_TOKEN": roomy[1],
           "PLAYCORDER_CONFIG": str(tmp_path / "config.json")}
    return subprocess.run([sys.executable, "-m", "playcorder.cli", "load", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_cli_prints_the_numbers(roomy: tuple[Client, str], tmp_path: Path) -> None:
    created = roomy[0].create_study(pong_study(max_episode_steps=None, fps=10))  # turn-based
    out = _cli(roomy, tmp_path, "--study", created["id"], "--players", "2", "--duration", "2")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "2 (2 joined, 0 refused for no capacity, 0 failed)" in text and "pong (turn_based, 10 fps)" in text
    assert "0 lost" in text and "latency" in text and "frame rate share" in text, text

    data: dict[str, Any] = json.loads(_cli(roomy, tmp_path, "--study", created["id"], "--players", "1",
                                           "--duration", "1", "--json").stdout)
    assert data["joined"] == 1 and data["steps_lost"] == 0 and data["steps_played"] == data["steps_stored"] > 1
    assert data["latency_ms"]["n"] > 0 and data["env"] == "pong"

    # what `helm test` runs: exit 0 only when every step played is stored; here over two gateway URLs (the same one)
    url = roomy[0].url
    checked = _cli(roomy, tmp_path, "--study", created["id"], "--players", "2", "--duration", "1", "--require-stored",
                   "--gateway", url, "--gateway", url + "/")
    assert checked.returncode == 0, checked.stderr
    assert "0 lost" in checked.stdout
    bad_url = _cli(roomy, tmp_path, "--study", created["id"], "--players", "1", "--duration", "1",
                   "--gateway", "ftp://gw")
    assert bad_url.returncode == 1 and bad_url.stderr.strip() == (
        "error: Expected --gateway to be an http:// or https:// URL of at most 2000 characters, got 'ftp://gw'")

    bad = _cli(roomy, tmp_path, "--study", created["id"], "--players", "1", "--duration", "1", "--env", "nope")
    assert bad.returncode == 1 and bad.stderr.strip() == (
        "error: Expected --env to be one of the study's enabled environments ['pong'], got 'nope'")
    missing = _cli(roomy, tmp_path, "--study", "f" * 32, "--players", "1", "--duration", "1")
    assert missing.returncode == 1 and "f" * 32 in missing.stderr and "404" in missing.stderr
