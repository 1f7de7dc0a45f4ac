"""A sharded RLDS export (two exporter processes, shard tasks of a few hundred steps) holds exactly what the
one-process build writes: the same episodes, with the same episode_index, and every step's fields equal after
tfds decodes them; progress ends at steps_total. The recorded data is a real Pong episode's chunks stored as the
recorder would have stored them (recording itself is tested elsewhere)."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest

from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.sdk import Client
from tests import tensorflow_side
from tests.conftest import tenant
from tests.factories import untried_study

pytestmark = pytest.mark.e2e
EPISODES, STEPS, CHUNK, SHARD_STEPS = 4, 150, 50, 200  # 600 steps in shards of ~200: 3 shard tasks


@pytest.fixture(scope="module")
def cluster(stack, tmp_path_factory) -> Iterator[tuple[Client, dict[str, str], Path]]:  # type: ignore[no-untyped-def]
    own = tenant(stack, "shards")
    env = own.env | {"NATS_SUBJECT_PREFIX": "pcshard", "NATS_STREAM_PREFIX": "PCSHARD", "S3_BUCKET": "shards"}
    logs = tmp_path_factory.mktemp("shards-logs")
    gateway = ServiceProcess("gateway", env, logs)
    try:
        start_all([gateway])
        yield Client(gateway.url, own.designer_token), env, logs
    finally:
        stop_all([gateway])


def export_with(client: Client, env: dict[str, str], logs: Path, study_id: str, tmp: Path,
                **settings: str) -> tuple[dict[str, Any], Path]:
    """One export made by an exporter started with `settings`, downloaded and unzipped under `tmp`."""
    exporter = ServiceProcess("exporter", env | settings, logs)
    try:
        start_all([exporter])
        child = second_process(exporter) if settings["EXPORTER_PROCESSES"] == "2" else None
        before = cpu(child) if child else 0.0
        export = client.wait_export(client.create_export(study_id)["id"], timeout=300)
        if child:  # the second process built part of it (a shard of 200 Pong steps takes well over 0.2 s of CPU)
            assert cpu(child) - before > 0.2, "the second exporter process took no shard"
    finally:
        stop_all([exporter])
    assert export["state"] == "done", export["error"]
    download = httpx.get(export["url"], timeout=120)
    assert download.status_code == 200
    zipfile.ZipFile(io.BytesIO(download.content)).extractall(tmp)
    return export, tmp / "playcorder_shards" / "1.0.0"


def cpu(process: psutil.Process) -> float:
    return float(sum(process.cpu_times()[:2]))


def second_process(exporter: ServiceProcess) -> psutil.Process:
    """The exporter's spawned second process, once it is up: readiness is the HTTP process's, and the spawned
    one is still importing for a few seconds after it (an export begun then would be built by the first alone)."""
    child = next(c for c in psutil.Process(exporter.process.pid).children()
                 if any("spawn_main" in part for part in c.cmdline()))
    idle_since, last = time.monotonic(), cpu(child)
    while time.monotonic() - idle_since < 1.0:  # up once its imports stop using CPU
        time.sleep(0.2)
        if (now := cpu(child)) - last > 0.05:
            idle_since, last = time.monotonic(), now
    return child


def same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_a_sharded_export_equals_the_one_process_build(cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests import test_export_memory as memory

    client, env, logs = cluster
    study_id = asyncio.run(untried_study(env["DATABASE_URL"], client,
                                         {"name": "shards", "environments": [{"id": "pong", "env_id": "ALE/Pong-v5"}]}))
    memory.EPISODES, memory.STEPS, memory.CHUNK = EPISODES, STEPS, CHUNK
    asyncio.run(memory.store(env, study_id))

    single, single_root = export_with(client, env, logs, study_id, tmp_path / "single",
                                      EXPORTER_PROCESSES="1", EXPORT_SHARD_STEPS="1000000")
    sharded, sharded_root = export_with(client, env, logs, study_id, tmp_path / "sharded",
                                        EXPORTER_PROCESSES="2", EXPORT_SHARD_STEPS=str(SHARD_STEPS))
    for export in (single, sharded):
        assert export["steps_done"] == export["steps_total"] == EPISODES * STEPS
    assert sorted(p.name for p in sharded_root.glob("*.tfrecord*")) == [
        f"playcorder_shards-train.tfrecord-0000{k}-of-00003" for k in range(3)]

    single_info, single_episodes = tensorflow_side.load(single_root, "train")
    sharded_info, sharded_episodes = tensorflow_side.load(sharded_root, "train")
    assert single_info["splits"]["train"]["num_shards"] == 1 and sharded_info["splits"]["train"]["num_shards"] == 3
    assert single_info["splits"]["train"]["num_examples"] == sharded_info["splits"]["train"]["num_examples"] == EPISODES
    assert len(sharded_episodes) == EPISODES
    ids = [e["episode_id"] for e in sharded_episodes]
    assert len(set(ids)) == EPISODES  # no episode written twice
    assert [e["episode_id"] for e in single_episodes] == ids
    assert [int(e["episode_index"]) for e in sharded_episodes] == list(range(EPISODES))
    for one, many in zip(single_episodes, sharded_episodes, strict=True):
        assert len(many["steps"]) == STEPS
        assert same(one, many), one["episode_id"]


def test_an_exporter_process_killed_mid_export_duplicates_no_episode(cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL of the second exporter process while shards are being built: its task is given to the other after
    EXPORT_ACK_WAIT_S, rebuilt over the same objects, and counted once."""
    import threading

    from tests import test_export_memory as memory

    client, env, logs = cluster
    study_id = asyncio.run(untried_study(env["DATABASE_URL"], client,
                                         {"name": "shards", "environments": [{"id": "pong", "env_id": "ALE/Pong-v5"}]}))
    episodes, steps = 6, 300
    memory.EPISODES, memory.STEPS, memory.CHUNK = episodes, steps, CHUNK
    asyncio.run(memory.store(env, study_id))
    # The kill must land while the second process builds a shard; on a loaded machine it may finish its shard
    # first (nothing is rebuilt, and nothing proves the crash path): then a new export and exporter, 3 tries at most.
    for _ in range(3):
        exporter = ServiceProcess("exporter", env | {"EXPORTER_PROCESSES": "2", "EXPORT_SHARD_STEPS": "300",
                                                     "EXPORT_ACK_WAIT_S": "3"}, logs)
        try:
            start_all([exporter])
            child = second_process(exporter)
            export = client.create_export(study_id)
            killer = threading.Thread(target=kill_when_busy, args=(child, cpu(child), killed := []))
            killer.start()
            export = client.wait_export(export["id"], timeout=300)
            killer.join()
        finally:
            stop_all([exporter])
        assert killed, "the second exporter process was never seen busy"
        assert export["state"] == "done", export["error"]
        tries = asyncio.run(attempts(env, export["id"]))
        assert set(tries) <= {1, 2}, tries
        if max(tries) == 2:  # its shard, started twice, counted once
            break
    else:
        raise AssertionError(f"Expected a kill mid-shard (a shard started twice) in 3 tries, got attempts {tries}")
    assert export["state"] == "done", export["error"]
    assert export["steps_done"] == export["steps_total"] == episodes * steps
    download = httpx.get(export["url"], timeout=120)
    zipfile.ZipFile(io.BytesIO(download.content)).extractall(tmp_path)
    info, loaded = tensorflow_side.load(tmp_path / "playcorder_shards" / "1.0.0", "train")
    assert info["splits"]["train"]["num_examples"] == len(loaded) == episodes
    assert len({e["episode_id"] for e in loaded}) == episodes
    assert [int(e["episode_index"]) for e in loaded] == list(range(episodes))
    assert all(len(e["steps"]) == steps for e in loaded)


def kill_when_busy(child: psutil.Process, last: float, killed: list[int]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # building a shard: the process uses CPU again
        if cpu(child) - last > 0.3:
            child.kill()
            killed.append(child.pid)
            return
        time.sleep(0.02)


async def attempts(env: dict[str, str], export_id: str) -> list[int]:
    """How many times each shard was started (2: rebuilt after the kill)."""
    from sqlmodel import select

    from playcorder.db.engine import make_engine, make_sessionmaker
    from playcorder.db.models import ExportShardRow

    engine = make_engine(env["DATABASE_URL"])
    try:
        async with make_sessionmaker(engine)() as db:
            rows = (await db.execute(select(ExportShardRow).where(ExportShardRow.export_id == export_id))).scalars()
            return [r.attempts for r in sorted(rows, key=lambda r: r.shard)]
    finally:
        await engine.dispose()
