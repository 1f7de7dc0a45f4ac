"""The recorder's writes on real PostgreSQL and S3: repeated, reordered, late and presumed messages all converge on
the same stored episode; acknowledged means stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import gymnasium as gym
import numpy as np
import pytest
from sqlmodel import select

from playcorder.db.engine import make_engine, make_sessionmaker
from playcorder.db.models import Account, DeletedEpisode, Episode, EpisodeChunk, Study
from playcorder.gym_spaces import space_spec
from playcorder.messages import EpisodeBegin, EpisodeEnd
from playcorder.records import Step, encode_chunk
from playcorder.settings import S3Settings
from playcorder.storage import ObjectStore
from playcorder_recorder.store import EpisodeStore, NotYet

OBS, ACT = space_spec(gym.spaces.Box(0, 255, (4, 4, 3), np.uint8)), space_spec(gym.spaces.Discrete(3))


@pytest.fixture
async def store(stack):  # type: ignore[no-untyped-def]
    engine = make_engine(stack.database_url)
    sessions = make_sessionmaker(engine)
    objects = ObjectStore(S3Settings(endpoint=stack.s3_endpoint, access_key=stack.s3_access_key,
                                     secret_key=stack.s3_secret_key, bucket="recorder-store"))
    await objects.ensure_bucket()
    async with sessions() as db:
        account = Account(name=f"store-{uuid.uuid4().hex[:8]}")
        db.add(account)
        await db.flush()
        study = Study(name="store", owner_id=account.id, spec={})
        db.add(study)
        await db.commit()
    yield EpisodeStore(sessions, objects), sessions, study.id
    await engine.dispose()


def begin(study_id: str) -> EpisodeBegin:
    return EpisodeBegin(episode_id=uuid.uuid4().hex, session_id="s", study_id=study_id, participant_id="p", env="e",
                        env_id="E-v0", worker_id="w", seed=1, started_at=datetime.now(UTC),
                        observation_spec=OBS, action_spec=ACT)


def chunk(episode_id: str, seq: int, first: int, n: int, last: bool = False) -> bytes:
    steps = [Step(i, np.full((4, 4, 3), i, np.uint8), i % 3, 1.0, 1.0, i == 0, last and i == first + n - 1, False,
                  float(i)) for i in range(first, first + n)]
    return encode_chunk(episode_id, seq, steps, OBS, ACT)


def end(episode_id: str, chunks: int | None, state: str = "completed", presumed: bool = False) -> EpisodeEnd:
    return EpisodeEnd(episode_id=episode_id, state=state, reason="worker_lost" if presumed else "terminated",  # type: ignore[arg-type]
                      num_steps=0, num_chunks=chunks, total_reward=0.0, active_s=1.5,
                      ended_at=datetime.now(UTC), presumed=presumed)


async def row(sessions, episode_id: str) -> Episode | None:  # type: ignore[no-untyped-def]
    async with sessions() as db:
        return await db.get(Episode, episode_id)


async def test_repeats_and_reordering_store_each_step_once(store) -> None:  # type: ignore[no-untyped-def]
    episodes, sessions, study_id = store
    b = begin(study_id)
    eid = b.episode_id
    early = await episodes.chunks([chunk(eid, 0, 0, 4)])  # a chunk before its begin waits for it
    assert [(r.stored, r.waiting) for r in early] == [(False, True)]
    await episodes.begin([b])
    await episodes.begin([b])  # redelivered
    await episodes.chunks([chunk(eid, 1, 4, 3, last=True)])
    with pytest.raises(NotYet, match="1 of 2 chunks stored"):  # the end waits for every chunk
        await episodes.end(end(eid, 2))
    # stored, then redelivered after a crash before the ack, even twice in one batch
    assert all(r.stored for r in await episodes.chunks([chunk(eid, 0, 0, 4)]))
    assert all(r.stored for r in await episodes.chunks([chunk(eid, 0, 0, 4), chunk(eid, 0, 0, 4)]))
    await episodes.end(end(eid, 2))
    await episodes.end(end(eid, 2))
    episode = await row(sessions, eid)
    assert episode is not None
    assert (episode.state, episode.num_steps, episode.num_chunks, episode.total_reward, episode.active_s) == (
        "completed", 7, 2, 7.0, 1.5)
    async with sessions() as db:
        keys = list(await db.exec(select(EpisodeChunk.object_key).where(EpisodeChunk.episode_id == eid)))
    assert len(keys) == 2 and all(episodes.objects.get_bytes_sync(k)[:4] == b"PCR2" for k in keys)


async def test_presumed_end_yields_to_the_workers_own(store) -> None:  # type: ignore[no-untyped-def]
    episodes, sessions, study_id = store
    # The worker's end first: a reaper's presumed end afterwards changes nothing.
    b = begin(study_id)
    await episodes.begin([b])
    await episodes.chunks([chunk(b.episode_id, 0, 0, 2, last=True)])
    await episodes.end(end(b.episode_id, 1))
    await episodes.end(end(b.episode_id, None, "interrupted", presumed=True))
    assert (await row(sessions, b.episode_id)).state == "completed"  # type: ignore[union-attr]

    # A worker cut off (presumed dead) that comes back: its late chunk counts, its own end wins.
    b = begin(study_id)
    await episodes.begin([b])
    await episodes.chunks([chunk(b.episode_id, 0, 0, 2)])
    await episodes.end(end(b.episode_id, None, "interrupted", presumed=True))
    episode = await row(sessions, b.episode_id)
    assert (episode.state, episode.end_reason, episode.num_steps) == ("interrupted", "worker_lost", 2)  # type: ignore[union-attr]
    await episodes.chunks([chunk(b.episode_id, 1, 2, 3, last=True)])
    assert (await row(sessions, b.episode_id)).num_steps == 5  # type: ignore[union-attr]
    await episodes.end(end(b.episode_id, 2))
    episode = await row(sessions, b.episode_id)
    assert (episode.state, episode.num_steps, episode.num_chunks) == ("completed", 5, 2)  # type: ignore[union-attr]


async def test_campaign_and_statistics_are_stored_and_a_presumed_end_keeps_the_steps_tally(  # type: ignore[no-untyped-def]
        store) -> None:
    episodes, sessions, study_id = store
    played, cut = (begin(study_id).model_copy(update={"campaign_id": "camp", "condition": "fast"}) for _ in range(2))
    await episodes.begin([played, cut])
    await episodes.chunks([chunk(played.episode_id, 0, 0, 3, last=True), chunk(cut.episode_id, 0, 0, 4)])
    values = {"score": 2.0, "steps": 2.0, "minutes": 0.025, "active_steps": 2.0, "active_minutes": 0.0006,
              "moves": 1.0}
    await episodes.end(end(played.episode_id, 1).model_copy(update={"stats": values}))
    episode = await row(sessions, played.episode_id)
    assert (episode.campaign_id, episode.condition, episode.stats) == ("camp", "fast", values)  # type: ignore[union-attr]
    # The worker died: a reaper's end knows no statistics of the worker's; the stored steps give score and steps.
    await episodes.end(end(cut.episode_id, None, "interrupted", presumed=True))
    episode = await row(sessions, cut.episode_id)
    assert (episode.state, episode.campaign_id, episode.stats) == (  # type: ignore[union-attr]
        "interrupted", "camp", {"score": 4.0, "steps": 4.0})
    await episodes.end(end(cut.episode_id, None, "interrupted", presumed=True))  # again: no change
    assert (await row(sessions, cut.episode_id)).stats == {"score": 4.0, "steps": 4.0}  # type: ignore[union-attr]


async def test_the_study_version_played_is_stored(store) -> None:  # type: ignore[no-untyped-def]
    episodes, sessions, study_id = store
    versioned, older = begin(study_id).model_copy(update={"study_version": 4}), begin(study_id)
    assert "study_version" not in older.model_dump(exclude_defaults=True)  # what a worker from before versions sends
    await episodes.begin([versioned, EpisodeBegin.model_validate_json(older.model_dump_json(exclude_defaults=True))])
    assert (await row(sessions, versioned.episode_id)).study_version == 4  # type: ignore[union-attr]
    assert (await row(sessions, older.episode_id)).study_version is None  # type: ignore[union-attr]


async def test_deleted_episodes_stay_deleted(store) -> None:  # type: ignore[no-untyped-def]
    episodes, sessions, study_id = store
    b = begin(study_id)
    async with sessions() as db:
        db.add(DeletedEpisode(id=b.episode_id))
        await db.commit()
    await episodes.begin([b])
    await episodes.chunks([chunk(b.episode_id, 0, 0, 2)])  # dropped, not retried forever
    await episodes.end(end(b.episode_id, 1))
    assert await row(sessions, b.episode_id) is None


async def test_an_unreadable_message_is_kept_aside_not_lost(services, stack) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    import nats

    orphan = begin("no-such-study").model_dump_json().encode()  # a begin whose study does not exist
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        acks = [await js.publish(f"pc.record.{uuid.uuid4().hex}.chunk", b"not a chunk", timeout=5),
                await js.publish(f"pc.record.{uuid.uuid4().hex}.begin", orphan, timeout=5)]
    finally:
        await nc.close()
    objects = ObjectStore(S3Settings(endpoint=stack.s3_endpoint, access_key=stack.s3_access_key,
                                     secret_key=stack.s3_secret_key))
    for ack, payload in zip(acks, (b"not a chunk", orphan), strict=True):
        key = f"deadletter/PC_RECORD/{ack.seq:012d}"
        for _ in range(100):
            try:
                kept = await objects.get_bytes(key)
                break
            except Exception:  # not there yet
                await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"expected the unreadable message in S3 as {key}")
        assert kept == payload
