"""Typed dependencies of the routes: the services the lifespan started (the only reader of `app.state`), a database
session, the designer behind a bearer token or a browser session cookie (whose unsafe requests must carry the
session's CSRF token), the participant behind a bearer token, and the study or episode a designer owns."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.requests import HTTPConnection
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from nats.aio.client import Client as NATS
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.auth import csrf_token
from playcorder.db.models import Account, ApiToken, BrowserSession, Episode, Participant, Study
from playcorder.db.queries import valid_browser_session, valid_token
from playcorder.fields import ID_LENGTH, PathId, is_id
from playcorder.storage import ObjectStore
from playcorder.subjects import Subjects

from .arrival_limit import ArrivalLimit
from .draining import Drain
from .external_ids import IdKey
from .placement import WorkerDirectory
from .settings import Settings
from .signin_gate import SigninGate

_bearer = HTTPBearer(auto_error=False)
BearerToken = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
SESSION_COOKIE, CSRF_COOKIE, CSRF_HEADER = "pc_session", "pc_csrf", "X-CSRF-Token"
_session_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, scheme_name="SessionCookie",
    description="the browser session of POST /api/session; POST, PUT, PATCH and DELETE made with it need the header "
                f"{CSRF_HEADER} equal to the session's csrf_token (its {CSRF_COOKIE} cookie)")
SessionCookie = Annotated[str | None, Depends(_session_cookie)]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# ---------------------------------------------------------------- services (HTTP and WebSocket routes alike)
def _settings(conn: HTTPConnection) -> Settings:
    return conn.app.state.settings


def session_factory(conn: HTTPConnection) -> async_sessionmaker[AsyncSession]:
    return conn.app.state.sessions


def _bus(conn: HTTPConnection) -> NATS:
    return conn.app.state.nc


def _subjects(conn: HTTPConnection) -> Subjects:
    return conn.app.state.subjects


def _objects(conn: HTTPConnection) -> ObjectStore:
    return conn.app.state.objects


def _directory(conn: HTTPConnection) -> WorkerDirectory:
    return conn.app.state.directory


def _relayed(conn: HTTPConnection) -> set[str]:
    return conn.app.state.relayed


def _drain(conn: HTTPConnection) -> Drain:
    return conn.app.state.drain


def _signin_gate(conn: HTTPConnection) -> SigninGate:
    return conn.app.state.signin_gate


def _arrival_limit(conn: HTTPConnection) -> ArrivalLimit:
    return conn.app.state.arrival_limit


def _id_key(conn: HTTPConnection) -> IdKey:
    return conn.app.state.id_key


GatewaySettings = Annotated[Settings, Depends(_settings)]
# The session factory, for a WebSocket: it outlives any one transaction, so it opens short sessions itself.
DbSessions = Annotated[async_sessionmaker[AsyncSession], Depends(session_factory)]
Bus = Annotated[NATS, Depends(_bus)]
BusSubjects = Annotated[Subjects, Depends(_subjects)]
Objects = Annotated[ObjectStore, Depends(_objects)]
Directory = Annotated[WorkerDirectory, Depends(_directory)]
# Ids of the sessions whose WebSocket this gateway holds (their workers are asked to resync after a reconnect).
RelayedSessions = Annotated[set[str], Depends(_relayed)]
GatewayDrain = Annotated[Drain, Depends(_drain)]
SigninGates = Annotated[SigninGate, Depends(_signin_gate)]
ArrivalLimits = Annotated[ArrivalLimit, Depends(_arrival_limit)]
IdKeys = Annotated[IdKey, Depends(_id_key)]


async def db_session(sessions: DbSessions) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(db_session)]


# ---------------------------------------------------------------- who is asking
async def current_participant(db: DbSession, creds: BearerToken) -> ApiToken:
    row = await valid_token(db, creds.credentials, "participant") if creds is not None else None
    if row is None or row.study_id is None or row.participant_id is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Expected 'Authorization: Bearer <participant token>' of a "
                            "study, got none or an unknown, revoked or expired one",
                            headers={"WWW-Authenticate": "Bearer"})
    return row


ParticipantToken = Annotated[ApiToken, Depends(current_participant)]


async def signed_in(db: AsyncSession, cookie: str | None) -> BrowserSession | None:
    """The browser session of the pc_session cookie, if it is a valid one."""
    return await valid_browser_session(db, cookie) if cookie else None


def check_csrf(request: Request, cookie: str) -> None:
    """A request made with the session cookie that may change something must prove it comes from a page of ours:
    only such a page can read the pc_csrf cookie and send its value back as a header (403 otherwise)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None or not secrets.compare_digest(sent.encode(), csrf_token(cookie).encode()):
        got = "none" if sent is None else "a different one"
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"Expected header {CSRF_HEADER} matching your session's "
                                                       f"{CSRF_COOKIE} cookie, got {got}")


