"""The env-worker's one settings class."""

from __future__ import annotations

import socket
import uuid

from pydantic import Field

from playcorder.settings import NatsSettings, ServiceSettings


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}".replace(".", "-")


class Settings(ServiceSettings):
    nats: NatsSettings = NatsSettings()
    host: str = Field("127.0.0.1", validation_alias="WORKER_HOST",
                      description="env WORKER_HOST: address of the health endpoints")
    port: int = Field(8010, validation_alias="WORKER_PORT", description="env WORKER_PORT: port of the health endpoints")
    worker_id: str = Field(default_factory=_default_worker_id, description="env WORKER_ID")
    worker_capacity: int = Field(8, ge=1, description="env WORKER_CAPACITY: sessions this process accepts")
    worker_threads: int = Field(4, ge=1, description="env WORKER_THREADS: threads stepping, rendering and encoding")
    heartbeat_interval: float = Field(1.0, gt=0, description="env HEARTBEAT_INTERVAL: seconds between announcements")
    chunk_max_steps: int = Field(64, ge=1, description="env CHUNK_MAX_STEPS: steps per recorded chunk at most")
    chunk_max_age: float = Field(0.5, gt=0, description="env CHUNK_MAX_AGE: seconds a step may wait before publish "
                                                         "(what a worker crash can lose)")
    max_payload: int = Field(1 << 20, description="env MAX_PAYLOAD: NATS max payload; chunks stay below it")
    alive_interval: float = Field(0.25, gt=0, description="env ALIVE_INTERVAL: seconds between the liveness signals "
                                                          "a worker sends each session's gateway")
    client_timeout: float = Field(1.0, gt=0, description="env CLIENT_TIMEOUT: a session that hears nothing from its "
                                                         "gateway this long pauses (reason client_lost)")
    resume_grace: float = Field(30.0, gt=0, description="env RESUME_GRACE: seconds a session whose client went away "
                                                        "waits to be resumed before it ends (reason disconnected)")
