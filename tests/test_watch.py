"""The live view: a designer watches a participant's running session over /ws/watch, read-only: the frames and
events the participant gets and the participant's input, nothing of the gateways' own traffic; the watcher can
change nothing. Only the study's designer may watch, by token or by browser session from a page of the gateway."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from playcorder.admin import create_designer_token, set_password
from playcorder.sdk import Client
from tests.conftest import Services
from tests.factories import cartpole_study
from tests.signin import PASSWORD, cookies_of_sign_in
from tests.wsclient import Player

pytestmark = pytest.mark.e2e


def watch_url(base: str, session_id: str) -> str:
    return f"ws://{base.split('://', 1)[1]}/ws/watch/{session_id}"


async def watch(base: str, session_id: str, token: str | None = None, **kw: Any) -> Player:
    protocols = ["playcorder", f"token.{token}"] if token else None
    return Player(await websockets.connect(watch_url(base, session_id), subprotocols=protocols,  # type: ignore[arg-type]
                                           max_size=None, close_timeout=1, **kw))


async def refused(watcher: Player) -> tuple[dict[str, Any], int | None]:
    """The error event a refused watch gets, and its close code."""
    event = await watcher.until("error", timeout=10)
    with pytest.raises(ConnectionClosed):
        await watcher._receive(10)
    return event, watcher.ws.close_code


async def playing(client: Client) -> tuple[dict[str, Any], Player, str]:
    study = client.create_study(cartpole_study())
    participant = client.create_participant(study["id"])
    player = await Player.join(client.url, participant["token"], "cartpole")
    session_id = (await player.until("session"))["session_id"]
    await player.until("episode_started")
    return study, player, session_id


async def test_a_designer_watches_frames_events_and_inputs_without_touching_the_session(
        client: Client, designer_token: str) -> None:
    study, player, session_id = await playing(client)
    listed = client._http.get(f"/api/studies/{study['id']}/sessions", params={"active": "true"}).json()["items"]
    assert [s["id"] for s in listed] == [session_id]
    assert client._http.get(f"/api/studies/{study['id']}/sessions", params={"active": "false"}).json()["items"] == []

    watcher = await watch(client.url, session_id, designer_token)
    assert watcher.ws.subprotocol == "playcorder"
    watching = await watcher.until("watching")
    assert (watching["session_id"], watching["env"], watching["env_id"]) == (session_id, "cartpole", "CartPole-v1")
    await watcher.until("state", state="paused", timeout=2)  # the session's state as the watcher joins
    await asyncio.sleep(1.0)  # long enough for several of the participant's gateway's keepalives (every 0.25 s)

    actions = [0, 1, 1, 0, 1]
    for action in actions:
        await player.send(type="action", action=action)
        await player.until("frame")
    await player.send(type="pause")
    await player.until("state", state="paused")

    seen = await watcher.until("state", state="paused")
    inputs = [e["message"] for e in watcher.events if e["type"] == "watched_input"]
    assert [(m["type"], m.get("action")) for m in inputs] == [("action", a) for a in actions] + [("pause", None)]
    # The frames are the participant's, byte for byte (its steps, its JPEGs).
    assert len(watcher.frames) == len(actions)
    assert [(f.step, f.jpeg) for f in watcher.frames] == [(f.step, f.jpeg) for f in player.frames[-len(actions):]]
    assert seen["fps"] == player.events[-1]["fps"]

    # Read-only: anything the watcher sends is refused, and nothing reaches the session.
    before = len(player.events)
    await watcher.send(type="resume")
    await watcher.send(type="action", action=1)
    errors = [await watcher.until("error") for _ in range(2)]
    assert {e["code"] for e in errors} == {"read_only"} and "Expected nothing from a watcher" in errors[0]["message"]
    assert await player.drain(1.0) == 0 and player.events[before:] == []  # still paused: no frame, no event

    # A second watcher coming and going changes nothing either; the participant plays on.
    other = await watch(client.url, session_id, designer_token)
    await other.until("watching")
    other.drop()
    await player.send(type="resume")
    await player.until("state", state="running")
    await player.send(type="action", action=0)
    frame = await player.until("frame")
    assert (await watcher.until("frame")).step == frame.step

    # The participant leaves: the watcher is told the session ended, and its socket closes.
    await player.send(type="close")
    await player.close()
    ended = await watcher.until("session_ended", timeout=15)
    assert ended["reason"] == "ended"
    assert [m["type"] for m in (e["message"] for e in watcher.events if e["type"] == "watched_input")][-1] == "close"
    with pytest.raises(ConnectionClosed):
        await watcher._receive(10)
    assert client._http.get(f"/api/studies/{study['id']}/sessions", params={"active": "true"}).json()["items"] == []
    assert all(m["type"] not in ("keepalive", "detach")
               for m in (e["message"] for e in watcher.events if e["type"] == "watched_input"))
    # An ended session cannot be watched.
    event, code = await refused(await watch(client.url, session_id, designer_token))
    assert (event["code"], code) == ("not_running", 4404)


async def test_a_watcher_joining_mid_episode_learns_the_sessions_state_at_once(
        client: Client, designer_token: str) -> None:
    _, player, session_id = await playing(client)
    for action in (0, 1, 1):
        await player.send(type="action", action=action)
        await player.until("frame")
    told = [e for e in player.events if e["type"] != "stats"]  # statistics come about once a second besides
    assert told[-1]["type"] == "state" and told[-1]["state"] == "running"
    await player.drain(0.5)
    before = len(player.events)
    fps = [e for e in player.events if e["type"] == "state"][-1]["fps"]

    # The participant does nothing more: the watcher still learns at once that the session runs, and at what fps.
    watcher = await watch(client.url, session_id, designer_token)
    await watcher.until("watching")
    state = await watcher.until("state", timeout=2)
    assert (state["state"], state["fps"]) == ("running", fps)
    # The session goes on untouched: no frame, no step; the participant is only told its state again.
    await player.drain(1.0)
    assert player.frames[-1].step == 3 and [e["type"] for e in player.events[before:]] == ["state"]
    assert player.events[-1]["state"] == "running"
    assert not [e for e in watcher.events if e["type"] == "watched_input"]  # the watcher's resync is no input
    await player.send(type="action", action=0)
    assert (await watcher.until("frame")).step == 4
    await player.close()


async def test_only_the_studys_designer_may_watch(client: Client, services: Services, stack: Any) -> None:
    _, player, session_id = await playing(client)
    try:
        stranger = await create_designer_token(stack.database_url, f"stranger-{uuid.uuid4().hex[:6]}")
        event, code = await refused(await watch(client.url, session_id, stranger))
        assert (event["code"], code) == ("unknown_session", 4404) and session_id in event["message"]
        event, code = await refused(await watch(client.url, session_id))
        assert (event["code"], code) == ("unauthorized", 4401)
        event, code = await refused(await watch(client.url, session_id, "pcd_forged"))
        assert (event["code"], code) == ("unauthorized", 4401)
        owner_token = client._http.headers["Authorization"].split()[1]
        event, code = await refused(await watch(client.url, "nope", owner_token))
        assert (event["code"], code) == ("unknown_session", 4404)
    finally:
        await player.close()


async def test_a_browser_watches_with_its_cookie_only_from_the_gateways_own_pages(services: Services,
                                                                                    stack: Any) -> None:
    name = f"watcher-{uuid.uuid4().hex[:6]}"
    await set_password(stack.database_url, name, PASSWORD)
    async with httpx.AsyncClient(base_url=services.url, timeout=30) as http:
        signed = await http.post("/api/session", json={"name": name, "password": PASSWORD})
        assert signed.status_code == 200
        csrf = signed.json()["csrf_token"]
        study = (await http.post("/api/studies", json=cartpole_study(), headers={"X-CSRF-Token": csrf})).json()
        made = await http.post(f"/api/studies/{study['id']}/participants", json={}, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.text
    cookie = {"Cookie": "pc_session=" + cookies_of_sign_in(signed)["pc_session"]}
    player = await Player.join(services.url, made.json()["token"], "cartpole")
    session_id = (await player.until("session"))["session_id"]
    assert (await player.until("frame")).step == 0  # the episode's first frame, before anyone watches
    try:
        # A page of another site opening the socket with the browser's cookie (cross-site WebSocket hijacking).
        evil = await watch(services.url, session_id, origin="http://evil.example", additional_headers=cookie)
        event, code = await refused(evil)
        assert (event["code"], code) == ("forbidden_origin", 4403) and "evil.example" in event["message"]
        event, code = await refused(await watch(services.url, session_id, additional_headers=cookie))  # no Origin
        assert (event["code"], code) == ("forbidden_origin", 4403)
        own = await watch(services.url, session_id, origin=services.url, additional_headers=cookie)
        assert (await own.until("watching"))["session_id"] == session_id
        await player.send(type="action", action=1)
        assert (await own.until("frame")).step == (await player.until("frame")).step
        await own.close()
    finally:
        await player.close()

