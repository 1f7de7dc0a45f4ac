"""The authorization matrix, generated from the gateway's routes so that a new endpoint cannot be forgotten: every
HTTP endpoint is public, for participants, or for designers, and each caller gets what their role allows.

Designer endpoints: anonymous -> 401, a participant token -> 401, another designer -> 404 on the owner's
resources (routes with path parameters), the owner -> 2xx. The participant endpoints: only a participant token of
the study gets 2xx. Every designer endpoint that may change something refuses the browser session cookie without
its CSRF header (403). The play WebSocket: no, bad, revoked or expired participant tokens get `unauthorized` and
close 4401. A route in none of the tables below is taken for a designer endpoint, and fails here unless it is one.
The browser sign-in (/api/session) and the watch WebSocket have their own tests (test_signin.py, test_watch.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
import simplejpeg
import websockets
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Route

from playcorder.admin import create_designer_token, set_password
from playcorder.sdk import Client
from playcorder.sdk.bot import play, ws_url
from playcorder_gateway.app import create_app
from playcorder_gateway.settings import Settings
from tests.factories import cartpole_study
from tests.test_tokens import set_expiry
from tests.wsclient import Player

pytestmark = pytest.mark.e2e

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/openapi.json"), ("GET", "/docs"),
          ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc")}
PARTICIPANT = {("GET", "/api/participant/study")}
# A campaign's link: anyone may read it and arrive (tests/test_campaigns.py checks the limits on arrivals).
ARRIVAL = {("GET", "/api/c/{campaign_id}"), ("POST", "/api/c/{campaign_id}/enroll")}
# A campaign's participant: the play token their arrival handed out (not one a designer made).
ENROLLED = {("GET", "/api/enrollment"), ("POST", "/api/enrollment/consent"), ("POST", "/api/enrollment/answers")}
_CAMPAIGN = {"name": "authz", "conditions": [{"id": "cart", "environment": "cartpole", "quota": {"target": 100}}]}
# Labelling: a participant token of the study; answering or giving back a pair needs its lease besides (the world's
# participant holds none: 409 lease_lost, past the token check). tests/test_preferences.py plays the queue.
LABELLING = {("POST", "/api/preferences/{experiment_id}/lease")}
LEASED = {("POST", "/api/preferences/pairs/{pair_id}/answer"), ("POST", "/api/preferences/pairs/{pair_id}/release")}
_JPEG = base64.b64encode(simplejpeg.encode_jpeg(np.zeros((8, 8, 3), np.uint8))).decode()
SIGN_IN = {("POST", "/api/session"), ("GET", "/api/session"), ("DELETE", "/api/session")}
WEBSOCKETS = {"/ws/play", "/ws/watch/{session_id}"}
# Guarded by METRICS_TOKEN, not by the tokens of designers and participants: tests/test_metrics.py checks it.
METRICS = {("GET", "/metrics")}
# Request bodies the owner's call needs to succeed ({name} is filled like a path parameter).
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/studies"): cartpole_study(),
    ("POST", "/api/studies/trial"): cartpole_study(),
    ("POST", "/api/studies/{study_id}/participants"): {"external_id": "authz"},
    ("PATCH", "/api/episodes/{episode_id}"): {"notes": "checked by the authorization test"},
    ("POST", "/api/studies/{study_id}/exports"): {"episode_ids": ["{episode_id}"]},
    ("PUT", "/api/studies/{study_id}"): cartpole_study(),
    ("PATCH", "/api/studies/{study_id}"): {"enabled": True},
    ("POST", "/api/studies/{study_id}/campaigns"): _CAMPAIGN,
    ("PUT", "/api/campaigns/{campaign_id}"): _CAMPAIGN,
    ("POST", "/api/c/{campaign_id}/enroll"): {"params": {"participant": "authz"}},
    ("POST", "/api/enrollment/answers"): {"answers": {}},
    ("POST", "/api/studies/{study_id}/preferences"): {"name": "authz", "source": {"kind": "posted"}},
    ("POST", "/api/preferences/{experiment_id}/segments"): {"frames": [_JPEG]},
    ("POST", "/api/preferences/{experiment_id}/pairs"): {"pairs": [{"left": "{segment_id}",
                                                                     "right": "{other_segment_id}"}]},
    ("POST", "/api/preferences/pairs/{pair_id}/answer"): {"response": "left"},
}
# Endpoints whose successful call uses up what it acts on: the owner's call gets a fresh one (the other callers
# are refused before anything happens).
CONSUMING = {("DELETE", "/api/episodes/{episode_id}"), ("POST", "/api/participants/{participant_id}/revoke"),
             ("DELETE", "/api/me/tokens/current"), ("DELETE", "/api/studies/{study_id}")}


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full path, route) of every route; FastAPI >= 0.165 keeps an included router as one entry holding it."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _walk(included.routes, prefix + route.include_context.prefix)
        else:
            yield prefix + route.path, route


def _routes() -> tuple[list[tuple[str, str]], set[str]]:
    # Building the app connects to nothing (its lifespan does): the routes are those the running gateway serves.
    app = create_app(Settings(database={"url": "postgresql+asyncpg://unused/unused"},
                              s3={"access_key": "unused", "secret_key": "unused"}))
    http, ws = set(), set()
    for path, route in _walk(app.routes):
        if isinstance(route, APIWebSocketRoute):
            ws.add(path)
        elif isinstance(route, (APIRoute, Route)):
            http |= {(m, path) for m in route.methods or () if m != "HEAD"}
        else:
            raise AssertionError(f"Expected only HTTP and WebSocket routes, got {route!r}: add it to this test")
    return sorted(http, key=lambda mp: (mp[1], mp[0])), ws


HTTP_ROUTES, WS_ROUTES = _routes()


@dataclass
class World:
    """Real resources of an owner's study, and the tokens of each kind of caller."""

    url: str
    database_url: str
    owner: str
    other: str
    participant: str
    enrolled: str
    ids: dict[str, str]
    spare_episodes: list[str] = field(default_factory=list)

    def fresh(self, method: str, path: str) -> tuple[dict[str, str], str]:
        """Ids and owner token for the owner's call of a CONSUMING endpoint."""
        owner = Client(self.url, self.owner)
        if "{episode_id}" in path:
            return self.ids | {"episode_id": self.spare_episodes.pop()}, self.owner
        if "{participant_id}" in path:
            return self.ids | {"participant_id": owner.create_participant(self.ids["study_id"])["participant_id"]}, \
                self.owner
        if path == "/api/studies/{study_id}":  # deleted: one without episodes
            return self.ids | {"study_id": owner.create_study(cartpole_study())["id"]}, self.owner
        return self.ids, asyncio.run(create_designer_token(self.database_url, "authz-owner"))


