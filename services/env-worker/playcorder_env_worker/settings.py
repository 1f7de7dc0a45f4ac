"""The env-worker's one settings class."""

from __future__ import annotations

import re
import socket
import uuid

from pydantic import Field, field_validator, model_validator

from playcorder.settings import NatsSettings, ServiceSettings

MAX_DRAIN_TIMEOUT = 3600.0  # an hour: longer than any episode a study should ask for
FAMILIES = ("atari", "procgen", "mujoco", "gymnasium", "pettingzoo", "robosuite", "robodesk", "nethack")
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
                              "families this worker makes (atari, procgen, mujoco, gymnasium, pettingzoo, "
                              "robosuite, robodesk, nethack); others are refused")
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
    pod_deletion_cost: bool = Field(
        False, validation_alias="POD_DELETION_COST",
        description="env POD_DELETION_COST: keep this pod's controller.kubernetes.io/pod-deletion-cost annotation at "
                    "the session count, so a scale-down removes the emptiest workers first (needs POD_NAME, "
                    "POD_NAMESPACE and get/patch on pods; deletion_cost.py)")
    pod_name: str = Field("", validation_alias="POD_NAME", description="env POD_NAME: this pod (downward API)")
    pod_namespace: str = Field("", validation_alias="POD_NAMESPACE",
                               description="env POD_NAMESPACE: this pod's namespace (downward API)")
    kube_api_url: str = Field("", validation_alias="KUBE_API_URL",
                              description="env KUBE_API_URL: the Kubernetes API server (default: the in-cluster "
                                          "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)")
    kube_token_path: str = Field("/var/run/secrets/kubernetes.io/serviceaccount/token",
                                 validation_alias="KUBE_TOKEN_PATH",
                                 description="env KUBE_TOKEN_PATH: the service account token (read at each patch)")
    kube_ca_path: str = Field("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", validation_alias="KUBE_CA_PATH",
                              description="env KUBE_CA_PATH: the API server's CA bundle (system CAs when absent)")
    deletion_cost_interval: float = Field(2.0, gt=0, le=300, validation_alias="DELETION_COST_INTERVAL",
                                          description="env DELETION_COST_INTERVAL: seconds between deletion-cost "
                                                      "patches at most")
    resume_grace: float = Field(30.0, gt=0, description="env RESUME_GRACE: seconds a session whose client went away "
                                                        "waits to be resumed before it ends (reason disconnected)")

    @model_validator(mode="after")
    def _pod(self) -> Settings:
        if self.pod_deletion_cost and not (self.pod_name and self.pod_namespace):
            raise ValueError("Expected POD_NAME and POD_NAMESPACE (the downward API) with POD_DELETION_COST=true, got "
                             f"POD_NAME={self.pod_name!r}, POD_NAMESPACE={self.pod_namespace!r}")
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
