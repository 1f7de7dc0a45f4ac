"""Operator tasks run against the database directly: accounts, their designer tokens and their passwords."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .auth import DESIGNER_TOKEN_TTL, expiry, new_token, token_hash
from .db.engine import make_engine, make_sessionmaker
from .db.models import Account, ApiToken, BrowserSession
from .db.queries import revoke_browser_sessions, revoke_tokens, valid_token
from .passwords import hash_async, verify_async


class UnknownAccount(LookupError):
    pass


@asynccontextmanager
async def _session(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as db:
            yield db
    finally:
        await engine.dispose()


async def create_designer_token(database_url: str, account_name: str, ttl: timedelta = DESIGNER_TOKEN_TTL) -> str:
    """Create the account if needed and a new designer token for it, valid for `ttl`; the token is returned only
    here."""
    return (await issue_designer_token(database_url, account_name, ttl))[0]


async def issue_designer_token(database_url: str, account_name: str,
                               ttl: timedelta = DESIGNER_TOKEN_TTL) -> tuple[str, datetime]:
    """create_designer_token, also returning when the token expires."""
    expires_at = expiry(ttl)
    async with _session(database_url) as db:
        account = (await db.exec(select(Account).where(Account.name == account_name))).first()
        if account is None:
            account = Account(name=account_name, role="designer")
            db.add(account)
            await db.flush()
        token = new_token("designer")
        db.add(ApiToken(token_hash=token_hash(token), kind="designer", account_id=account.id, expires_at=expires_at))
        await db.commit()
        return token, expires_at


@dataclass(frozen=True)
class Revoked:
    tokens: int
    sessions: int  # browser sessions (signed in with the password)


async def revoke_designer_tokens(database_url: str, account_name: str) -> Revoked:
    """Revoke every designer token and browser session of the account; how many were still unrevoked.
    UnknownAccount if none is named so."""
    async with _session(database_url) as db:
        account = (await db.exec(select(Account).where(Account.name == account_name))).first()
        if account is None:
            raise UnknownAccount(account_name)
        tokens = await revoke_tokens(db, col(ApiToken.account_id) == account.id, col(ApiToken.kind) == "designer")
        sessions = await revoke_browser_sessions(db, col(BrowserSession.account_id) == account.id)
        await db.commit()
        return Revoked(tokens=tokens, sessions=sessions)


@dataclass(frozen=True)
class PasswordSet:
    created: bool  # the account did not exist before
    signed_out: int  # browser sessions ended: signed in with the old password


async def set_password(database_url: str, account_name: str, password: str) -> PasswordSet:
    """Give the account (created if needed) this password for signing in in the browser; its browser sessions end.
    ValueError when the password is outside playcorder.passwords' limits."""
    password_hash = await hash_async(password)  # checks the limits, off the event loop
    async with _session(database_url) as db:
        account = (await db.exec(select(Account).where(Account.name == account_name))).first()
        created = account is None
        if account is None:
            account = Account(name=account_name, role="designer")
        account.password_hash = password_hash
        db.add(account)
        await db.flush()
        signed_out = await revoke_browser_sessions(db, col(BrowserSession.account_id) == account.id)
        await db.commit()
        return PasswordSet(created=created, signed_out=signed_out)


async def password_is(database_url: str, account_name: str, password: str) -> bool | None:
    """Whether the account's password is `password`; None when it has none (or there is no such account)."""
    async with _session(database_url) as db:
        account = (await db.exec(select(Account).where(Account.name == account_name))).first()
    if account is None or account.password_hash is None:
        return None
    return await verify_async(account.password_hash, password)


async def token_is_valid(database_url: str, token: str, for_at_least: timedelta = timedelta(0)) -> bool:
    """Whether `token` is a designer token the gateway accepts (known, not revoked, not expired) and will still
    accept `for_at_least` from now."""
    async with _session(database_url) as db:
        row = await valid_token(db, token, "designer")
    if row is None:
        return False
    return row.expires_at is None or row.expires_at > datetime.now(UTC) + for_at_least
