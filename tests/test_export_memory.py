"""An export far larger than what the exporter holds: 100,000 recorded Atari steps through the exporter service,
its memory sampled all along. The recorded data is made once from a real Pong episode and stored 50 times, as the
recorder would have stored it, straight into S3 and PostgreSQL (recording itself is tested elsewhere)."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime

import gymnasium as gym
import httpx
import psutil
import pytest

from playcorder.db.engine import make_engine, make_sessionmaker
from playcorder.db.models import Episode, EpisodeChunk
from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.gym_spaces import space_spec
from playcorder.records import MAGIC, ChunkHeader, Step, encode_chunk, read_header
from playcorder.sdk import Client
from playcorder.settings import S3Settings
from playcorder.storage import ObjectStore, chunk_key
from playcorder_env_worker.envs import encode_jpeg
from tests.conftest import tenant
from tests.factories import untried_study

pytestmark = pytest.mark.e2e
EPISODES, STEPS, CHUNK = 50, 2000, 250
PEAK_RSS_BOUND = 1 << 30  # documented in docs/datasets.md; measured well below it


@pytest.fixture(scope="module")
def cluster(stack, tmp_path_factory) -> Iterator[tuple[Client, ServiceProcess, dict[str, str]]]:  # type: ignore[no-untyped-def]
    own = tenant(stack, "bigexport")
    env = own.env | {"NATS_SUBJECT_PREFIX": "pcbig", "NATS_STREAM_PREFIX": "PCBIG", "S3_BUCKET": "bigexport"}
    logs = tmp_path_factory.mktemp("bigexport-logs")
    gateway, exporter = ServiceProcess("gateway", env, logs), ServiceProcess("exporter", env, logs)
    try:
        start_all([gateway, exporter])
        yield Client(gateway.url, own.designer_token), exporter, env
    finally:
        stop_all([gateway, exporter])


def pong_chunks() -> tuple[list[bytes], dict, dict]:
    import ale_py

    gym.register_envs(ale_py)
    env = gym.make("ALE/Pong-v5", render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    steps = []
    for i in range(STEPS):
        last = i == STEPS - 1
        action = 0 if last else int(env.action_space.sample())
        steps.append(Step(i, obs, action, 0.0, 1.0, i == 0, last, False, float(i), image=encode_jpeg(env.render(), 80)))
        if not last:
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                obs, _ = env.reset()
    specs = space_spec(env.observation_space), space_spec(env.action_space)
    env.close()
    chunks = [encode_chunk("template", seq, steps[i:i + CHUNK], *specs)
              for seq, i in enumerate(range(0, STEPS, CHUNK))]
    return chunks, *specs


def for_episode(chunk: bytes, episode_id: str) -> bytes:
    """The same chunk, as recorded for another episode: only the JSON header changes, the zstd body is shared."""
    header = read_header(chunk)
    start = 8 + int.from_bytes(chunk[4:8], "little")
    new = ChunkHeader(episode_id=episode_id, seq=header.seq, steps=header.steps).model_dump_json().encode()
    return MAGIC + len(new).to_bytes(4, "little") + new + chunk[start:]


async def store(env: dict[str, str], study_id: str) -> None:
    chunks, obs_spec, act_spec = pong_chunks()
    objects = ObjectStore(S3Settings(endpoint=env["S3_ENDPOINT"], access_key=env["S3_ACCESS_KEY"],
                                     secret_key=env["S3_SECRET_KEY"], bucket=env["S3_BUCKET"]))
    await objects.ensure_bucket()
    engine = make_engine(env["DATABASE_URL"])
    async with make_sessionmaker(engine)() as db:
        for _ in range(EPISODES):
            eid = uuid.uuid4().hex
            db.add(Episode(id=eid, study_id=study_id, session_id="s", participant_id="p", env="pong",
                           env_id="ALE/Pong-v5", worker_id="w", seed=0, state="completed", num_steps=STEPS,
                           num_chunks=len(chunks), observation_spec=obs_spec, action_spec=act_spec,
                           started_at=datetime.now(UTC), ended_at=datetime.now(UTC)))
            await db.flush()
            for seq, chunk in enumerate(chunks):
                key = chunk_key(study_id, eid, seq)
                data = for_episode(chunk, eid)
                await objects.put_bytes(key, data)
                db.add(EpisodeChunk(episode_id=eid, seq=seq, first_step=seq * CHUNK, num_steps=CHUNK, reward_sum=0.0,
                                    nbytes=len(data), object_key=key))
        await db.commit()
    await engine.dispose()


def test_a_100k_step_export_stays_within_its_memory_bound(cluster) -> None:  # type: ignore[no-untyped-def]
    client, exporter, env = cluster
    # This cluster has no env-worker to try a study: the study is stored as one tried elsewhere would be.
    study_id = asyncio.run(untried_study(env["DATABASE_URL"], client,
                                         {"name": "big", "environments": [{"id": "pong", "env_id": "ALE/Pong-v5"}]}))
    asyncio.run(store(env, study_id))
    process = psutil.Process(exporter.process.pid)
    baseline, peak, stop = process.memory_info().rss, [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    try:
        export = client.create_export(study_id)
        export = client.wait_export(export["id"], timeout=600)
    finally:
        stop.set()
        sampler.join()
    took = time.monotonic() - started
    assert export["state"] == "done", export["error"]
    assert export["steps_done"] == export["steps_total"] == EPISODES * STEPS
    download = httpx.get(export["url"], timeout=300)
    assert download.status_code == 200
    # Uploaded in parts: an S3 multipart object's ETag is the digest of its parts' digests, then "-<parts>".
    assert int(download.headers["etag"].strip('"').rsplit("-", 1)[1]) > 1, download.headers["etag"]
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    info = json.loads(archive.read("playcorder_big/1.0.0/dataset_info.json"))
    assert sum(int(n) for n in info["splits"][0]["shardLengths"]) == EPISODES
    print(f"\n100k-step export: {took:.0f} s, {export['size_bytes'] / 1e6:.0f} MB, exporter RSS baseline "
          f"{baseline / 2**20:.0f} MiB, peak {peak[0] / 2**20:.0f} MiB")
    assert peak[0] < PEAK_RSS_BOUND
