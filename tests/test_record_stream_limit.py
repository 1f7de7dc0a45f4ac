"""The record stream's size limit is a setting (NATS_RECORD_MAX_BYTES): a crowd campaign's backlog needs more than
the 10 GiB default, and every service brings the stream to the value it was given."""

from __future__ import annotations

import uuid

import nats
import pytest
from pydantic import ValidationError

from playcorder.bus import RECORD_MAX_BYTES, ensure_streams
from playcorder.subjects import Subjects
from playcorder_recorder.settings import Settings as RecorderSettings

ENV = {"DATABASE_URL": "postgresql://u@h/db", "S3_ENDPOINT": "127.0.0.1:1", "S3_ACCESS_KEY": "k",
       "S3_SECRET_KEY": "s", "S3_BUCKET": "b"}


def test_the_limit_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    assert RecorderSettings().nats.record_max_bytes == RECORD_MAX_BYTES == 10 << 30
    monkeypatch.setenv("NATS_RECORD_MAX_BYTES", str(40 << 30))
    assert RecorderSettings().nats.record_max_bytes == 40 << 30
    monkeypatch.setenv("NATS_RECORD_MAX_BYTES", "1000")
    with pytest.raises(ValidationError, match="record_max_bytes"):
        RecorderSettings()


async def test_the_stream_is_created_and_then_brought_to_a_new_limit(stack) -> None:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:8]
    subjects = Subjects(prefix=f"lim{tag}", stream_prefix=f"LIM{tag}")
    nc = await nats.connect(stack.nats_url)
    js = nc.jetstream()
    try:
        await ensure_streams(nc, subjects, 128 << 20)
        assert (await js.stream_info(subjects.record_stream)).config.max_bytes == 128 << 20
        await ensure_streams(nc, subjects, 256 << 20)  # an upgrade with a larger value
        assert (await js.stream_info(subjects.record_stream)).config.max_bytes == 256 << 20
    finally:
        for name in (subjects.record_stream, subjects.export_stream):
            await js.delete_stream(name)
        await nc.close()
