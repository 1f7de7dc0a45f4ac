"""pod-deletion-cost: a real worker with real sessions keeps its pod's annotation at its session count, patching a
fake Kubernetes API server (outside the product) that records each PATCH; the API being down never hurts play."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from playcorder.devstack.ports import free_port
from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.sdk import Client
from playcorder_env_worker.deletion_cost import ANNOTATION
from tests.conftest import tenant
from tests.factories import cartpole_study
from tests.wsclient import Player

pytestmark = pytest.mark.e2e
TOKEN = "fake-service-account-token"
DEADLINE_S = 30.0


@dataclass
class FakeApi:
    port: int
    patches: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False

    @property
    def cost(self) -> str | None:
        return self.patches[-1]["body"]["metadata"]["annotations"][ANNOTATION] if self.patches else None


def fake_api(api: FakeApi) -> FastAPI:
    app = FastAPI()

    @app.patch("/api/v1/namespaces/{namespace}/pods/{name}")
    async def patch(namespace: str, name: str, request: Request) -> Response:
        if api.down:
            return Response(status_code=503)
        api.patches.append({"path": (namespace, name), "auth": request.headers.get("authorization"),
                            "type": request.headers.get("content-type"), "body": json.loads(await request.body())})
        return Response("{}", media_type="application/json")

    return app


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    api = FakeApi(free_port())
    server = uvicorn.Server(uvicorn.Config(fake_api(api), port=api.port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    yield api
    server.should_exit = True
    await task


@pytest.fixture
def cluster(stack, tmp_path: Path, api: FakeApi) -> Iterator[tuple[str, Client]]:  # type: ignore[no-untyped-def]
    own = tenant(stack, f"podcost{free_port()}")
    (tmp_path / "token").write_text(TOKEN + "\n")
    env = own.env | {"NATS_SUBJECT_PREFIX": "pcpodcost", "NATS_STREAM_PREFIX": "PCPODCOST", "WORKER_CAPACITY": "4",
                     "HEARTBEAT_INTERVAL": "0.3", "WORKER_MAX_LATENESS": "1000"}
    worker_env = env | {"POD_DELETION_COST": "true", "POD_NAME": "worker-0", "POD_NAMESPACE": "play",
                        "KUBERNETES_API_URL": f"http://127.0.0.1:{api.port}",
                        "KUBERNETES_TOKEN_FILE": str(tmp_path / "token"), "KUBERNETES_CA_FILE": str(tmp_path / "none"),
                        "POD_DELETION_COST_INTERVAL": "0.3"}
    procs = [ServiceProcess("gateway", env, tmp_path, name="gateway-podcost"),
             ServiceProcess("env-worker", worker_env, tmp_path, name="worker-podcost"),
             ServiceProcess("recorder", env, tmp_path, name="recorder-podcost")]
    try:
        start_all(procs)
        yield procs[0].url, Client(procs[0].url, own.designer_token)
    finally:
        stop_all(procs)


async def until_cost(api: FakeApi, value: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while api.cost != str(value):
        assert time.monotonic() < deadline, f"Expected the annotation at {value}, got {api.cost} ({api.patches})"
        await asyncio.sleep(0.05)


async def test_the_annotation_follows_the_session_count(cluster: tuple[str, Client], api: FakeApi) -> None:
    url, client = cluster
    await until_cost(api, 0)
    study_id = client.create_study(cartpole_study())["id"]
    players = []
    for expected in (1, 2, 3):
        player = await Player.join(url, client.create_participant(study_id)["token"], "cartpole")
        await player.until("episode_started")
        players.append(player)
        await until_cost(api, expected)
    for expected in (2, 1):
        closing = players.pop()
        await closing.send(type="close")
        await closing.close()
        await until_cost(api, expected)
    first = api.patches[0]
    assert first["path"] == ("play", "worker-0") and first["auth"] == f"Bearer {TOKEN}"
    assert first["type"] == "application/merge-patch+json"
    values = [p["body"]["metadata"]["annotations"][ANNOTATION] for p in api.patches]
    assert all(a != b for a, b in zip(values, values[1:], strict=False)), values  # only changes are sent

    # The API down: play goes on; the annotation catches up once it is back.
    api.down = True
    player = await Player.join(url, client.create_participant(study_id)["token"], "cartpole")
    await player.until("episode_started")
    for action in (0, 1, 0):
        await player.send(type="action", action=action)
    while (await player.until("frame", timeout=10)).step < 3:
        pass
    assert api.cost == "1"
    api.down = False
    await until_cost(api, 2)
    for p in (*players, player):
        await p.close()
