"""API tokens: random secrets handed out once; only their SHA-256 is stored. Each has an expiry and can be revoked."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal

TokenKind = Literal["designer", "participant"]
DESIGNER_PREFIX = "pcd_"
PARTICIPANT_PREFIX = "pcp_"
# Default lifetimes; the gateway's PARTICIPANT_TOKEN_TTL and `playcorder accounts token --days` override them.
DESIGNER_TOKEN_TTL = timedelta(days=90)
PARTICIPANT_TOKEN_TTL = timedelta(days=30)


def new_token(kind: TokenKind) -> str:
    prefix = {"designer": DESIGNER_PREFIX, "participant": PARTICIPANT_PREFIX}.get(kind)
    if prefix is None:
        raise ValueError(f"Expected token kind 'designer' or 'participant', got {kind!r}")
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def expiry(ttl: timedelta) -> datetime:
    """When a token handed out now with lifetime `ttl` expires."""
    if ttl <= timedelta(0):
        raise ValueError(f"Expected a positive token lifetime, got {ttl}")
    return datetime.now(UTC) + ttl
