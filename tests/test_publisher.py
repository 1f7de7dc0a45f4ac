"""The worker's recording publisher on a real JetStream: ordered, deduplicated messages, and a clear end when a
step cannot be recorded at all."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import gymnasium as gym
import nats
import numpy as np
import pytest

from playcorder.bus import ensure_streams
from playcorder.gym_spaces import space_spec
from playcorder.messages import EpisodeBegin, EpisodeEnd
from playcorder.records import Step, decode_chunk, read_header
from playcorder.subjects import Subjects
from playcorder_env_worker.publisher import RecordingPublisher

OBS = gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)


@pytest.fixture
async def js_and_subjects(stack):  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:8]
    subjects = Subjects(prefix=f"pub{tag}", stream_prefix=f"PUB{tag}")
    nc = await nats.connect(stack.nats_url)
    await ensure_streams(nc, subjects)
    yield nc.jetstream(), subjects
    await nc.jetstream().delete_stream(subjects.record_stream)
    await nc.jetstream().delete_stream(subjects.export_stream)
    await nc.close()


def begin() -> EpisodeBegin:
    return EpisodeBegin(episode_id=uuid.uuid4().hex, session_id="s", study_id="st", participant_id="p", env="e",
                        env_id="E", worker_id="w", seed=0, started_at=datetime.now(UTC),
                        observation_spec=space_spec(OBS), action_spec=space_spec(gym.spaces.Discrete(2)))


def end(eid: str, steps: int) -> EpisodeEnd:
    return EpisodeEnd(episode_id=eid, state="completed", reason="x", num_steps=steps, num_chunks=0, total_reward=0.0,
                      ended_at=datetime.now(UTC))


async def stored(js, subjects: Subjects, ends: int = 1, timeout: float = 20.0) -> list:  # type: ignore[no-untyped-def]
    """Every record message of the test's stream, once `ends` episode ends are among them (or the timeout passed)."""
    sub = await js.pull_subscribe(subjects.record_all, stream=subjects.record_stream)
    msgs: list = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            msgs += await sub.fetch(100, timeout=0.5)
        except nats.errors.TimeoutError:
            done = sum(m.subject.endswith(".end") for m in msgs) >= ends
            if done or asyncio.get_running_loop().time() > deadline:
                return msgs