def _finished(client: Client, study_id: str, count: int) -> list[str]:
    deadline = time.monotonic() + 60
    while True:
        episodes = client.list_episodes(study_id)
        done = [e["id"] for e in episodes if e["state"] != "recording"]
        if len(done) >= count:
            return done
        assert time.monotonic() < deadline, f"expected {count} stored episodes, got {episodes}"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def world(services, stack) -> World:  # type: ignore[no-untyped-def]
    owner_token = asyncio.run(create_designer_token(stack.database_url, f"authz-owner-{uuid.uuid4().hex[:6]}"))
    other_token = asyncio.run(create_designer_token(stack.database_url, f"authz-other-{uuid.uuid4().hex[:6]}"))
    owner = Client(services.url, owner_token)
    study = owner.create_study(cartpole_study())
    participant = owner.create_participant(study["id"])
    summary = asyncio.run(play(services.url, participant["token"], "cartpole", episodes=2, max_steps=3))
    assert summary.episodes == 2
    episode, spare = _finished(owner, study["id"], 2)[:2]
    owner.add_tag(episode, "authz")
    owner.add_tag(episode, "authz", step=0)
    export = owner.create_export(study["id"], [episode])
    campaign = owner.create_campaign(study["id"], _CAMPAIGN)
    enrolled = Client(services.url, None).enroll(campaign["id"], {"participant": "authz-world"})["token"]
    experiment = owner.create_preference_experiment(study["id"], {"name": "authz", "source": {"kind": "posted"}})
    segments = [owner.post_segment(experiment["id"], [base64.b64decode(_JPEG)])["id"] for _ in range(2)]
    pair = owner.post_pairs(experiment["id"], [{"left": segments[0], "right": segments[1]}])[0]
    ids = {"study_id": study["id"], "participant_id": participant["participant_id"], "episode_id": episode,
           "export_id": export["id"], "label": "authz", "step": "0", "env": "cartpole", "version": "1",
           "campaign_id": campaign["id"], "seq": "0", "experiment_id": experiment["id"], "segment_id": segments[0],
           "other_segment_id": segments[1], "pair_id": pair["id"]}
    return World(services.url, stack.database_url, owner_token, other_token, participant["token"], enrolled, ids,
                 [spare])


