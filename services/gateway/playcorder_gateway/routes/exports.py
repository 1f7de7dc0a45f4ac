"""Exports: queue a dataset build (episodes by id or by filter, format and options), follow its progress, get
presigned links, signed here with the object store's keys: one for a ZIP, one per file for a directory tree.
A format that cannot hold the episodes' spaces (spaces.format_limits; for d3rlpy, processing.limits: frames and a
Discrete or Box action) is refused with 422 naming why."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlmodel import col, select

from playcorder.db.models import Episode, Export, Study
from playcorder.exports import EpisodeFilter, ExportOptions
from playcorder.fields import PathId, is_id
from playcorder.messages import RECORDING, ExportJob
from playcorder.processing import ProcessingOptions
from playcorder.processing import limits as processing_limits
from playcorder.spaces import format_limits
from playcorder.storage import ObjectStore

from ..deps import Bus, BusSubjects, DbSession, Designer, GatewaySettings, Objects, OwnedStudy, not_found
from ..errors import ErrorOut
from ..paging import DEFAULT_LIMIT, Cursor, Limit, Page, after, page
from ..queries import filtered
from ..schemas import ExportIn, ExportOut, PresignedFile

router = APIRouter(tags=["exports"])


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
            out.files = [PresignedFile(path=f["path"], size=f["size"], url=url)
                         for f, url in zip(tree, urls, strict=True)]
    return out


async def _select(db: DbSession, study: Study, body: ExportIn) -> list[str]:
    """The episode ids to export, in recording order; 422 naming what is wrong."""
    if body.episode_ids is not None and body.filter is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "Expected episode_ids or filter, got both")
    if body.episode_ids is None:
        f = body.filter or EpisodeFilter()
        if body.agent is not None:
            f = f.model_copy(update={"agent": body.agent})
        ids = list(await db.exec(filtered(select(Episode.id).where(Episode.study_id == study.id), f, f.states)))
        if not ids:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                                f"Expected at least one episode to export, none of study {study.id} matches "
                                f"{f.model_dump(exclude_defaults=True) or 'the default filter (completed episodes)'}")
        return ids
    if not body.episode_ids:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "Expected at least one episode id, got []")
    rows = await db.exec(select(Episode.id, Episode.state, Episode.agent).where(Episode.study_id == study.id))
    found = {eid: (state, agent) for eid, state, agent in rows.all()}
    unknown = [e for e in body.episode_ids if e not in found]
    unfinished = [e for e in body.episode_ids if e in found and found[e][0] == RECORDING]
    if unknown or unfinished:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"Expected ids of finished episodes of study {study.id}, got unknown {unknown} and still "
                            f"recording {unfinished}")
    ids = list(dict.fromkeys(body.episode_ids))
    if body.agent is not None:
        ids = [e for e in ids if found[e][1] == body.agent]
        if not ids:
            agents = sorted({str(found[e][1]) for e in body.episode_ids})
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                                f"Expected episodes of agent {body.agent!r} among the ids given, got episodes of "
                                f"agents {agents} ('None': single-agent episodes)")
    return ids


@router.post("/api/studies/{study_id}/exports", status_code=status.HTTP_202_ACCEPTED, response_model=ExportOut)
async def create_export(body: ExportIn, study: OwnedStudy, db: DbSession, designer: Designer, nc: Bus,
                        subjects: BusSubjects, objects: Objects, settings: GatewaySettings) -> ExportOut:
    ids = await _select(db, study, body)
    envs = sorted(set(await db.exec(select(Episode.env).where(col(Episode.id).in_(ids)).distinct())))
    if len(envs) > 1:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"Expected episodes of one environment (a dataset has one observation and action space), "
                            f"got {envs}; export each with filter.env")
    options = ExportOptions.model_validate(body.model_dump(include=set(ExportOptions.model_fields)))
    specs = (await db.exec(select(Episode.observation_spec, Episode.action_spec).where(Episode.id == ids[0]))).one()
    reason = format_limits(specs[0], specs[1]).get(options.format)
    if options.format == "d3rlpy":
        reason = processing_limits(specs[0], specs[1], options.processing or ProcessingOptions())
    if reason:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"Expected a format that can hold the spaces of environment {envs[0]!r}, got "
                            f"{options.format!r}: {reason}")
    export = Export(study_id=study.id, requested_by=designer.id, format=options.format, options=options.model_dump(),
                    episode_ids=ids, link_expiry_s=body.link_expiry or settings.export_link_expiry)
    db.add(export)
    await db.commit()
    await nc.jetstream().publish(
        subjects.export_jobs, ExportJob(export_id=export.id).model_dump_json().encode(),
        headers={"Nats-Msg-Id": f"export.{export.id}"},
    )
    return await _out(objects, export)


@router.get("/api/studies/{study_id}/exports", response_model=Page[ExportOut])
async def list_exports(study: OwnedStudy, db: DbSession, objects: Objects, limit: Limit = DEFAULT_LIMIT,
                       cursor: Cursor = None) -> Page[ExportOut]:
    """A study's exports, oldest first, a page at a time, with fresh links to the finished ones."""
    query = after(select(Export).where(Export.study_id == study.id), cursor, col(Export.created_at), col(Export.id),
                  limit)
    rows, next_cursor = page(list(await db.exec(query)), limit, lambda e: (e.created_at, e.id))
    return Page(items=[await _out(objects, e) for e in rows], next_cursor=next_cursor)


@router.get("/api/exports/{export_id}", response_model=ExportOut,
            responses={404: {"model": ErrorOut, "description": "no such export of your studies"}})
async def get_export(export_id: PathId, db: DbSession, designer: Designer, objects: Objects) -> ExportOut:
    export = await db.get(Export, export_id) if is_id(export_id) else None
    study = await db.get(Study, export.study_id) if export else None
    if export is None or study is None or study.owner_id != designer.id:
        raise not_found("an export of your studies", export_id)
    return await _out(objects, export)
