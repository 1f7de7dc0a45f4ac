"""NATS connection and the JetStream streams every service relies on (created idempotently by whoever starts first)."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client as NATS
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from .settings import NatsSettings
from .subjects import Subjects

log = logging.getLogger(__name__)

# Limits that protect the server: recordings are consumed within seconds, so a week of backlog or 10 GiB is
# far more than a healthy recorder ever leaves; the dedupe window covers any publisher retry.
RECORD_MAX_AGE_S = 7 * 24 * 3600
RECORD_MAX_BYTES = 10 << 30
DUPLICATE_WINDOW_S = 120


def subjects_for(settings: NatsSettings) -> Subjects:
    return Subjects(prefix=settings.subject_prefix, stream_prefix=settings.stream_prefix)


async def connect(settings: NatsSettings, name: str) -> NATS:
    async def on_error(err: Exception) -> None:
        log.warning("NATS error (%s): %s", name, err)

    return await nats.connect(
        settings.url, name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5, error_cb=on_error,
        connect_timeout=5,
    )


async def ensure_streams(nc: NATS, subjects: Subjects) -> None:
    js = nc.jetstream()
    configs = [
        StreamConfig(
            name=subjects.record_stream, subjects=[subjects.record_all], storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS, max_age=RECORD_MAX_AGE_S, max_bytes=RECORD_MAX_BYTES,
            discard=DiscardPolicy.NEW, duplicate_window=DUPLICATE_WINDOW_S,
        ),
        StreamConfig(
            name=subjects.export_stream, subjects=[subjects.export_jobs], storage=StorageType.FILE,
            retention=RetentionPolicy.WORK_QUEUE, max_age=RECORD_MAX_AGE_S, duplicate_window=DUPLICATE_WINDOW_S,
        ),
    ]
    for cfg in configs:
        try:
            await js.add_stream(cfg)
        except BadRequestError:
            # Exists with another config (e.g. after an upgrade): bring it to ours.
            await js.update_stream(cfg)
