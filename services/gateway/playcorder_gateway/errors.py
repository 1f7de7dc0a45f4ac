"""Error bodies and the handlers that make them: a 422 that never echoes a large input, and a 503 with Retry-After
while the database cannot be reached (instead of a 500)."""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa

log = logging.getLogger(__name__)
ECHO_MAX = 200  # characters of a rejected input (or of a ctx value, a loc element) a 422 shows
MAX_ERRORS = 20  # validation errors listed in one 422


class ErrorOut(BaseModel):
    detail: str


class FieldErrorOut(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class ValidationErrorOut(BaseModel):
    detail: list[FieldErrorOut] | str


def _short(value: Any) -> str | None:
    """`value` as JSON when that is short, else None (left out)."""
    text = json.dumps(value, default=str)
    return text if len(text) <= ECHO_MAX else None


def _small(error: dict[str, Any]) -> dict[str, Any]:
    loc = [p if isinstance(p, int) else str(p)[:ECHO_MAX] for p in error.get("loc", ())]
    out: dict[str, Any] = {"loc": loc, "msg": str(error.get("msg", ""))[:2 * ECHO_MAX], "type": error.get("type", "")}
    if "input" in error and _short(error["input"]) is not None:
        out["input"] = error["input"]
    ctx = {k: v if isinstance(v, int | float | bool) else str(v) for k, v in (error.get("ctx") or {}).items()}
    if ctx and _short(ctx) is not None:
        out["ctx"] = ctx
    return out


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_small(e) for e in exc.errors()]
    if len(errors) > MAX_ERRORS:
        more = len(errors) - MAX_ERRORS
        errors = errors[:MAX_ERRORS] + [{"loc": [], "msg": f"and {more} more errors", "type": "too_many_errors"}]
    return JSONResponse({"detail": errors}, status.HTTP_422_UNPROCESSABLE_ENTITY)


_UNREACHABLE = (OSError, asyncpg.exceptions.CannotConnectNowError, asyncpg.exceptions.PostgresConnectionError,
                asyncpg.InterfaceError, sa.TimeoutError)  # TimeoutError: the pool waited in vain for a connection


def _connection_lost(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached (rather than a bug or a refused statement)."""
    if isinstance(exc, _UNREACHABLE):
        return True
    if isinstance(exc, sa.DBAPIError):
        return exc.connection_invalidated or isinstance(exc, sa.OperationalError | sa.InterfaceError) or (
            exc.orig is not None and _connection_lost(exc.orig))
    return exc.__cause__ is not None and _connection_lost(exc.__cause__)


def unavailable(retry_after: float) -> Any:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        if not _connection_lost(exc):
            raise exc
        log.warning("%s %s: database unreachable (%s: %s)", request.method, request.url.path, type(exc).__name__, exc)
        seconds = max(1, round(retry_after))
        return JSONResponse(
            {"detail": f"Expected the database to answer, it is unreachable ({type(exc).__name__}); "
                       f"retry in {seconds} s"},
            status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(seconds)})

    return handler


def install(app: FastAPI, retry_after: float) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    handler = unavailable(retry_after)
    for kind in (*_UNREACHABLE, sa.DBAPIError):
        app.add_exception_handler(kind, handler)
