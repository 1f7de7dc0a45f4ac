"""The recorder's one settings class."""

from __future__ import annotations

from pydantic import Field

from playcorder.settings import DatabaseSettings, NatsSettings, S3Settings, ServiceSettings


class Settings(ServiceSettings):
    nats: NatsSettings = NatsSettings()
    database: DatabaseSettings
    s3: S3Settings
    host: str = Field("127.0.0.1", validation_alias="RECORDER_HOST", description="env RECORDER_HOST")
    port: int = Field(8020, validation_alias="RECORDER_PORT", description="env RECORDER_PORT")
    recorder_durable: str = Field("recorder", description="env RECORDER_DURABLE: JetStream durable consumer name")
    recorder_batch: int = Field(32, ge=1, description="env RECORDER_BATCH: messages fetched at once")
    worker_ttl: float = Field(5.0, gt=0, description="env WORKER_TTL: a worker silent this long is gone, and the "
                                                     "episodes it was recording end as interrupted")
    backlog_interval: float = Field(5.0, gt=0, description="env BACKLOG_INTERVAL: seconds between reads of the record "
                                    "backlog (JetStream consumer pending) for /metrics")
    reap_interval: float = Field(1.0, gt=0, description="env REAP_INTERVAL: seconds between looks for lost workers")
