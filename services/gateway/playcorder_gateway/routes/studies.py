"""Studies: create, list, read; participants (play tokens) of a study."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, status
from sqlmodel import col, select

from playcorder.auth import expiry, new_token, token_hash
from playcorder.db.models import ApiToken, Participant, Study
from playcorder.specs import StudySpec

from ..deps import DbSession, Designer, GatewaySettings, OwnedStudy
from ..paging import DEFAULT_LIMIT, Cursor, Limit, Page, after, page
from ..schemas import ParticipantIn, ParticipantOut, StudyOut

router = APIRouter(prefix="/api/studies", tags=["studies"])


def _out(study: Study) -> StudyOut:
    return StudyOut(id=study.id, name=study.name, created_at=study.created_at, spec=study.spec)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StudyOut)
async def create_study(spec: StudySpec, db: DbSession, designer: Designer) -> StudyOut:
    study = Study(name=spec.name, owner_id=designer.id, spec=spec.model_dump(mode="json"))
    db.add(study)
    await db.commit()
    return _out(study)


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
