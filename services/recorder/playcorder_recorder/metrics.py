"""The recorder's Prometheus metrics: what it made durable, and how far behind the workers it is.

The backlog is read from JetStream (the consumer's pending count), polled every few seconds off the storing path:
every replica reports the same shared consumer, so a dashboard takes the max over replicas, not the sum."""

from __future__ import annotations

import asyncio
import logging

from nats.js.client import JetStreamContext
from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger(__name__)

CHUNKS_STORED = Counter("playcorder_recorder_chunks_stored_total", "Step chunks made durable (object in S3, row in "
                        "PostgreSQL); a redelivered chunk, stored again idempotently, counts again")
STEPS_STORED = Counter("playcorder_recorder_steps_stored_total", "Steps in the chunks made durable")
EPISODES_FINALIZED = Counter("playcorder_recorder_episodes_finalized_total", "Episodes whose end was applied "
                             "(state, counts and reward from what is stored), by end state", ["state"])
DEAD_LETTERS = Counter("playcorder_recorder_dead_letters_total", "Messages that were no valid recording, kept in S3 "
                       "under deadletter/ and terminated")
BATCH_SECONDS = Histogram("playcorder_recorder_batch_seconds", "Time to store one fetched batch of record messages",
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
BACKLOG = Gauge("playcorder_recorder_backlog_messages", "Record messages in JetStream not yet delivered to a recorder "
                "(the durable consumer's num_pending)")
ACK_PENDING = Gauge("playcorder_recorder_ack_pending_messages", "Record messages delivered to a recorder and not yet "
                    "acknowledged (being stored, or waiting for a redelivery)")
BACKLOG_AGE = Gauge("playcorder_recorder_backlog_polled_timestamp_seconds", "When the backlog was last read from "
                    "JetStream (Unix time): a stale value means the poll fails")


async def watch_backlog(js: JetStreamContext, stream: str, durable: str, interval: float) -> None:
    """Set BACKLOG and ACK_PENDING from the consumer's info every `interval` seconds until cancelled; a failed read
    (NATS away, the consumer not made yet) leaves the last values and BACKLOG_AGE behind."""
    while True:
        try:
            info = await js.consumer_info(stream, durable, timeout=2)
            BACKLOG.set(info.num_pending or 0)
            ACK_PENDING.set(info.num_ack_pending or 0)
            BACKLOG_AGE.set_to_current_time()
        except Exception as err:
            log.debug("reading the backlog of %s/%s failed: %r", stream, durable, err)
        await asyncio.sleep(interval)
