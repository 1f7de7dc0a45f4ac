"""The error responses of each REST operation in the OpenAPI schema, derived in one place from what the route
depends on: a token check answers 401, an owned resource 404, the database or S3 503, a body 413, parameters 422.
A route's own `responses=` (409, a 404 of its own) comes on top."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, get_args

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import deps
from .errors import ErrorOut, ValidationErrorOut
from .routes.campaigns import owned_campaign
from .routes.preferences import owned_experiment

_OWNED = (deps.owned_study, deps.owned_episode, deps.owned_participant, owned_campaign, owned_experiment)
_AUTH = (deps.current_designer, deps.current_participant)
_OBJECTS = get_args(deps.Objects)[1].dependency  # the object store (S3)
_RETRY_AFTER = {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}


def _calls(dependant: Dependant) -> Iterator[Any]:
    for d in dependant.dependencies:
        yield d.call
        yield from _calls(d)


def _has_params(dependant: Dependant) -> bool:
    return bool(dependant.path_params or dependant.query_params or dependant.header_params
                or dependant.body_params) or any(_has_params(d) for d in dependant.dependencies)


def _error(model: type[BaseModel], description: str, **extra: Any) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}, **extra}


def errors_of(route: APIRoute) -> dict[int, dict[str, Any]]:
    """The OpenAPI responses of the errors `route` can answer, from its dependencies and parameters."""
    calls = set(_calls(route.dependant))
    out: dict[int, dict[str, Any]] = {}
    if calls & set(_AUTH):
        out[401] = _error(ErrorOut, "no token, or not a valid one of the kind asked for")
    if deps.current_designer in calls and route.methods - deps.SAFE_METHODS:
        out[403] = _error(ErrorOut, f"signed in with the session cookie, but without header {deps.CSRF_HEADER} "
                                    "matching the session's pc_csrf cookie")
    if calls & set(_OWNED):
        out[404] = _error(ErrorOut, "no such resource among yours")
    if route.body_field is not None:
        out[400] = _error(ErrorOut, "the body cannot be parsed (not UTF-8 JSON)")
        out[413] = _error(ErrorOut, "request body larger than MAX_BODY_BYTES")
    if _has_params(route.dependant):
        out[422] = _error(ValidationErrorOut, "a parameter or the body is not as expected")
    # a route opening its own short sessions (sign-in: none held while a password is checked) reaches it too
    database = {deps.db_session, deps.session_factory}
    backends = [name for name, needed in (("the database", database), ("S3", {_OBJECTS})) if needed & calls]
    if backends:
        out[503] = _error(ErrorOut, f"{' or '.join(backends)} unreachable; retry after Retry-After seconds",
                          headers=_RETRY_AFTER)
    return out


def document(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Add each route's error responses to the app's OpenAPI schema (a route's own `responses=` win)."""
    routes = {r.unique_id: r for router in routers for r in router.routes if isinstance(r, APIRoute)}
    generate = app.openapi
    done: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = generate()
        if done and done[0] is schema:
            return schema
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                route = routes.get(operation.get("operationId", ""))
                if route is not None:
                    own = {str(code) for code in route.responses}
                    operation["responses"].update(
                        {str(code): r for code, r in errors_of(route).items() if str(code) not in own})
        _, defs = models_json_schema([(ErrorOut, "serialization"), (ValidationErrorOut, "serialization")],
                                     ref_template="#/components/schemas/{model}")
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
        done[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