def _fill(template: Any, ids: dict[str, str]) -> Any:
    if isinstance(template, str):
        return template.format(**ids)
    if isinstance(template, list):
        return [_fill(t, ids) for t in template]
    if isinstance(template, dict):
        return {k: _fill(v, ids) for k, v in template.items()}
    return template


def _call(world: World, method: str, path: str, token: str | None, ids: dict[str, str] | None = None) -> httpx.Response:
    ids = ids or world.ids
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = BODIES.get((method, path))
    if path.endswith("/stream"):  # server-sent events: the status and headers tell, the stream goes on
        with httpx.stream(method, world.url + path.format(**ids), headers=headers, timeout=30) as streamed:
            return httpx.Response(streamed.status_code, headers=streamed.headers)
    return httpx.request(method, world.url + path.format(**ids), headers=headers,
                         json=_fill(body, ids) if body is not None else None, timeout=30)


def test_tables_name_only_routes_that_exist() -> None:
    http = set(HTTP_ROUTES)
    stale = (PUBLIC | PARTICIPANT | ARRIVAL | ENROLLED | LABELLING | LEASED | SIGN_IN | METRICS | set(BODIES)
             | CONSUMING) - http
    assert not stale, f"the tables name routes the gateway no longer has: {sorted(stale)}"
    assert WS_ROUTES == WEBSOCKETS, f"Expected the WebSocket routes {WEBSOCKETS} this test plays, got {WS_ROUTES}"


