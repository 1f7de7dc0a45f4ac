"""Tokens expire and can be revoked, by designers (a participant's, their own) and by operators (an account's);
`/api/workers` shows a designer only their own recordings; the gateway's log never shows a token."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import update
from sqlmodel import col

from playcorder.admin import create_designer_token
from playcorder.auth import token_hash
from playcorder.db.engine import make_engine, make_sessionmaker
from playcorder.db.models import ApiToken
from playcorder.devstack.launcher import _designer_token
from playcorder.sdk import ApiError, Client
from playcorder.sdk.bot import connect, play, ws_url
from tests.factories import cartpole_study
from tests.stored import stored_episode
from tests.wsclient import Player

pytestmark = pytest.mark.e2e


async def set_expiry(database_url: str, token: str, when: datetime | None) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as db:
            await db.exec(update(ApiToken).where(col(ApiToken.token_hash) == token_hash(token))
                          .values(expires_at=when))
            await db.commit()
    finally:
        await engine.dispose()


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "playcorder.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def status_of(url: str, path: str, token: str | None, method: str = "GET") -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, url + path, headers=headers).status_code


def poll(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)
    return result


# ---------------------------------------------------------------- expiry
def test_participant_tokens_expire_after_the_default_or_a_shorter_asked_time(client: Client) -> None:
    study = client.create_study(cartpole_study())
    before = datetime.now(UTC)
    default = client.create_participant(study["id"])
    assert timedelta(days=30) - timedelta(minutes=1) < datetime.fromisoformat(default["expires_at"]) - before \
        <= timedelta(days=30, minutes=1)
    short = client.create_participant(study["id"], expires_in=3600)
    assert abs(datetime.fromisoformat(short["expires_at"]) - before - timedelta(hours=1)) < timedelta(minutes=1)
    with pytest.raises(ApiError) as err:
        client.create_participant(study["id"], expires_in=31 * 24 * 3600)
    assert err.value.status == 422 and err.value.detail == (
        "Expected expires_in of at most 2592000 s (the gateway's PARTICIPANT_TOKEN_TTL), got 2678400")
    with pytest.raises(ApiError) as err:
        client.create_participant(study["id"], expires_in=5)
    assert err.value.status == 422 and "expires_in" in json.dumps(err.value.detail)


async def test_an_expired_participant_token_is_refused(client: Client, stack) -> None:  # type: ignore[no-untyped-def]
    study = client.create_study(cartpole_study())
    token = client.create_participant(study["id"])["token"]
    assert status_of(client.url, "/api/participant/study", token) == 200
    await set_expiry(stack.database_url, token, datetime.now(UTC) - timedelta(seconds=1))
    assert status_of(client.url, "/api/participant/study", token) == 401
    async with websockets.connect(ws_url(client.url, token)) as ws:
        event = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert event["code"] == "unauthorized"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 30)
        assert closed.value.rcvd.code == 4401


def test_operator_token_prints_its_expiry_and_takes_a_lifetime(stack) -> None:  # type: ignore[no-untyped-def]
    out = cli("accounts", "token", "expiring-designer", "--days", "2", DATABASE_URL=stack.database_url)
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    left = datetime.fromisoformat(printed["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=2) - timedelta(minutes=1) < left <= timedelta(days=2)


def test_dev_reuses_its_token_until_a_week_before_it_expires(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = _designer_token(tmp_path, stack.database_url)
    assert _designer_token(tmp_path, stack.database_url) == first
    assert (tmp_path / "designer-token").stat().st_mode & 0o777 == 0o600
    asyncio.run(set_expiry(stack.database_url, first, datetime.now(UTC) + timedelta(days=6)))
    renewed = _designer_token(tmp_path, stack.database_url)
    assert renewed != first and (tmp_path / "designer-token").read_text() == renewed
    assert _designer_token(tmp_path, stack.database_url) == renewed


# ---------------------------------------------------------------- revocation
async def test_revoking_a_participant_ends_their_live_session(client: Client, stack) -> None:  # type: ignore[no-untyped-def]
    study = client.create_study(cartpole_study())
    created = client.create_participant(study["id"])
    player = await Player.join(client.url, created["token"], "cartpole")
    started = await player.until("episode_started")
    await player.send(type="action", action=1)
    await player.until("frame")

    other = Client(client.url, await create_designer_token(stack.database_url, "not-the-owner"))
    with pytest.raises(ApiError) as err:
        other.revoke_participant(created["participant_id"])
    assert err.value.status == 404

    assert client.revoke_participant(created["participant_id"]) == {"revoked_tokens": 1, "ended_sessions": 1}
    ended = await player.until("session_ended")
    assert ended["reason"] == "revoked"
    with pytest.raises(websockets.ConnectionClosed):
        await player.drain(30)
        await player.ws.recv()
    assert status_of(client.url, "/api/participant/study", created["token"]) == 401
    await asyncio.to_thread(poll, lambda: client.get_episode(started["episode_id"])["state"] == "abandoned")
    # revoked already: nothing more to revoke (the session that just ended is told to end again, harmlessly)
    assert client.revoke_participant(created["participant_id"])["revoked_tokens"] == 0


def test_a_designer_revokes_their_own_token_only(client: Client, stack) -> None:  # type: ignore[no-untyped-def]
    first = asyncio.run(create_designer_token(stack.database_url, "logging-out"))
    second = asyncio.run(create_designer_token(stack.database_url, "logging-out"))
    assert status_of(client.url, "/api/me/tokens/current", None, "DELETE") == 401
    assert status_of(client.url, "/api/me/tokens/current", first, "DELETE") == 204
    assert status_of(client.url, "/api/me", first) == 401
    assert status_of(client.url, "/api/me", second) == 200


def test_operator_revokes_all_tokens_of_an_account(client: Client, stack) -> None:  # type: ignore[no-untyped-def]
    tokens = [asyncio.run(create_designer_token(stack.database_url, "leaving")) for _ in range(2)]
    assert [status_of(client.url, "/api/me", t) for t in tokens] == [200, 200]
    out = cli("accounts", "revoke", "leaving", DATABASE_URL=stack.database_url)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"account": "leaving", "revoked_tokens": 2, "revoked_sessions": 0}
    assert [status_of(client.url, "/api/me", t) for t in tokens] == [401, 401]
    assert status_of(client.url, "/api/me", client._http.headers["Authorization"].split()[1]) == 200
    out = cli("accounts", "revoke", "nobody-here", DATABASE_URL=stack.database_url)
    assert out.returncode == 1 and out.stderr == "error: Expected the name of an existing account, got 'nobody-here'\n"


def test_designer_cli_revokes_a_participant(client: Client, cli_env: dict[str, str]) -> None:
    study = client.create_study(cartpole_study())
    created = client.create_participant(study["id"])
    out = subprocess.run([sys.executable, "-m", "playcorder.cli", "participants", "revoke", created["participant_id"]],
                         env=cli_env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"participant_id": created["participant_id"], "revoked_tokens": 1,
                                      "ended_sessions": 0}
    assert status_of(client.url, "/api/participant/study", created["token"]) == 401


# ---------------------------------------------------------------- what designers see of each other
async def test_workers_show_a_designer_only_their_own_recordings(client: Client, stack) -> None:  # type: ignore[no-untyped-def]
    study = client.create_study(cartpole_study())
    player = await Player.join(client.url, client.create_participant(study["id"])["token"], "cartpole")
    try:
        episode = (await player.until("episode_started"))["episode_id"]
        await player.send(type="action", action=1)
        await player.until("frame")

        def recording(c: Client) -> set[str]:
            return {e for w in c._call("GET", "/api/workers") for e in w["recording"]}

        # the worker announces the episode once its first chunk is on its way; the recorder then stores it
        await asyncio.to_thread(poll, lambda: episode in recording(client))
        other = Client(client.url, await create_designer_token(stack.database_url, "curious-designer"))
        workers = other._call("GET", "/api/workers")
        assert workers and all(w["capacity"] >= 1 for w in workers)
        assert episode not in recording(other)
    finally:
        await player.close()


# ---------------------------------------------------------------- logs
async def test_the_gateway_log_never_shows_a_token(client: Client, services) -> None:  # type: ignore[no-untyped-def]
    study = client.create_study(cartpole_study())
    token = client.create_participant(study["id"])["token"]
    summary = await play(client.url, token, "cartpole", episodes=1, max_steps=3)
    assert summary.episodes == 1
    # the token in the query string, as older players send it: uvicorn logs the path of every request
    scheme_host = client.url.replace("http://", "ws://")
    async with websockets.connect(f"{scheme_host}/ws/play?token={token}") as ws:
        await ws.send(json.dumps({"type": "select_env", "env": "cartpole"}))
        assert json.loads(await ws.recv())["type"] in ("session", "error")
    httpx.get(f"{client.url}/api/participant/study?token={token}", headers={"Authorization": f"Bearer {token}"})

    def logged() -> str | None:
        text = services.gateway.log_path.read_text()
        return text if "/api/participant/study?token=" in text else None

    log = await asyncio.to_thread(poll, logged)
    assert token not in log and token[4:] not in log
    assert "/ws/play?token=[redacted]" in log and "/api/participant/study?token=[redacted]" in log


# ---------------------------------------------------------------- a socket opened before the revoke or expiry
async def test_a_socket_opened_before_a_revoke_or_expiry_opens_no_session(client: Client, stack) -> None:  # type: ignore[no-untyped-def]
    study = client.create_study(cartpole_study())
    revoked, expired = (client.create_participant(study["id"]) for _ in range(2))
    early = [Player(await connect(client.url, p["token"])) for p in (revoked, expired)]
    client.revoke_participant(revoked["participant_id"])
    await set_expiry(stack.database_url, expired["token"], datetime.now(UTC) - timedelta(seconds=1))
    for player, first in zip(early, ({"type": "select_env", "env": "cartpole"},
                                     {"type": "resume_session", "session_id": "0" * 32}), strict=True):
        await player.send(**first)
        refused = await player.until("error")
        assert refused["code"] == "unauthorized" and "since this socket opened" in refused["message"]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await player.until("frame", timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_revoking_ends_a_session_waiting_for_its_client_to_resume(client: Client) -> None:
    study = client.create_study(cartpole_study())
    participant = client.create_participant(study["id"])
    player = await Player.join(client.url, participant["token"], "cartpole")
    episode_id = (await player.until("episode_started"))["episode_id"]
    await player.send(type="action", action=1)
    await player.until("frame")
    player.drop()  # the session now waits (RESUME_GRACE, 30 s by default) for a resume
    await asyncio.sleep(0.5)
    assert client.revoke_participant(participant["participant_id"])["ended_sessions"] == 1
    started = time.monotonic()
    episode = await asyncio.to_thread(stored_episode, client, episode_id, 20)
    assert episode["state"] == "abandoned" and time.monotonic() - started < 15  # not after the grace
