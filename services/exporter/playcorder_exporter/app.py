"""HTTP face of the exporter: health endpoints only; export jobs arrive over NATS (the gateway signs download links).

With EXPORTER_PROCESSES > 1 the process serving HTTP starts that many minus one more, each its own NATS, database
and S3 clients taking jobs and shard tasks from the same durable consumers (processes.py): the Python parts of a
build hold the GIL, so threads alone would not use a second core."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response

from playcorder import metrics

from .jobs import ExportService
from .processes import ExtraProcesses, open_service
from .settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        extra = ExtraProcesses(settings.exporter_processes - 1)
        async with open_service(settings) as (nc, service):
            task = asyncio.create_task(service.run())
            app.state.nc, app.state.service, app.state.extra = nc, service, extra
            extra.start()
            yield
            service.stop()
            extra.stop()
            await asyncio.wait_for(task, timeout=30)
        extra.join()

    app = FastAPI(title="Playcorder exporter", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(response: Response) -> dict[str, object]:
        ok = app.state.nc.is_connected and app.state.extra.alive()
        response.status_code = 200 if ok else 503
        service: ExportService = app.state.service
        return {"ready": ok, "jobs_done": service.jobs_done, "shards_built": service.shards_built,
                "processes": 1 + app.state.extra.count}

    metrics.install(app, settings.metrics_token)
    return app
