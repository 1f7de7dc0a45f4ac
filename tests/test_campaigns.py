"""Crowd campaigns on the real stack: arrivals from Prolific, MTurk and a plain link are enrolled without a token
made by hand, play their condition, complete with the channel's code and redirect; assignment spreads 200
simultaneous arrivals over two gateways; a second tab takes over; hostile arrivals get clear 4xx."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from playcorder.admin import create_designer_token
from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.sdk import ApiError, Client
from playcorder.sdk.bot import play, subprotocols, ws_url
from tests.conftest import Services
from tests.factories import study

pytestmark = pytest.mark.e2e

CARTPOLE = {"id": "cartpole", "env_id": "CartPole-v1", "mode": "turn_based", "max_episode_steps": 30}
ACROBOT = {"id": "acrobot", "env_id": "Acrobot-v1", "mode": "turn_based", "max_episode_steps": 20}


def _study(client: Client) -> dict[str, Any]:
    return client.create_study(study(CARTPOLE, ACROBOT, name="campaign"))


def _campaign(client: Client, study_id: str, **spec: Any) -> dict[str, Any]:
    body = {"name": f"c-{uuid.uuid4().hex[:6]}", "conditions": [
        {"id": "cart", "environment": "cartpole", "quota": {"target": 10}}]} | spec
    return client.create_campaign(study_id, body)


def _arrive(url: str, campaign_id: str, params: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{url}/api/c/{campaign_id}/enroll", json={"params": params}, timeout=30)


def _me(url: str, token: str, path: str = "", **kw: Any) -> httpx.Response:
    method = "POST" if path else "GET"
    return httpx.request(method, f"{url}/api/enrollment{path}", headers={"Authorization": f"Bearer {token}"},
                         timeout=30, **kw)


async def _first_error(url: str, token: str, env: str) -> dict[str, Any]:
    async with websockets.connect(ws_url(url, token), subprotocols=subprotocols(token)) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "select_env", "env": env}))
        while True:
            message = await asyncio.wait_for(ws.recv(), 30)
            if isinstance(message, str) and (event := json.loads(message))["type"] == "error":
                return dict(event)


def _after_play(url: str, token: str, ready: Any = lambda p: p["stage"] == "complete") -> dict[str, Any]:
    """The participant's progress once `ready` says the episodes just played count (the bot returns at the worker's
    episode_ended; the recorder stores the episode a moment later)."""
    deadline = time.monotonic() + 30
    while not ready(progress := _me(url, token).json()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return dict(progress)


async def _until(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(ws.recv(), 30)
        if isinstance(message, str) and (event := json.loads(message))["type"] == kind:
            return dict(event)


def test_prolific_arrival_consents_answers_plays_and_completes(services: Services, client: Client) -> None:
    s = _study(client)
    c = _campaign(client, s["id"], channel="prolific", completion_code="C1ABCDEF",
                  bonus={"formula": "0.5 * episodes + 0.01 * steps", "max": 2.0, "currency": "GBP"},
                  pages={"consent": "You agree to be recorded.", "instructions": "Keep the pole up.",
                         "questionnaire": [{"id": "age", "text": "Your age group", "kind": "choice",
                                            "options": ["18-30", "31+"]},
                                           {"id": "gamer", "text": "How often do you play?", "kind": "scale",
                                            "scale": [1, 5]}],
                         "after": "Thank you!"})
    assert c["link"] == f"/c/{c['id']}" and c["completion_code"] == "C1ABCDEF"
    public = httpx.get(f"{services.url}/api/c/{c['id']}").json()
    assert public["params"] == ["PROLIFIC_PID", "STUDY_ID", "SESSION_ID"] and public["open"] is None
    assert public["pages"]["consent"] == "You agree to be recorded."

    r = _arrive(services.url, c["id"], {"STUDY_ID": "s1"})
    assert r.status_code == 422 and r.json()["code"] == "missing_params" and "PROLIFIC_PID" in r.json()["detail"]
    pid = f"P{uuid.uuid4().hex[:20]}"
    ids = {"PROLIFIC_PID": pid, "STUDY_ID": "study1", "SESSION_ID": "sess1"}
    r = _arrive(services.url, c["id"], ids)
    assert r.status_code == 200, r.text
    first = r.json()
    token, progress = first["token"], first["progress"]
    assert first["resumed"] is False and progress["stage"] == "consent"

    assert asyncio.run(_first_error(services.url, token, "cartpole"))["code"] == "pages_first"
    assert _me(services.url, token, "/consent").json()["stage"] == "questionnaire"
    r = _me(services.url, token, "/answers", json={"answers": {"age": "12"}})
    assert r.status_code == 422 and "one of ['18-30', '31+']" in r.json()["detail"]
    r = _me(services.url, token, "/answers", json={"answers": {"age": "18-30", "gamer": 9}})
    assert r.status_code == 422 and "[1, 5]" in r.json()["detail"]
    progress = _me(services.url, token, "/answers", json={"answers": {"age": "18-30", "gamer": 4}}).json()
    assert progress["stage"] == "play" and progress["environment"] == "cartpole" and progress["condition"] == "cart"
    assert progress["completion"] == 0 and "Keep the pole up." in progress["instructions"]

    error = asyncio.run(_first_error(services.url, token, "acrobot"))
    assert error["code"] == "not_your_condition" and "'cartpole'" in error["message"]
    asyncio.run(play(services.url, token, "cartpole", episodes=1))
    done = _after_play(services.url, token)
    assert done["stage"] == "complete" and done["completion"] == 1 and done["completion_code"] == "C1ABCDEF"
    assert done["redirect"] == {"method": "GET", "url": "https://app.prolific.com/submissions/complete?cc=C1ABCDEF",
                                "fields": {}}
    assert done["after"] == "Thank you!" and done["bonus"] is not None and 0.5 <= done["bonus"] <= 2.0
    assert asyncio.run(_first_error(services.url, token, "cartpole"))["code"] == "campaign_complete"

    again = _arrive(services.url, c["id"], ids).json()  # the same ids: the same participant, still complete
    assert again["resumed"] is True and again["participant_id"] == first["participant_id"]
    assert again["progress"]["stage"] == "complete"

    rows = client.campaign_participants(c["id"])
    assert [(p["stage"], p["condition"], p["answers"]) for p in rows] == [
        ("complete", "cart", {"age": "18-30", "gamer": 4})]
    assert rows[0]["values"]["episodes"] == 1  # what they completed it with
    assert list(csv.reader(io.StringIO(client.campaign_bonuses(c["id"])))) == [[pid, f"{done['bonus']:.2f}"]]

    episodes = client.list_episodes(s["id"])
    assert [(e["participant_id"], e.get("campaign_id"), e.get("condition")) for e in episodes
            if e["participant_id"] == again["participant_id"]] == [(again["participant_id"], c["id"], "cart")]
    participant = client.get_participant(again["participant_id"])
    assert pid not in json.dumps(participant)  # exports and metadata carry the keyed id, never the raw one
    assert len(participant["external_id"]) == 64


def test_mturk_preview_then_accepted_submits_to_turk(services: Services, client: Client) -> None:
    s = _study(client)
    c = _campaign(client, s["id"], channel="mturk")
    worker = f"A{uuid.uuid4().hex[:12].upper()}"
    preview = {"workerId": worker, "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "H1"}
    r = _arrive(services.url, c["id"], preview)
    assert r.status_code == 409 and r.json()["code"] == "mturk_preview" and "accept the HIT" in r.json()["detail"]
    ids = {"workerId": worker, "assignmentId": "ASG1", "hitId": "H1"}
    r = _arrive(services.url, c["id"], ids | {"turkSubmitTo": "https://evil.example.com"})
    assert r.status_code == 422 and "workersandbox.mturk.com" in r.json()["detail"]
    r = _arrive(services.url, c["id"], ids | {"turkSubmitTo": "https://workersandbox.mturk.com"})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    assert r.json()["progress"]["stage"] == "play"  # no pages before play
    asyncio.run(play(services.url, token, "cartpole", episodes=1))
    done = _after_play(services.url, token)
    assert done["stage"] == "complete" and len(done["completion_code"]) == 32
    assert done["redirect"] == {"method": "POST", "url": "https://workersandbox.mturk.com/mturk/externalSubmit",
                                "fields": {"assignmentId": "ASG1", "completion_code": done["completion_code"]}}


def test_requirements_and_several_conditions_in_turn(services: Services, client: Client) -> None:
    s = _study(client)
    c = _campaign(client, s["id"], conditions_per_participant=2,
                  requirements=[{"statistic": "episodes", "target": 2}],
                  conditions=[{"id": "cart", "environment": "cartpole", "quota": {"target": 5}},
                              {"id": "acro", "environment": "acrobot", "variant": {"max_episode_steps": 10},
                               "instructions": "Swing up.", "quota": {"unit": "episodes", "target": 50}}])
    r = _arrive(services.url, c["id"], {"participant": "p-1"}).json()
    token, first = r["token"], r["progress"]
    asyncio.run(play(services.url, token, first["environment"], episodes=1))
    half = _after_play(services.url, token, lambda p: p["completion"] == 0.5)
    assert half["stage"] == "play" and half["completion"] == 0.5 and half["requirements"][0]["value"] == 1
    asyncio.run(play(services.url, token, first["environment"], episodes=1))
    second = _after_play(services.url, token, lambda p: p["conditions_done"] == 1)
    assert second["stage"] == "play" and second["condition"] != first["condition"]
    assert second["conditions_done"] == 1 and second["completion"] == 0
    summary = asyncio.run(play(services.url, token, second["environment"], episodes=2))
    assert summary.episodes == 2
    assert _after_play(services.url, token)["stage"] == "complete"
    # both conditions were played, acro with its variant's limit (10 steps, and the record's final observation)
    steps = [e["num_steps"] for e in client.list_episodes(s["id"]) if e.get("condition") == "acro"]
    assert len(steps) == 2 and max(steps) <= 11


def test_second_tab_takes_the_session_over(services: Services, client: Client) -> None:
    s = _study(client)
    c = _campaign(client, s["id"])
    token = _arrive(services.url, c["id"], {"participant": "tabs"}).json()["token"]

    async def two_tabs() -> tuple[dict[str, Any], int | None]:
        first = await websockets.connect(ws_url(services.url, token), subprotocols=subprotocols(token))  # type: ignore[arg-type]
        await first.send(json.dumps({"type": "select_env", "env": "cartpole"}))
        await _until(first, "session")
        second = await websockets.connect(ws_url(services.url, token), subprotocols=subprotocols(token))  # type: ignore[arg-type]
        try:
            told: dict[str, Any] = {}
            try:
                while True:
                    message = await asyncio.wait_for(first.recv(), 10)
                    if isinstance(message, str) and json.loads(message)["type"] == "error":
                        told = json.loads(message)
            except websockets.ConnectionClosed as closed:
                return told, closed.rcvd.code if closed.rcvd else None
        finally:
            await second.close()

    told, code = asyncio.run(two_tabs())
    assert told["code"] == "taken_over" and "another tab" in told["message"] and code == 4409


def test_closed_ended_and_not_started_campaigns_say_so(services: Services, client: Client) -> None:
    s = _study(client)
    c = _campaign(client, s["id"])
    inside = _arrive(services.url, c["id"], {"participant": "early"}).json()
    client.close_campaign(c["id"])
    r = _arrive(services.url, c["id"], {"participant": "late"})
    assert r.status_code == 410 and r.json()["code"] == "campaign_closed"
    assert _arrive(services.url, c["id"], {"participant": "early"}).json()["participant_id"] == inside["participant_id"]
    assert httpx.get(f"{services.url}/api/c/{c['id']}").json()["open"] == "closed"
    now = datetime.now(UTC)
    ended = _campaign(client, s["id"], starts_at=(now - timedelta(days=2)).isoformat(),
                      ends_at=(now - timedelta(days=1)).isoformat())
    r = _arrive(services.url, ended["id"], {"participant": "x"})
    assert r.status_code == 410 and r.json()["code"] == "campaign_ended"
    later = _campaign(client, s["id"], starts_at=(now + timedelta(days=1)).isoformat())
    r = _arrive(services.url, later["id"], {"participant": "x"})
    assert r.status_code == 409 and r.json()["code"] == "not_started" and "starts at" in r.json()["detail"]
    full = _campaign(client, s["id"], conditions=[{"id": "one", "environment": "cartpole", "quota": {"target": 1}}])
    assert _arrive(services.url, full["id"], {"participant": "a"}).status_code == 200
    r = _arrive(services.url, full["id"], {"participant": "b"})
    assert r.status_code == 409 and r.json()["code"] == "campaign_full"


def test_hostile_arrivals_get_clear_errors(services: Services, client: Client) -> None:
    s = _study(client)
    c = _campaign(client, s["id"])
    url = services.url
    for params, expected in [({"participant": "x" * 129}, "1-128"), ({"participant": "a b"}, "letters, digits"),
                             ({"participant": "\x00"}, "letters, digits")]:
        r = _arrive(url, c["id"], params)
        assert r.status_code == 422 and expected in r.json()["detail"], r.text
    r = httpx.post(f"{url}/api/c/{c['id']}/enroll", json={"params": {f"k{i}": "v" for i in range(21)}})
    assert r.status_code == 422
    r = httpx.post(f"{url}/api/c/{c['id']}/enroll", json={"params": {"participant": 5}})
    assert r.status_code == 422
    for bad in ("nope", "0" * 32, "../../etc"):
        r = _arrive(url, bad, {"participant": "x"})
        assert r.status_code == 404, r.text
    r = _me(url, "pcp_nope")
    assert r.status_code == 401
    designer_made = client.create_participant(s["id"])["token"]
    r = _me(url, designer_made)
    assert r.status_code == 404 and r.json()["code"] == "not_enrolled"
    token = _arrive(url, c["id"], {"participant": "=1+2"}).json()["token"]
    r = _me(url, token, "/answers", json={"answers": {"q": "a"}})
    assert r.status_code == 422 and "[]" in r.json()["detail"]
    bonus = _campaign(client, s["id"], bonus={"formula": "1 + episodes", "max": 5})
    tok = _arrive(url, bonus["id"], {"participant": "=1+2"}).json()["token"]
    asyncio.run(play(url, tok, "cartpole", episodes=1))
    assert _after_play(url, tok)["stage"] == "complete"
    assert client.campaign_bonuses(bonus["id"]).splitlines() == ["'=1+2,2.00"]


def test_campaign_specs_are_checked_and_owned(services: Services, client: Client, stack: Any) -> None:
    s = _study(client)
    with pytest.raises(ApiError) as err:
        _campaign(client, s["id"], conditions=[{"id": "x", "environment": "nope", "quota": {"target": 1}}])
    assert err.value.status == 422 and "'nope'" in str(err.value.detail)
    with pytest.raises(ApiError) as err:
        _campaign(client, s["id"], conditions=[{"id": "x", "environment": "cartpole", "variant": {"env_id": "Pong"},
                                                "quota": {"target": 1}}])
    assert err.value.status == 422 and "env_id" in str(err.value.detail)
    with pytest.raises(ApiError) as err:
        _campaign(client, s["id"], bonus={"formula": "__import__('os')", "max": 1})
    assert err.value.status == 422
    c = _campaign(client, s["id"])
    name = f"other-{uuid.uuid4().hex[:6]}"
    other = Client(services.url, asyncio.run(create_designer_token(stack.database_url, name)))
    for call in (lambda: other.get_campaign(c["id"]), lambda: other.campaign_participants(c["id"]),
                 lambda: other.campaign_bonuses(c["id"]), lambda: other.close_campaign(c["id"]),
                 lambda: other.list_campaigns(s["id"])):
        with pytest.raises(ApiError) as err:
            call()
        assert err.value.status == 404
    _arrive(services.url, c["id"], {"participant": "p"})
    changed = client.update_campaign(c["id"], {"name": "renamed", "conditions": [
        {"id": "cart", "environment": "cartpole", "quota": {"target": 20}}]})
    assert changed["name"] == "renamed" and changed["spec"]["conditions"][0]["quota"]["target"] == 20
    with pytest.raises(ApiError) as err:
        client.update_campaign(c["id"], {"name": "x", "conditions": [
            {"id": "other", "environment": "acrobot", "quota": {"target": 1}}]})
    assert err.value.status == 409 and "cart" in str(err.value.detail)


def test_dashboard_counts_and_streams(services: Services, client: Client) -> None:
    s = _study(client)
    c = _campaign(client, s["id"], conditions=[{"id": "a", "environment": "cartpole", "quota": {"target": 3}},
                                               {"id": "b", "environment": "acrobot", "quota": {"target": 3}}])
    tokens = [_arrive(services.url, c["id"], {"participant": f"d{i}"}).json() for i in range(3)]
    done = tokens[0]
    asyncio.run(play(services.url, done["token"], done["progress"]["environment"], episodes=1))
    _after_play(services.url, done["token"])
    board = client.campaign_dashboard(c["id"])
    assert (board["arrived"], board["active"], board["completed"]) == (3, 2, 1)
    assert sorted(x["filled"] for x in board["conditions"]) == [1, 2]
    assert board["timeline"][-1]["arrived"] == 3 and board["timeline"][-1]["completed"] == 1
    assert board["histograms"]["episodes"] == [1.0] or 1.0 in board["histograms"]["episodes"]
    headers = {"Authorization": client._http.headers["Authorization"]}
    with httpx.stream("GET", f"{services.url}/api/campaigns/{c['id']}/dashboard/stream", headers=headers,
                      timeout=30) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "event: dashboard"
        first = json.loads(next(lines).removeprefix("data: "))
        assert first["arrived"] == 3
        _arrive(services.url, c["id"], {"participant": "d-late"})
        for line in lines:
            if line.startswith("data: ") and json.loads(line[6:])["arrived"] == 4:
                break


@pytest.fixture
def second_gateway(services: Services, tmp_path: Path) -> Iterator[ServiceProcess]:
    gateway = ServiceProcess("gateway", services.env | {"GATEWAY_ID": "gateway-2"}, tmp_path, name="gateway-2")
    start_all([gateway])
    try:
        yield gateway
    finally:
        stop_all([gateway])


def test_200_simultaneous_arrivals_over_two_gateways_spread_evenly(services: Services, client: Client,
                                                                    second_gateway: ServiceProcess) -> None:
    s = _study(client)
    conditions = [{"id": f"k{i}", "environment": "cartpole" if i % 2 else "acrobot", "quota": {"target": 100}}
                  for i in range(4)]
    c = _campaign(client, s["id"], conditions=conditions)
    full = _campaign(client, s["id"], conditions=[{"id": "a", "environment": "cartpole", "quota": {"target": 7}},
                                                  {"id": "b", "environment": "acrobot", "quota": {"target": 7}}])
    urls = [services.url, second_gateway.url]

    async def arrive_all(campaign_id: str, n: int) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(timeout=120, limits=limits) as http:
            return list(await asyncio.gather(*(
                http.post(f"{urls[i % 2]}/api/c/{campaign_id}/enroll", json={"params": {"participant": f"r{i}"}})
                for i in range(n))))

    answers = asyncio.run(arrive_all(c["id"], 200))
    assert [r.status_code for r in answers] == [200] * 200, [r.text for r in answers if r.status_code != 200][:3]
    spread = Counter(r.json()["progress"]["condition"] for r in answers)
    assert sum(spread.values()) == 200 and max(spread.values()) - min(spread.values()) <= 1, spread
    board = client.campaign_dashboard(c["id"])
    assert sorted(x["reserved"] for x in board["conditions"]) == sorted(spread.values())

    answers = asyncio.run(arrive_all(full["id"], 30))
    codes = Counter(r.status_code for r in answers)
    assert codes == {200: 14, 409: 16}, codes
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"campaign_full"}
    assert Counter(r.json()["progress"]["condition"] for r in answers if r.status_code == 200) == {"a": 7, "b": 7}


def test_arrivals_per_address_are_limited(services: Services, tmp_path: Path) -> None:
    gateway = ServiceProcess("gateway", services.env | {"ENROLL_BURST": "3", "ENROLL_RATE": "6"}, tmp_path,
                             name="gateway-limited")
    start_all([gateway])
    try:
        answers = [_arrive(gateway.url, "0" * 32, {"participant": f"x{i}"}) for i in range(4)]
        assert [r.status_code for r in answers] == [404, 404, 404, 429]
        assert answers[-1].json()["code"] == "rate_limited" and int(answers[-1].headers["Retry-After"]) >= 1
    finally:
        stop_all([gateway])
