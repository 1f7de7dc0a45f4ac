"""Revoking tokens: all of a participant's play tokens (ending their live sessions), or the designer's own token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import or_
from sqlmodel import col, select

from playcorder.auth import token_hash
from playcorder.db.models import ApiToken, PlaySession
from playcorder.db.queries import revoke_tokens
from playcorder.messages import CloseSession, SessionEnded

from ..deps import BearerToken, Bus, BusSubjects, DbSession, Designer, OwnedParticipant
from ..errors import ErrorOut
from ..schemas import RevokedOut

router = APIRouter(tags=["tokens"])
RESUMABLE_FOR = timedelta(hours=1)  # beyond any sensible RESUME_GRACE


@router.post("/api/participants/{participant_id}/revoke", response_model=RevokedOut)
async def revoke_participant(participant: OwnedParticipant, db: DbSession, nc: Bus,
                             subjects: BusSubjects) -> RevokedOut:
    """Revoke the participant's play tokens and end their live sessions: the client is told `session_ended`
    (reason `revoked`), its socket closed, the unfinished episode abandoned."""
    revoked = await revoke_tokens(db, col(ApiToken.participant_id) == participant.id)
    await db.commit()
    # Relayed sessions have no ended_at; one whose client dropped it has one, yet its worker may still hold it for a
    # resume (RESUME_GRACE, a worker setting): end those too (a worker that no longer has one ignores the close).
    recent = datetime.now(UTC) - RESUMABLE_FOR
    live = list(await db.exec(select(PlaySession.id).where(
        PlaySession.participant_id == participant.id,
        or_(col(PlaySession.ended_at).is_(None), col(PlaySession.ended_at) >= recent))))
    ended = SessionEnded(reason="revoked").model_dump_json().encode()
    close = CloseSession(type="close").model_dump_json().encode()
    for session_id in live:
        # Whichever gateway holds the socket relays the event, closes it and tells the worker; the worker is told
        # directly too, for a session no gateway holds any more.
        await nc.publish(subjects.session_out(session_id, "event"), ended)
        await nc.publish(subjects.session_input(session_id), close)
    return RevokedOut(revoked_tokens=revoked, ended_sessions=len(live))


@router.delete("/api/me/tokens/current", status_code=status.HTTP_204_NO_CONTENT, responses={
    400: {"model": ErrorOut, "description": "made with the browser session cookie, not a token"}})
async def revoke_own_token(designer: Designer, creds: BearerToken, db: DbSession) -> None:
    """Revoke the designer token this request is made with (log out); other tokens of the account stay valid."""
    if creds is None:  # signed in with the browser session cookie
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Expected 'Authorization: Bearer <designer token>' to "
                                                         "revoke, got a browser session: sign out with DELETE "
                                                         "/api/session")
    await revoke_tokens(db, col(ApiToken.token_hash) == token_hash(creds.credentials),
                        col(ApiToken.account_id) == designer.id)
    await db.commit()
