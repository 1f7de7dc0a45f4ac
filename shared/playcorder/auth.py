"""API tokens and browser sessions: random secrets handed out once; only their SHA-256 is stored. Each has an expiry
and can be revoked. A browser session's CSRF token is derived from its secret, so it is stored nowhere."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal

TokenKind = Literal["designer", "participant"]
DESIGNER_PREFIX = "pcd_"
PARTICIPANT_PREFIX = "pcp_"
SESSION_PREFIX = "pcs_"
# Default lifetimes; the gateway's PARTICIPANT_TOKEN_TTL and `playcorder accounts token --days` override them.
DESIGNER_TOKEN_TTL = timedelta(days=90)
PARTICIPANT_TOKEN_TTL = timedelta(days=30)


def new_token(kind: TokenKind) -> str:
    prefix = {"designer": DESIGNER_PREFIX, "participant": PARTICIPANT_PREFIX}.get(kind)
    if prefix is None:
        raise ValueError(f"Expected token kind 'designer' or 'participant', got {kind!r}")
    return prefix + secrets.token_urlsafe(32)


def new_session_token() -> str:
    """The secret of a browser session (its pc_session cookie)."""
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def csrf_token(session_token: str) -> str:
    """The CSRF token of the browser session `session_token`: one-way, so the pc_csrf cookie (readable by the page)
    reveals nothing of the session's secret, and a page of another site can neither read nor compute it."""
    digest = hashlib.sha256(b"playcorder csrf\x00" + session_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def expiry(ttl: timedelta) -> datetime:
    """When a token handed out now with lifetime `ttl` expires."""
    if ttl <= timedelta(0):
        raise ValueError(f"Expected a positive token lifetime, got {ttl}")
    return datetime.now(UTC) + ttl
