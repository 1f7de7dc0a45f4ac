"""Integration tests: the dev servers start for real on loopback, work, and stop."""

from __future__ import annotations

import asyncio
import io
import shutil
import socket
from pathlib import Path

import asyncpg
import nats
import pytest
from minio import Minio
from minio.error import S3Error
from nats.errors import Error as NatsError

from playcorder.bus import RECORD_MAX_BYTES
from playcorder.devstack.nats import NatsServer
from playcorder.devstack.postgres import PostgresServer
from playcorder.devstack.s3 import S3Server
from playcorder.devstack.stack import DevStack


def _listening(host_port: str) -> bool:
    host, port = host_port.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


async def _publish(url: str) -> int:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="DEVSTACK", subjects=["devstack.>"])
        await js.publish("devstack.hello", b"hello")
        sub = await js.pull_subscribe("devstack.>", durable="before")
        [msg] = await sub.fetch(1, timeout=5)
        await msg.ack()
        assert msg.data == b"hello"
        return nc.max_payload
    finally:
        await nc.close()


async def _read_back(url: str) -> list[bytes]:
    nc = await nats.connect(url)
    try:
        sub = await nc.jetstream().pull_subscribe("devstack.>", durable="after")
        return [msg.data for msg in await sub.fetch(1, timeout=5)]
    finally:
        await nc.close()


