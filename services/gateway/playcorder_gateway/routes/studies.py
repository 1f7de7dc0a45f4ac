"""Studies: create (after a trial of its environments, trial.py), try a spec, list, read, the preview frames;
participants (play tokens) of a study."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, Response, status
from sqlmodel import col, select

from playcorder.auth import expiry, new_token, token_hash
from playcorder.db.models import ApiToken, Participant, Study
from playcorder.fields import PathId
from playcorder.specs import StudySpec
from playcorder.storage import MissingObject, preview_key

from ..deps import Bus, BusSubjects, DbSession, Designer, GatewaySettings, Objects, OwnedStudy
from ..errors import ErrorOut, ValidationErrorOut
from ..paging import DEFAULT_LIMIT, Cursor, Limit, Page, after, page
from ..schemas import ParticipantIn, ParticipantOut, StudyOut, TrialOut
from ..trial import checked, store_previews, tried

router = APIRouter(prefix="/api/studies", tags=["studies"])


def _out(study: Study) -> StudyOut:
    return StudyOut(id=study.id, name=study.name, created_at=study.created_at, spec=study.spec)


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
    await db.commit()
    return _out(study)


@router.post("/trial", response_model=TrialOut, responses={503: _NO_WORKER})
async def try_study(spec: StudySpec, designer: Designer, nc: Bus, subjects: BusSubjects,
                    settings: GatewaySettings) -> TrialOut:
    """Try a spec's environments without saving anything: per environment its problems (each at its field, with
    suggestions), spaces, export format limits and a preview frame (base64 JPEG)."""
    return TrialOut(environments=await tried(spec, nc, subjects, settings))


@router.get("", response_model=Page[StudyOut])
async def list_studies(db: DbSession, designer: Designer, limit: Limit = DEFAULT_LIMIT,
                       cursor: Cursor = None) -> Page[StudyOut]:
    """Your studies, oldest first, a page at a time."""
    query = after(select(Study).where(Study.owner_id == designer.id), cursor, col(Study.created_at), col(Study.id),
                  limit)
    rows, next_cursor = page(list(await db.exec(query)), limit, lambda s: (s.created_at, s.id))
    return Page(items=[_out(s) for s in rows], next_cursor=next_cursor)


@router.get("/{study_id}", response_model=StudyOut)
async def get_study(study: OwnedStudy) -> StudyOut:
    return _out(study)


@router.get("/{study_id}/environments/{env}/preview.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}, "description": "the environment's trial frame"},
                       404: {"model": ErrorOut, "description": "no such study, environment or preview"}})
async def get_preview(study: OwnedStudy, env: PathId, objects: Objects) -> Response:
    """The frame an environment of the study's current version showed when it was tried."""
    keys = [e["id"] for e in study.spec.get("environments", [])]
    if env not in keys:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Expected an environment key of this study "
                            f"({', '.join(keys)}), got {env[:100]!r}")
    version = getattr(study, "version", None) or 1
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
