"""API tokens: random secrets handed out once; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

TokenKind = Literal["designer", "participant"]
DESIGNER_PREFIX = "pcd_"
PARTICIPANT_PREFIX = "pcp_"


def new_token(kind: TokenKind) -> str:
    prefix = {"designer": DESIGNER_PREFIX, "participant": PARTICIPANT_PREFIX}.get(kind)
    if prefix is None:
        raise ValueError(f"Expected token kind 'designer' or 'participant', got {kind!r}")
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
