"""The dev stack's supervisor: a server or service that dies is restarted in place, with backoff, and reported."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest
from minio import Minio

from playcorder.db.migrate import upgrade
from playcorder.devstack.ports import free_ports
from playcorder.devstack.services import ServiceProcess
from playcorder.devstack.stack import DevStack
from playcorder.devstack.supervisor import Backoff, Service, Supervisor, stack_components


@pytest.fixture(scope="module")
def own_stack() -> Iterator[DevStack]:
    """Servers of this module's own: the tests kill them. Not under pytest's basetemp (see conftest.stack)."""
    root = Path(tempfile.mkdtemp(prefix="playcorder-supervise-"))
    try:
        with DevStack(root) as stack:
            upgrade(stack.database_url)
            yield stack
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _nats_stream_round_trip(url: str, subject: str) -> bytes:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="SUPERVISED", subjects=["supervised.>"])
        await js.publish(subject, subject.encode())
        sub = await js.pull_subscribe(subject, durable=subject.replace(".", "-"))
        [msg] = await sub.fetch(1, timeout=5)
        await msg.ack()
        return msg.data
    finally:
        await nc.close()


async def _select_one(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()


def test_killed_servers_are_restarted_on_their_ports_with_their_data(own_stack: DevStack) -> None:
    stack, lines = own_stack, []
    s3 = Minio(stack.s3_endpoint, stack.s3_access_key, stack.s3_secret_key, secure=False)
    s3.make_bucket("supervised")
    s3.put_object("supervised", "kept", io.BytesIO(b"kept"), 4)
    assert asyncio.run(_nats_stream_round_trip(stack.nats_url, "supervised.before")) == b"supervised.before"
    env = stack.env()
    assert stack.postgres is not None
    with Supervisor(stack_components(stack), backoff=Backoff(first=0.1), report=lines.append) as supervisor:
        for name in ("nats", "postgres", "s3"):
            pid = supervisor.kill(name)
            supervisor.wait_restarts(name, 1, timeout=90)
            assert supervisor.components[name].pid not in (None, pid)
            assert supervisor.restarts(name) == supervisor.deaths(name) == 1, lines
        assert stack.env() == env  # same ports, socket and credentials: clients need no new settings
        assert asyncio.run(_nats_stream_round_trip(stack.nats_url, "supervised.after")) == b"supervised.after"
        assert asyncio.run(_select_one(stack.postgres.dsn())) == 1
        response = s3.get_object("supervised", "kept")
        assert response.read() == b"kept"
        response.close()
        response.release_conn()
    for name, log in (("nats", stack.nats.log_file), ("s3", stack.s3.log_file)):
        died = next(line for line in lines if line.startswith(f"{name} died"))
        assert "(killed by SIGKILL)" in died and str(log) in died, died
    assert any(line.startswith("postgres died (postmaster gone)") for line in lines), lines
    assert [line.split(" (")[0] for line in lines if " restarted " in line] == [
        "nats restarted", "postgres restarted", "s3 restarted"]


def test_a_crash_looping_service_backs_off_doubling_and_the_others_keep_running(own_stack: DevStack,
                                                                                 tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    # A DATABASE_URL the recorder refuses at start-up: it exits 1 at once, every time.
    broken = ServiceProcess("recorder", own_stack.env() | {"DATABASE_URL": "mysql://nope"}, logs, name="broken")
    healthy = ServiceProcess("recorder", own_stack.env(), logs, name="healthy")
    broken.start()
    healthy.start()
    healthy.wait_ready()
    lines: list[str] = []
    try:
        with Supervisor([Service(broken), Service(healthy)], backoff=Backoff(first=0.2, longest=0.8),
                        report=lines.append) as supervisor:
            deadline = time.monotonic() + 60
            while supervisor.deaths("broken") < 4:
                assert time.monotonic() < deadline, lines
                time.sleep(0.1)
            assert supervisor.restarts("healthy") == supervisor.deaths("healthy") == 0
            assert healthy.process is not None and healthy.process.poll() is None
    finally:
        broken.stop()
        healthy.stop()
    deaths = re.findall(r"^broken died \(exit code 1\); restarting it in ([\d.]+) s", "\n".join(lines), re.MULTILINE)
    assert [float(d) for d in deaths[:4]] == [0.2, 0.4, 0.8, 0.8]
    died = next(line for line in lines if line.startswith("broken died"))
    assert str(broken.log_path) in died and "DATABASE_URL" in died, died  # the cause, from the end of its log
    # Service logs may hold participants' inputs and tokens: their owner's only.
    assert broken.log_path.stat().st_mode & 0o777 == 0o600 and logs.stat().st_mode & 0o777 == 0o700


def test_a_service_that_stayed_up_starts_its_backoff_afresh(own_stack: DevStack, tmp_path: Path) -> None:
    service = ServiceProcess("recorder", own_stack.env(), tmp_path / "logs")
    service.start()
    service.wait_ready()
    lines: list[str] = []
    try:
        with Supervisor([Service(service)], backoff=Backoff(first=0.3, reset_after=0.5),
                        report=lines.append) as supervisor:
            for restarts in (1, 2):
                supervisor.kill("recorder")
                supervisor.wait_restarts("recorder", restarts)
                time.sleep(1.0)  # longer than reset_after
    finally:
        service.stop()
    assert re.findall(r"restarting it in ([\d.]+) s", "\n".join(lines)) == ["0.3", "0.3"]


def test_playcorder_dev_restarts_a_killed_service_and_stops_in_order_on_ctrl_c(tmp_path: Path) -> None:
    """What `make run` runs: a recorder killed with SIGKILL comes back, reported in the launcher's output."""
    root = Path(tempfile.mkdtemp(prefix="playcorder-dev-"))  # not under basetemp: see conftest.stack
    gateway, nats_port, s3_port = free_ports(3)
    script = ("import pathlib, sys; from playcorder.devstack.launcher import run_dev; "
              "run_dev(pathlib.Path(sys.argv[1]), port=int(sys.argv[2]), nats_port=int(sys.argv[3]), "
              "s3_port=int(sys.argv[4]))")
    env = os.environ | {"PLAYCORDER_CONFIG": str(tmp_path / "config.json"), "WORKER_PROCESSES": "1"}
    env.pop("FRONTEND_DIR", None)
    dev = subprocess.Popen([sys.executable, "-c", script, str(root), str(gateway), str(nats_port), str(s3_port)],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert dev.stdout is not None
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(dev.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def until(text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in output):
            assert dev.poll() is None and time.monotonic() < deadline, f"no {text!r} in:\n{''.join(output)}"
            time.sleep(0.1)

    try:
        until("Press Ctrl-C to stop.")
        # The local designer's sign-in for the browser, kept for the next run (0600), works as printed.
        password = (root / "designer-password").read_text()
        assert f"  designer sign-in: http://127.0.0.1:{gateway}/signin  name local  password {password}\n" in output
        assert (root / "designer-password").stat().st_mode & 0o777 == 0o600
        signed_in = httpx.post(f"http://127.0.0.1:{gateway}/api/session", json={"name": "local", "password": password},
                               timeout=30)
        assert signed_in.status_code == 200 and signed_in.json()["account"]["name"] == "local", signed_in.text
        os.kill(int((root / "logs" / "recorder.pid").read_text()), signal.SIGKILL)
        until("recorder restarted")
        assert httpx.get(f"http://127.0.0.1:{gateway}/readyz", timeout=5).status_code == 200  # it never went away
        dev.send_signal(signal.SIGINT)
        assert dev.wait(90) == 0, "".join(output)
        reader.join(10)
        text = "".join(output)
        died = next(line for line in output if line.startswith("recorder died"))
        assert "(killed by SIGKILL)" in died and str(root / "logs" / "recorder.log") in died
        assert text.index("stopping services") < text.index("stopping servers") < text.index("stopped.")
        assert f"nats://127.0.0.1:{nats_port}" in text and json.loads(
            (root / "servers" / "nats" / "credentials.json").read_text())["password"] not in text
        assert (root / "logs").stat().st_mode & 0o777 == 0o700
        assert {p.name: p.stat().st_mode & 0o777 for p in (root / "logs").glob("*.log")} == {
            f"{name}.log": 0o600 for name in ("gateway", "env-worker", "recorder", "exporter")}
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
        shutil.rmtree(root, ignore_errors=True)
