"""The gateway application: the lifespan that starts its services, the REST routers (with their body cap, error
handlers, documented errors and security headers), the play and watch WebSockets, health endpoints and the web UI.

SIGTERM drains the gateway (draining.py) before the server shuts down: /readyz answers 503 at once, and its
WebSockets are closed over a few seconds with 1012 for their clients to reconnect elsewhere and resume."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from playcorder import metrics
from playcorder.bus import connect, ensure_streams, subjects_for
from playcorder.db.engine import make_engine, make_sessionmaker
from playcorder.messages import Resync
from playcorder.signals import on_sigterm
from playcorder.storage import ObjectStore
from playcorder.workers import WorkerTable

from . import errors, responses, web
from .arrival_limit import ArrivalLimit
from .draining import Drain
from .external_ids import IdKey
from .limits import BodyLimit
from .placement import WorkerDirectory
from .routes import (
    accounts,
    arrival,
    campaigns,
    dashboard,
    episodes,
    exports,
    health,
    images,
    labelling,
    participant,
    play,
    preferences,
    segments,
    sessions,
    signin,
    steps,
    studies,
    tags,
    tokens,
    watch,
    workers,
)
from .security_headers import SecurityHeaders
from .settings import Settings
from .signin_gate import SigninGate

ROUTERS = (health, signin, accounts, workers, studies, participant, sessions, episodes, tags, steps, images, exports,
           tokens, campaigns, dashboard, arrival, preferences, segments, labelling, play, watch)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    relayed: set[str] = set()  # ids of the sessions whose WebSocket this gateway holds
    drain = Drain(settings.drain_spread, settings.drain_timeout)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database.url)
        subjects = subjects_for(settings.nats)

        async def resync() -> None:  # events for our clients may have been lost while we were cut off
            for session_id in list(relayed):
                await nc.publish(subjects.session_input(session_id), Resync(type="resync").model_dump_json().encode())

        nc = await connect(settings.nats, name=f"gateway {settings.gateway_id}", on_reconnect=resync)
        await ensure_streams(nc, subjects, settings.nats.record_max_bytes)
        directory = WorkerDirectory(nc, subjects, WorkerTable(nc, subjects, settings.worker_ttl),
                                    settings.placement_timeout)
        await directory.start()
        # Read by deps.py only: routes get each through a typed dependency.
        app.state.sessions, app.state.objects = make_sessionmaker(engine), ObjectStore(settings.s3)
        app.state.nc, app.state.subjects, app.state.directory = nc, subjects, directory
        drained: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        draining: list[asyncio.Task[None]] = []

        async def run_drain() -> None:
            try:
                await drain.run()
            finally:
                drained.set_result(None)  # SIGTERM goes on to uvicorn: the server shuts down

        with on_sigterm(lambda: draining.append(asyncio.create_task(run_drain())), drain.hurry, drained):
            yield
        await nc.drain()
        await engine.dispose()

    app = FastAPI(title="Playcorder gateway", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings, app.state.relayed, app.state.drain = settings, relayed, drain
    app.state.arrival_limit = ArrivalLimit(settings.enroll_rate, settings.enroll_burst)
    app.state.id_key = IdKey(settings.id_hash_secret)
    app.state.signin_gate = SigninGate(settings.signin_concurrency, settings.signin_max_address_failures,
                                       settings.signin_window)
    for module in ROUTERS:
        app.include_router(module.router)
    web.install_docs(app)
    responses.document(app, (module.router for module in ROUTERS))
    errors.install(app, settings.db_retry_after, [r for module in ROUTERS for r in module.router.routes],
                   s3_retry_after=settings.s3_retry_after)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)  # on every response, a 413 too
    metrics.install(app, settings.metrics_token, internet_facing=True)  # outermost: counts every answer
    if settings.frontend_dir is not None:
        s3 = settings.s3
        web.install_app(app, settings.frontend_dir,
                        f"{'https' if s3.secure else 'http'}://{s3.public_endpoint or s3.endpoint}")
    return app
