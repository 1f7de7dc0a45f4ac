"""NATS connection and the JetStream streams every service relies on (created idempotently by whoever starts first)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client as NATS
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError

from .settings import NatsSettings
from .subjects import Subjects

log = logging.getLogger(__name__)

# The record stream is a work queue: a message is removed once the recorder acknowledges it (stored in S3 and
# PostgreSQL), so the stream holds only the backlog. Its limits bound that backlog (NATS_RECORD_MAX_BYTES, 10 GiB
# by default: a recorder down for a day at a busy lab campaign stays far below it; size it for a crowd campaign,
# docs/deploy.md). When the limit is reached, publishes are refused (discard NEW) and workers keep their steps and
# retry, rather than the server dropping recorded steps. The dedupe window covers a publisher's retries; the
# recorder's writes are idempotent beyond it.
RECORD_MAX_AGE_S = 7 * 24 * 3600
RECORD_MAX_BYTES = 10 << 30
DUPLICATE_WINDOW_S = 120


def subjects_for(settings: NatsSettings) -> Subjects:
    return Subjects(prefix=settings.subject_prefix, stream_prefix=settings.stream_prefix)


async def connect(settings: NatsSettings, name: str,
                  on_reconnect: Callable[[], Awaitable[None]] | None = None) -> NATS:
    """A connection that reconnects forever; on_reconnect runs after each reconnect (core NATS messages sent
    while disconnected are lost, so whoever depends on them re-sends state then)."""
    async def on_error(err: Exception) -> None:
        log.warning("NATS error (%s): %s", name, err)

    async def on_reconnected() -> None:
        log.info("NATS reconnected (%s)", name)
        if on_reconnect is not None:
            await on_reconnect()

    return await nats.connect(
        settings.url, name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5, error_cb=on_error,
        reconnected_cb=on_reconnected, connect_timeout=5,
    )


def stream_configs(subjects: Subjects, max_payload: int,
                   record_max_bytes: int = RECORD_MAX_BYTES) -> list[StreamConfig]:
    return [
        StreamConfig(
            name=subjects.record_stream, subjects=[subjects.record_all], storage=StorageType.FILE,
            retention=RetentionPolicy.WORK_QUEUE, max_age=RECORD_MAX_AGE_S, max_bytes=record_max_bytes,
            max_msg_size=max_payload, discard=DiscardPolicy.NEW, duplicate_window=DUPLICATE_WINDOW_S,
        ),
        StreamConfig(
            name=subjects.export_stream, subjects=[subjects.export_jobs, subjects.export_tasks],
            storage=StorageType.FILE,
            retention=RetentionPolicy.WORK_QUEUE, max_age=RECORD_MAX_AGE_S, duplicate_window=DUPLICATE_WINDOW_S,
        ),
    ]


async def ensure_streams(nc: NATS, subjects: Subjects, record_max_bytes: int = RECORD_MAX_BYTES) -> None:
    js = nc.jetstream()
    for cfg in stream_configs(subjects, nc.max_payload, record_max_bytes):
        assert cfg.name is not None  # stream_configs names every stream
        try:
            await js.add_stream(cfg)
        except BadRequestError:
            # Exists with another config (e.g. after an upgrade): bring it to ours.
            info = await js.stream_info(cfg.name)
            if info.config.retention != cfg.retention:
                await _replace_drained(js, cfg, info.config.retention)
            else:
                await js.update_stream(cfg)


async def _replace_drained(js: JetStreamContext, cfg: StreamConfig, old: RetentionPolicy | None) -> None:
    """JetStream cannot change a stream's retention; recreate it, but only once its consumers hold nothing unread
    (an older Playcorder kept acknowledged recordings in a limits stream)."""
    assert cfg.name is not None
    # nats-py types the counts Optional; the server always sends them (0 when nothing is pending).
    pending = {c.name: (c.num_pending or 0) + (c.num_ack_pending or 0) for c in await js.consumers_info(cfg.name)}
    if not pending or any(pending.values()):
        raise RuntimeError(
            f"Expected stream {cfg.name} with retention {cfg.retention.value if cfg.retention else None}, got "
            f"{getattr(old, 'value', old)} holding messages not yet "
            f"consumed ({pending or 'no consumer'}); let the previous version's recorder drain it, then restart")
    log.warning("recreating stream %s: retention %s -> %s (all %d consumers drained)", cfg.name,
                getattr(old, "value", old), cfg.retention.value if cfg.retention else None, len(pending))
    await js.delete_stream(cfg.name)
    try:
        await js.add_stream(cfg)
    except BadRequestError:  # another service recreated it first
        pass
