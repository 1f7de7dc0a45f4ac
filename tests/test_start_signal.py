"""A service told to stop while it is still starting (its NATS, PostgreSQL or S3 not reachable yet) stops at once.
uvicorn alone notes the signal and waits for the start to finish, forever if a server never comes; Kubernetes then
waits out the pod's whole grace period (minutes for an env-worker) before it kills it."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from playcorder.devstack.services import ServiceProcess


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


@pytest.mark.parametrize("kind", ["gateway", "env-worker", "recorder", "exporter"])
def test_sigterm_while_waiting_for_nats_stops_the_service(kind: str, stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = stack.env() | {"NATS_URL": f"nats://127.0.0.1:{_closed_port()}"}
    proc = ServiceProcess(kind, env, tmp_path)
    proc.start()
    assert proc.process is not None
    try:
        time.sleep(3)  # well into its wait for NATS
        assert proc.process.poll() is None, f"{kind} should still be waiting for NATS:\n{proc.tail()}"
        proc.process.send_signal(signal.SIGTERM)
        try:
            proc.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        assert proc.process.poll() is not None, f"{kind} still running 10 s after SIGTERM:\n{proc.tail()}"
    finally:
        proc.kill()
