"""Typed dependencies: database session, the designer behind a bearer token, shared services."""

from __future__ import annotations

from typing import Annotated, AsyncIterator

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import Account, ApiToken, Study
from playcorder.db.queries import valid_token

_bearer = HTTPBearer(auto_error=False)


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_db)]


async def current_participant(
    db: DbSession, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> ApiToken:
    row = await valid_token(db, creds.credentials, "participant") if creds is not None else None
    if row is None or row.study_id is None or row.participant_id is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Expected 'Authorization: Bearer <participant token>' of a "
                            "study, got none or an unknown, revoked or expired one", headers={"WWW-Authenticate": "Bearer"})
    return row


ParticipantToken = Annotated[ApiToken, Depends(current_participant)]


async def current_designer(
    db: DbSession, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Account:
    unauthorized = HTTPException(
        status.HTTP_401_UNAUTHORIZED, "Expected 'Authorization: Bearer <designer token>'",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if creds is None:
        raise unauthorized
    row = await valid_token(db, creds.credentials, "designer")
    if row is None or row.account_id is None:
        unauthorized.detail = "Expected a valid designer token, got an unknown, revoked or expired one"
        raise unauthorized
    account = await db.get(Account, row.account_id)
    if account is None:
        raise unauthorized
    return account


Designer = Annotated[Account, Depends(current_designer)]


async def owned_study(study_id: str, db: DbSession, designer: Designer) -> Study:
    study = await db.get(Study, study_id)
    if study is None or study.owner_id != designer.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Expected the id of one of your studies, got {study_id!r}")
    return study


OwnedStudy = Annotated[Study, Depends(owned_study)]