@pytest.mark.parametrize(("method", "path"), HTTP_ROUTES, ids=[f"{m} {p}" for m, p in HTTP_ROUTES])
def test_endpoint_answers_each_caller_as_its_role_allows(world: World, method: str, path: str) -> None:
    route = f"{method} {path}"
    if (method, path) in SIGN_IN | METRICS:
        return
    if (method, path) in PUBLIC | ARRIVAL:
        r = _call(world, method, path, None)
        assert r.is_success, f"{route} is public: expected 2xx without a token, got {r.status_code} {r.text[:200]}"
        return
    anonymous = _call(world, method, path, None)
    assert anonymous.status_code == 401, (
        f"{route} answered {anonymous.status_code} without a token: protect it, or list it in PUBLIC if it is meant "
        f"to be public")
    assert anonymous.headers.get("www-authenticate") == "Bearer"
    if (method, path) in LABELLING | LEASED:
        assert _call(world, method, path, world.owner).status_code == 401, f"{route} took a designer token"
        r = _call(world, method, path, world.participant)
        if (method, path) in LEASED:
            assert r.status_code == 409 and r.json()["code"] == "lease_lost", f"{route}: {r.status_code} {r.text}"
        else:
            assert r.is_success, f"{route}: expected 2xx for the participant, got {r.status_code} {r.text[:200]}"
        return
    if (method, path) in PARTICIPANT | ENROLLED:
        assert _call(world, method, path, world.owner).status_code == 401, f"{route} took a designer token"
        if (method, path) in ENROLLED:
            r = _call(world, method, path, world.participant)
            assert r.status_code == 404 and r.json()["code"] == "not_enrolled", f"{route} took a designer-made token"
        r = _call(world, method, path, world.enrolled if (method, path) in ENROLLED else world.participant)
        assert r.is_success, f"{route}: expected 2xx for the participant, got {r.status_code} {r.text[:200]}"
        return
    r = _call(world, method, path, world.participant)
    assert r.status_code == 401, f"{route} answered {r.status_code} to a participant token, expected 401"
    if "{" in path:  # (without one, another designer's call is about their own things, e.g. DELETE their token)
        designer_of_nothing = _call(world, method, path, world.other)
        assert designer_of_nothing.status_code == 404, (
            f"{route} answered {designer_of_nothing.status_code} to another designer, expected 404 (not theirs)")
    ids, owner = world.fresh(method, path) if (method, path) in CONSUMING else (world.ids, world.owner)
    r = _call(world, method, path, owner, ids)
    assert r.is_success, f"{route}: expected 2xx for the owner, got {r.status_code} {r.text[:300]}"


UNSAFE = [(m, p) for m, p in HTTP_ROUTES if m not in ("GET", "OPTIONS")
          and (m, p) not in PUBLIC | PARTICIPANT | ARRIVAL | ENROLLED | LABELLING | LEASED | SIGN_IN]


def test_every_designer_change_needs_the_csrf_header_with_a_cookie(world: World, stack) -> None:  # type: ignore[no-untyped-def]
    name = f"authz-browser-{uuid.uuid4().hex[:6]}"
    asyncio.run(set_password(stack.database_url, name, "authz password"))
    signed = httpx.post(f"{world.url}/api/session", json={"name": name, "password": "authz password"}, timeout=30)
    assert signed.status_code == 200, signed.text
    cookies = {"pc_session": signed.cookies["pc_session"]}
    assert UNSAFE, "expected designer endpoints that change something"
    for method, path in UNSAFE:
        body = BODIES.get((method, path))
        r = httpx.request(method, world.url + path.format(**world.ids), cookies=cookies, timeout=30,
                          json=_fill(body, world.ids) if body is not None else None)
        assert r.status_code == 403 and "X-CSRF-Token" in r.text, (
            f"{method} {path} answered {r.status_code} to a session cookie without X-CSRF-Token, expected 403")


async def _refused(connect: Any) -> None:
    async with connect as ws:
        event = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert event["type"] == "error" and event["code"] == "unauthorized", event
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 30)
        assert closed.value.rcvd.code == 4401


async def test_play_websocket_takes_only_a_valid_participant_token(world: World) -> None:
    owner = Client(world.url, world.owner)
    ws_base = world.url.replace("http://", "ws://")
    await _refused(websockets.connect(f"{ws_base}/ws/play"))

    async def refused_token(token: str) -> None:
        # nothing sent: the gateway may close before a first message would arrive
        await _refused(websockets.connect(ws_url(world.url, token)))

    await refused_token("pcp_" + "x" * 43)  # unknown
    await refused_token(world.owner)  # a designer's token is not a play token
    revoked = owner.create_participant(world.ids["study_id"])
    owner.revoke_participant(revoked["participant_id"])
    await refused_token(revoked["token"])
    expired = owner.create_participant(world.ids["study_id"])["token"]
    await set_expiry(world.database_url, expired, datetime.now(UTC) - timedelta(seconds=1))
    await refused_token(expired)

    valid = await Player.join(world.url, owner.create_participant(world.ids["study_id"])["token"], "cartpole")
    try:
        assert (await valid.until("session"))["env"] == "cartpole"
    finally:
        await valid.close()
