"""Session fixtures: real NATS, PostgreSQL and S3 on free ports, the schema, a designer, the four services."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from playcorder.admin import create_designer_token
from playcorder.db.migrate import upgrade
from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.devstack.stack import DevStack
from playcorder.sdk import Client

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with DevStack(tmp_path_factory.mktemp("stack")) as s:
        upgrade(s.database_url)
        yield s


@pytest.fixture(scope="session")
def designer_token(stack: DevStack) -> str:
    return asyncio.run(create_designer_token(stack.database_url, "test-designer"))


@dataclass
class Services:
    gateway: ServiceProcess
    worker: ServiceProcess
    recorder: ServiceProcess
    exporter: ServiceProcess
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.gateway.url

    @property
    def all(self) -> list[ServiceProcess]:
        return [self.gateway, self.worker, self.recorder, self.exporter]


@pytest.fixture(scope="session")
def services(stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    logs = tmp_path_factory.mktemp("logs")
    env = stack.env() | {"LOG_LEVEL": "INFO", "WORKER_CAPACITY": "4", "HEARTBEAT_INTERVAL": "0.5"}
    s = Services(
        gateway=ServiceProcess("gateway", env, logs), worker=ServiceProcess("env-worker", env, logs),
        recorder=ServiceProcess("recorder", env, logs), exporter=ServiceProcess("exporter", env, logs), env=env,
    )
    try:
        start_all(s.all)
        yield s
    finally:
        stop_all(s.all)


@pytest.fixture(scope="session")
def client(services: Services, designer_token: str) -> Client:
    return Client(services.url, designer_token)


@pytest.fixture
def cli_env(services: Services, designer_token: str, tmp_path: Path) -> dict[str, str]:
    """Environment for running the `playcorder` CLI against the test stack, as a user would."""
    return {**os.environ, "PLAYCORDER_URL": services.url, "PLAYCORDER_TOKEN": designer_token,
            "PLAYCORDER_CONFIG": str(tmp_path / "config.json")}
