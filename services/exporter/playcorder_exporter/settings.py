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
    export_workdir: Path | None = Field(None, description="env EXPORT_WORKDIR: scratch space (default: system temp)")
