"""Health endpoints: alive, and ready (connected to NATS and PostgreSQL, not draining) with the number of live
workers."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import text

from ..deps import Bus, DbSession, Directory, GatewayDrain

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


class Readiness(BaseModel):
    ready: bool
    workers: int
    draining: bool = False  # told to stop (SIGTERM): it closes its WebSockets and takes no new ones


@router.get("/readyz", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "not connected to NATS or PostgreSQL, or draining "
                                                                 "(told to stop)"}})
async def readyz(response: Response, nc: Bus, db: DbSession, directory: Directory,
                 drain: GatewayDrain) -> dict[str, object]:
    if drain.draining:  # at once, without asking the database: a load balancer is to stop sending connections
        response.status_code = 503
        return {"ready": False, "workers": len(directory.workers.live()), "draining": True}
    ok = nc.is_connected
    try:
        await (await db.connection()).execute(text("SELECT 1"))
    except Exception:  # not ready is the answer, whatever the database says
        ok = False
    response.status_code = 200 if ok else 503
    return {"ready": ok, "workers": len(directory.workers.live())}
