"""Signing in in the browser: a designer's name and password open a session, kept in an httpOnly cookie, with a
CSRF token the page sends back on every change; GET says who is signed in, DELETE signs out. Sign-ins in progress
and failures per client address are limited by each gateway (signin_gate.py), failed sign-ins per name by all
together (signin_limit.py). The CLI's bearer tokens are untouched by all of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select

from playcorder.auth import csrf_token, new_session_token, token_hash
from playcorder.db.models import Account, BrowserSession
from playcorder.db.queries import revoke_browser_sessions
from playcorder.fields import NAME_MAX, NO_NUL
from playcorder.passwords import MAX_LENGTH, hash_async, needs_rehash, verify_async

from .. import signin_limit
from ..deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    DbSession,
    DbSessions,
    GatewaySettings,
    SessionCookie,
    SigninGates,
    check_csrf,
    signed_in,
)
from ..errors import ErrorOut

router = APIRouter(tags=["session"])
_RETRY_AFTER = {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}
_WRONG = "Expected a designer's name and password, got an unknown name or a wrong password"


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX), NO_NUL]
    password: Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]


class SignedInAccount(BaseModel):
    id: str
    name: str


class SignedIn(BaseModel):
    account: SignedInAccount
    csrf_token: str = Field(description="send it as header X-CSRF-Token with every POST, PUT, PATCH and DELETE "
                                        "(also in the pc_csrf cookie, which the page can read)")
    expires_at: datetime


def _signed_in(account: Account, cookie: str, expires_at: datetime) -> SignedIn:
    return SignedIn(account=SignedInAccount(id=account.id, name=account.name), csrf_token=csrf_token(cookie),
                    expires_at=expires_at)


def _cookie_options(request: Request) -> dict[str, object]:
    # Secure whenever the request came over https (uvicorn sets the scheme from a trusted proxy's
    # X-Forwarded-Proto); plain http only on a local stack.
    return {"path": "/", "samesite": "strict", "secure": request.url.scheme == "https"}


@router.post("/api/session", response_model=SignedIn, responses={
    401: {"model": ErrorOut, "description": "unknown name, wrong password, or an account without a password"},
    429: {"model": ErrorOut, "description": "too many failed sign-ins of this name lately (SIGNIN_MAX_FAILURES "
                                            "within SIGNIN_WINDOW), or from this client address "
                                            "(SIGNIN_MAX_ADDRESS_FAILURES), or too many sign-ins in progress on "
                                            "this gateway (SIGNIN_CONCURRENCY); retry after Retry-After seconds",
          "headers": _RETRY_AFTER}})
async def sign_in(body: SignIn, request: Request, response: Response, sessions: DbSessions,
                  settings: GatewaySettings, gate: SigninGates) -> SignedIn:
    """Sign in with a designer's name and password (set with `playcorder accounts password NAME`): sets the session
    cookie pc_session (httpOnly, SameSite=Strict, SESSION_TTL seconds) and pc_csrf, whose value the page sends back
    as header X-CSRF-Token on every change."""
    address = request.client.host if request.client is not None else "unknown"
    with gate.admitted(address):  # before any database work: a flood gets 429 here
        now, window = datetime.now(UTC), timedelta(seconds=settings.signin_window)
        async with sessions() as db:  # counted as a failure until the password proves right
            await signin_limit.take_turn(db, body.name)
            wait = await signin_limit.refused_for(db, body.name, now, settings.signin_max_failures, window)
            if wait is not None:
                raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                                    f"Expected at most {settings.signin_max_failures} failed sign-ins of "
                                    f"{body.name!r} within {settings.signin_window} s, got as many: try again in "
                                    f"{wait} s", headers={"Retry-After": str(wait)})
            account = (await db.exec(select(Account).where(Account.name == body.name))).first()
            account_id, stored = (account.id, account.password_hash) if account is not None else (None, None)
            await signin_limit.failed(db, body.name, now, window)
            await db.commit()  # the turn and the connection are given back before the (slow) hashing
        async with gate.hashing:  # no hash (unknown name): the same time spent, so timing tells no names apart
            right = await verify_async(stored, body.password) and stored is not None
        if not right or account_id is None or stored is None:
            gate.failed(address)
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, _WRONG)
        rehashed = None
        if needs_rehash(stored):
            async with gate.hashing:
                rehashed = await hash_async(body.password)
        async with sessions() as db:
            await signin_limit.succeeded(db, body.name)
            account = await db.get(Account, account_id)
            if account is None or account.password_hash != stored:  # deleted or given a new password meanwhile
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, _WRONG)
            if rehashed is not None:
                account.password_hash = rehashed
                db.add(account)
            cookie, expires_at = new_session_token(), now + timedelta(seconds=settings.session_ttl)
            db.add(BrowserSession(token_hash=token_hash(cookie), account_id=account.id, expires_at=expires_at))
            await db.commit()
            signed = _signed_in(account, cookie, expires_at)
    options = _cookie_options(request) | {"max_age": settings.session_ttl}
    response.set_cookie(SESSION_COOKIE, cookie, httponly=True, **options)  # type: ignore[arg-type]
    response.set_cookie(CSRF_COOKIE, csrf_token(cookie), **options)  # type: ignore[arg-type]
    return signed


@router.get("/api/session", response_model=SignedIn, responses={
    401: {"model": ErrorOut, "description": "not signed in (no session cookie, or one signed out or expired)"}})
async def current_session(db: DbSession, cookie: SessionCookie) -> SignedIn:
    """Who is signed in in this browser, and the CSRF token to send with changes."""
    session = await signed_in(db, cookie)
    account = await db.get(Account, session.account_id) if session is not None else None
    if session is None or account is None or cookie is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"Expected a signed-in browser session (cookie "
                                                          f"{SESSION_COOKIE}), got none or a signed-out or expired one")
    return _signed_in(account, cookie, session.expires_at)


@router.delete("/api/session", status_code=status.HTTP_204_NO_CONTENT, responses={
    403: {"model": ErrorOut, "description": "signed in, but without the header X-CSRF-Token of the session"}})
async def sign_out(request: Request, response: Response, db: DbSession) -> None:
    """Sign out: the session ends on the server and its cookies are cleared (204 also when none was signed in, so
    the cookie is read directly rather than declared as this operation's security)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    session = await signed_in(db, cookie)
    if session is not None and cookie is not None:
        check_csrf(request, cookie)
        await revoke_browser_sessions(db, col(BrowserSession.id) == session.id)
        await db.commit()
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, httponly=name == SESSION_COOKIE, **_cookie_options(request))  # type: ignore[arg-type]
