"""HTTP face of the env-worker: health endpoints for Kubernetes probes; the real work is on NATS.

SIGTERM drains the worker (draining.py) while these stay up: /readyz answers 503 from the first SIGTERM, /healthz
200 until the drain is over and the server shuts down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response

from playcorder import metrics
from playcorder.signals import on_sigterm

from . import metrics as worker_metrics
from .settings import Settings
from .worker import Worker


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    worker = Worker(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await worker.start()
        drained: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        draining: list[asyncio.Task[None]] = []

        async def drain() -> None:
            try:
                await worker.drain()
            finally:
                drained.set_result(None)  # SIGTERM goes on to uvicorn: the server shuts down, then stop() below

        with on_sigterm(lambda: draining.append(asyncio.create_task(drain())), worker.hurry, drained):
            yield
        await worker.stop()

    app = FastAPI(title="Playcorder env-worker", lifespan=lifespan)
    app.state.worker = worker
    worker_metrics.WORKER.info({"worker_id": settings.worker_id})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(response: Response) -> dict[str, object]:
        ok = worker.ready
        response.status_code = 200 if ok else 503
        return {"ready": ok, "worker_id": settings.worker_id, "sessions": len(worker.sessions),
                "capacity": settings.worker_capacity}

    metrics.install(app, settings.metrics_token)
    return app
