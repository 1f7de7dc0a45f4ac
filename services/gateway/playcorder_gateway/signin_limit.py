"""Failed sign-ins, counted per name tried in the database, so that every gateway replica counts the same ones:
beyond SIGNIN_MAX_FAILURES within SIGNIN_WINDOW, sign-ins of that name are refused (429, Retry-After) until the
oldest of those failures leaves the window. A name's attempts take turns across all gateways (a PostgreSQL advisory
lock for the attempt's transaction) to be counted: each attempt is counted as a failure before its password is
checked (outside that transaction, holding no database connection), and forgotten with the name's other failures
when the password was right, so parallel guesses cannot slip past the count."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import delete, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import SigninFailure

_LOCK_SEED = 20261202  # one lock space for sign-in names, apart from other advisory locks (the migrations' 727274)


async def take_turn(db: AsyncSession, name: str) -> None:
    """Wait until no other attempt of `name` runs (anywhere); held until the transaction ends."""
    await (await db.connection()).execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, :seed))"),
                                          {"name": name, "seed": _LOCK_SEED})


async def refused_for(db: AsyncSession, name: str, now: datetime, max_failures: int, window: timedelta) -> int | None:
    """Whole seconds until `name` may try again, or None when it may now."""
    limit_reached_at = (await db.exec(
        select(SigninFailure.at).where(SigninFailure.name == name, col(SigninFailure.at) > now - window)
        .order_by(col(SigninFailure.at).desc()).offset(max_failures - 1).limit(1))).first()
    if limit_reached_at is None:
        return None
    return max(1, math.ceil((limit_reached_at + window - now).total_seconds()))


async def failed(db: AsyncSession, name: str, now: datetime, window: timedelta) -> None:
    """Count a failure of `name`; failures that left the window (of any name) are forgotten."""
    await db.exec(delete(SigninFailure).where(col(SigninFailure.at) <= now - window))  # type: ignore[call-overload]
    db.add(SigninFailure(name=name, at=now))


async def succeeded(db: AsyncSession, name: str) -> None:
    """The right password: the name's failures are forgotten."""
    await db.exec(delete(SigninFailure).where(col(SigninFailure.name) == name))  # type: ignore[call-overload]

