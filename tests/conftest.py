"""Session fixtures: real NATS, PostgreSQL and S3 on free ports, the schema, a designer, the four services."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
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
def stack() -> Iterator[DevStack]:
    # Not under pytest's basetemp: another pytest run starting meanwhile resets that tree to mode 0700, and the
    # embedded PostgreSQL (its own OS user) could then no longer reach its data to stop.
    root = Path(tempfile.mkdtemp(prefix="playcorder-test-"))
    try:
        with DevStack(root) as s:
            upgrade(s.database_url)
            yield s
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def designer_token(stack: DevStack) -> str:
    return asyncio.run(create_designer_token(stack.database_url, "test-designer"))


@dataclass
class Tenant:
    """A database of its own, migrated, with a designer: for a second stack that must not see the suite's data
    (one database per stack: a recorder ends the episodes its NATS knows no live worker for)."""

    env: dict[str, str]
    designer_token: str


def tenant(stack: DevStack, name: str) -> Tenant:
    assert stack.postgres is not None
    stack.postgres.create_database(name)
    url = stack.postgres.url(name)
    upgrade(url)
    return Tenant(env=stack.env() | {"DATABASE_URL": url},
                  designer_token=asyncio.run(create_designer_token(url, f"{name}-designer")))


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
    # Every test signs in (and enrolls in campaigns) from 127.0.0.1 (schemathesis too, with made-up names): no
    # per-address limit here
    # (tests/test_signin.py tries it on a gateway of its own).
    # A busy test machine makes ticks late and CPU shares high: the suite's worker must not turn other tests away
    # for it (admission by load is tests/test_admission.py's, on a stack of its own).
    env = stack.env() | {"LOG_LEVEL": "INFO", "WORKER_CAPACITY": "4", "HEARTBEAT_INTERVAL": "0.5",
                         "SIGNIN_MAX_ADDRESS_FAILURES": "1000000", "WORKER_MAX_LATENESS": "1000",
                         "WORKER_MAX_CPU": "100", "ENROLL_BURST": "1000000"}
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
