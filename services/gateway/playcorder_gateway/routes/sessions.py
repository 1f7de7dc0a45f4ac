"""Play sessions: who played which environment of a study, when, on which worker; a participant's sessions and
episodes."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, func
from sqlmodel import col, select

from playcorder.db.models import Episode, PlaySession
from playcorder.db.queries import tags_of

from ..deps import DbSession, OwnedParticipant, OwnedStudy
from ..schemas import EpisodeOut, ParticipantDetail, SessionOut

router = APIRouter(tags=["sessions"])


async def _sessions(db: DbSession, *where: ColumnElement[bool]) -> list[SessionOut]:
    # Counted per listed session (ix_episodes_session_id), not over every episode of every study.
    n = select(func.count()).where(Episode.session_id == PlaySession.id).correlate(PlaySession).scalar_subquery()
    rows = await db.exec(select(PlaySession, n).where(*where).order_by(col(PlaySession.started_at)))
    return [SessionOut(**s.model_dump(), episodes=n) for s, n in rows]


@router.get("/api/studies/{study_id}/sessions", response_model=list[SessionOut])
async def list_sessions(
    study: OwnedStudy, db: DbSession, participant: str | None = Query(None, description="participant id"),
    env: str | None = Query(None, description="environment key in the study"),
) -> list[SessionOut]:
    where = [col(PlaySession.study_id) == study.id]
    if participant is not None:
        where.append(col(PlaySession.participant_id) == participant)
    if env is not None:
        where.append(col(PlaySession.env) == env)
    return await _sessions(db, *where)


@router.get("/api/participants/{participant_id}", response_model=ParticipantDetail)
async def get_participant(participant: OwnedParticipant, db: DbSession) -> ParticipantDetail:
    episodes = list(await db.exec(select(Episode).where(Episode.participant_id == participant.id)
                                  .order_by(col(Episode.started_at))))
    tags = await tags_of(db, [e.id for e in episodes])
    sessions = await _sessions(db, col(PlaySession.participant_id) == participant.id)
    return ParticipantDetail(
        id=participant.id, study_id=participant.study_id, external_id=participant.external_id,
        created_at=participant.created_at, sessions=sessions, episodes=[EpisodeOut.of(e, tags[e.id]) for e in episodes],
    )
