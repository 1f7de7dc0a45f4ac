"""Multi-agent games' records on the real stack (issue 16): two games of two agents published as an env-worker
publishes them (one RecordingPublisher per agent), in the first a participant leaving at step K and the fallback
AI taking over, one of its steps late. The stored steps show who controlled each agent and the switch at step K;
episodes carry their game and agent and are filtered by them and by the controller statistics; an export of one
agent's episodes loads in RLDS (tfds), Minari, LeRobot (parquet) and envlogger with the per-step controller, late and
participant, and the episodes' game_id and agent."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from playcorder.bus import connect, subjects_for
from playcorder.devstack.stack import DevStack
from playcorder.gym_spaces import space_spec
from playcorder.messages import EpisodeBegin, EpisodeEnd
from playcorder.records import Step, control_stats
from playcorder.sdk import ApiError, Client
from playcorder.settings import NatsSettings
from playcorder_env_worker.publisher import RecordingPublisher
from playcorder_exporter.plan import agent_id
from tests import tensorflow_side
from tests.factories import study
from tests.stored import all_steps, stored_episode

pytestmark = pytest.mark.e2e
STEPS = 9  # recorded steps of each agent's episode (the last holds the final observation)
K = 4  # the first game's first_0 leaves before step K: the fallback AI acts from step K on
LATE = 6  # the fallback policy missed its deadline at this step (its previous action repeated)
OBS, ACT = gym.spaces.Box(-1.0, 1.0, (4,), np.float32), gym.spaces.Discrete(2)
Control = dict[str, Any]


def human(participant: str) -> Control:
    return {"controller": "human", "participant": participant, "policy": None, "late": False}


def ai(late: bool = False) -> Control:
    return {"controller": "ai", "participant": None, "policy": "random", "late": late}


def _stats(controls: list[Control]) -> dict[str, float]:
    """The statistics a game's worker ends an agent's episode with (control_stats: who controlled its steps)."""
    counted = control_stats(controls)
    assert counted == {"human_steps": sum(c["controller"] == "human" for c in controls),
                       "ai_steps": sum(c["controller"] == "ai" for c in controls),
                       "none_steps": sum(c["controller"] == "none" for c in controls),
                       "late_steps": sum(c["late"] for c in controls)}
    return {"score": float(len(controls) - 1), "steps": float(len(controls) - 1), **counted}


async def _publish(stack: DevStack, study_id: str, episodes: list[dict[str, Any]]) -> None:
    settings = NatsSettings(url=stack.nats_url)
    subjects, nc = subjects_for(settings), await connect(settings, "multiagent records test")
    for e in episodes:
        publisher = RecordingPublisher(nc.jetstream(), subjects, max_steps=3, max_age=60, max_payload=1 << 20)
        publisher.begin(EpisodeBegin(
            episode_id=e["id"], session_id=f"game-{e['game_id']}", study_id=study_id, participant_id=e["participant"],
            env="duo", env_id="CartPole-v1", worker_id="w", seed=7, started_at=datetime.now(UTC),
            observation_spec=space_spec(OBS), action_spec=space_spec(ACT), game_id=e["game_id"], agent=e["agent"]))
        for i, control in enumerate(e["controls"]):
            last = i == STEPS - 1
            publisher.add(Step(i, np.full(4, i / 10, np.float32), np.int64(0 if last else i % 2), 0.0 if last else 1.0,
                               1.0, i == 0, last, last, float(i), control=control))
        publisher.end(EpisodeEnd(episode_id=e["id"], state="completed", reason="terminated", num_steps=STEPS,
                                 num_chunks=None, total_reward=float(STEPS - 1), active_s=1.0,
                                 stats=_stats(e["controls"]), ended_at=datetime.now(UTC)))
        await publisher.close()
    await nc.drain()


@pytest.fixture(scope="module")
def games(client: Client, stack: DevStack) -> dict[str, Any]:
    created = client.create_study(study({"id": "duo", "env_id": "CartPole-v1"}, name="duo"))
    alice, bob, carol = (client.create_participant(created["id"], external_id=n)["participant_id"]
                         for n in ("alice", "bob", "carol"))
    g1, g2 = uuid.uuid4().hex, uuid.uuid4().hex
    episodes = [
        {"key": "g1_first", "game_id": g1, "agent": "first_0", "participant": alice,
         "controls": [human(alice) if i < K else ai(late=i == LATE) for i in range(STEPS)]},
        {"key": "g1_second", "game_id": g1, "agent": "second_0", "participant": bob,
         "controls": [human(bob)] * STEPS},
        # an AI-only seat: participant "ai:<agent>", no participant row
        {"key": "g2_first", "game_id": g2, "agent": "first_0", "participant": "ai:first_0",
         "controls": [ai()] * STEPS},
        {"key": "g2_second", "game_id": g2, "agent": "second_0", "participant": carol,
         "controls": [human(carol)] * (STEPS - 1) + [{"controller": "none", "participant": None, "policy": None,
                                                       "late": False}]},
    ]
    for e in episodes:
        e["id"] = uuid.uuid4().hex
    asyncio.run(_publish(stack, created["id"], episodes))
    for e in episodes:
        stored_episode(client, e["id"])
    return {"study": created["id"], "g1": g1, "g2": g2, "alice": alice, "bob": bob, "carol": carol,
            **{e["key"]: e for e in episodes}}


def test_stored_steps_show_who_controlled_the_agent_and_the_switch(client: Client, games: dict[str, Any]) -> None:
    steps = all_steps(client, games["g1_first"]["id"])
    controllers = [s["control"]["controller"] for s in steps]
    assert controllers == ["human"] * K + ["ai"] * (STEPS - K)
    assert controllers.index("ai") == K  # the switch at the step the fallback took over
    assert [s["control"]["participant"] for s in steps[:K]] == [games["alice"]] * K
    assert {s["control"]["participant"] for s in steps[K:]} == {None}
    assert [s["index"] for s in steps if s["control"]["late"]] == [LATE]
    assert steps[K]["control"] == {"controller": "ai", "participant": None, "policy": "random", "late": False}
    # the SDK reads the chunks whole: the same controls
    recorded = list(client.recorded_steps(games["g1_first"]["id"]))
    assert [s.control for s in recorded] == games["g1_first"]["controls"]


def test_episodes_carry_their_game_and_agent(client: Client, games: dict[str, Any]) -> None:
    detail = client.get_episode(games["g1_second"]["id"])
    assert (detail["game_id"], detail["agent"], detail["participant_id"]) == (games["g1"], "second_0", games["bob"])
    ai_seat = client.get_episode(games["g2_first"]["id"])
    assert (ai_seat["participant_id"], ai_seat["agent"]) == ("ai:first_0", "first_0")
    assert detail["stats"]["human_steps"] == STEPS and detail["stats"]["ai_steps"] == 0
    first = client.get_episode(games["g1_first"]["id"])
    assert (first["stats"]["human_steps"], first["stats"]["ai_steps"], first["stats"]["late_steps"]) == (K, STEPS - K,
                                                                                                         1)


def test_episodes_filter_by_game_agent_and_controller(client: Client, games: dict[str, Any]) -> None:
    sid = games["study"]

    def keys(**filters: Any) -> set[str]:
        by_id = {games[k]["id"]: k for k in ("g1_first", "g1_second", "g2_first", "g2_second")}
        return {by_id[e["id"]] for e in client.list_episodes(sid, **filters)}

    assert keys(game_id=games["g1"]) == {"g1_first", "g1_second"}
    assert keys(agent="first_0") == {"g1_first", "g2_first"}
    assert keys(game_id=games["g2"], agent="second_0") == {"g2_second"}
    assert keys(where="ai_steps > 0") == {"g1_first", "g2_first"}
    assert keys(where=["ai_steps > 0", "human_steps > 0"]) == {"g1_first"}  # the game a person left
    assert keys(where="late_steps >= 1") == {"g1_first"}
    assert keys(where="none_steps > 0") == {"g2_second"}
    assert keys(agent="third_0") == set()
    assert {e["id"] for e in client.episodes(sid, game_id=games["g1"], sort="-total_reward")} == {
        games["g1_first"]["id"], games["g1_second"]["id"]}


def _export(client: Client, study_id: str, tmp_path: Path, **options: Any) -> Path:
    export = client.wait_export(client.create_export(study_id, **options)["id"], timeout=180)
    assert export["state"] == "done", export["error"]
    client.download_export(export, tmp_path)
    return tmp_path


def _expected(games: dict[str, Any], key: str) -> list[tuple[str, bool, str]]:
    """(controller, late, participant pseudonym) of each step of that episode, as an export writes them."""
    return [(c["controller"], c["late"], agent_id(c["participant"], games["study"]) if c["participant"] else "")
            for c in games[key]["controls"]]


def test_an_export_of_one_agent_loads_in_rlds(client: Client, games: dict[str, Any], tmp_path: Path) -> None:
    root = _export(client, games["study"], tmp_path, format="rlds", agent="first_0")
    _, episodes = tensorflow_side.load(next(root.rglob("dataset_info.json")).parent)
    by_id = {e["episode_id"].decode(): e for e in episodes}
    assert set(by_id) == {games["g1_first"]["id"], games["g2_first"]["id"]}  # only agent first_0's episodes
    for key in ("g1_first", "g2_first"):
        e = by_id[games[key]["id"]]
        assert (e["game_id"].decode(), e["agent"].decode()) == (games[key]["game_id"], "first_0")
        got = [(s["controller"].decode(), bool(s["late"]), s["participant"].decode()) for s in e["steps"]]
        assert got == _expected(games, key)
    switch = [s["controller"].decode() for s in by_id[games["g1_first"]["id"]]["steps"]]
    assert switch.index("ai") == K


def test_an_export_of_one_agent_loads_in_minari(client: Client, games: dict[str, Any], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import minari

    ids = [games[k]["id"] for k in ("g1_first", "g1_second", "g2_second")]
    root = _export(client, games["study"], tmp_path, format="minari", agent="second_0", episode_ids=ids)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    dataset = minari.load_dataset(f"playcorder/{next((root / 'playcorder').glob('*-train-v*')).name}")
    metadata = list(dataset.storage.get_episode_metadata(range(dataset.total_episodes)))
    assert sorted((m["episode_id"], m["game_id"], m["agent"]) for m in metadata) == sorted(
        (games[k]["id"], games[k]["game_id"], "second_0") for k in ("g1_second", "g2_second"))
    for m, episode in zip(metadata, dataset.iterate_episodes(), strict=True):
        key = "g1_second" if m["episode_id"] == games["g1_second"]["id"] else "g2_second"
        infos = episode.infos
        # HDF5 gives strings back as bytes (as it does the infos input and info)
        got = [(c.decode(), bool(late), p.decode()) for c, late, p in zip(infos["controller"], infos["late"],
                                                                           infos["participant"], strict=True)]
        assert got == _expected(games, key)


def test_an_export_of_one_agent_loads_in_lerobot(client: Client, games: dict[str, Any], tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    root = _export(client, games["study"], tmp_path, format="lerobot", filter={"game_id": games["g1"]},
                   agent="first_0")
    rows = [r for f in sorted(root.glob("data/*/*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert [(r["controller"], r["late"], r["participant"]) for r in rows] == _expected(games, "g1_first")
    (episode,) = [r for f in sorted(root.glob("meta/episodes/*/*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert (episode["episode_id"], episode["game_id"], episode["agent"]) == (games["g1_first"]["id"], games["g1"],
                                                                             "first_0")


def test_an_export_of_one_agent_loads_in_envlogger(client: Client, games: dict[str, Any], tmp_path: Path) -> None:
    from playcorder_exporter.datasets.formats.envlogger_format import load_envlogger

    root = _export(client, games["study"], tmp_path, format="envlogger", filter={"game_id": games["g1"]},
                   agent="first_0")
    with load_envlogger().Reader(str(root / "train")) as reader:
        (meta,) = list(reader.episode_metadata())
        (episode,) = [list(e) for e in reader.episodes]
    assert (meta["episode_id"], meta["game_id"], meta["agent"]) == (games["g1_first"]["id"], games["g1"], "first_0")
    got = [(s.custom_data["controller"], bool(s.custom_data["late"]), s.custom_data["participant"]) for s in episode]
    assert got == _expected(games, "g1_first")  # envlogger step k carries RLDS step k's fields


def test_an_agent_without_episodes_is_refused(client: Client, games: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as err:
        client.create_export(games["study"], episode_ids=[games["g1_second"]["id"]], agent="first_0")
    assert err.value.status == 422 and "agent 'first_0'" in str(err.value.detail) and "second_0" in str(
        err.value.detail)
    with pytest.raises(ApiError) as err:
        client.create_export(games["study"], agent="third_0")
    assert err.value.status == 422 and "third_0" in str(err.value.detail)
