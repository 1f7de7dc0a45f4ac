"""Designers sign in in the browser with a password: an httpOnly session cookie, a CSRF token every change must
carry, failed sign-ins limited per name, sign-out and expiry; the CLI's bearer tokens work as before;
`playcorder accounts password` and the dev stack's local password."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from playcorder.admin import set_password
from playcorder.auth import token_hash
from playcorder.db.engine import make_engine, make_sessionmaker
from playcorder.db.models import BrowserSession, SigninFailure
from playcorder.devstack.launcher import _designer_password
from playcorder.devstack.services import ServiceProcess
from playcorder.sdk import Client
from tests.conftest import Services
from tests.factories import cartpole_study
from tests.signin import PASSWORD, browser, designer, sign_in

pytestmark = pytest.mark.e2e
WRONG = "Expected a designer's name and password, got an unknown name or a wrong password"


async def _update(database_url: str, statement: Any) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as db:
            await db.exec(statement)
            await db.commit()
    finally:
        await engine.dispose()


def cookies_of(response: httpx.Response) -> dict[str, Any]:
    return {c.key: c for c in SimpleCookie("\n".join(response.headers.get_list("set-cookie"))).values()}


def test_sign_in_sets_an_httponly_strict_cookie_and_a_csrf_cookie(services: Services, stack: Any) -> None:
    name = designer(stack)
    response = sign_in(services.url, name)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["account"]["name"] == name and len(body["csrf_token"]) >= 32
    raw = response.headers.get_list("set-cookie")
    session = next(h for h in raw if h.startswith("pc_session="))
    csrf = next(h for h in raw if h.startswith("pc_csrf="))
    flags = {part.strip().lower() for part in session.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/", "max-age=43200"} <= flags, session
    assert "secure" not in flags  # plain http (a local stack)
    # Behind a TLS-terminating proxy on the same host (uvicorn trusts 127.0.0.1's X-Forwarded-Proto): Secure.
    proxied = httpx.post(f"{services.url}/api/session", json={"name": name, "password": PASSWORD},
                         headers={"X-Forwarded-Proto": "https"}, timeout=30)
    assert all("secure" in {p.strip().lower() for p in h.split(";")} for h in proxied.headers.get_list("set-cookie"))
    csrf_flags = {part.strip().lower() for part in csrf.split(";")[1:]}
    assert "samesite=strict" in csrf_flags and "httponly" not in csrf_flags, csrf  # the page reads it
    jar = cookies_of(response)
    assert jar["pc_csrf"].value == body["csrf_token"] and jar["pc_session"].value != body["csrf_token"]


def test_the_cookie_authenticates_and_changes_need_the_csrf_header(services: Services, stack: Any,
                                                                   client: Client) -> None:
    name = designer(stack)
    http, csrf = browser(services.url, name)
    with http:
        assert http.get("/api/studies").status_code == 200
        assert http.get("/api/me").json()["name"] == name
        session = http.get("/api/session")
        assert session.status_code == 200 and session.json()["csrf_token"] == csrf
        assert session.json()["account"]["name"] == name

        refused = http.post("/api/studies", json=cartpole_study())
        assert refused.status_code == 403
        assert refused.json()["detail"] == ("Expected header X-CSRF-Token matching your session's pc_csrf cookie, "
                                            "got none")
        wrong = http.post("/api/studies", json=cartpole_study(), headers={"X-CSRF-Token": csrf[:-2] + "xx"})
        assert wrong.status_code == 403 and wrong.json()["detail"].endswith("got a different one")
        created = http.post("/api/studies", json=cartpole_study(), headers={"X-CSRF-Token": csrf})
        assert created.status_code == 201, created.text
        mine = [s["id"] for s in http.get("/api/studies", params={"limit": 200}).json()["items"]]
        assert created.json()["id"] in mine
        # The CSRF token alone is no credential.
        assert httpx.get(f"{services.url}/api/studies", headers={"X-CSRF-Token": csrf}).status_code == 401
        # A bearer token needs no CSRF header, with or without a cookie beside it (the token decides who asks).
        bearer = {"Authorization": client._http.headers["Authorization"]}
        both = http.post("/api/studies", json=cartpole_study(), headers=bearer)
        assert both.status_code == 201, both.text
        assert http.get(f"/api/studies/{both.json()['id']}").status_code == 404  # not the cookie's designer's
        assert http.get(f"/api/studies/{both.json()['id']}", headers=bearer).status_code == 200
        assert client.create_study(cartpole_study())["id"]
        # A cookie session cannot revoke "its token": it has none.
        revoke = http.delete("/api/me/tokens/current", headers={"X-CSRF-Token": csrf})
        assert revoke.status_code == 400 and "DELETE /api/session" in revoke.json()["detail"]


def test_wrong_passwords_unknown_names_and_token_only_accounts_get_the_same_401(services: Services,
                                                                               stack: Any) -> None:
    name = designer(stack)
    for who, password in ((name, "not the password"), (f"nobody-{uuid.uuid4().hex[:6]}", "correct horse battery"),
                          ("test-designer", "correct horse battery")):  # the suite's designer has only a token
        response = sign_in(services.url, who, password)
        assert (response.status_code, response.json()["detail"]) == (401, WRONG), who
        assert "set-cookie" not in response.headers
    too_long = sign_in(services.url, name, "x" * 257)
    assert too_long.status_code == 422 and "256" in too_long.text
    assert httpx.get(f"{services.url}/api/session").status_code == 401
    assert httpx.get(f"{services.url}/api/studies", cookies={"pc_session": "pcs_forged"}).status_code == 401


def test_failed_sign_ins_are_limited_per_name_for_all_gateways_together(services: Services, stack: Any) -> None:
    name, other = designer(stack), designer(stack)

    async def attempts(n: int) -> list[httpx.Response]:  # at once: the count holds against parallel guesses
        async with httpx.AsyncClient(timeout=60) as http:
            return await asyncio.gather(*(http.post(f"{services.url}/api/session",
                                                    json={"name": name, "password": f"guess {i}"}) for i in range(n)))

    statuses = sorted(r.status_code for r in asyncio.run(attempts(14)))
    assert statuses == [401] * 10 + [429] * 4
    limited = sign_in(services.url, name)  # the right password too, now
    assert limited.status_code == 429
    retry = int(limited.headers["Retry-After"])
    assert 0 < retry <= 15 * 60
    assert limited.json()["detail"] == (f"Expected at most 10 failed sign-ins of {name!r} within 900 s, got as many: "
                                        f"try again in {retry} s")
    assert sign_in(services.url, other).status_code == 200  # another name is not affected
    # Fifteen minutes later (the failures moved back in time) the name may sign in again, and a success forgets
    # its failures.
    asyncio.run(_update(stack.database_url, update(SigninFailure).where(col(SigninFailure.name) == name)
                        .values(at=datetime.now(UTC) - timedelta(minutes=16))))
    assert sign_in(services.url, name).status_code == 200


def test_a_flood_of_sign_ins_with_made_up_names_gets_429_never_5xx_and_designers_go_on(
        services: Services, designer_token: str) -> None:
    flooder = {"X-Forwarded-For": "198.51.100.7"}  # via the local proxy uvicorn trusts: an address of its own

    async def flood() -> tuple[list[httpx.Response], httpx.Response]:
        async with httpx.AsyncClient(base_url=services.url, timeout=120,
                                     limits=httpx.Limits(max_connections=400)) as http:
            attempts = [http.post("/api/session", headers=flooder,
                                  json={"name": f"nobody{uuid.uuid4().hex}", "password": "x" * 200})
                        for _ in range(320)]
            pending = asyncio.gather(*attempts)
            await asyncio.sleep(0.2)  # the flood is under way
            studies = await http.get("/api/studies", headers={"Authorization": f"Bearer {designer_token}"})
            return await pending, studies

    responses, studies = asyncio.run(flood())
    assert studies.status_code == 200, studies.text  # the designer was answered during the flood
    statuses = {r.status_code for r in responses}
    assert statuses <= {401, 429}, [r.text for r in responses if r.status_code not in (401, 429)][:3]
    busy = [r for r in responses if "sign-ins in progress" in r.text]
    assert busy and busy[0].json()["detail"] == ("Expected at most 16 sign-ins in progress at once, got more: retry "
                                                 "after 1 s") and busy[0].headers["Retry-After"] == "1"


def test_failed_sign_ins_are_limited_per_client_address(services: Services, stack: Any, tmp_path: Path) -> None:
    name = designer(stack)
    guesser = {"X-Forwarded-For": "203.0.113.9"}  # via the local proxy uvicorn trusts
    gateway = ServiceProcess("gateway", services.env | {"SIGNIN_MAX_ADDRESS_FAILURES": "12"}, tmp_path,
                             name="address-limited-gateway")  # the suite's gateway has no such limit (conftest)
    gateway.start()
    try:
        gateway.wait_ready()

        async def guesses() -> list[int]:  # 12 failures, of 12 names (each name limited only after 10)
            async with httpx.AsyncClient(base_url=gateway.url, timeout=120) as http:
                return [r.status_code for r in await asyncio.gather(*(http.post("/api/session", headers=guesser, json={
                    "name": f"nobody-{uuid.uuid4().hex[:8]}", "password": "a guess"}) for _ in range(12)))]

        assert asyncio.run(guesses()) == [401] * 12
        refused = httpx.post(f"{gateway.url}/api/session", headers=guesser, json={"name": name, "password": PASSWORD})
        assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 900
        assert refused.json()["detail"].startswith("Expected at most 12 failed sign-ins from 203.0.113.9 within "
                                                   "900 s, got as many: try again in ")
        assert sign_in(gateway.url, name).status_code == 200  # the same name from another address
    finally:
        gateway.stop()


def test_a_refused_sign_in_body_never_echoes_the_password(services: Services) -> None:
    for body, kind in (("name=mallory&password=hunter2-secret", "application/x-www-form-urlencoded"),
                       ("name=mallory&password=hunter2-secret", "text/plain"),
                       ('{"name": "mallory", "password": "hunter2-secret", "extra": 1}', "application/json"),
                       ('{"name": "", "password": "hunter2-secret"}', "application/json")):
        response = httpx.post(f"{services.url}/api/session", content=body, headers={"Content-Type": kind})
        assert response.status_code == 422, response.text
        assert "hunter2" not in response.text and response.json()["detail"][0]["msg"], response.text


def test_sign_out_ends_the_session_on_the_server(services: Services, stack: Any) -> None:
    name = designer(stack)
    http, csrf = browser(services.url, name)
    with http:
        kept = dict(http.cookies)
        assert http.delete("/api/session").status_code == 403  # a change like any other: the CSRF header is needed
        out = http.delete("/api/session", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        cleared = cookies_of(out)
        assert {"pc_session", "pc_csrf"} <= cleared.keys()
        assert all(c.value == "" and (c["max-age"] == "0" or parsedate_to_datetime(c["expires"]) < datetime.now(UTC))
                   for c in cleared.values())
    # The old cookie is refused even by a client that kept it.
    assert httpx.get(f"{services.url}/api/studies", cookies=kept).status_code == 401
    assert httpx.get(f"{services.url}/api/session", cookies=kept).status_code == 401


def test_an_expired_session_is_refused(services: Services, stack: Any) -> None:
    name = designer(stack)
    http, _ = browser(services.url, name)
    with http:
        assert http.get("/api/studies").status_code == 200
        cookie = http.cookies["pc_session"]
        asyncio.run(_update(stack.database_url, update(BrowserSession)
                            .where(col(BrowserSession.token_hash) == token_hash(cookie))
                            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))))
        refused = http.get("/api/studies")
        assert refused.status_code == 401 and "expired" in refused.json()["detail"]


def cli(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "playcorder.cli", *args], env={**os.environ, **env}, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_accounts_password_sets_generates_and_signs_out(services: Services, stack: Any) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    db = {"DATABASE_URL": stack.database_url}
    out = cli("accounts", "password", name, "--password-stdin", stdin="typed on stdin\n", **db)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("{") and '"created": true' in out.stdout and "typed" not in out.stdout
    http, _ = browser(services.url, name, "typed on stdin")
    with http:
        assert http.get("/api/me").json()["name"] == name
        generated = cli("accounts", "password", name, "--generate", **db)
        assert generated.returncode == 0, generated.stderr
        result = json.loads(generated.stdout)
        assert result["created"] is False and result["signed_out_sessions"] == 1 and len(result["password"]) >= 16
        assert http.get("/api/me").status_code == 401  # a new password ends the old sessions
    assert sign_in(services.url, name, "typed on stdin").status_code == 401
    assert sign_in(services.url, name, result["password"]).status_code == 200

    short = cli("accounts", "password", name, "--password-stdin", stdin="short\n", **db)
    assert (short.returncode, short.stderr) == (1, "error: Expected a password of 8 to 256 characters, got 5\n")
    both = cli("accounts", "password", name, "--password-stdin", "--generate", **db)
    assert both.returncode == 1 and "at most one of --password-stdin and --generate" in both.stderr
    no_terminal = cli("accounts", "password", name, stdin="", **db)
    assert no_terminal.returncode == 1 and "--password-stdin" in no_terminal.stderr
    revoked = cli("accounts", "revoke", name, **db)
    assert json.loads(revoked.stdout) == {"account": name, "revoked_tokens": 0, "revoked_sessions": 1}


def test_dev_gives_the_local_designer_a_password_once(services: Services, stack: Any, tmp_path: Path) -> None:
    first = _designer_password(tmp_path, stack.database_url)
    assert first is not None and _designer_password(tmp_path, stack.database_url) == first
    assert (tmp_path / "designer-password").stat().st_mode & 0o777 == 0o600
    assert sign_in(services.url, "local", first).status_code == 200
    # Changed by hand since: the new one stays and the launcher says so rather than printing a stale one.
    asyncio.run(set_password(stack.database_url, "local", "changed by hand"))
    assert _designer_password(tmp_path, stack.database_url) is None
    assert sign_in(services.url, "local", "changed by hand").status_code == 200
