"""The env-workers this gateway places sessions on: each live one's last heartbeat and free slots, with only the
asking designer's own episodes among those being recorded."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import col, select

from playcorder.db.models import Episode, Study

from ..deps import DbSession, Designer, Directory

router = APIRouter(tags=["placement"])


@router.get("/api/workers")
async def workers(designer: Designer, directory: Directory, db: DbSession) -> list[dict[str, object]]:
    live = directory.workers.live().values()
    recording = {e for hb in live for e in hb.recording}
    own: set[str] = set()
    if recording:
        query = (select(Episode.id).join(Study, col(Study.id) == col(Episode.study_id))
                 .where(col(Episode.id).in_(recording), Study.owner_id == designer.id))
        own = set(await db.exec(query))
    return [hb.model_dump(mode="json") | {"free": hb.free, "recording": [e for e in hb.recording if e in own]}
            for hb in live]
