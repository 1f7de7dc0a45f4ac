"""Exports: queue a dataset build (episodes by id or by filter, format and options), follow its progress, get
presigned links (signed here, from the object store's keys): one for a ZIP, one per file for a directory tree."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field
from sqlmodel import col, select

from playcorder.db.models import Episode, Export, Study
from playcorder.exports import EpisodeFilter, ExportOptions
from playcorder.messages import RECORDING, ExportJob
from playcorder.storage import ObjectStore

from ..deps import DbSession, Designer, OwnedStudy
from .episodes import filtered

router = APIRouter(tags=["exports"])


class ExportIn(ExportOptions):
    episode_ids: list[str] | None = Field(None, description="these episodes (finished ones of the study)")
    filter: EpisodeFilter | None = Field(None, description="the episodes matching this filter")
    link_expiry: int | None = Field(None, ge=1, le=7 * 24 * 3600, description="seconds a presigned link stays valid")


class PresignedFile(BaseModel):
    path: str
    size: int
    url: str


class ExportOut(BaseModel):
    id: str
    study_id: str
    format: str
    options: dict
    state: str
    episodes: int
    steps_done: int
    steps_total: int
    size_bytes: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    url: str | None = Field(None, description="presigned link to the ZIP")
    files: list[PresignedFile] | None = Field(None, description="presigned links to each file of a tree export")
    expires_at: datetime | None = None


async def _out(objects: ObjectStore, export: Export) -> ExportOut:
    out = ExportOut(
        id=export.id, study_id=export.study_id, format=export.format, options=export.options, state=export.state,
        episodes=len(export.episode_ids), steps_done=export.steps_done, steps_total=export.steps_total,
        size_bytes=export.size_bytes, error=export.error, created_at=export.created_at, finished_at=export.finished_at,
    )
    if export.state == "done" and export.object_key is not None:
        tree = export.files  # None for a ZIP
        keys = [export.object_key] if tree is None else [export.object_key + f["path"] for f in tree]
        urls, out.expires_at = await objects.presign_get(keys, export.link_expiry_s)
        if tree is None:
            out.url = urls[0]
        else:
            out.files = [PresignedFile(path=f["path"], size=f["size"], url=url) for f, url in zip(tree, urls)]
    return out


async def _select(db: DbSession, study: Study, body: ExportIn) -> list[str]:
    """The episode ids to export, in recording order; 422 naming what is wrong."""
    if body.episode_ids is not None and body.filter is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "Expected episode_ids or filter, got both")
    if body.episode_ids is None:
        f = body.filter or EpisodeFilter()
        rows = await db.exec(filtered(select(Episode.id).where(Episode.study_id == study.id), f, list(f.states)))
        ids = list(rows)
        if not ids:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                                f"Expected at least one episode to export, none of study {study.id} matches "
                                f"{f.model_dump(exclude_defaults=True) or 'the default filter (completed episodes)'}")
        return ids
    states = {eid: st for eid, st in await db.exec(select(Episode.id, Episode.state).where(Episode.study_id == study.id))}  # type: ignore[call-overload]
    unknown = [e for e in body.episode_ids if e not in states]
    unfinished = [e for e in body.episode_ids if states.get(e) == RECORDING]
    if unknown or unfinished or not body.episode_ids:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"Expected ids of finished episodes of study {study.id}, got unknown {unknown} and still "
                            f"recording {unfinished}" if body.episode_ids else "Expected at least one episode id, got []")
    return list(dict.fromkeys(body.episode_ids))


@router.post("/api/studies/{study_id}/exports", status_code=status.HTTP_202_ACCEPTED, response_model=ExportOut)
async def create_export(body: ExportIn, study: OwnedStudy, db: DbSession, designer: Designer, request: Request) -> ExportOut:
    ids = await _select(db, study, body)
    envs = sorted(set(await db.exec(select(Episode.env).where(col(Episode.id).in_(ids)).distinct())))
    if len(envs) > 1:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"Expected episodes of one environment (a dataset has one observation and action space), "
                            f"got {envs}; export each with filter.env")
    options = ExportOptions.model_validate(body.model_dump(include=set(ExportOptions.model_fields)))
    export = Export(study_id=study.id, requested_by=designer.id, format=options.format, options=options.model_dump(),
                    episode_ids=ids, link_expiry_s=body.link_expiry or request.app.state.settings.export_link_expiry)
    db.add(export)
    await db.commit()
    state = request.app.state
    await state.nc.jetstream().publish(
        state.subjects.export_jobs, ExportJob(export_id=export.id).model_dump_json().encode(),
        headers={"Nats-Msg-Id": f"export.{export.id}"},
    )
    return await _out(request.app.state.objects, export)


@router.get("/api/studies/{study_id}/exports", response_model=list[ExportOut])
async def list_exports(study: OwnedStudy, db: DbSession, request: Request) -> list[ExportOut]:
    rows = await db.exec(select(Export).where(Export.study_id == study.id).order_by(Export.created_at))  # type: ignore[arg-type]
    return [await _out(request.app.state.objects, e) for e in rows]


@router.get("/api/exports/{export_id}", response_model=ExportOut)
async def get_export(export_id: str, db: DbSession, designer: Designer, request: Request) -> ExportOut:
    export = await db.get(Export, export_id)
    study = await db.get(Study, export.study_id) if export else None
    if export is None or study is None or study.owner_id != designer.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Expected the id of an export of your studies, got {export_id!r}")
    return await _out(request.app.state.objects, export)
