"""Studies: create and edit (each after a trial of its environments, trial.py; each changed spec a new
version), try a spec, list, read, enable/disable, archive, delete; their versions and preview frames; participants
(play tokens) of a study."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.auth import expiry, new_token, token_hash
from playcorder.db.models import ApiToken, Episode, Participant, Study, StudyVersion, now
from playcorder.fields import PathId, PositiveInt32
from playcorder.specs import StudySpec
from playcorder.storage import MissingObject, preview_key

from ..deps import Bus, BusSubjects, DbSession, Designer, GatewaySettings, Objects, OwnedStudy, not_found
from ..errors import ErrorOut, ValidationErrorOut
from ..paging import DEFAULT_LIMIT, Cursor, Limit, Page, after, decode, encode, page
from ..schemas import ParticipantIn, ParticipantOut, StudyOut, StudyPatch, StudyVersionOut, TrialOut
from ..trial import checked, store_previews, tried

router = APIRouter(prefix="/api/studies", tags=["studies"])


def study_prefix(study_id: str) -> str:
    """Where a study's own objects (the preview frames of each version) live in S3."""
    return f"studies/{study_id}/"


async def _episode_counts(db: AsyncSession, study_ids: list[str]) -> dict[str, int]:
    query = (select(Episode.study_id, func.count()).where(col(Episode.study_id).in_(study_ids))
             .group_by(col(Episode.study_id)))
    counts = {s: 0 for s in study_ids}
    counts.update({s: int(n) for s, n in await db.exec(query)})
    return counts


def _out(study: Study, episodes: int) -> StudyOut:
    return StudyOut(id=study.id, name=study.name, created_at=study.created_at, spec=study.spec, version=study.version,
                    enabled=study.enabled, archived=study.archived_at is not None,
                    disabled_environments=study.disabled_environments, updated_at=study.updated_at,
                    episode_count=episodes)


async def _one(db: AsyncSession, study: Study) -> StudyOut:
    return _out(study, (await _episode_counts(db, [study.id]))[study.id])


