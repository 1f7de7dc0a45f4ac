"""Exports: queue a dataset build, follow its progress, get a presigned link (signed by an exporter)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, status
from nats.errors import NoRespondersError, TimeoutError as NatsTimeout
from pydantic import BaseModel, Field
from sqlmodel import select

from playcorder.db.models import Episode, Export, Study
from playcorder.messages import ExportJob, PresignReply, PresignRequest

from ..deps import DbSession, Designer, OwnedStudy

router = APIRouter(tags=["exports"])


class ExportIn(BaseModel):
    episode_ids: list[str] | None = Field(None, description="episodes to export; default: every completed episode")
    format: str = Field("rlds", description="dataset format; 'rlds' (TFDS layout, zipped)")
    link_expiry: int | None = Field(None, ge=1, le=7 * 24 * 3600, description="seconds a presigned link stays valid")


class ExportOut(BaseModel):
    id: str
    study_id: str
    format: str
    state: str
    episodes: int
    steps_done: int
    steps_total: int
    size_bytes: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    url: str | None = None
    expires_at: datetime | None = None


FORMATS = ("rlds",)


async def _presign(request: Request, export: Export) -> PresignReply:
    state = request.app.state
    req = PresignRequest(export_id=export.id, expires_in=export.link_expiry_s)
    try:
        msg = await state.nc.request(state.subjects.export_presign, req.model_dump_json().encode(), timeout=5)
    except (NatsTimeout, NoRespondersError):
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "No exporter answered; retry shortly") from None
    return PresignReply.model_validate_json(msg.data)


async def _out(request: Request, export: Export) -> ExportOut:
    out = ExportOut(
        id=export.id, study_id=export.study_id, format=export.format, state=export.state,
        episodes=len(export.episode_ids), steps_done=export.steps_done, steps_total=export.steps_total,
        size_bytes=export.size_bytes, error=export.error, created_at=export.created_at, finished_at=export.finished_at,
    )
    if export.state == "done":
        reply = await _presign(request, export)
        out.url, out.expires_at = reply.url, reply.expires_at
    return out


@router.post("/api/studies/{study_id}/exports", status_code=status.HTTP_202_ACCEPTED, response_model=ExportOut)
async def create_export(body: ExportIn, study: OwnedStudy, db: DbSession, designer: Designer, request: Request) -> ExportOut:
    if body.format not in FORMATS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"Expected format in {list(FORMATS)}, got {body.format!r}")
    query = select(Episode.id, Episode.state).where(Episode.study_id == study.id)
    rows = {eid: st for eid, st in await db.exec(query.order_by(Episode.started_at))}  # type: ignore[arg-type]
    if body.episode_ids is None:
        ids = [eid for eid, st in rows.items() if st == "completed"]
    else:
        unknown = [e for e in body.episode_ids if e not in rows]
        unfinished = [e for e in body.episode_ids if rows.get(e) == "recording"]
        if unknown or unfinished:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY,
                f"Expected ids of finished episodes of study {study.id}, got unknown {unknown} and still recording {unfinished}",
            )
        ids = list(dict.fromkeys(body.episode_ids))
    if not ids:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"Expected at least one episode to export, study {study.id} has none completed")
    export = Export(study_id=study.id, requested_by=designer.id, format=body.format, episode_ids=ids,
                    link_expiry_s=body.link_expiry or request.app.state.settings.export_link_expiry)
    db.add(export)
    await db.commit()
    state = request.app.state
    await state.nc.jetstream().publish(
        state.subjects.export_jobs, ExportJob(export_id=export.id).model_dump_json().encode(),
        headers={"Nats-Msg-Id": f"export.{export.id}"},
    )
    return await _out(request, export)


@router.get("/api/studies/{study_id}/exports", response_model=list[ExportOut])
async def list_exports(study: OwnedStudy, db: DbSession, request: Request) -> list[ExportOut]:
    rows = await db.exec(select(Export).where(Export.study_id == study.id).order_by(Export.created_at))  # type: ignore[arg-type]
    return [await _out(request, e) for e in rows]


@router.get("/api/exports/{export_id}", response_model=ExportOut)
async def get_export(export_id: str, db: DbSession, designer: Designer, request: Request) -> ExportOut:
    export = await db.get(Export, export_id)
    study = await db.get(Study, export.study_id) if export else None
    if export is None or study is None or study.owner_id != designer.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Expected the id of an export of your studies, got {export_id!r}")
    return await _out(request, export)
