"""The request-body cap: an ASGI middleware that answers 413 naming the limit, from Content-Length when a client
declares the size, and while a chunked body streams in otherwise (nothing past the limit is buffered)."""

from __future__ import annotations

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _too_large(self, got: str) -> str:
        return f"Expected a request body of at most {self.max_bytes} bytes (MAX_BODY_BYTES), got {got}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            response = JSONResponse({"detail": self._too_large(f"Content-Length {declared.decode(errors='replace')}")},
                                    status.HTTP_413_CONTENT_TOO_LARGE, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # FastAPI passes an HTTPException on as it is (the 413 below)
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, self._too_large("more"),
                                        headers={"Connection": "close"})
            return message

        await self.app(scope, limited, send)
