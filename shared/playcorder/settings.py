"""Settings pieces shared by the services; each service composes them into its one Settings class."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class NatsSettings(BaseModel):
    url: str = Field("nats://127.0.0.1:4222", description="NATS server URL (env NATS_URL)")
    stream_prefix: str = Field("PC", description="prefix of JetStream stream names, so several stacks can share "
                                                 "a server")
    subject_prefix: str = Field("pc", description="prefix of every subject, so several stacks can share a server")
    record_max_bytes: int = Field(
        10 << 30, ge=64 << 20, le=1 << 50,
        description="env NATS_RECORD_MAX_BYTES: the most the record stream (the recorder's backlog) may hold; at the "
                    "limit workers keep their steps and retry. Give every service the same value (each one brings "
                    "the stream to its own), and each NATS server's JetStream file store room for it")

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not v.startswith(("nats://", "tls://", "ws://", "wss://")):
            shown = v.rsplit("@", 1)[-1]  # never echo the credentials a URL may carry
            raise ValueError(f"Expected NATS_URL to start with nats:// (or tls://, ws://), got {shown!r}")
        return v


class DatabaseSettings(BaseModel):
    url: str = Field(..., description="SQLAlchemy URL, postgresql+asyncpg://... (env DATABASE_URL)")

    @field_validator("url")
    @classmethod
    def _driver(cls, v: str) -> str:
        if v.startswith("postgresql://") or v.startswith("postgres://"):
            v = "postgresql+asyncpg://" + v.split("://", 1)[1]
        if not v.startswith("postgresql+asyncpg://"):
            raise ValueError(f"Expected DATABASE_URL to be a postgresql:// or postgresql+asyncpg:// URL, got {v!r}")
        return v


class S3Settings(BaseModel):
    endpoint: str = Field("127.0.0.1:9000", description="host:port of the S3 server (env S3_ENDPOINT)")
    access_key: str = Field(..., description="env S3_ACCESS_KEY")
    secret_key: str = Field(..., description="env S3_SECRET_KEY")
    secure: bool = Field(False, description="use https (env S3_SECURE)")
    region: str = Field("us-east-1", description="region used to sign requests (env S3_REGION)")
    bucket: str = Field("playcorder", description="bucket holding recordings and exports (env S3_BUCKET)")
    public_endpoint: str | None = Field(
        None, description="host:port put into presigned links when clients reach S3 by another name "
                          "(env S3_PUBLIC_ENDPOINT)"
    )

    @field_validator("endpoint", "public_endpoint")
    @classmethod
    def _hostport(cls, v: str | None) -> str | None:
        if v is not None and "://" in v:
            raise ValueError(f"Expected S3 endpoint as host:port without a scheme (use S3_SECURE), got {v!r}")
        return v


class ServiceSettings(BaseSettings):
    """Base of each service's Settings: nested pieces read flat names (NATS_URL, S3_ACCESS_KEY, DATABASE_URL)."""

    model_config = SettingsConfigDict(
        env_nested_delimiter="_", env_nested_max_split=1, extra="ignore", case_sensitive=False
    )

    log_level: str = Field("INFO", description="env LOG_LEVEL")
    metrics_token: SecretStr | None = Field(
        None, description="env METRICS_TOKEN: when set, /metrics asks for `Authorization: Bearer <token>`; unset, "
                          "the internal services serve it openly, the internet-facing gateway not at all")
