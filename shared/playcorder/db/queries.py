"""Queries several services share: the one token check and token revocation (and those of browser sessions); an
episode's tags and its steps' tags, for many episodes in one query."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..auth import TokenKind, token_hash
from .models import ApiToken, BrowserSession, EpisodeChunk, EpisodeTag, StepTag


async def valid_token(db: AsyncSession, token: str, kind: TokenKind) -> ApiToken | None:
    """The row of `token` if it is a `kind` token, neither revoked nor expired; None otherwise."""
    row = (await db.exec(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))).first()
    if row is None or row.revoked or row.kind != kind:
        return None
    if row.expires_at is not None and row.expires_at < datetime.now(UTC):
        return None
    return row


async def revoke_tokens(db: AsyncSession, *where: ColumnElement[bool]) -> int:
    """Revoke the tokens matching `where` (not yet revoked ones); how many. The caller commits."""
    result = await db.exec(update(ApiToken).where(col(ApiToken.revoked).is_(False), *where)
                           .values(revoked=True))
    return int(result.rowcount)


async def valid_browser_session(db: AsyncSession, session_token: str) -> BrowserSession | None:
    """The row of the browser session whose cookie is `session_token`, if neither revoked nor expired."""
    row = (await db.exec(select(BrowserSession).where(BrowserSession.token_hash == token_hash(session_token)))).first()
    if row is None or row.revoked or row.expires_at < datetime.now(UTC):
        return None
    return row


async def revoke_browser_sessions(db: AsyncSession, *where: ColumnElement[bool]) -> int:
    """Revoke the browser sessions matching `where` (not yet revoked ones); how many. The caller commits."""
    result = await db.exec(update(BrowserSession).where(col(BrowserSession.revoked).is_(False), *where)
                           .values(revoked=True))
    return int(result.rowcount)


async def tags_of(db: AsyncSession, episode_ids: list[str]) -> dict[str, list[str]]:
    """Each episode's tags, sorted; [] for one without."""
    query = select(EpisodeTag).where(col(EpisodeTag.episode_id).in_(episode_ids)).order_by(col(EpisodeTag.label))
    rows = await db.exec(query)
    out: dict[str, list[str]] = {e: [] for e in episode_ids}
    for t in rows:
        out[t.episode_id].append(t.label)
    return out


async def step_tags_of(db: AsyncSession, episode_ids: list[str], start: int = 0,
                       stop: int | None = None) -> dict[str, dict[int, list[str]]]:
    """episode -> step -> its labels (sorted), for the tagged steps start..stop-1; steps in order."""
    query = select(StepTag).where(col(StepTag.episode_id).in_(episode_ids), StepTag.step >= start)
    if stop is not None:
        query = query.where(StepTag.step < stop)
    out: dict[str, dict[int, list[str]]] = {e: {} for e in episode_ids}
    for t in await db.exec(query.order_by(col(StepTag.episode_id), col(StepTag.step), col(StepTag.label))):
        out[t.episode_id].setdefault(t.step, []).append(t.label)
    return out


async def chunks_covering(db: AsyncSession, episode_id: str, start: int, stop: int) -> list[EpisodeChunk]:
    """The episode's stored chunks holding any of steps start..stop-1, in order."""
    return list(await db.exec(
        select(EpisodeChunk).where(EpisodeChunk.episode_id == episode_id, col(EpisodeChunk.first_step) < stop,
                                   col(EpisodeChunk.first_step) + col(EpisodeChunk.num_steps) > start)
        .order_by(col(EpisodeChunk.seq))))
