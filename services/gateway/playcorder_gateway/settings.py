"""The gateway's one settings class."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from playcorder.settings import DatabaseSettings, NatsSettings, S3Settings, ServiceSettings


class Settings(ServiceSettings):
    nats: NatsSettings = NatsSettings()
    database: DatabaseSettings
    s3: S3Settings
    host: str = Field("127.0.0.1", validation_alias="GATEWAY_HOST", description="env GATEWAY_HOST")
    port: int = Field(8000, validation_alias="GATEWAY_PORT", description="env GATEWAY_PORT")
    gateway_id: str = Field("gateway", description="env GATEWAY_ID: name in logs and session records")
    trial_timeout: float = Field(30.0, gt=0, le=600, description="env TRIAL_TIMEOUT: seconds a worker has to try one "
                                 "environment of a study being created or edited (build, reset, step, render)")
    placement_timeout: float = Field(5.0, gt=0, description="env PLACEMENT_TIMEOUT: seconds a worker has to accept")
    worker_ttl: float = Field(5.0, gt=0, description="env WORKER_TTL: a worker silent this long is considered gone")
    no_capacity_retry: float = Field(5.0, gt=0,
                                     description="env NO_CAPACITY_RETRY: seconds clients wait before retrying")
    frame_queue: int = Field(4, ge=1, description="env FRAME_QUEUE: display frames buffered per client before dropping")
    ws_notsent_lowat: int = Field(
        65536, ge=4096, description="env WS_NOTSENT_LOWAT: bytes a client connection may hold unsent in the kernel; "
                                    "beyond it the gateway drops display frames rather than let them queue up as lag")
    ws_max_message: int = Field(
        65536, ge=1024, description="env WS_MAX_MESSAGE: bytes of one client text message; a larger one is answered "
                                    "with an error event (code message_too_large), the socket stays open")
    ws_max_size: int = Field(
        1 << 20, ge=1024, description="env WS_MAX_SIZE: bytes of one WebSocket message the server reads at all (the "
                                      "transport limit); beyond it the connection closes with 1009")
    ws_max_rate: float = Field(
        1000.0, gt=0, description="env WS_MAX_RATE: client messages a second one connection may send on average; "
                                  "beyond it (and WS_BURST) messages are dropped, with an error event (code "
                                  "rate_limited) at most once every WS_BURST / WS_MAX_RATE seconds")
    ws_burst: int = Field(2000, ge=1, description="env WS_BURST: client messages one connection may send at once "
                                                  "before WS_MAX_RATE applies")
    ws_max_byte_rate: float = Field(
        1 << 20, gt=0, description="env WS_MAX_BYTE_RATE: bytes a second of client text messages (those within "
                                   "WS_MAX_MESSAGE) one connection may send on average; beyond it (and WS_BYTE_BURST) "
                                   "messages are dropped like beyond WS_MAX_RATE")
    ws_byte_burst: int = Field(4 << 20, ge=1024, description="env WS_BYTE_BURST: bytes of client messages one "
                                                             "connection may send at once")
    participant_token_ttl: int = Field(30 * 24 * 3600, ge=60, description="env PARTICIPANT_TOKEN_TTL: seconds a "
                                       "participant token stays valid; a request may ask a shorter expiry")
    session_ttl: int = Field(12 * 3600, ge=60, le=30 * 24 * 3600, description="env SESSION_TTL: seconds a browser "
                             "sign-in (POST /api/session) lasts")
    signin_max_failures: int = Field(10, ge=1, description="env SIGNIN_MAX_FAILURES: failed sign-ins per name within "
                                     "SIGNIN_WINDOW (all gateways together) before sign-ins of that name get 429")
    signin_window: int = Field(15 * 60, ge=1, description="env SIGNIN_WINDOW: seconds over which failed sign-ins count")
    signin_concurrency: int = Field(16, ge=1, description="env SIGNIN_CONCURRENCY: sign-ins one gateway has in "
                                    "progress at once (each waits for one of the password hashing slots); beyond "
                                    "it a sign-in gets 429 at once")
    signin_max_address_failures: int = Field(50, ge=1, description="env SIGNIN_MAX_ADDRESS_FAILURES: failed sign-ins "
                                             "from one client address (any names) within SIGNIN_WINDOW, counted by "
                                             "each gateway, before its sign-ins get 429")
    export_link_expiry: int = Field(3600, ge=1, le=7 * 24 * 3600, description="env EXPORT_LINK_EXPIRY: default seconds")
    frontend_dir: Path | None = Field(None, description="env FRONTEND_DIR: static web UI served at /")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="env MAX_BODY_BYTES: largest request body accepted "
                                                              "(413 beyond)")
    db_retry_after: float = Field(5.0, gt=0, description="env DB_RETRY_AFTER: Retry-After (s) of a 503 while the "
                                                         "database is unreachable")
    s3_retry_after: float = Field(5.0, gt=0, description="env S3_RETRY_AFTER: Retry-After (s) of a 503 while S3 "
                                                         "is unreachable")
    keepalive_interval: float = Field(0.25, gt=0, description="env KEEPALIVE_INTERVAL: seconds between the keepalives "
                                                              "a gateway sends each session's worker")
    worker_silence: float = Field(1.5, gt=0, description="env WORKER_SILENCE: a session's worker not heard this long "
                                                         "is lost (the client gets worker_lost)")
    open_silence: float = Field(10.0, gt=0, description="env OPEN_SILENCE: how long a session's worker may be silent "
                                                        "before its `session` event: building some environments "
                                                        "(robosuite's GL context) holds Python's GIL for seconds")
    reconnect_retry: float = Field(1.0, gt=0, description="env RECONNECT_RETRY: retry_after of connection_lost "
                                                          "(the gateway lost NATS)")
    drain_spread: float = Field(
        2.0, ge=0, le=60, validation_alias="GATEWAY_DRAIN_SPREAD",
        description="env GATEWAY_DRAIN_SPREAD: seconds over which a gateway told to stop (SIGTERM) closes its "
                    "WebSockets one after the other with 1012 (service restart), for the clients to reconnect to "
                    "another gateway and resume, not all in the same instant")
    drain_timeout: float = Field(
        10.0, gt=0, le=300, validation_alias="GATEWAY_DRAIN_TIMEOUT",
        description="env GATEWAY_DRAIN_TIMEOUT: seconds a gateway told to stop (SIGTERM) waits at most for its "
                    "WebSockets to close before it shuts down (a second SIGTERM closes them at once); above "
                    "GATEWAY_DRAIN_SPREAD")
    id_hash_secret: str | None = Field(
        None, min_length=16, description="env ID_HASH_SECRET: the key participants' external ids (Prolific, MTurk) "
                                         "are hashed with in exports and metadata (at least 16 characters; unset: "
                                         "one made once in the database)")
    forwarded_allow_ips: str | None = Field(
        None, description="env FORWARDED_ALLOW_IPS: proxies whose X-Forwarded-For gives the client's address "
                          "(comma-separated addresses or networks, or '*'; uvicorn's --forwarded-allow-ips; "
                          "unset: 127.0.0.1,::1)")
    enroll_rate: float = Field(30.0, gt=0, description="env ENROLL_RATE: campaign arrivals a minute one client "
                                                       "address may make, on average")
    enroll_burst: int = Field(60, ge=1, description="env ENROLL_BURST: arrivals one address may make at once before "
                                                    "ENROLL_RATE applies")
    dashboard_interval: float = Field(2.0, gt=0, le=60, description="env DASHBOARD_INTERVAL: seconds between a "
                                                                    "campaign dashboard stream's updates")

    @model_validator(mode="after")
    def _drain(self) -> Settings:
        if self.drain_timeout <= self.drain_spread:
            raise ValueError(f"Expected GATEWAY_DRAIN_TIMEOUT above GATEWAY_DRAIN_SPREAD ({self.drain_spread:g} s), so "
                             f"that the last socket asked to close has time to, got {self.drain_timeout:g} s")
        return self

    @model_validator(mode="after")
    def _ws_limits(self) -> Settings:
        if self.ws_max_size <= self.ws_max_message:
            raise ValueError(f"Expected WS_MAX_SIZE above WS_MAX_MESSAGE ({self.ws_max_message}), so that a too large "
                             f"message gets an error event before the transport closes, got {self.ws_max_size}")
        return self
