"""The exporter's one settings class."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from playcorder.settings import DatabaseSettings, NatsSettings, S3Settings, ServiceSettings


class Settings(ServiceSettings):
    nats: NatsSettings = NatsSettings()
    database: DatabaseSettings
    s3: S3Settings
    host: str = Field("127.0.0.1", validation_alias="EXPORTER_HOST", description="env EXPORTER_HOST")
    port: int = Field(8030, validation_alias="EXPORTER_PORT", description="env EXPORTER_PORT")
    export_concurrency: int = Field(2, ge=1, description="env EXPORT_CONCURRENCY: jobs built at once")
    exporter_processes: int = Field(1, ge=1, description="env EXPORTER_PROCESSES: processes taking export jobs and "
                                    "shard tasks (the first also serves HTTP); 2 on a 2-core machine doubles a "
                                    "sharded export's speed")
    export_shard_steps: int = Field(20_000, ge=1, description="env EXPORT_SHARD_STEPS: steps per shard task of an "
                                    "RLDS export (one task below that)")
    export_ack_wait_s: float = Field(60, gt=0, description="env EXPORT_ACK_WAIT_S: a job or shard whose process "
                                     "stops reporting for this long is given to another")
    export_workdir: Path | None = Field(None, description="env EXPORT_WORKDIR: scratch space (default: system temp)")
