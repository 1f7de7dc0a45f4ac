"""Each env-worker keeps its pod's `controller.kubernetes.io/pod-deletion-cost` at its session count, so that a
Kubernetes scale-down removes the emptiest workers first. The API server is outside the product: a small fake one
here records the patches; the worker, its sessions and their players are real.

A stack of its own: gateway, recorder and one worker with POD_DELETION_COST on, pointed at the fake API server."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from pydantic import ValidationError

from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.sdk import Client
from playcorder_env_worker.deletion_cost import ANNOTATION
from playcorder_env_worker.settings import Settings as WorkerSettings
from tests.conftest import tenant
from tests.factories import cartpole_study
from tests.wsclient import Player

pytestmark = pytest.mark.e2e
TOKEN = "service-account-token-1"


class FakeApiServer:
    """Answers PATCH /api/v1/namespaces/{ns}/pods/{pod} like the API server (200), or 503 while `down`."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, str, str, dict[str, Any]]] = []  # (path, authorization, content type, body)
        self.down = False
        app = FastAPI()

        @app.patch("/api/v1/namespaces/{namespace}/pods/{pod}")
        async def patch(namespace: str, pod: str, request: Request) -> Response:
            if self.down:
                return Response(status_code=503)
            self.patches.append((request.url.path, request.headers.get("authorization", ""),
                                 request.headers.get("content-type", ""), await request.json()))
            return Response('{"kind": "Pod"}', media_type="application/json")

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def costs(self) -> list[int]:
        return [int(body["metadata"]["annotations"][ANNOTATION]) for *_, body in self.patches]

    def __enter__(self) -> FakeApiServer:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@pytest.fixture(scope="module")
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


@pytest.fixture(scope="module")
def cluster(stack, api: FakeApiServer, tmp_path_factory) -> Iterator[tuple[str, Client]]:  # type: ignore[no-untyped-def]
    logs = tmp_path_factory.mktemp("cost-logs")
    token = logs / "token"
    token.write_text(TOKEN + "\n")
    own = tenant(stack, "deletioncost")
    env = own.env | {"NATS_SUBJECT_PREFIX": "pccost", "NATS_STREAM_PREFIX": "PCCOST", "HEARTBEAT_INTERVAL": "0.3",
                     "WORKER_MAX_LATENESS": "1000", "WORKER_MAX_CPU": "100",
                     "LOG_LEVEL": "INFO"}
    worker_env = env | {"WORKER_ID": "cost", "POD_DELETION_COST": "true", "POD_NAME": "pc-env-worker-7f9c",
                        "POD_NAMESPACE": "play", "KUBE_API_URL": api.url, "KUBE_TOKEN_PATH": str(token),
                        "KUBE_CA_PATH": "", "DELETION_COST_INTERVAL": "0.3", "DRAIN_TIMEOUT": "0"}
    procs = [ServiceProcess("env-worker", worker_env, logs, name="worker-cost"),
             ServiceProcess("gateway", env, logs, name="gateway-cost"),
             ServiceProcess("recorder", env, logs, name="recorder-cost")]
    try:
        start_all(procs)
        yield procs[1].url, Client(procs[1].url, own.designer_token)
    finally:
        stop_all(procs)


async def _settles_at(api: FakeApiServer, cost: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.costs() and api.costs()[-1] == cost:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"Expected the pod's deletion cost to settle at {cost}, got the patches {api.costs()}")


async def _players(url: str, client: Client, study_id: str, n: int) -> list[Player]:
    players = []
    for _ in range(n):
        player = await Player.join(url, client.create_participant(study_id)["token"], "cartpole")
        await player.until("episode_started")
        players.append(player)
    return players


async def test_the_pods_deletion_cost_follows_its_sessions(cluster: tuple[str, Client], api: FakeApiServer) -> None:
    url, client = cluster
    await _settles_at(api, 0)  # an empty worker: the cheapest to remove
    path, authorization, content_type, _ = api.patches[-1]
    assert path == "/api/v1/namespaces/play/pods/pc-env-worker-7f9c"
    assert authorization == f"Bearer {TOKEN}" and content_type == "application/merge-patch+json"

    study = client.create_study(cartpole_study(max_episode_steps=10_000))
    players = await _players(url, client, study["id"], 3)
    await _settles_at(api, 3)
    sent = len(api.patches)
    await asyncio.sleep(1.5)  # nothing changed: nothing sent
    assert len(api.patches) == sent, api.costs()

    for player in players[:2]:
        await player.close()
    await _settles_at(api, 1, timeout=45)  # a dropped client's session ends after its resume grace or at close
    await players[2].close()
    await _settles_at(api, 0, timeout=45)


async def test_an_api_server_down_does_not_hurt_play_and_the_cost_catches_up(
        cluster: tuple[str, Client], api: FakeApiServer) -> None:
    url, client = cluster
    api.down = True
    try:
        study = client.create_study(cartpole_study(max_episode_steps=10_000))
        (player,) = await _players(url, client, study["id"], 1)
        for action in [0, 1, 0, 1, 0, 1]:  # play goes on while every patch fails
            await player.send(type="action", action=action)
            await player.until("frame", timeout=10)
    finally:
        api.down = False
    await _settles_at(api, 1, timeout=30)  # retried with backoff once the API server is back
    await player.close()


def test_deletion_cost_needs_the_pods_name_and_namespace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POD_DELETION_COST", "true")
    monkeypatch.delenv("POD_NAME", raising=False)
    with pytest.raises(ValidationError, match="Expected POD_NAME and POD_NAMESPACE"):
        WorkerSettings()
