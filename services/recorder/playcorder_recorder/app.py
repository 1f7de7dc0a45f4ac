"""HTTP face of the recorder: health endpoints; the consumer runs as a background task."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from sqlalchemy import text

from playcorder import metrics
from playcorder.bus import connect, ensure_streams, subjects_for
from playcorder.db.engine import make_engine, make_sessionmaker
from playcorder.storage import ObjectStore
from playcorder.workers import WorkerTable

from .consumer import RecordConsumer
from .metrics import watch_backlog
from .outage import Outages
from .reaper import Reaper
from .settings import Settings
from .store import EpisodeStore


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # The S3 client retries a refused request a few times on its own, logging a warning each time; an S3 still
    # away after those is logged once by outage.py, with the recorder's own backoff.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database.url)
        objects = ObjectStore(settings.s3)
        await objects.ensure_bucket()
        nc = await connect(settings.nats, name="recorder")
        subjects = subjects_for(settings.nats)
        await ensure_streams(nc, subjects, settings.nats.record_max_bytes)
        sessions = make_sessionmaker(engine)
        outages = Outages()  # one per backend for the consumer and the reaper: one warning, one recovery
        consumer = RecordConsumer(nc, subjects, EpisodeStore(sessions, objects), settings.recorder_durable,
                                  settings.recorder_batch, outages)
        reaper = Reaper(nc, subjects, sessions, WorkerTable(nc, subjects, settings.worker_ttl), settings.reap_interval,
                        outages)
        task, reaping = asyncio.create_task(consumer.run()), asyncio.create_task(reaper.run())
        polling = asyncio.create_task(watch_backlog(nc.jetstream(), subjects.record_stream, settings.recorder_durable,
                                                    settings.backlog_interval))
        app.state.engine, app.state.nc, app.state.consumer, app.state.reaper = engine, nc, consumer, reaper
        yield
        reaping.cancel()
        polling.cancel()
        consumer.stop()
        await task
        await asyncio.gather(reaping, polling, return_exceptions=True)
        await nc.drain()
        await engine.dispose()

    app = FastAPI(title="Playcorder recorder", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(response: Response) -> dict[str, object]:
        ok = app.state.nc.is_connected
        try:
            async with app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            ok = False
        response.status_code = 200 if ok else 503
        return {"ready": ok, "stored": app.state.consumer.stored, "reaped": app.state.reaper.reaped}

    metrics.install(app, settings.metrics_token)
    return app
