"""Play sessions: who played which environment of a study, when, on which worker; a participant's sessions and
episodes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import func
from sqlmodel import col, select

from playcorder.db.models import Episode, PlaySession
from playcorder.db.queries import tags_of
from playcorder.fields import ShortText

from ..deps import DbSession, OwnedParticipant, OwnedStudy
from ..paging import DEFAULT_LIMIT, Cursor, Limit, Page, after, page
from ..schemas import EpisodeOut, ParticipantDetail, SessionOut

router = APIRouter(tags=["sessions"])
EMBEDDED = 100  # sessions, and episodes, a participant's detail embeds at most (the latest)


def _counted() -> Any:
    """Sessions with their number of episodes, counted per listed session (ix_episodes_session_id), not over every
    episode of every study."""
    n = select(func.count()).where(Episode.session_id == PlaySession.id).correlate(PlaySession).scalar_subquery()
    return select(PlaySession, n)


def _out(rows: Any) -> list[SessionOut]:
    return [SessionOut(**s.model_dump(), episodes=n) for s, n in rows]


@router.get("/api/studies/{study_id}/sessions", response_model=Page[SessionOut])
async def list_sessions(
    study: OwnedStudy, db: DbSession,
    participant: Annotated[ShortText | None, Query(description="participant id")] = None,
    env: Annotated[ShortText | None, Query(description="environment key in the study")] = None,
    active: Annotated[bool | None, Query(description="true: only sessions a participant is playing now (not "
                                                     "ended), which a designer can watch (/ws/watch/{session_id}); "
                                                     "false: only ended ones")] = None,
    limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
) -> Page[SessionOut]:
    """A study's sessions, oldest first, a page at a time."""
    where = [col(PlaySession.study_id) == study.id]
    if active is not None:
        where.append(col(PlaySession.ended_at).is_(None) if active else col(PlaySession.ended_at).is_not(None))
    if participant is not None:
        where.append(col(PlaySession.participant_id) == participant)
    if env is not None:
        where.append(col(PlaySession.env) == env)
    query = after(_counted().where(*where), cursor, col(PlaySession.started_at), col(PlaySession.id), limit)
    rows, next_cursor = page(list(await db.exec(query)), limit, lambda r: (r[0].started_at, r[0].id))
    return Page(items=_out(rows), next_cursor=next_cursor)


@router.get("/api/participants/{participant_id}", response_model=ParticipantDetail)
async def get_participant(participant: OwnedParticipant, db: DbSession) -> ParticipantDetail:
    """A participant with their latest sessions and episodes (at most 100 of each, oldest first), how many they have
    in all, and where to page through all of them."""
    pid = participant.id
    latest = (select(Episode).where(Episode.participant_id == pid)
              .order_by(col(Episode.started_at).desc(), col(Episode.id).desc()).limit(EMBEDDED))
    episodes = list(await db.exec(latest))[::-1]
    tags = await tags_of(db, [e.id for e in episodes])
    query = (_counted().where(col(PlaySession.participant_id) == pid)
             .order_by(col(PlaySession.started_at).desc(), col(PlaySession.id).desc()).limit(EMBEDDED))
    sessions = _out(list(await db.exec(query))[::-1])
    counts = select(select(func.count()).where(col(PlaySession.participant_id) == pid).scalar_subquery(),
                    select(func.count()).where(col(Episode.participant_id) == pid).scalar_subquery())
    session_count, episode_count = (await db.exec(counts)).one()
    lists = f"/api/studies/{participant.study_id}/{{}}?participant={pid}"
    return ParticipantDetail(
        id=pid, study_id=participant.study_id, external_id=participant.external_id,
        created_at=participant.created_at, sessions=sessions, episodes=[EpisodeOut.of(e, tags[e.id]) for e in episodes],
        session_count=session_count, episode_count=episode_count,
        sessions_list=lists.format("sessions"), episodes_list=lists.format("episodes"),
    )
