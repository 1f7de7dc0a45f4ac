"""Error bodies and the handlers that make them: a 422 that never echoes a large input (nor any input of a sign-in
or of a field named like a password), and a 503 with Retry-After
while the database or S3 cannot be reached (instead of a 500)."""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from minio.error import S3Error
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from playcorder import storage

log = logging.getLogger(__name__)
ECHO_MAX = 200  # characters of a rejected input (or of a ctx value, a loc element) a 422 shows
MAX_ERRORS = 20  # validation errors listed in one 422
SECRET_PATHS = ("/api/session",)  # whose 422 never shows an input: the body carries a password, whatever its form


class CodedError(HTTPException):
    """A 4xx whose body carries a code besides the message ({"detail", "code"}): a page or a client acts on it."""

    def __init__(self, status_code: int, code: str, detail: str) -> None:
        super().__init__(status_code, detail)
        self.code = code


class ErrorOut(BaseModel):
    detail: str
    code: str | None = Field(None, description="what went wrong, for a page of its own (a campaign's arrivals)")


class FieldErrorOut(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None
    suggestions: list[str] | None = Field(None, description="type environment_trial: the values probably meant")


class ValidationErrorOut(BaseModel):
    detail: list[FieldErrorOut] | str


def _sendable(text: str) -> str:
    """`text` with what UTF-8 cannot encode (lone surrogates from a JSON escape) written as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _short(value: Any) -> Any:
    """`value` as plain JSON data when it is short and JSON can carry it, else None (left out: NaN, infinities and
    lone surrogates are what made it invalid, often); bytes (a body that is no JSON) as text."""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    try:
        text = json.dumps(value, default=str, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return None
    return json.loads(text) if len(text) <= ECHO_MAX else None


def _secret(loc: list[str | int]) -> bool:
    return any(isinstance(p, str) and "password" in p.lower() for p in loc)


def _small(error: dict[str, Any], echo: bool = True) -> dict[str, Any]:
    loc = [p if isinstance(p, int) else _sendable(str(p)[:ECHO_MAX]) for p in error.get("loc", ())]
    out: dict[str, Any] = {"loc": loc, "msg": _sendable(str(error.get("msg", ""))[:2 * ECHO_MAX]),
                           "type": error.get("type", "")}
    if echo and not _secret(loc) and "input" in error and (shown := _short(error["input"])) is not None:
        out["input"] = shown
    ctx = {k: v if isinstance(v, int | float | bool) else str(v) for k, v in (error.get("ctx") or {}).items()}
    if ctx and (shown := _short(ctx)) is not None:
        out["ctx"] = shown
    return out


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    echo = request.url.path.rstrip("/") not in SECRET_PATHS
    errors = [_small(e, echo) for e in exc.errors()]
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
        return _unavailable_response("the database", exc, retry_after)

    return handler


def _unavailable_response(what: str, exc: Exception, retry_after: float) -> JSONResponse:
    seconds = max(1, round(retry_after))
    return JSONResponse(
        {"detail": f"Expected {what} to answer, it is unreachable ({type(exc).__name__}); retry in {seconds} s"},
        status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(seconds)})


def objects_unavailable(retry_after: float) -> Any:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        if not storage.unreachable(exc):  # an S3Error refusing the request (a bug, a misconfiguration): a 500
            raise exc
        log.warning("%s %s: S3 unreachable (%s: %s)", request.method, request.url.path, type(exc).__name__,
                    str(exc).splitlines()[0][:200] if str(exc) else "")
        return _unavailable_response("S3 (the object store)", exc, retry_after)

    return handler


def method_not_allowed(routes: list[BaseRoute]) -> Any:
    """FastAPI's HTTP error handler, with an `Allow` of a 405 that lists every method of the path (Starlette names
    only those of the first route matching it; of templates matching it, the most literal is the path's)."""

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            path = request.url.path
            matching = [r for r in routes if isinstance(r, APIRoute) and r.path_regex.match(path)]
            # the most literal path wins, as in the schema: /api/studies/trial is not /api/studies/{study_id}
            fewest = min((r.path.count("{") for r in matching), default=0)
            methods = {m for r in matching if r.path.count("{") == fewest for m in r.methods}
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(methods))}
        if (code := getattr(exc, "code", None)) is not None:  # a page per refusal (a campaign's arrivals)
            return JSONResponse({"detail": exc.detail, "code": code}, status_code=exc.status_code,
                                headers=exc.headers)
        return await http_exception_handler(request, exc)

    return handler


def install(app: FastAPI, retry_after: float, routes: list[BaseRoute], s3_retry_after: float | None = None) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, method_not_allowed(routes))
    handler = unavailable(retry_after)
    for kind in (*_UNREACHABLE, sa.DBAPIError):
        app.add_exception_handler(kind, handler)
    objects = objects_unavailable(retry_after if s3_retry_after is None else s3_retry_after)
    for kind in (*storage.UNREACHABLE, S3Error):
        app.add_exception_handler(kind, objects)
