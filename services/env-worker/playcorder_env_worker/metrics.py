"""The env-worker's Prometheus metrics (served at /metrics). The play path calls these: each is cheap (a lock and
an add), but the step path observes once per step, never per frame byte."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

from playcorder.messages import WorkerHeartbeat

_FAST = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)

SESSIONS_ACTIVE = Gauge("playcorder_worker_sessions_active", "Play sessions this worker runs")
CAPACITY = Gauge("playcorder_worker_capacity", "Sessions this worker accepts at most (WORKER_CAPACITY)")
ACCEPTING = Gauge("playcorder_worker_accepting", "1 while the worker's measured load lets it take new sessions")
STEP_SECONDS = Histogram("playcorder_worker_step_seconds",
                         "Time of one session step on a worker thread: env.step, render and JPEG encode", buckets=_FAST)
TICK_LATENESS = Histogram("playcorder_worker_tick_lateness_seconds",
                          "How late a realtime step started after its scheduled tick", buckets=_FAST)
STEPS = Counter("playcorder_worker_steps_total", "Steps played by this worker's sessions")
CHUNKS_PUBLISHED = Counter("playcorder_worker_chunks_published_total", "Recorded step chunks published to JetStream")
# Which worker a scraped process is (one series per process: Prometheus' own target labels name the pod or port).
WORKER = Info("playcorder_worker", "The worker id this process announces (WORKER_ID)")


def observed(load: WorkerHeartbeat) -> WorkerHeartbeat:
    """Set the gauges from the load the worker announces in its heartbeat, and return it: what Prometheus shows is
    what the gateways place by."""
    SESSIONS_ACTIVE.set(load.active)
    CAPACITY.set(load.capacity)
    accepting = getattr(load, "accepting", True) and not load.draining and load.active < load.capacity
    ACCEPTING.set(1 if accepting else 0)
    return load