async def until(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def step(i: int, obs: np.ndarray) -> Step:
    return Step(i, obs, i % 2, 0.0, 1.0, i == 0, False, False, 0.0, image=b"jpeg")


async def test_steps_go_out_in_chunks_in_order(js_and_subjects) -> None:  # type: ignore[no-untyped-def]
    js, subjects = js_and_subjects
    publisher = RecordingPublisher(js, subjects, max_steps=4, max_age=60, max_payload=1 << 20)
    b = begin()
    publisher.begin(b)
    rng = np.random.default_rng(0)
    for i in range(10):
        publisher.add(step(i, rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    publisher.end(end(b.episode_id, 10))
    await publisher.close()
    msgs = await stored(js, subjects)
    assert [m.subject.rsplit(".", 1)[-1] for m in msgs] == ["begin", "chunk", "chunk", "chunk", "end"]
    assert [m.headers["Nats-Msg-Id"] for m in msgs[1:4]] == [f"{b.episode_id}.chunk.{i}" for i in range(3)]
    steps = [s.index for m in msgs[1:4] for s in decode_chunk(m.data, b.observation_spec, b.action_spec)[1]]
    assert steps == list(range(10))
    assert EpisodeEnd.model_validate_json(msgs[-1].data).num_chunks == 3
    assert not publisher.open_episodes


async def test_a_chunk_too_large_is_split_and_a_step_too_large_ends_the_episode(js_and_subjects) -> None:  # type: ignore[no-untyped-def]
    js, subjects = js_and_subjects
    # Noise does not compress: each 12 KB step fits in 20 KB alone, four of them do not.
    publisher = RecordingPublisher(js, subjects, max_steps=4, max_age=60, max_payload=20_000 + 4096)
    b = begin()
    publisher.begin(b)
    rng = np.random.default_rng(1)
    for i in range(4):
        publisher.add(step(i, rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    big = RecordingPublisher(js, subjects, max_steps=1, max_age=60, max_payload=5_000 + 4096)
    b2 = begin()
    big.begin(b2)
    big.add(step(0, rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    await until(lambda: big.error is not None)
    with pytest.raises(RuntimeError, match="Expected the recording to go on, but it failed: Expected one step to fit"):
        big.add(step(1, np.zeros((64, 64, 3), np.uint8)))
    assert not big.open_episodes  # nothing left for the reaper to guess about: the worker ended it itself
    publisher.end(end(b.episode_id, 4))
    await publisher.close()
    await big.close()
    msgs = await stored(js, subjects, ends=2)
    first = [m for m in msgs if f".{b.episode_id}." in m.subject]
    chunks = [read_header(m.data) for m in first if m.subject.endswith(".chunk")]
    assert len(chunks) > 1 and [s.i for c in chunks for s in c.steps] == [0, 1, 2, 3]
    assert all(len(m.data) <= 20_000 for m in first)
    ended = [EpisodeEnd.model_validate_json(m.data) for m in msgs if m.subject == subjects.record(b2.episode_id, "end")]
    assert len(ended) == 1 and ended[0].state == "interrupted" and ended[0].num_chunks == 0
    assert ended[0].reason.startswith("recording_failed: Expected one step to fit in")


async def test_a_step_too_large_for_its_image_is_stored_without_it(js_and_subjects) -> None:  # type: ignore[no-untyped-def]
    js, subjects = js_and_subjects
    publisher = RecordingPublisher(js, subjects, max_steps=4, max_age=60, max_payload=20_000 + 4096)
    b = begin()
    publisher.begin(b)
    rng = np.random.default_rng(2)
    noise = rng.integers(0, 255, 30_000, dtype=np.uint8).tobytes()  # a display JPEG larger than a chunk
    steps = [step(i, np.zeros((64, 64, 3), np.uint8)) for i in range(3)]
    steps[1].image, steps[1].info = noise, {"lives": 3}
    for s in steps:
        publisher.add(s)
    publisher.end(end(b.episode_id, 3))
    await publisher.close()
    msgs = [m for m in await stored(js, subjects) if f".{b.episode_id}." in m.subject]
    decoded = [s for m in msgs if m.subject.endswith(".chunk")
               for s in decode_chunk(m.data, b.observation_spec, b.action_spec)[1]]
    assert [s.index for s in decoded] == [0, 1, 2]
    assert decoded[0].image == b"jpeg" and decoded[1].image is None and decoded[2].image == b"jpeg"
    assert decoded[1].info["lives"] == 3
    assert decoded[1].info["playcorder_omitted"].startswith("image: step of ")
    assert EpisodeEnd.model_validate_json(msgs[-1].data).state == "completed"


async def test_steps_before_one_that_cannot_be_stored_are_kept(js_and_subjects) -> None:  # type: ignore[no-untyped-def]
    js, subjects = js_and_subjects
    publisher = RecordingPublisher(js, subjects, max_steps=4, max_age=60, max_payload=5_000 + 4096)
    b = begin()
    publisher.begin(b)
    rng = np.random.default_rng(3)
    for i in range(3):  # one batch: two steps that compress well, then one whose observation alone is too large
        obs = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) if i == 2 else np.zeros((64, 64, 3), np.uint8)
        publisher.add(step(i, obs))
    publisher.end(end(b.episode_id, 3))  # flushes the batch first
    await publisher.close()
    msgs = [m for m in await stored(js, subjects) if f".{b.episode_id}." in m.subject]
    chunks = [read_header(m.data) for m in msgs if m.subject.endswith(".chunk")]
    assert [s.i for c in chunks for s in c.steps] == [0, 1]
    ended = EpisodeEnd.model_validate_json(msgs[-1].data)
    assert ended.state == "interrupted" and ended.num_chunks == len(chunks)
    assert "(step 2, without its image and info too)" in ended.reason