def _same_spec(stored: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether `new` is the stored spec, once the stored one has the defaults of fields added since it was saved."""
    try:
        return StudySpec.model_validate(stored).model_dump(mode="json") == new
    except ValidationError:  # stored under older rules: anything valid now differs from it
        return False


_NO_WORKER = {"description": "the database or S3 unreachable, or no env-worker answered to try the environments; "
                              "retry after Retry-After seconds", "model": ErrorOut,
              "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}}
_TRIAL_422 = {"description": "the body is not a study spec, or trying an environment found problems (type "
                             "environment_trial, with suggestions, at the field of each)", "model": ValidationErrorOut}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StudyOut,
             responses={422: _TRIAL_422, 503: _NO_WORKER})
async def create_study(spec: StudySpec, db: DbSession, designer: Designer, nc: Bus, subjects: BusSubjects,
                       settings: GatewaySettings, objects: Objects) -> StudyOut:
    """Tries every environment on an env-worker first (build, reset, one step, render, the input map against the
    action space, the spaces recordable): any problem is a 422, and nothing is saved."""
    replies = await checked(spec, nc, subjects, settings)
    study = Study(name=spec.name, owner_id=designer.id, spec=spec.model_dump(mode="json"))
    await store_previews(objects, study.id, 1, replies)  # version 1: a study's first
    db.add(study)
    await db.flush()
    db.add(StudyVersion(study_id=study.id, version=1, spec=study.spec, created_at=study.created_at,
                        created_by=designer.id))
    await db.commit()
    return _out(study, 0)


@router.post("/trial", response_model=TrialOut, responses={503: _NO_WORKER})
async def try_study(spec: StudySpec, designer: Designer, nc: Bus, subjects: BusSubjects,
                    settings: GatewaySettings) -> TrialOut:
    """Try a spec's environments without saving anything: per environment its problems (each at its field, with
    suggestions), spaces, export format limits and a preview frame (base64 JPEG)."""
    return TrialOut(environments=await tried(spec, nc, subjects, settings))


@router.get("", response_model=Page[StudyOut])
async def list_studies(
    db: DbSession, designer: Designer, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
    archived: Annotated[bool, Query(description="true: only the archived studies (hidden otherwise)")] = False,
) -> Page[StudyOut]:
    """Your studies, oldest first, a page at a time: those not archived, or only the archived ones."""
    shown = col(Study.archived_at).is_not(None) if archived else col(Study.archived_at).is_(None)
    query = after(select(Study).where(Study.owner_id == designer.id, shown), cursor, col(Study.created_at),
                  col(Study.id), limit)
    rows, next_cursor = page(list(await db.exec(query)), limit, lambda s: (s.created_at, s.id))
    counts = await _episode_counts(db, [s.id for s in rows])
    return Page(items=[_out(s, counts[s.id]) for s in rows], next_cursor=next_cursor)


@router.get("/{study_id}", response_model=StudyOut)
async def get_study(study: OwnedStudy, db: DbSession) -> StudyOut:
    return await _one(db, study)


@router.put("/{study_id}", response_model=StudyOut, responses={422: _TRIAL_422, 503: _NO_WORKER})
async def edit_study(spec: StudySpec, study: OwnedStudy, db: DbSession, designer: Designer, nc: Bus,
                     subjects: BusSubjects, settings: GatewaySettings, objects: Objects) -> StudyOut:
    """Replace the study's spec: a new version when it differs from the current one (the same spec changes nothing).
    Episodes keep the version they were played with; sessions started from now on play the new one."""
    new = spec.model_dump(mode="json")
    if _same_spec(study.spec, new):
        return await _one(db, study)
    replies = await checked(spec, nc, subjects, settings)  # the 422 or 503 before any lock
    # Locked: two edits at once make two versions, one after the other.
    locked = await db.get(Study, study.id, with_for_update=True, populate_existing=True)
    if locked is None:  # deleted while its environments were tried (the delete does not wait for a trial)
        raise not_found("one of your studies", study.id)
    if _same_spec(locked.spec, new):
        await db.commit()
        return await _one(db, locked)
    locked.version += 1
    locked.name, locked.spec, locked.updated_at = spec.name, new, now()
    keys = {e.id for e in spec.environments}  # a removed environment is no longer disabled
    locked.disabled_environments = [k for k in locked.disabled_environments if k in keys]
    db.add(locked)
    db.add(StudyVersion(study_id=locked.id, version=locked.version, spec=new, created_at=locked.updated_at,
                        created_by=designer.id))
    await store_previews(objects, locked.id, locked.version, replies)
    await db.commit()
    return await _one(db, locked)


@router.patch("/{study_id}", response_model=StudyOut)
async def set_study(body: StudyPatch, study: OwnedStudy, db: DbSession) -> StudyOut:
    """Enable or disable the study or some of its environments, archive or unarchive it; no new version. Sessions
    already running go on; new ones follow the new settings."""
    # Locked, and read afresh: a delete or an edit in between is seen (a deleted study is a 404, not a stale row).
    locked = await db.get(Study, study.id, with_for_update=True, populate_existing=True)
    if locked is None:
        raise not_found("one of your studies", study.id)
    if body.disabled_environments is not None:
        keys = [e["id"] for e in locked.spec["environments"]]
        if unknown := [k for k in body.disabled_environments if k not in keys]:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                                f"Expected environment keys of the study in {keys}, got unknown {unknown}")
        locked.disabled_environments = list(dict.fromkeys(body.disabled_environments))
    if body.enabled is not None:
        locked.enabled = body.enabled
    if body.archived is not None and body.archived != (locked.archived_at is not None):
        locked.archived_at = now() if body.archived else None
    locked.updated_at = now()
    db.add(locked)
    await db.commit()
    return await _one(db, locked)


@router.delete("/{study_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={409: {"model": ErrorOut, "description": "the study has episodes: archive it instead"}})
async def delete_study(study: OwnedStudy, db: DbSession, objects: Objects) -> Response:
    """Delete a study without episodes, with its versions, participants, tokens and sessions. One with episodes is
    archived instead (PATCH archived=true): deleting it would delete recorded data."""
    # Locked: an episode stored meanwhile waits for this to finish (and then finds no study), or it counts; a
    # delete or an edit that held the lock first is seen (deleted: a 404).
    if await db.get(Study, study.id, with_for_update=True, populate_existing=True) is None:
        raise not_found("one of your studies", study.id)
    episodes = (await _episode_counts(db, [study.id]))[study.id]
    if episodes:
        raise HTTPException(status.HTTP_409_CONFLICT, f"Expected a study without episodes to delete, got {episodes} "
                                                      "episodes: archive it instead (PATCH archived=true)")
    await asyncio.to_thread(objects.delete_prefix_sync, study_prefix(study.id))
    await db.delete(study)  # versions, participants, tokens, sessions go with it (ON DELETE CASCADE)
    await db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{study_id}/versions", response_model=Page[StudyVersionOut])
async def list_versions(study: OwnedStudy, db: DbSession, limit: Limit = DEFAULT_LIMIT,
                        cursor: Cursor = None) -> Page[StudyVersionOut]:
    """Every version of the study's spec, oldest first, a page at a time."""
    query = select(StudyVersion).where(StudyVersion.study_id == study.id)
    if cursor:
        _, last = decode(cursor)
        if not last.isdigit() or len(last) > 10:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                                f"Expected the next_cursor of a previous page of versions, got {cursor[:40]!r}")
        query = query.where(StudyVersion.version > int(last))
    rows = list(await db.exec(query.order_by(col(StudyVersion.version)).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=[StudyVersionOut(version=v.version, spec=v.spec, created_at=v.created_at) for v in rows],
                next_cursor=encode(rows[-1].created_at, str(rows[-1].version)) if more else None)


@router.get("/{study_id}/versions/{version}", response_model=StudyVersionOut,
            responses={404: {"model": ErrorOut, "description": "no such study among yours, or no such version"}})
async def get_version(study: OwnedStudy, version: PositiveInt32, db: DbSession) -> StudyVersionOut:
    row = await db.get(StudyVersion, (study.id, version))
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Expected a version of study {study.id} in "
                                                       f"1..{study.version}, got {version}")
    return StudyVersionOut(version=row.version, spec=row.spec, created_at=row.created_at)


