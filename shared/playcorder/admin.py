"""Operator tasks run against the database directly: accounts and their designer tokens."""

from __future__ import annotations

from sqlmodel import select

from .auth import new_token, token_hash
from .db.engine import make_engine, make_sessionmaker
from .db.models import Account, ApiToken
from .db.queries import valid_token


async def create_designer_token(database_url: str, account_name: str) -> str:
    """Create the account if needed and a new designer token for it; the token is returned only here."""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as db:
            account = (await db.exec(select(Account).where(Account.name == account_name))).first()
            if account is None:
                account = Account(name=account_name, role="designer")
                db.add(account)
                await db.flush()
            token = new_token("designer")
            db.add(ApiToken(token_hash=token_hash(token), kind="designer", account_id=account.id))
            await db.commit()
            return token
    finally:
        await engine.dispose()


async def token_is_valid(database_url: str, token: str) -> bool:
    """Whether `token` is a designer token the gateway accepts (known, not revoked, not expired)."""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as db:
            return await valid_token(db, token, "designer") is not None
    finally:
        await engine.dispose()