def test_nats_jetstream_survives_restart(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = NatsServer(tmp_path_factory.mktemp("nats"), max_payload=2 << 20)
    server.start()
    try:
        assert asyncio.run(_publish(server.url)) == 2 << 20
        url = server.url
        server.restart()
        assert server.url == url
        assert asyncio.run(_read_back(server.url)) == [b"hello"]
    finally:
        server.stop()
        server.stop()
    assert not _listening(server.address)


async def _add_record_sized_streams(url: str, count: int) -> int:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for i in range(count):
            await js.add_stream(name=f"RESERVE{i}", subjects=[f"reserve{i}.>"], max_bytes=RECORD_MAX_BYTES)
        return count
    finally:
        await nc.close()


def test_many_stacks_share_one_dev_nats_whatever_the_free_disk(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each stack on a server (each test's subject prefix) reserves its record stream's max_bytes; the dev server must
    take more of them than the free disk would (the suite runs many stacks on one server, writing megabytes)."""
    free = shutil.disk_usage(tmp_path_factory.getbasetemp()).free
    count = free // RECORD_MAX_BYTES + 2  # past what 75% of the free disk (nats-server's default) allows
    server = NatsServer(tmp_path_factory.mktemp("nats-reserve"))
    server.start()
    try:
        assert asyncio.run(_add_record_sized_streams(server.url, count)) == count
    finally:
        server.stop()


async def _anonymous_connect(address: str) -> str:
    try:
        nc = await asyncio.wait_for(nats.connect(f"nats://{address}", allow_reconnect=False, connect_timeout=2), 10)
    except NatsError as err:
        return str(err)
    await nc.close()
    return "connected"


async def _peek(url: str, subject: str) -> bytes:
    """Publish on `subject` and receive it on a subscription of `pc.>` of the same credentialed client."""
    nc = await nats.connect(url)
    try:
        sub = await nc.subscribe("pc.>")
        await nc.publish(subject, b"frame")
        return (await sub.next_msg(timeout=5)).data
    finally:
        await nc.close()


def test_nats_refuses_anonymous_clients_and_keeps_its_credentials(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = tmp_path_factory.mktemp("nats-auth")
    server = NatsServer(data)
    server.start()
    try:
        assert "Authorization Violation" in asyncio.run(_anonymous_connect(server.address))
        wrong = server.url.replace(server.password, "guessed")
        assert "Authorization Violation" in asyncio.run(_anonymous_connect(wrong.removeprefix("nats://")))
        assert asyncio.run(_peek(server.url, "pc.session.x.frame")) == b"frame"
        password, url = server.password, server.url
        server.restart()
        assert server.url == url  # clients keep connecting across restarts
        assert asyncio.run(_peek(server.url, "pc.session.y.frame")) == b"frame"
    finally:
        server.stop()
    # Generated once per data dir and kept out of other users' reach, as is the config that repeats it.
    assert NatsServer(data).password == password
    assert NatsServer(tmp_path_factory.mktemp("nats-other")).password != password
    for secret in (server.credentials_file, data / "nats-server.conf", server.log_file):
        assert secret.stat().st_mode & 0o777 == 0o600, secret
    assert data.stat().st_mode & 0o777 == 0o700
    assert password not in server.log_file.read_text()


async def _current_database(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("SELECT current_database()"))
    finally:
        await conn.close()


def test_postgres_accepts_asyncpg_and_creates_databases(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    server.start()
    try:
        assert server.url("x").startswith("postgresql+asyncpg://postgres@/x?host=/")
        assert asyncio.run(_current_database(server.dsn())) == "postgres"
        server.create_database("devstack test")
        server.create_database("devstack test")  # idempotent
        assert asyncio.run(_current_database(server.dsn("devstack test"))) == "devstack test"
    finally:
        server.stop()
        server.stop()
    with pytest.raises(OSError):
        asyncio.run(_current_database(server.dsn()))


def test_postgres_url_works_with_sqlalchemy(tmp_path_factory: pytest.TempPathFactory) -> None:
    pytest.importorskip("greenlet", reason="SQLAlchemy's asyncio support needs greenlet")
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def current_database(url: str) -> str:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return str((await conn.execute(text("SELECT current_database()"))).scalar())
        finally:
            await engine.dispose()

    server = PostgresServer(tmp_path_factory.mktemp("postgres-sa"))
    server.start()
    try:
        assert asyncio.run(current_database(server.url())) == "postgres"
    finally:
        server.stop()


def test_s3_stores_objects_and_checks_signatures(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = S3Server(tmp_path_factory.mktemp("s3"), "devstack", "devstack-secret")
    server.start()
    try:
        client = Minio(server.endpoint, "devstack", "devstack-secret", secure=False)
        client.make_bucket("devstack")
        client.put_object("devstack", "a/b.txt", io.BytesIO(b"payload"), 7)
        response = client.get_object("devstack", "a/b.txt")
        try:
            assert response.read() == b"payload"
        finally:
            response.close()
            response.release_conn()

        forger = Minio(server.endpoint, "devstack", "wrong-secret", secure=False)
        with pytest.raises(S3Error) as refused:
            forger.get_object("devstack", "a/b.txt")
        assert refused.value.code == "SignatureDoesNotMatch"
        with pytest.raises(S3Error):
            forger.list_buckets()
    finally:
        server.stop()
        server.stop()
    assert server.log_file.parent.stat().st_mode & 0o777 == 0o700  # weed's own log files are 0644
    assert (server.data_dir / "s3-identities.json").stat().st_mode & 0o777 == 0o600
    assert not _listening(server.endpoint)


async def _nats_round_trip(url: str) -> None:
    nc = await nats.connect(url)
    await nc.flush()
    await nc.close()


def test_devstack_starts_all_and_exports_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    with DevStack(tmp_path_factory.mktemp("stack")) as stack:
        env = stack.env()
        assert env["NATS_URL"] == stack.nats_url == f"nats://playcorder:{stack.nats.password}@{stack.nats.address}"
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["S3_SECURE"] == "false"
        asyncio.run(_nats_round_trip(env["NATS_URL"]))
        assert asyncio.run(_current_database(stack.database_url.replace("+asyncpg", "", 1))) == "playcorder"
        Minio(env["S3_ENDPOINT"], env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"], secure=False).list_buckets()
    assert not _listening(env["S3_ENDPOINT"])
    assert not _listening(stack.nats.address)


def test_devstack_uses_a_given_database_url(tmp_path_factory: pytest.TempPathFactory) -> None:
    stack = DevStack(tmp_path_factory.mktemp("stack-ext"), database_url="postgresql://u@db.example/x")
    assert stack.postgres is None
    assert stack.database_url == "postgresql+asyncpg://u@db.example/x"


def test_dev_refuses_a_web_app_directory_that_is_not_there(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`playcorder dev` finds the web app through FRONTEND_DIR and says so before starting anything."""
    import os
    import subprocess
    import sys

    env = os.environ | {"FRONTEND_DIR": str(tmp_path / "missing")}
    out = subprocess.run([sys.executable, "-m", "playcorder.cli", "dev", "--root", str(tmp_path / "run")], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "Expected FRONTEND_DIR to be the web app's directory" in out.stderr and "missing" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "run" / "servers").exists()


@pytest.mark.parametrize("workers", ["0", "257", "many"])
def test_dev_refuses_a_workers_count_out_of_range(tmp_path, workers: str) -> None:  # type: ignore[no-untyped-def]
    """`playcorder dev --workers N` takes 1..256 and says what it expected before starting anything."""
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "playcorder.cli", "dev", "--root", str(tmp_path / "run"),
                          "--workers", workers], env=os.environ | {"WORKER_PROCESSES": "2"},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    expected = "Invalid value for '--workers'" if workers == "many" else f"Expected --workers to be a whole number " \
                                                                        f"from 1 to 256, got {workers}"
    assert expected in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "run" / "servers").exists()


def test_dev_workers_flag_overrides_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    from playcorder.devstack.launcher import dev_settings, worker_processes

    monkeypatch.setenv("WORKER_PROCESSES", "5")
    assert dev_settings().worker_processes == 5
    assert dev_settings(3).worker_processes == 3
    names = [p.name for p in worker_processes(3, {}, Path("/tmp/logs"))]
    assert names == ["env-worker-1", "env-worker-2", "env-worker-3"]
    assert [p.name for p in worker_processes(1, {}, Path("/tmp/logs"))] == ["env-worker"]
