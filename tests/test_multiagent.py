"""Multi-agent play on the real stack (issue 16): two-player Space Invaders (PettingZoo) through the gateway.

Two participants meet in the lobby and play; one leaves mid-episode and the seat's fallback AI takes over within a
second; the stored episodes (one per agent, linked by the game id) mark each step's controller, switching at the
step the AI took over. A participant alone is partnered by the fallback AI once the lobby's timeout passes; a seat
without a fallback calls the game off with a reason."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.sdk import Client
from tests.conftest import Services
from tests.factories import study
from tests.stored import all_steps, stored_episode
from tests.wsclient import Player

INVADERS = "pettingzoo/atari/space_invaders_v2"


def invaders(lobby_seconds: float = 10.0, fallback: bool = True, steps: int = 150) -> dict[str, Any]:
    seat = {"fallback": {"kind": "random", "seed": 3, "deadline_ms": 200}} if fallback else {}
    return study({"id": "invaders", "env_id": INVADERS, "fps": 30, "max_episode_steps": steps,
                  "agents": {"seats": {"first_0": {"instructions": "You are the left cannon.", **seat},
                                       "second_0": {"instructions": "You are the right cannon.", **seat}},
                             "lobby_seconds": lobby_seconds, "countdown_seconds": 0.5}}, name="invaders")


async def _act_on_frames(player: Player, frames: int, action: int) -> None:
    """Send an action on each of the next `frames` frames (as a browser holding a key would, every frame)."""
    for _ in range(frames):
        await player.until("frame", timeout=20)
        await player.send(type="action", action=action)


def test_two_players_one_leaves_and_the_fallback_ai_takes_over(services: Any, client: Client, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    created = client.create_study(invaders())
    tokens = [client.create_participant(created["id"])["token"] for _ in range(2)]

    async def scenario() -> dict[str, Any]:
        ann = await Player.join(services.url, tokens[0], "invaders")
        sessions = [await ann.until("session")]
        lobby = await ann.until("lobby")
        assert lobby["seats"] == {"first_0": "you", "second_0": "waiting"}, lobby
        bob = await Player.join(services.url, tokens[1], "invaders")
        sessions.append(await bob.until("session"))
        assert {s["agent"] for s in sessions} == {"first_0", "second_0"} and sessions[0]["game_id"] == lobby["game_id"]
        assert sessions[1]["instructions"] == "You are the right cannon."
        countdown = await bob.until("countdown")
        assert countdown["seats"] == {"first_0": "human", "second_0": "you"}
        await asyncio.gather(*(p.until("episode_started") for p in (ann, bob)))
        await asyncio.gather(_act_on_frames(ann, 30, 1), _act_on_frames(bob, 30, 1))
        left_at = time.time()
        await bob.close()  # mid-episode: the right cannon's player leaves
        control = await ann.until("control", timeout=5)
        took_over_s = time.time() - left_at
        ended = await ann.until("episode_ended", timeout=60)  # ann plays on to the step limit with the AI
        await ann.until("session_ended")
        return {"game_id": lobby["game_id"], "control": control, "took_over_s": took_over_s, "ended": ended}

    seen = asyncio.run(scenario())
    assert seen["control"]["agent"] == "second_0" and seen["control"]["controller"] == "ai", seen
    print(f"\nthe fallback AI took over {seen['took_over_s'] * 1000:.0f} ms after the player left, at step "
          f"{seen['control']['step']}")
    assert seen["took_over_s"] < 1.0, seen
    # 150 steps and the final observation, as a single-player episode counts them
    assert seen["ended"]["num_steps"] == 151 and seen["ended"]["reason"] == "step_limit", seen["ended"]
    episodes = list(client.episodes(created["id"], game_id=seen["game_id"]))
    assert sorted(e["agent"] for e in episodes) == ["first_0", "second_0"], episodes
    by_agent = {e["agent"]: stored_episode(client, e["id"]) for e in episodes}
    first, second = (all_steps(client, by_agent[a]["id"]) for a in ("first_0", "second_0"))
    assert len(first) == len(second) == 151  # 150 steps and the final observation
    assert {s["control"]["controller"] for s in first[:150]} == {"human"}
    switch = seen["control"]["step"]
    controllers = [s["control"]["controller"] for s in second[:150]]
    assert controllers == ["human"] * switch + ["ai"] * (150 - switch), controllers
    assert second[switch - 1]["control"]["participant"] == by_agent["second_0"]["participant_id"]
    assert second[switch]["control"] == {"controller": "ai", "participant": None, "policy": "random",
                                         "late": False}
    assert second[switch]["time"] - second[switch - 1]["time"] < 1.0
    assert by_agent["second_0"]["stats"]["ai_steps"] == 150 - switch
    assert by_agent["second_0"]["stats"]["human_steps"] == switch
    ai_taken = list(client.episodes(created["id"], where=["ai_steps > 0"]))
    assert [e["agent"] for e in ai_taken] == ["second_0"]

    import minari  # the right cannon's episode exported on its own loads with the switch in its infos

    export = client.wait_export(client.create_export(created["id"], format="minari", agent="second_0")["id"],
                                timeout=180)
    assert export["state"] == "done", export["error"]
    client.download_export(export, tmp_path)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    dataset = minari.load_dataset(f"playcorder/{next((tmp_path / 'playcorder').glob('*-train-v*')).name}")
    (episode,) = list(dataset.iterate_episodes())
    assert [c.decode() for c in episode.infos["controller"]][:150] == controllers
    assert episode.observations.shape == (151, 210, 160, 3)


def test_a_player_alone_is_partnered_by_the_fallback_ai_after_the_lobby_timeout(services: Any,
                                                                                client: Client) -> None:
    created = client.create_study(invaders(lobby_seconds=2.0, steps=40))
    token = client.create_participant(created["id"])["token"]

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], float]:
        ann = await Player.join(services.url, token, "invaders")
        lobby = await ann.until("lobby")
        started = time.monotonic()
        countdown = await ann.until("countdown", timeout=10)
        waited = time.monotonic() - started
        await ann.until("episode_started")
        ended = await ann.until("episode_ended", timeout=60)
        return lobby, {**countdown, "ended": ended}, waited

    lobby, countdown, waited = asyncio.run(scenario())
    assert lobby["seats"] == {"first_0": "you", "second_0": "waiting"} and lobby["seconds_left"] <= 2.0
    assert countdown["seats"] == {"first_0": "you", "second_0": "ai"} and 1.0 <= waited <= 4.0, (countdown, waited)
    episodes = {e["agent"]: e for e in client.episodes(created["id"], game_id=lobby["game_id"])}
    ai = stored_episode(client, episodes["second_0"]["id"])
    assert ai["participant_id"] == "ai:second_0" and ai["stats"]["ai_steps"] == 40
    assert {s["control"]["controller"] for s in all_steps(client, ai["id"])[:40]} == {"ai"}


def test_a_seat_without_a_fallback_calls_the_game_off_when_nobody_comes(services: Any, client: Client) -> None:
    created = client.create_study(invaders(lobby_seconds=1.0, fallback=False))
    token = client.create_participant(created["id"])["token"]

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        ann = await Player.join(services.url, token, "invaders")
        await ann.until("lobby")
        error = await ann.until("error", timeout=10)
        return error, await ann.until("session_ended")

    error, ended = asyncio.run(scenario())
    assert error["code"] == "no_partner" and "second_0" in error["message"], error
    assert ended["reason"] == "no_partner"


@pytest.mark.parametrize("seats", [{"first_0": {}, "third_0": {}}])
def test_seats_must_name_the_environments_agents(client: Client, seats: dict[str, Any]) -> None:
    from playcorder.sdk import ApiError

    spec = invaders()
    spec["environments"][0]["agents"]["seats"] = seats
    with pytest.raises(ApiError) as refused:
        client.create_study(spec)
    assert refused.value.status == 422 and "third_0" in str(refused.value.detail), refused.value.detail


@pytest.fixture
def second_gateway_and_worker(services: Services, tmp_path: Path) -> Iterator[ServiceProcess]:
    more = [ServiceProcess("gateway", services.env | {"GATEWAY_ID": "gateway-2"}, tmp_path, name="gateway-2"),
            ServiceProcess("env-worker", services.env | {"WORKER_ID": "worker-2"}, tmp_path, name="worker-2")]
    start_all(more)
    try:
        yield more[0]
    finally:
        stop_all(more)


def test_participants_arriving_at_once_on_two_gateways_fill_whole_games(
        services: Services, client: Client, second_gateway_and_worker: ServiceProcess) -> None:
    created = client.create_study(invaders(lobby_seconds=30.0, steps=30))
    tokens = [client.create_participant(created["id"])["token"] for _ in range(6)]
    urls = [services.url, second_gateway_and_worker.url]

    async def arrive(i: int) -> dict[str, Any]:
        player = await Player.join(urls[i % 2], tokens[i], "invaders")
        session = await player.until("session")
        countdown = await player.until("countdown", timeout=30)  # the game is full: no waiting for the timeout
        await player.close()
        return {"game": session["game_id"], "agent": session["agent"], "worker": session["worker_id"],
                "seats": countdown["seats"]}

    async def everyone() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(arrive(i) for i in range(6))))

    seated = asyncio.run(everyone())
    games = Counter(s["game"] for s in seated)
    assert sorted(games.values()) == [2, 2, 2], seated  # three full games, nobody alone
    for game in games:
        players = [s for s in seated if s["game"] == game]
        assert sorted(p["agent"] for p in players) == ["first_0", "second_0"]  # no seat given twice
        assert len({p["worker"] for p in players}) == 1  # one worker plays the game, whichever gateway they came by
        assert all(sorted(p["seats"].values()) == ["human", "you"] for p in players)


def test_a_policy_served_over_nats_acts_and_its_late_steps_are_recorded(services: Services, client: Client) -> None:
    import json

    import nats

    spec = invaders(steps=12)
    spec["environments"][0]["agents"]["seats"]["second_0"] = {
        "always": {"kind": "nats", "subject": "tests.slowpoke", "deadline_ms": 1000}}
    created = client.create_study(spec)
    token = client.create_participant(created["id"])["token"]
    prefix = services.env.get("NATS_SUBJECT_PREFIX", "pc")
    late_steps = {4, 5}

    async def scenario() -> tuple[str, list[tuple[int, str, int]]]:
        asked: list[tuple[int, str, int]] = []
        nc = await nats.connect(services.env["NATS_URL"])

        async def reply(msg: Any, step: int) -> None:
            if step in late_steps:
                await asyncio.sleep(2.0)  # past the 1 s deadline: the agent repeats its previous action
            await msg.respond(json.dumps({"action": step % 6}).encode())

        async def answer(msg: Any) -> None:  # each request answered on its own: a late one holds up no other
            request = json.loads(msg.data)
            asked.append((request["step"], request["agent"], len(request["observation"])))
            replies.add(task := asyncio.create_task(reply(msg, request["step"])))
            task.add_done_callback(replies.discard)

        replies: set[asyncio.Task[None]] = set()
        await nc.subscribe(f"{prefix}.policies.tests.slowpoke", cb=answer)
        try:
            ann = await Player.join(services.url, token, "invaders")
            session = await ann.until("session")
            countdown = await ann.until("countdown", timeout=10)  # the only human seat is taken: no lobby wait
            assert countdown["seats"] == {"first_0": "you", "second_0": "ai"}
            await ann.until("episode_ended", timeout=60)
            return session["game_id"], asked
        finally:
            await nc.close()

    game_id, asked = asyncio.run(scenario())
    assert asked[:12] == [(i, "second_0", 210) for i in range(12)], asked  # each step asked once, with the frame
    episodes = {e["agent"]: e for e in client.episodes(created["id"], game_id=game_id)}
    ai = stored_episode(client, episodes["second_0"]["id"])
    steps = all_steps(client, ai["id"])[:12]
    assert [s["control"]["late"] for s in steps] == [i in late_steps for i in range(12)]
    assert [s["action"] for s in steps] == [3 if i in late_steps else i % 6 for i in range(12)]  # step 3's held
    assert {s["control"]["policy"] for s in steps} == {"nats"} and ai["participant_id"] == "ai:second_0"
    assert ai["stats"]["late_steps"] == 2
