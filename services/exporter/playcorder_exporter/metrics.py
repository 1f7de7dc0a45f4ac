"""The exporter's Prometheus metrics: jobs by outcome, how long they take, and steps written as they go (the
progress of a running job, summed over jobs: its rate is the exporter's throughput). No export-id labels: one
series per job would grow without bound; a job's own progress is in the API (steps_done of steps_total)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

JOBS = Counter("playcorder_exporter_jobs_total", "Export jobs ended, by outcome (done, failed)", ["outcome"])
JOB_SECONDS = Histogram("playcorder_exporter_job_seconds", "Time of one export job, from taking it off the queue to "
                        "its end", ["outcome"],
                        buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0))
JOBS_RUNNING = Gauge("playcorder_exporter_jobs_running", "Export jobs this exporter is building now")
STEPS_EXPORTED = Counter("playcorder_exporter_steps_total", "Steps written into datasets, counted as the build "
                         "reports its progress")


class JobTimer:
    """One job from start to end: the running gauge, the duration and the outcome."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        JOBS_RUNNING.inc()

    def end(self, outcome: str) -> None:
        JOBS_RUNNING.dec()
        JOBS.labels(outcome).inc()
        JOB_SECONDS.labels(outcome).observe(time.perf_counter() - self.started)


def counting_steps() -> Callable[[int], None]:
    """A callback taking a job's running total of steps done (as a build's progress reports it, from any thread)
    and adding what is new to STEPS_EXPORTED."""
    lock, last = threading.Lock(), [0]

    def count(done: int) -> None:
        with lock:
            new, last[0] = done - last[0], max(done, last[0])
        if new > 0:
            STEPS_EXPORTED.inc(new)

    return count
