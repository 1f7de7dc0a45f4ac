"""Security headers: every HTTP response says nosniff, sends no Referer (participant links carry `?token=`, which
must not leak to another site through it) and may not be framed; the web app's pages get a Content-Security-Policy
that allows only its own scripts, and the API docs one that allows only their own inline scripts, by hash."""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
_COMMON = ("default-src 'self'", "img-src 'self' data: blob:", "style-src 'self' 'unsafe-inline'",
           "frame-ancestors 'none'", "base-uri 'self'", "form-action 'self'")
# The web app: Mantine writes inline styles; frames arrive as blob: and data: images; the player's WebSocket.
APP_CSP = "; ".join((*_COMMON, "connect-src 'self' ws: wss:", "script-src 'self'"))
# A campaign's page (/c/<id>): MTurk shows it in a frame of its HIT (ExternalQuestion) and the page posts the
# finished HIT back to it (externalSubmit); only MTurk's production and sandbox hosts, nothing else.
MTURK_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
CAMPAIGN_CSP = "; ".join((*(d for d in _COMMON if not d.startswith(("frame-ancestors", "form-action"))),
                          f"frame-ancestors 'self' {' '.join(MTURK_HOSTS)}",
                          f"form-action 'self' {' '.join(MTURK_HOSTS)}",
                          "connect-src 'self' ws: wss:", "script-src 'self'"))


def campaign_csp(media_origin: str) -> str:
    """A campaign's page: CAMPAIGN_CSP, and (a labelling condition shows clips) media from the object store."""
    return "; ".join((CAMPAIGN_CSP, f"media-src 'self' {media_origin}"))


def label_csp(media_origin: str) -> str:
    """The labelling page (/label/<id>): the app's policy, and its clips played from the object store's presigned
    links (that origin only)."""
    return "; ".join((APP_CSP, f"media-src 'self' {media_origin}"))


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def docs_csp(html: str) -> str:
    """The policy of a docs page (Swagger UI, ReDoc): its own scripts, the inline ones it has by their SHA-256, and
    ReDoc's search worker (a blob:)."""
    hashes = [base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in _INLINE_SCRIPT.findall(html)]
    scripts = " ".join(["'self'", *(f"'sha256-{h}'" for h in hashes)])
    return "; ".join((*_COMMON, "connect-src 'self'", f"script-src {scripts}", "worker-src 'self' blob:"))


class SecurityHeaders:
    """Adds HEADERS to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)
