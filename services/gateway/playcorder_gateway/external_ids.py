"""Participants' external ids (a Prolific PID, an MTurk workerId, ...) keyed by an HMAC with the deployment's
secret: the key finds a returning participant and is what exports and the metadata carry; the raw ids stay in the
enrollment only, for the bonus table. The secret is ID_HASH_SECRET when set (the Helm chart's Secret), else one
made once in the database by whichever gateway first needs it, so that every gateway keys alike."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import DeploymentSecret, now

SECRET_NAME = "id_hash"


def external_key(secret: bytes, channel: str, participant: str) -> str:
    """The HMAC-SHA256 (hex) of the channel's participant id: the same person on the same channel, the same key."""
    return hmac.new(secret, f"{channel}:{participant}".encode(), hashlib.sha256).hexdigest()


class IdKey:
    """The deployment's id-hashing secret, read (or made) once per gateway."""

    def __init__(self, configured: str | None) -> None:
        self._secret = configured.encode() if configured else None
        self._reading = asyncio.Lock()  # the first arrivals at once: one reads, the others wait for it

    async def secret(self, sessions: async_sessionmaker[AsyncSession]) -> bytes:
        async with self._reading:
            if self._secret is not None:
                return self._secret
            async with sessions() as db:
                made = secrets.token_hex(32)
                # Whichever gateway inserts first wins; the others read its value.
                row = insert(DeploymentSecret).values(name=SECRET_NAME, value=made, created_at=now())
                await db.exec(row.on_conflict_do_nothing(index_elements=["name"]))  # type: ignore[call-overload]
                await db.commit()
                kept = (await db.exec(select(DeploymentSecret).where(DeploymentSecret.name == SECRET_NAME))).one()
                self._secret = kept.value.encode()
            return self._secret
