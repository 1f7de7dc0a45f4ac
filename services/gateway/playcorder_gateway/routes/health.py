"""Health endpoints: alive, and ready (connected to NATS and PostgreSQL) with the number of live workers."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import text

from ..deps import Bus, DbSession, Directory

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(response: Response, nc: Bus, db: DbSession, directory: Directory) -> dict[str, object]:
    ok = nc.is_connected
    try:
        await (await db.connection()).execute(text("SELECT 1"))
    except Exception:  # not ready is the answer, whatever the database says
        ok = False
    response.status_code = 200 if ok else 503
    return {"ready": ok, "workers": len(directory.workers.live())}
