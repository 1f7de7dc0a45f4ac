"""HTTP face of the exporter: health endpoints only; export jobs arrive over NATS (the gateway signs download links)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response

from playcorder import metrics
from playcorder.bus import connect, ensure_streams, subjects_for
from playcorder.db.engine import make_engine, make_sessionmaker
from playcorder.storage import ObjectStore

from .jobs import ExportService
from .settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database.url)
        objects = ObjectStore(settings.s3)
        await objects.ensure_bucket()
        nc = await connect(settings.nats, name="exporter")
        subjects = subjects_for(settings.nats)
        await ensure_streams(nc, subjects)
        service = ExportService(nc, subjects, make_sessionmaker(engine), objects, settings.export_concurrency,
                                settings.export_workdir)
        task = asyncio.create_task(service.run())
        app.state.nc, app.state.service = nc, service
        yield
        service.stop()
        await asyncio.wait_for(task, timeout=30)
        await nc.drain()
        await engine.dispose()

    app = FastAPI(title="Playcorder exporter", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(response: Response) -> dict[str, object]:
        ok = app.state.nc.is_connected
        response.status_code = 200 if ok else 503
        return {"ready": ok, "jobs_done": app.state.service.jobs_done}

    metrics.install(app, settings.metrics_token)
    return app
