"""Browsing recorded episodes through the API: filters, tags on episodes and steps, notes, step ranges, deletion,
sessions; and the 4xx answers to bad requests."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from minio import Minio

from playcorder.sdk import ApiError, Client
from playcorder.storage import episode_prefix
from tests.factories import study
from tests.stored import stored_episode
from tests.wsclient import Player

pytestmark = pytest.mark.e2e


async def play(client: Client, token: str, env: str, actions: list[int], keep: bool) -> str:
    """One turn-based episode: the actions, then kept (completed) or cancelled; returns its id once stored."""
    player = await Player.join(client.url, token, env)
    started = await player.until("episode_started")
    for a in actions:
        await player.send(type="action", action=a)
        await player.until("frame")
    await player.send(type="end_episode", save=keep)
    await player.until("episode_ended")
    await player.close()
    stored_episode(client, started["episode_id"])
    return started["episode_id"]


def status_of(call) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as err:
        call()
    return err.value.status, str(err.value.detail)


@pytest.fixture(scope="module")
def recorded(client: Client) -> dict[str, Any]:
    spec = study({"id": "pong", "env_id": "ALE/Pong-v5", "mode": "turn_based"},
                 {"id": "cartpole", "env_id": "CartPole-v1", "mode": "turn_based"}, name="browse")
    created = client.create_study(spec)
    alice, bob = (client.create_participant(created["id"], external_id=n) for n in ("alice", "bob"))
    t0 = datetime.now(UTC)

    async def session() -> dict[str, str]:
        return {
            "alice_pong": await play(client, alice["token"], "pong", [0, 1, 2], keep=True),
            "alice_cartpole": await play(client, alice["token"], "cartpole", [0, 1], keep=False),
            "bob_pong": await play(client, bob["token"], "pong", [2, 2, 2, 2, 2], keep=True),
        }

    episodes = asyncio.run(session())
    return {"study": created, "alice": alice, "bob": bob, "t0": t0, **episodes}


def test_filters(client: Client, recorded: dict[str, Any]) -> None:
    sid = recorded["study"]["id"]

    def ids(**filters: Any) -> set[str]:
        return {e["id"] for e in client.list_episodes(sid, **filters)}

    every = {recorded[k] for k in ("alice_pong", "alice_cartpole", "bob_pong")}
    assert ids() == every
    assert ids(state="completed") == {recorded["alice_pong"], recorded["bob_pong"]}
    assert ids(state="cancelled", env="cartpole") == {recorded["alice_cartpole"]}
    assert ids(state=["completed", "cancelled"]) == every  # a repeated state is any of them
    assert ids(env="ALE/Pong-v5") == {recorded["alice_pong"], recorded["bob_pong"]}
    assert ids(participant=recorded["bob"]["participant_id"]) == {recorded["bob_pong"]}
    assert ids(started_after=recorded["t0"].isoformat()) == every
    assert ids(started_before=recorded["t0"].isoformat()) == set()
    assert ids(started_after=(datetime.now(UTC) + timedelta(hours=1)).isoformat()) == set()
    rewards = {e["id"]: e["total_reward"] for e in client.list_episodes(sid)}
    assert rewards[recorded["alice_cartpole"]] == 2.0  # CartPole pays 1 per step
    assert ids(min_reward=1.5) == {recorded["alice_cartpole"]} | {e for e, r in rewards.items() if r >= 1.5}
    assert ids(max_reward=0.5) == {e for e, r in rewards.items() if r <= 0.5}
    listed = {e["id"]: e for e in client.list_episodes(sid)}
    pong = listed[recorded["bob_pong"]]
    assert pong["num_steps"] == 6 and pong["worker_id"] and pong["duration_s"] > 0 and pong["active_s"] > 0
    assert pong["active_s"] <= pong["duration_s"] + 1e-6


def test_filters_refuse_bad_values(client: Client, recorded: dict[str, Any]) -> None:
    sid = recorded["study"]["id"]
    code, detail = status_of(lambda: client.list_episodes(sid, state="done"))
    assert code == 422 and "Expected state in" in detail and "'done'" in detail
    code, detail = status_of(lambda: client.list_episodes(sid, started_after="yesterday"))
    assert code == 422 and "started_after" in detail
    code, detail = status_of(lambda: client.list_episodes(sid, min_reward="lots"))
    assert code == 422 and "min_reward" in detail


def test_episode_tags(client: Client, recorded: dict[str, Any]) -> None:
    eid, sid = recorded["alice_pong"], recorded["study"]["id"]
    assert client.add_tag(eid, "success")["tags"] == ["success"]
    assert client.add_tag(eid, "success")["tags"] == ["success"]  # idempotent
    assert client.add_tag(eid, "demo.v2")["tags"] == ["demo.v2", "success"]
    client.add_tag(recorded["bob_pong"], "success")
    assert {e["id"] for e in client.list_episodes(sid, tag=["success"])} == {eid, recorded["bob_pong"]}
    assert {e["id"] for e in client.list_episodes(sid, tag=["success", "demo.v2"])} == {eid}
    assert client.get_episode(eid)["tags"] == ["demo.v2", "success"]
    assert client.remove_tag(eid, "demo.v2")["tags"] == ["success"]
    code, detail = status_of(lambda: client.remove_tag(eid, "demo.v2"))
    assert code == 404 and "['success']" in detail and "'demo.v2'" in detail
    code, detail = status_of(lambda: client.add_tag(eid, "-bad tag"))
    assert code == 422 and "Expected a tag of letters" in detail and "'-bad tag'" in detail


def test_step_tags_and_step_ranges(client: Client, recorded: dict[str, Any]) -> None:
    eid = recorded["bob_pong"]  # 5 actions + the final observation: steps 0..5
    assert client.add_tag(eid, "jump", step=2) == {"episode_id": eid, "step": 2, "tags": ["jump"]}
    client.add_tag(eid, "crash", step=2)
    client.add_tag(eid, "crash", step=5)
    assert client.get_episode(eid)["step_tags"] == [
        {"step": 2, "label": "crash"}, {"step": 2, "label": "jump"}, {"step": 5, "label": "crash"}]
    read = client.get_steps(eid, start=1, stop=4, images=True)
    assert [s["index"] for s in read["steps"]] == [1, 2, 3] and read["state"] == "completed"
    assert [s["tags"] for s in read["steps"]] == [[], ["crash", "jump"], []]
    assert [s["action"] for s in read["steps"]] == [2, 2, 2] and all(s["image"] for s in read["steps"])
    leaf = read["steps"][0]["observation"][0]
    assert leaf["dtype"] == "uint8" and leaf["shape"] == [210, 160, 3] and len(leaf["sha256"]) == 64
    last = client.get_steps(eid, start=5)["steps"]
    assert [(s["index"], s["is_last"], s["is_terminal"]) for s in last] == [(5, True, False)]
    assert client.remove_tag(eid, "jump", step=2)["tags"] == ["crash"]

    code, detail = status_of(lambda: client.add_tag(eid, "x", step=6))
    assert code == 404 and "0..5" in detail and "got 6" in detail
    code, detail = status_of(lambda: client.remove_tag(eid, "jump", step=2))
    assert code == 404 and "['crash']" in detail
    code, detail = status_of(lambda: client.get_steps(eid, start=4, stop=2))
    assert code == 422 and "start=4 stop=2" in detail
    code, detail = status_of(lambda: client.get_steps(eid, start=0, stop=5000))
    assert code == 422 and "at most 1000" in detail
    assert status_of(lambda: client.get_steps("nope"))[0] == 404


def test_notes(client: Client, recorded: dict[str, Any]) -> None:
    eid = recorded["alice_cartpole"]
    assert client.edit_notes(eid, "Pole fell: participant distracted.")["notes"] == "Pole fell: participant distracted."
    assert client.get_episode(eid)["notes"] == "Pole fell: participant distracted."
    assert client.edit_notes(eid, "")["notes"] == ""
    code, detail = status_of(lambda: client.edit_notes(eid, "x" * 10_001))
    assert code == 422 and "notes" in detail
    code, detail = status_of(lambda: client._call("PATCH", f"/api/episodes/{eid}", json={"note": "typo"}))
    assert code == 422 and "notes" in detail


def test_sessions_and_participant(client: Client, recorded: dict[str, Any]) -> None:
    sid = recorded["study"]["id"]
    sessions = client.list_sessions(sid)
    assert len(sessions) == 3 and all(s["ended_at"] and s["episodes"] == 1 for s in sessions)
    alice = recorded["alice"]["participant_id"]
    assert [s["env"] for s in client.list_sessions(sid, participant=alice)] == ["pong", "cartpole"]
    assert [s["participant_id"] for s in client.list_sessions(sid, env="pong")].count(alice) == 1
    detail = client.get_participant(alice)
    assert detail["external_id"] == "alice" and len(detail["sessions"]) == 2
    assert [e["id"] for e in detail["episodes"]] == [recorded["alice_pong"], recorded["alice_cartpole"]]
    code, message = status_of(lambda: client.get_participant("nobody"))
    assert code == 404 and "'nobody'" in message


async def test_delete(client: Client, recorded: dict[str, Any], stack) -> None:  # type: ignore[no-untyped-def]
    sid = recorded["study"]["id"]
    player = await Player.join(client.url, client.create_participant(sid)["token"], "pong")
    live = (await player.until("episode_started"))["episode_id"]
    wait_until = time.monotonic() + 10
    while time.monotonic() < wait_until:
        try:
            client.get_episode(live)
            break
        except ApiError:
            await asyncio.sleep(0.05)
    code, detail = status_of(lambda: client.delete_episode(live))
    assert code == 409 and "still recording" in detail
    await player.close()

    eid = recorded["alice_cartpole"]
    s3 = Minio(stack.s3_endpoint, access_key=stack.s3_access_key, secret_key=stack.s3_secret_key, secure=False)
    prefix = episode_prefix(sid, eid)
    assert list(s3.list_objects("playcorder", prefix=prefix, recursive=True))
    client.add_tag(eid, "bad", step=0)
    client.delete_episode(eid)
    assert not list(s3.list_objects("playcorder", prefix=prefix, recursive=True))
    assert status_of(lambda: client.get_episode(eid))[0] == 404
    assert eid not in {e["id"] for e in client.list_episodes(sid)}
    assert status_of(lambda: client.delete_episode(eid))[0] == 404
