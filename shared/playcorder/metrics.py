"""What every service shares of its Prometheus metrics: the `/metrics` route and the count of HTTP requests and
WebSocket connections it answers.

Labels are bounded by what the service defines, never by what a client sends: a request is labelled by the
template of the route that matched (`/api/episodes/{episode_id}`, not the id), `unmatched` when none did, its
method by the few HTTP knows (`other` for made-up ones), and a WebSocket's end by a close-code class. A scanner
trying a million paths adds no series.

`/metrics` is open on the internal services (env-worker, recorder, exporter: reached only inside the cluster) and
closed on the internet-facing gateway unless METRICS_TOKEN is set; with it set, every service asks for
`Authorization: Bearer <METRICS_TOKEN>` (docs/metrics.md, docs/security.md).
"""

from __future__ import annotations

import asyncio
import hmac
import time

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from pydantic import SecretStr
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"  # the route label of a request no route matched
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A WebSocket's end, by the close code of whichever side closed first; codes a client may make up are "other".
CLOSE_OUTCOMES = {1000: "normal", 1001: "going_away", 1005: "no_status", 1006: "dropped", 1008: "policy",
                  1009: "too_large", 1011: "server_error", 1012: "restart", 4401: "unauthorized", 4403: "forbidden",
                  4404: "not_found"}
# No `*_created` series (a timestamp per counter and histogram child, which PromQL never needs): half the series.
disable_created_metrics()  # type: ignore[no-untyped-call]
_SLOW = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter("playcorder_http_requests_total", "HTTP requests answered, by method, route template and "
                        "status code", ["method", "route", "status"])
HTTP_SECONDS = Histogram("playcorder_http_request_duration_seconds", "Time from a request's arrival to the end of "
                         "its response, by method and route template", ["method", "route"], buckets=_SLOW)
WS_CONNECTIONS = Counter("playcorder_ws_connections_total", "WebSocket connections ended, by route template and "
                         "outcome (rejected: closed before being accepted; otherwise the close code's class)",
                         ["route", "outcome"])
WS_ACTIVE = Gauge("playcorder_ws_connections_active", "WebSocket connections accepted and open now, by route "
                  "template", ["route"])


def route_label(scope: Scope, app: object = None, root_path: str = "") -> str:
    """The template of the route that matched, or `unmatched`. `app` and `root_path` are the application's and
    the scope's root path as the request arrived: a route of an app mounted on it (the gateway's web app, a
    sub-application) is labelled with the mount's path in front, `<mount>/{path}` when the mounted app has no
    routes of its own (FastAPI records such a mount only as the scope's endpoint)."""
    def mounts() -> list[Mount]:  # looked for only when a mount was taken: most requests never need them
        return [r for r in getattr(app, "routes", ()) if isinstance(r, Mount)]

    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        prefix = str(scope.get("root_path", ""))[len(root_path):]
        if not prefix:
            return path or "/"
        mount = next((m for m in mounts() if m.path == prefix), None)
        return mount.path + path if mount is not None else "mounted"  # a mount with parameters: no raw paths
    endpoint = scope.get("endpoint")
    mount = next((m for m in mounts() if m.app is endpoint), None) if endpoint is not None else None
    return f"{mount.path}/{{path}}" if mount is not None else UNMATCHED


def method_label(scope: Scope) -> str:
    method = str(scope.get("method", ""))
    return method if method in METHODS else "other"


def close_outcome(code: int | None) -> str:
    return CLOSE_OUTCOMES.get(code, "other") if code is not None else "no_status"


class RequestMetrics:
    """ASGI middleware counting HTTP requests (method, route template, status) with their duration, and WebSocket
    connections (open now; ended, by outcome). Add it outermost, so that answers of other middleware (a 413 of the
    body limit) count too; an exception escaping the app counts as a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started, status = time.perf_counter(), 500
        app, root_path = scope.get("app"), str(scope.get("root_path", ""))

        async def counted_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counted_send)
        finally:
            method, route = method_label(scope), route_label(scope, app, root_path)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        accepted, closed_with, active = False, None, None  # closed_with: the first close code either side gave
        app, root_path = scope.get("app"), str(scope.get("root_path", ""))

        async def counted_send(message: Message) -> None:
            nonlocal accepted, closed_with, active
            kind = message["type"]
            if kind == "websocket.accept" and not accepted:
                accepted, active = True, WS_ACTIVE.labels(route_label(scope, app, root_path))
                active.inc()
            elif kind == "websocket.close" and closed_with is None:
                closed_with = int(message.get("code", 1000))
            await send(message)

        async def counted_receive() -> Message:
            nonlocal closed_with
            message = await receive()
            if message["type"] == "websocket.disconnect" and closed_with is None:
                closed_with = int(message.get("code", 1005))
            return message

        outcome = "server_error"
        try:
            await self.app(scope, counted_receive, counted_send)
            outcome = close_outcome(closed_with) if accepted else "rejected"
        finally:
            if active is not None:
                active.dec()
            WS_CONNECTIONS.labels(route_label(scope, app, root_path), outcome).inc()


def _secret(token: SecretStr | str | None) -> str | None:
    value = token.get_secret_value() if isinstance(token, SecretStr) else token
    return value or None


def metrics_response(request: Request, token: SecretStr | str | None, internet_facing: bool) -> Response | None:
    """The refusal of a scrape that may not see the metrics, or None: with a token, the request must carry it as a
    bearer token; without one, an internet-facing service serves no metrics at all."""
    secret = _secret(token)
    if secret is None:
        if internet_facing:
            return JSONResponse({"detail": "Expected METRICS_TOKEN to be set on this gateway to serve /metrics (it is "
                                           "internet-facing: its metrics are not public), got none set"}, 403)
        return None
    offered = request.headers.get("authorization", "")
    if hmac.compare_digest(offered.encode(), f"Bearer {secret}".encode()):
        return None
    got = "a different token" if offered.lower().startswith("bearer ") else \
        "another scheme" if offered else "no Authorization header"
    return JSONResponse({"detail": f"Expected Authorization: Bearer <METRICS_TOKEN>, got {got}"}, 401,
                        headers={"WWW-Authenticate": 'Bearer realm="metrics"'})


def install(app: FastAPI, token: SecretStr | str | None = None, *, internet_facing: bool = False) -> None:
    """Serve `/metrics` on the app (outside its OpenAPI schema) and count its requests; call it after the app's
    other middleware is added, so that this one is outermost."""

    async def metrics(request: Request) -> Response:
        refused = metrics_response(request, token, internet_facing)
        if refused is not None:
            return refused
        body = await asyncio.to_thread(generate_latest, REGISTRY)  # a few ms with many series: off the event loop
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(METRICS_PATH, metrics, methods=["GET"], include_in_schema=False)
    app.add_middleware(RequestMetrics)


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in a /metrics text (None when absent): for tests and scripts reading a scrape."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every series of one sample name in a /metrics text, with its labels."""
    from prometheus_client.parser import text_string_to_metric_families

    out: list[tuple[dict[str, str], float]] = []
    for family in text_string_to_metric_families(text):
        out.extend((dict(s.labels), float(s.value)) for s in family.samples if s.name == name)
    return out