@router.get("/{study_id}/environments/{env}/preview.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}, "description": "the environment's trial frame"},
                       404: {"model": ErrorOut, "description": "no such study, environment or preview"}})
async def get_preview(study: OwnedStudy, env: PathId, objects: Objects) -> Response:
    """The frame an environment of the study's current version showed when it was tried."""
    keys = [e["id"] for e in study.spec.get("environments", [])]
    if env not in keys:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Expected an environment key of this study "
                            f"({', '.join(keys)}), got {env[:100]!r}")
    version = study.version
    try:
        data = await objects.get_bytes(preview_key(study.id, version, env))
    except MissingObject:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Expected a preview of {env!r} in version {version}, "
                            "found none (a study created before trials were made has none)") from None
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.post("/{study_id}/participants", status_code=status.HTTP_201_CREATED, response_model=ParticipantOut)
async def create_participant(study: OwnedStudy, db: DbSession, settings: GatewaySettings,
                             body: ParticipantIn | None = None) -> ParticipantOut:
    """A participant and their play token, scoped to this study; the token is shown only here."""
    ttl = settings.participant_token_ttl
    if body is not None and body.expires_in is not None:
        if body.expires_in > ttl:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"Expected expires_in of at most {ttl} s "
                                f"(the gateway's PARTICIPANT_TOKEN_TTL), got {body.expires_in}")
        ttl = body.expires_in
    participant = Participant(study_id=study.id, external_id=body.external_id if body else None)
    token, expires_at = new_token("participant"), expiry(timedelta(seconds=ttl))
    db.add(participant)
    await db.flush()
    db.add(ApiToken(token_hash=token_hash(token), kind="participant", participant_id=participant.id, study_id=study.id,
                    expires_at=expires_at))
    await db.commit()
    return ParticipantOut(participant_id=participant.id, study_id=study.id, token=token, expires_at=expires_at)
