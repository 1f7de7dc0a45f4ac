"""The gateway's one settings class."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from playcorder.settings import DatabaseSettings, NatsSettings, S3Settings, ServiceSettings


class Settings(ServiceSettings):
    nats: NatsSettings = NatsSettings()
    database: DatabaseSettings
    s3: S3Settings
    host: str = Field("127.0.0.1", validation_alias="GATEWAY_HOST", description="env GATEWAY_HOST")
    port: int = Field(8000, validation_alias="GATEWAY_PORT", description="env GATEWAY_PORT")
    gateway_id: str = Field("gateway", description="env GATEWAY_ID: name in logs and session records")
    placement_timeout: float = Field(5.0, gt=0, description="env PLACEMENT_TIMEOUT: seconds a worker has to accept")
    worker_ttl: float = Field(5.0, gt=0, description="env WORKER_TTL: a worker silent this long is considered gone")
    no_capacity_retry: float = Field(5.0, gt=0,
                                     description="env NO_CAPACITY_RETRY: seconds clients wait before retrying")
    frame_queue: int = Field(4, ge=1, description="env FRAME_QUEUE: display frames buffered per client before dropping")
    ws_notsent_lowat: int = Field(
        65536, ge=4096, description="env WS_NOTSENT_LOWAT: bytes a client connection may hold unsent in the kernel; "
                                    "beyond it the gateway drops display frames rather than let them queue up as lag")
    export_link_expiry: int = Field(3600, ge=1, le=7 * 24 * 3600, description="env EXPORT_LINK_EXPIRY: default seconds")
    frontend_dir: Path | None = Field(None, description="env FRONTEND_DIR: static web UI served at /")
    keepalive_interval: float = Field(0.25, gt=0, description="env KEEPALIVE_INTERVAL: seconds between the keepalives "
                                                              "a gateway sends each session's worker")
    worker_silence: float = Field(1.5, gt=0, description="env WORKER_SILENCE: a session's worker not heard this long "
                                                         "is lost (the client gets worker_lost)")
    reconnect_retry: float = Field(1.0, gt=0, description="env RECONNECT_RETRY: retry_after of connection_lost "
                                                          "(the gateway lost NATS)")