async def current_designer(request: Request, db: DbSession, creds: BearerToken, cookie: SessionCookie) -> Account:
    """The designer of the bearer token, or else of the browser session cookie. A bearer token is never sent by a
    browser on its own, so only cookie-authenticated requests are checked for CSRF."""
    unauthorized = HTTPException(
        status.HTTP_401_UNAUTHORIZED, "Expected 'Authorization: Bearer <designer token>' or a signed-in browser "
                                      f"session (cookie {SESSION_COOKIE}, POST /api/session), got neither",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if creds is not None:
        row = await valid_token(db, creds.credentials, "designer")
        if row is None or row.account_id is None:
            unauthorized.detail = "Expected a valid designer token, got an unknown, revoked or expired one"
            raise unauthorized
        account_id = row.account_id
    elif cookie:
        session = await signed_in(db, cookie)
        if session is None:
            unauthorized.detail = (f"Expected a signed-in browser session, got a {SESSION_COOKIE} cookie of an "
                                   "unknown, signed-out or expired one: sign in again")
            raise unauthorized
        check_csrf(request, cookie)
        account_id = session.account_id
    else:
        raise unauthorized
    account = await db.get(Account, account_id)
    if account is None:
        raise unauthorized
    return account


Designer = Annotated[Account, Depends(current_designer)]


# ---------------------------------------------------------------- what a designer owns
def not_found(what: str, got: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"Expected the id ({ID_LENGTH} hex digits) of {what}, got {got!r}")


# A path id of another form is no id of anything: 404 without a lookup (nor a NUL byte sent to PostgreSQL).
async def owned_study(study_id: PathId, db: DbSession, designer: Designer) -> Study:
    study = await db.get(Study, study_id) if is_id(study_id) else None
    if study is None or study.owner_id != designer.id:
        raise not_found("one of your studies", study_id)
    return study


OwnedStudy = Annotated[Study, Depends(owned_study)]


async def _owns_study_of(db: AsyncSession, designer: Account, row: Episode | Participant | None) -> bool:
    study = await db.get(Study, row.study_id) if row is not None else None
    return study is not None and study.owner_id == designer.id


async def owned_episode(episode_id: PathId, db: DbSession, designer: Designer) -> Episode:
    episode = await db.get(Episode, episode_id) if is_id(episode_id) else None
    if episode is None or not await _owns_study_of(db, designer, episode):
        raise not_found("an episode of your studies", episode_id)
    return episode


OwnedEpisode = Annotated[Episode, Depends(owned_episode)]


async def owned_participant(participant_id: PathId, db: DbSession, designer: Designer) -> Participant:
    participant = await db.get(Participant, participant_id) if is_id(participant_id) else None
    if participant is None or not await _owns_study_of(db, designer, participant):
        raise not_found("a participant in one of your studies", participant_id)
    return participant


OwnedParticipant = Annotated[Participant, Depends(owned_participant)]
