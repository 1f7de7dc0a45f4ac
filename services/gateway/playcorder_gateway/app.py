"""The gateway application: REST routers, the play WebSocket, health endpoints and the web UI."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from playcorder.bus import connect, ensure_streams, subjects_for
from playcorder.db.engine import make_engine, make_sessionmaker
from playcorder.messages import Resync
from playcorder.storage import ObjectStore
from playcorder.workers import WorkerTable

from .deps import Designer
from .placement import WorkerDirectory
from .routes import episodes, exports, participant, play, sessions, steps, studies, tags
from .settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database.url)
        subjects = subjects_for(settings.nats)

        async def resync() -> None:  # events for our clients may have been lost while we were cut off
            for session_id in list(app.state.relayed):
                await nc.publish(subjects.session_input(session_id), Resync(type="resync").model_dump_json().encode())

        nc = await connect(settings.nats, name=f"gateway {settings.gateway_id}", on_reconnect=resync)
        await ensure_streams(nc, subjects)
        workers = WorkerTable(nc, subjects, settings.worker_ttl)
        directory = WorkerDirectory(nc, subjects, workers, settings.placement_timeout)
        await directory.start()
        app.state.engine, app.state.sessions = engine, make_sessionmaker(engine)
        app.state.objects = ObjectStore(settings.s3)
        app.state.nc, app.state.subjects, app.state.directory = nc, subjects, directory
        yield
        await nc.drain()
        await engine.dispose()

    app = FastAPI(title="Playcorder gateway", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.relayed = set()  # ids of the sessions whose WebSocket this gateway holds
    for module in (studies, participant, sessions, episodes, tags, steps, exports, play):
        app.include_router(module.router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz(response: Response) -> dict[str, object]:
        ok = app.state.nc.is_connected
        try:
            async with app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            ok = False
        response.status_code = 200 if ok else 503
        return {"ready": ok, "workers": len(app.state.directory.workers.live())}

    @app.get("/api/me", tags=["accounts"])
    async def me(designer: Designer) -> dict[str, str]:
        return {"id": designer.id, "name": designer.name, "role": designer.role}

    @app.get("/api/workers", tags=["placement"])
    async def workers(designer: Designer) -> list[dict[str, object]]:
        return [hb.model_dump(mode="json") | {"free": hb.free} for hb in app.state.directory.workers.live().values()]

    if settings.frontend_dir is not None:
        app.mount("/", StaticFiles(directory=settings.frontend_dir, html=True), name="frontend")
    return app
