"""The env-workers this gateway places sessions on: each live one's last heartbeat and free slots."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import Designer, Directory

router = APIRouter(tags=["placement"])


@router.get("/api/workers")
async def workers(designer: Designer, directory: Directory) -> list[dict[str, object]]:
    return [hb.model_dump(mode="json") | {"free": hb.free} for hb in directory.workers.live().values()]
