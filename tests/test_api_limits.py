"""The REST API's limits, on the real stack: NUL bytes and oversized integers get a 4xx naming the problem (each was
a 500), request bodies are capped, a 422 never echoes a large input, lists come in pages that a walk crosses once
even while items are added, and a gateway whose database is down answers 503 with Retry-After."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from playcorder.admin import create_designer_token
from playcorder.db.migrate import upgrade
from playcorder.devstack.ports import free_port
from playcorder.devstack.postgres import PostgresServer
from playcorder.devstack.services import ServiceProcess
from playcorder.devstack.stack import DevStack
from playcorder.sdk import Client
from tests.conftest import Services
from tests.factories import cartpole_study
from tests.stored import stored_episode
from tests.wsclient import play_episode

MIB = 1 << 20


@pytest.fixture(scope="module")
def played(client: Client) -> dict[str, str]:
    """A study with one participant and one kept CartPole episode of two steps."""
    study = client.create_study(cartpole_study())
    participant = client.create_participant(study["id"], external_id="limits")
    episode_id = asyncio.run(play_episode(client.url, participant["token"], "cartpole", [0, 1]))
    stored_episode(client, episode_id)
    return {"study": study["id"], "participant": participant["participant_id"], "episode": episode_id}


def _http(client: Client) -> httpx.Client:
    return client._http


NUL_QUERIES = [("sessions", {"participant": "\x00"}), ("sessions", {"env": "a\x00b"}),
               ("episodes", {"participant": "\x00"}), ("episodes", {"env": "a\x00b"}), ("episodes", {"tag": "\x00"})]


@pytest.mark.parametrize(("listing", "params"), NUL_QUERIES)
def test_a_nul_in_a_list_filter_is_refused(client: Client, played: dict[str, str], listing: str,
                                           params: dict[str, str]) -> None:
    r = _http(client).get(f"/api/studies/{played['study']}/{listing}", params=params)
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"][:2] == ["query", *params] and "Expected" in error["msg"] and "\\x00" in error["msg"]


@pytest.mark.parametrize("path", ["/api/studies/%00", "/api/episodes/%00", "/api/exports/%00",
                                  "/api/participants/%00", "/api/studies/a%00b/episodes"])
def test_an_id_of_another_form_is_not_found(client: Client, path: str) -> None:
    r = _http(client).get(path)
    assert r.status_code == 404 and "32 hex digits" in r.json()["detail"] and "\\x00" in r.json()["detail"], r.text


def test_unknown_ids_of_the_right_form_are_not_found(client: Client) -> None:
    for path in ("/api/studies/", "/api/episodes/", "/api/exports/", "/api/participants/"):
        r = _http(client).get(path + uuid.uuid4().hex)
        assert r.status_code == 404 and "Expected the id" in r.json()["detail"], (path, r.text)


def _error_of(r: httpx.Response) -> tuple[list[Any], str]:
    assert r.status_code == 422, r.text
    error = r.json()["detail"][0]
    return error["loc"], error["msg"]


def test_nul_in_bodies_and_tags_is_refused(client: Client, played: dict[str, str]) -> None:
    http, eid = _http(client), played["episode"]
    loc, msg = _error_of(http.delete(f"/api/episodes/{eid}/tags/%00"))
    assert loc == ["path", "label"] and msg.startswith("Expected a tag of letters")
    loc, msg = _error_of(http.patch(f"/api/episodes/{eid}", json={"notes": "a\x00b"}))
    assert loc == ["body", "notes"] and "NUL" in msg
    loc, msg = _error_of(http.post(f"/api/studies/{played['study']}/participants", json={"external_id": "\x00"}))
    assert loc == ["body", "external_id"] and "NUL" in msg
    loc, msg = _error_of(http.post("/api/studies", json=cartpole_study() | {"name": "a\x00"}))
    assert loc == ["body", "name"] and "NUL" in msg
    loc, msg = _error_of(http.post("/api/studies", json=cartpole_study(kwargs={"x\x00": 1})))
    assert loc == ["body", "environments", 0, "kwargs"] and "NUL" in msg
    assert client.get_episode(eid)["notes"] == ""  # nothing was changed


def test_integers_beyond_their_column_are_refused(client: Client, played: dict[str, str]) -> None:
    http, eid = _http(client), played["episode"]
    loc, msg = _error_of(http.get(f"/api/studies/{played['study']}/episodes", params={"offset": 2**63}))
    assert loc == ["query", "offset"] and "9223372036854775807" in msg
    loc, msg = _error_of(http.get(f"/api/episodes/{eid}/steps", params={"start": 2**31}))
    assert loc == ["query", "start"] and "2147483647" in msg
    loc, msg = _error_of(http.delete(f"/api/episodes/{eid}/steps/{2**31}/tags/x"))
    assert loc == ["path", "step"] and "2147483647" in msg
    # the largest ones are answered, as what they are: past the episode's end
    assert client.get_steps(eid, start=2**31 - 2)["steps"] == []
    assert http.get(f"/api/studies/{played['study']}/episodes", params={"offset": 2**63 - 1}).json() == {
        "items": [], "next_cursor": None}


def test_spec_sizes_are_bounded(client: Client) -> None:
    http = _http(client)
    too_many = cartpole_study()
    too_many["environments"] = [dict(too_many["environments"][0], id=f"e{i}") for i in range(51)]
    loc, msg = _error_of(http.post("/api/studies", json=too_many))
    assert loc == ["body", "environments"] and "at most 50" in msg
    loc, msg = _error_of(http.post("/api/studies", json=cartpole_study(kwargs={"k": "x" * 20_000})))
    assert loc == ["body", "environments", 0, "kwargs"] and "at most 16384 bytes" in msg
    loc, msg = _error_of(http.post("/api/studies", json=cartpole_study() | {"description": "x" * 20_001}))
    assert loc == ["body", "description"] and "20000" in msg


def test_a_body_over_the_cap_gets_413(client: Client) -> None:
    http = _http(client)
    declared = http.post("/api/studies", content=b"{" + b" " * (2 * MIB) + b"}",
                         headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and "at most 1048576 bytes" in declared.json()["detail"]

    def chunks(total: int) -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b'{"name": "'
        for _ in range(total // 65536):
            yield b"x" * 65536
        yield b'"}'

    streamed = http.post("/api/studies", content=chunks(2 * MIB), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413 and "at most 1048576 bytes" in streamed.json()["detail"]
    small = json.dumps(cartpole_study()).encode()
    created = http.post("/api/studies", content=iter([small[:10], small[10:]]),
                        headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.text  # a chunked body under the cap is read as usual


def test_a_422_does_not_echo_a_large_input(client: Client) -> None:
    http = _http(client)
    r = http.post("/api/studies", json=cartpole_study() | {"description": "x" * 900_000})
    assert r.status_code == 422 and len(r.content) < 2000, len(r.content)
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "description"] and error["type"] == "string_too_long" and "input" not in error
    many = {"name": "bad", "environments": [{"id": f"-{i}", "env_id": "CartPole-v1"} for i in range(40)]}
    r = http.post("/api/studies", json=many)
    detail = r.json()["detail"]
    assert r.status_code == 422 and len(detail) == 21 and detail[-1]["msg"] == "and 20 more errors"
    assert detail[0]["input"] == "-0"  # small inputs are still shown, and the SDK reads the fields as before


def _designer(stack: DevStack, services: Services) -> Client:
    """A designer of their own: their lists hold only what the test made."""
    token = asyncio.run(create_designer_token(stack.database_url, f"pager-{uuid.uuid4().hex[:8]}"))
    return Client(services.url, token)


def test_pages_walk_every_study_once_while_studies_are_added(stack: DevStack, services: Services) -> None:
    designer = _designer(stack, services)
    before = [designer.create_study(cartpole_study())["id"] for _ in range(7)]
    first = designer.page("/api/studies", limit=3)
    assert [s["id"] for s in first.items] == before[:3] and first.next_cursor
    assert designer.list_studies(limit=3) == designer.list_studies()  # follows the cursors
    assert [s["id"] for s in designer.list_studies(limit=2)] == before

    seen, added, cursor = [], [], None
    while True:
        page = designer.page("/api/studies", limit=2, cursor=cursor)
        seen += [s["id"] for s in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        added.append(designer.create_study(cartpole_study())["id"])  # lands after the cursor
    assert seen == before + added and len(set(seen)) == len(seen)


def test_pages_of_episodes_sessions_and_exports(client: Client, played: dict[str, str]) -> None:
    sid = played["study"]
    assert [e["id"] for e in client.page(f"/api/studies/{sid}/episodes", limit=1).items] == [played["episode"]]
    assert [s["participant_id"] for s in client.list_sessions(sid, limit=1)] == [played["participant"]]
    assert client.page(f"/api/studies/{sid}/exports").items == []
    http = _http(client)
    for params, expected in (({"limit": 0}, "greater than or equal to 1"), ({"limit": 1001}, "less than or equal "
                             "to 1000"), ({"cursor": "bm90IGEgY3Vyc29y"}, "Expected the next_cursor")):
        r = http.get(f"/api/studies/{sid}/episodes", params=params)
        assert r.status_code == 422 and expected in r.text, r.text


def _unreachable_database_gateway(stack: DevStack, database_url: str, logs: Path) -> ServiceProcess:
    gateway = ServiceProcess("gateway", stack.env() | {"DATABASE_URL": database_url, "DB_RETRY_AFTER": "3"},
                             logs, name=f"gateway-{uuid.uuid4().hex[:6]}")
    gateway.start()
    deadline = time.monotonic() + 60
    while True:  # alive, but not ready: readyz says 503 while the database is down
        try:
            if httpx.get(f"{gateway.url}/healthz", timeout=1).status_code == 200:
                return gateway
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, gateway.tail()
        time.sleep(0.2)


def _assert_unavailable(url: str, token: str) -> None:
    for path in ("/api/studies", f"/api/studies/{uuid.uuid4().hex}", "/api/me"):
        r = httpx.get(url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 503 and r.headers["Retry-After"] == "3", (path, r.status_code, r.text)
        assert "Expected the database to answer" in r.json()["detail"]
    r = httpx.get(url + "/readyz", timeout=30)
    assert r.status_code == 503 and r.json()["ready"] is False


def test_a_closed_database_port_gets_503(stack: DevStack, tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://postgres:x@127.0.0.1:{free_port()}/nowhere"
    gateway = _unreachable_database_gateway(stack, url, tmp_path)
    try:
        _assert_unavailable(gateway.url, "pcd_whatever")
    finally:
        gateway.stop()


@pytest.mark.usefixtures("services")  # its env-worker tries the study this test creates
def test_a_stopped_database_gets_503_until_it_is_back(stack: DevStack, tmp_path: Path) -> None:
    # Its own PostgreSQL (the suite's keeps running), not under pytest's basetemp (see conftest.stack).
    root = Path(tempfile.mkdtemp(prefix="playcorder-test-pg-"))
    postgres = PostgresServer(root)
    postgres.start()
    try:
        upgrade(postgres.url())
        token = asyncio.run(create_designer_token(postgres.url(), "down-designer"))
        gateway = _unreachable_database_gateway(stack, postgres.url(), tmp_path)
        try:
            mine = Client(gateway.url, token)
            study = mine.create_study(cartpole_study())["id"]
            postgres.stop()
            _assert_unavailable(gateway.url, token)
            postgres.start()
            deadline = time.monotonic() + 30
            while (r := httpx.get(f"{gateway.url}/api/studies/{study}", timeout=30,
                                  headers={"Authorization": f"Bearer {token}"})).status_code == 503:
                assert time.monotonic() < deadline, r.text
                time.sleep(0.2)
            assert r.status_code == 200 and r.json()["id"] == study
        finally:
            gateway.stop()
    finally:
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_the_schema_lists_each_operations_errors(services: Services) -> None:
    schema = httpx.get(f"{services.url}/openapi.json").json()
    error = {"$ref": "#/components/schemas/ErrorOut"}
    operations = [(p, m, op) for p, ops in schema["paths"].items() if p.startswith("/api/") for m, op in ops.items()]
    assert len(operations) >= 20
    for path, method, op in operations:
        codes = op["responses"]
        if (method, path) == ("delete", "/api/session"):  # signing out needs no sign-in: 204 either way
            assert "401" not in codes
        elif path.startswith("/api/c/"):  # a campaign's link: anyone may read it and arrive
            assert "401" not in codes, (method, path)
        else:
            assert codes["401"]["content"]["application/json"]["schema"] == error, (method, path)
        assert "Retry-After" in codes["503"]["headers"], (method, path)
        assert ("413" in codes) == ("requestBody" in op), (method, path)
        assert "404" in codes or "{" not in path, (method, path)  # an id in the path may name nothing
        if op.get("parameters") or "requestBody" in op:
            assert codes["422"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ValidationErrorOut"}, (method, path)
    assert "409" in schema["paths"]["/api/episodes/{episode_id}"]["delete"]["responses"]


# Bodies JSON can carry but a JSON answer cannot: NaN and infinities (Python's json reads them), lone surrogates
# (a "\ud800" escape without its pair). Each must be a 422 (which cannot quote them back), and none may be stored:
# a stored one made every later list of the designer's studies a 500.
UNSENDABLE_BODIES = [
    ("POST", "/api/studies", '{"name": "s", "environments": [{"id": "e", "env_id": "CartPole-v1", '
                             '"kwargs": {"\\ud800": "\\udc00x"}}]}'),
    ("POST", "/api/studies", '{"name": "s", "environments": [{"id": "e", "env_id": "CartPole-v1", '
                             '"kwargs": {"g": NaN}}]}'),
    ("POST", "/api/studies", '{"name": "\\ud800", "environments": [{"id": "e", "env_id": "CartPole-v1"}]}'),
    ("POST", "/api/studies", '{"name": "s", "environments": [{"id": "e", "env_id": "CartPole-v1", '
                             '"idle_pause_s": NaN}]}'),
    ("POST", "/api/studies", '{"name": "s", "description": "\\udfff x", "environments": [{"id": "e", '
                             '"env_id": "CartPole-v1", "kwargs": {"x": Infinity}}]}'),
    ("POST", "/api/studies/{study}/participants", '{"expires_in": NaN}'),
    ("POST", "/api/studies/{study}/participants", '{"external_id": "\\ud800"}'),
    ("POST", "/api/studies/{study}/exports", '{"test_split": NaN}'),
    ("PATCH", "/api/episodes/{episode}", '{"notes": "\\udfff x"}'),
    ("PATCH", "/api/episodes/{episode}", '{"notes": -Infinity}'),
]


def test_what_json_answers_cannot_carry_is_refused_not_stored(client: Client, played: dict[str, str]) -> None:
    before = len(client.list_studies())
    for method, path, body in UNSENDABLE_BODIES:
        response = _http(client).request(method, path.format(**played), content=body,
                                         headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (method, path, body, response.status_code, response.text[:300])
        assert response.json()["detail"], body
    assert len(client.list_studies()) == before  # nothing was stored, and the list still answers
    assert client.get_episode(played["episode"])["notes"] == ""
