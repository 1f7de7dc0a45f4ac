"""The env-worker's one settings class."""

from __future__ import annotations

import re
import socket
import uuid
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from playcorder.settings import NatsSettings, ServiceSettings

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
MAX_DRAIN_TIMEOUT = 3600.0  # an hour: longer than any episode a study should ask for
FAMILIES = ("atari", "procgen", "mujoco", "gymnasium")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _names(value: str) -> list[str]:
    return [n.strip() for n in value.split(",") if n.strip()]


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}".replace(".", "-")


class Settings(ServiceSettings):
    nats: NatsSettings = NatsSettings()
    host: str = Field("127.0.0.1", validation_alias="WORKER_HOST",
                      description="env WORKER_HOST: address of the health endpoints")
    port: int = Field(8010, validation_alias="WORKER_PORT", description="env WORKER_PORT: port of the health endpoints")
    worker_id: str = Field(default_factory=_default_worker_id, description="env WORKER_ID")
    worker_capacity: int = Field(200, ge=1, description="env WORKER_CAPACITY: sessions this process accepts at "
                                 "most; below it, measured load decides (WORKER_MAX_LATENESS, WORKER_MAX_CPU)")
    max_lateness_ms: float = Field(
        10.0, gt=0, validation_alias="WORKER_MAX_LATENESS",
        description="env WORKER_MAX_LATENESS: milliseconds; while the p95 of how late paced steps start after their "
                    "tick (over WORKER_LOAD_WINDOW) is above it, the worker refuses new sessions (overloaded)")
    max_cpu: float = Field(
        0.9, gt=0, validation_alias="WORKER_MAX_CPU",
        description="env WORKER_MAX_CPU: share of one core; while the process's CPU over WORKER_LOAD_WINDOW, plus an "
                    "average session's share for each admitted within it and for the newcomer, is above it, the "
                    "worker refuses new sessions (overloaded)")
    load_window: float = Field(
        5.0, gt=0, validation_alias="WORKER_LOAD_WINDOW",
        description="env WORKER_LOAD_WINDOW: seconds of tick lateness and CPU that admission judges by; sessions "
                    "admitted within it count as load not yet measured")
    admit_burst: int = Field(
        16, ge=1, validation_alias="WORKER_ADMIT_BURST",
        description="env WORKER_ADMIT_BURST: sessions admitted within WORKER_LOAD_WINDOW at most, before their load "
                    "is measured (refused meanwhile as settling)")
    worker_threads: int = Field(4, ge=1, description="env WORKER_THREADS: threads stepping, rendering and encoding")
    trial_processes: int = Field(1, ge=1, le=16, description="env TRIAL_PROCESSES: child processes trying specs "
                                 "(at nice 10; one past its time limit is killed and replaced)")
    max_observation_bytes: int = Field(16 << 20, ge=1024, description="env MAX_OBSERVATION_BYTES: the largest "
                                       "observation (or action) one step may produce; bigger spaces are refused")
    heartbeat_interval: float = Field(1.0, gt=0, description="env HEARTBEAT_INTERVAL: seconds between announcements")
    chunk_max_steps: int = Field(64, ge=1, description="env CHUNK_MAX_STEPS: steps per recorded chunk at most")
    chunk_max_age: float = Field(0.5, gt=0, description="env CHUNK_MAX_AGE: seconds a step may wait before publish "
                                                         "(what a worker crash can lose)")
    max_payload: int = Field(1 << 20, description="env MAX_PAYLOAD: NATS max payload; chunks stay below it")
    env_families: str = Field(",".join(FAMILIES), description="env ENV_FAMILIES: comma-separated environment "
                              "families this worker makes (atari, procgen, mujoco, gymnasium); others are refused")
    env_modules: str = Field("minigrid", description="env ENV_MODULES: comma-separated modules that a 'module:EnvId' "
                             "id or a known plugin id (MiniGrid-) may import; no other module is ever imported for "
                             "an env id (empty: none)")
    alive_interval: float = Field(0.25, gt=0, description="env ALIVE_INTERVAL: seconds between the liveness signals "
                                                          "a worker sends each session's gateway")
    client_timeout: float = Field(1.0, gt=0, description="env CLIENT_TIMEOUT: a session that hears nothing from its "
                                                         "gateway this long pauses (reason client_lost)")
    drain_timeout: float = Field(
        300.0, ge=0, le=MAX_DRAIN_TIMEOUT, validation_alias="DRAIN_TIMEOUT",
        description=f"env DRAIN_TIMEOUT: seconds (0..{MAX_DRAIN_TIMEOUT:g}) a worker told to stop (SIGTERM) lets its "
                    "running episodes go on, taking no new session and starting no new episode; then it ends what "
                    "is left as interrupted (reason worker_draining), every step recorded, and exits; its gateways "
                    "move the players to other workers. 0, or a second SIGTERM: end them at once. Keep the "
                    "orchestrator's grace period (terminationGracePeriodSeconds) above it")
    resume_grace: float = Field(30.0, gt=0, description="env RESUME_GRACE: seconds a session whose client went away "
                                                        "waits to be resumed before it ends (reason disconnected)")

    # pod-deletion-cost (deletion_cost.py): the chart sets POD_NAME, POD_NAMESPACE from the downward API
    pod_deletion_cost: bool = Field(
        False, validation_alias="POD_DELETION_COST",
        description="env POD_DELETION_COST: keep this pod's controller.kubernetes.io/pod-deletion-cost annotation at "
                    "its running session count (needs POD_NAME, POD_NAMESPACE and RBAC get/patch on pods)")
    pod_name: str = Field("", max_length=253, validation_alias="POD_NAME", description="env POD_NAME: this pod")
    pod_namespace: str = Field("", max_length=63, validation_alias="POD_NAMESPACE",
                               description="env POD_NAMESPACE: this pod's namespace")
    kubernetes_service_host: str = Field("", validation_alias="KUBERNETES_SERVICE_HOST",
                                         description="env KUBERNETES_SERVICE_HOST: set by Kubernetes in every pod")
    kubernetes_service_port: int = Field(443, ge=1, le=65535, validation_alias="KUBERNETES_SERVICE_PORT",
                                         description="env KUBERNETES_SERVICE_PORT: set by Kubernetes in every pod")
    kubernetes_api: str = Field("", validation_alias="KUBERNETES_API_URL",
                                description="env KUBERNETES_API_URL: the API server's URL (default: https://"
                                            "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)")
    kubernetes_token_file: Path = Field(
        Path(f"{SERVICE_ACCOUNT}/token"), validation_alias="KUBERNETES_TOKEN_FILE",
        description="env KUBERNETES_TOKEN_FILE: the service account's bearer token, read at each request")
    kubernetes_ca_file: Path | None = Field(
        Path(f"{SERVICE_ACCOUNT}/ca.crt"), validation_alias="KUBERNETES_CA_FILE",
        description="env KUBERNETES_CA_FILE: the CA the API server's certificate is checked against")
    pod_deletion_cost_interval: float = Field(
        2.0, ge=0.05, le=300, validation_alias="POD_DELETION_COST_INTERVAL",
        description="env POD_DELETION_COST_INTERVAL: seconds between two patches of the annotation at least")
    pod_deletion_cost_timeout: float = Field(
        5.0, gt=0, le=60, validation_alias="POD_DELETION_COST_TIMEOUT",
        description="env POD_DELETION_COST_TIMEOUT: seconds one patch may take")

    @property
    def kubernetes_api_url(self) -> str:
        host = self.kubernetes_service_host
        host = f"[{host}]" if ":" in host else host
        return self.kubernetes_api or f"https://{host}:{self.kubernetes_service_port}"

    @model_validator(mode="after")
    def _pod_known(self) -> Settings:
        if self.pod_deletion_cost:
            missing = [name for name, v in (("POD_NAME", self.pod_name), ("POD_NAMESPACE", self.pod_namespace))
                       if not v]
            if not self.kubernetes_api and not self.kubernetes_service_host:
                missing.append("KUBERNETES_API_URL or KUBERNETES_SERVICE_HOST")
            if missing:
                raise ValueError(f"Expected {', '.join(missing)} set with POD_DELETION_COST=true, got none")
        return self

    @field_validator("env_families")
    @classmethod
    def _families(cls, v: str) -> str:
        unknown = [f for f in _names(v) if f not in FAMILIES]
        if unknown or not _names(v):
            raise ValueError(f"Expected ENV_FAMILIES to be a comma-separated list of {', '.join(FAMILIES)}, got {v!r}")
        return v

    @field_validator("env_modules")
    @classmethod
    def _modules(cls, v: str) -> str:
        bad = [m for m in _names(v) if not _MODULE.match(m)]
        if bad:
            raise ValueError(f"Expected ENV_MODULES to be comma-separated module names (e.g. 'minigrid'), got {bad}")
        return v

    @property
    def enabled_families(self) -> frozenset[str]:
        return frozenset(_names(self.env_families))

    @property
    def allowed_modules(self) -> frozenset[str]:
        return frozenset(_names(self.env_modules))
