"""MiniGrid (a Dict observation with a Text mission) through the real stack: played over the WebSocket, recorded,
the mission shown by the steps API as its string, exported to every format and read back with each format's own
reader, the mission equal; an episode of a Graph space is recorded too, summarised, exported to RLDS and read back,
and every other format refuses to export it with a 422 naming why."""

from __future__ import annotations

import asyncio
import json
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
from playcorder.records import Step, encode_chunk
from playcorder.sdk import ApiError, Client
from playcorder.settings import NatsSettings
from playcorder.spaces import FORMATS, GraphValue
from tests import tensorflow_side
from tests.factories import study
from tests.stored import all_steps, stored_episode
from tests.wsclient import Player

pytestmark = pytest.mark.e2e
MISSION = "get to the green goal square"
FORWARD, LEFT = 2, 0  # MiniGrid actions


@pytest.fixture(scope="module")
def played(client: Client) -> dict[str, Any]:
    created = client.create_study(study({"id": "grid", "env_id": "MiniGrid-Empty-5x5-v0", "mode": "turn_based"},
                                        name="minigrid"))
    token = client.create_participant(created["id"])["token"]

    async def play() -> tuple[dict[str, Any], str]:
        player = await Player.join(client.url, token, "grid")
        session = await player.until("session")
        started = await player.until("episode_started")
        for action in (FORWARD, LEFT, FORWARD, LEFT, LEFT):
            await player.send(type="action", action=action)
            await player.until("frame")
        await player.send(type="end_episode", save=True)
        await player.until("episode_ended")
        await player.close()
        return session, started["episode_id"]

    session, episode_id = asyncio.run(play())
    stored_episode(client, episode_id)
    return {"study": created["id"], "episode": episode_id, "session": session}


def test_the_mission_is_recorded_and_shown_as_text(client: Client, played: dict[str, Any]) -> None:
    space = played["session"]["observation_space"]
    assert space["type"] == "dict" and space["spaces"]["mission"]["type"] == "text"
    steps = all_steps(client, played["episode"])
    assert len(steps) == 6 and [s["action"] for s in steps[:-1]] == [FORWARD, LEFT, FORWARD, LEFT, LEFT]
    for s in steps:
        direction, image, mission = s["observation"]  # the Dict's keys in order
        assert mission["type"] == "text" and mission["text"] == MISSION and mission["length"] == len(MISSION)
        assert image["shape"] == [7, 7, 3] and direction["shape"] == []


def _missions(fmt: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every step's mission in the downloaded export, read as the format's users read it."""
    if fmt == "rlds":
        _, episodes = tensorflow_side.load(next(root.rglob("dataset_info.json")).parent)
        return [g["observation"]["mission"].decode() for e in episodes for g in e["steps"]]
    if fmt == "envlogger":
        from playcorder_exporter.datasets.formats.envlogger_format import load_envlogger

        with load_envlogger().Reader(str(root / "train")) as reader:
            return [str(s.timestep.observation["mission"]) for e in reader.episodes for s in e]
    if fmt == "minari":
        import minari

        monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
        dataset = minari.load_dataset(f"playcorder/{next((root / 'playcorder').glob('*-train-v*')).name}")
        assert isinstance(dataset.observation_space["mission"], gym.spaces.Text)
        return [m for e in dataset.iterate_episodes() for m in e.observations["mission"]]
    import pyarrow.parquet as pq

    rows = [r for f in sorted(root.glob("data/*/*.parquet")) for r in pq.read_table(f).to_pylist()]
    return [r["observation.mission"] for r in rows]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_exports_the_mission(client: Client, played: dict[str, Any], fmt: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    export = client.create_export(played["study"], episode_ids=[played["episode"]], format=fmt)
    export = client.wait_export(export["id"], timeout=180)
    assert export["state"] == "done", export["error"]
    client.download_export(export, tmp_path)
    assert _missions(fmt, tmp_path, monkeypatch) == [MISSION] * 6


@pytest.fixture(scope="module")
def graph_episode(client: Client, stack: DevStack) -> dict[str, Any]:
    """An episode of a Graph observation, published as a worker publishes one (no registered env has one)."""
    space = gym.spaces.Graph(gym.spaces.Box(0, 1, (2,), np.float32), gym.spaces.Discrete(3))
    obs_spec, act_spec = space_spec(space), space_spec(gym.spaces.Discrete(2))
    study_id = client.create_study(study({"id": "g", "env_id": "CartPole-v1"}, name="graph"))["id"]
    episode_id = uuid.uuid4().hex
    graphs = [GraphValue(np.full((n, 2), 0.5, np.float32), np.arange(n - 1) % 3,
                         np.array([[i, i + 1] for i in range(n - 1)], np.int32).reshape(-1, 2)) for n in (1, 2, 3)]
    steps = [Step(i, g, np.int64(i % 2), 1.0, 1.0, i == 0, i == 2, i == 2, float(i)) for i, g in enumerate(graphs)]

    async def publish() -> None:
        settings = NatsSettings(url=stack.nats_url)
        subjects, nc = subjects_for(settings), await connect(settings, "graph test")
        begin = EpisodeBegin(episode_id=episode_id, session_id="s", study_id=study_id, participant_id="p", env="g",
                             env_id="CartPole-v1", worker_id="w", seed=1, started_at=datetime.now(UTC),
                             observation_spec=obs_spec, action_spec=act_spec)
        end = EpisodeEnd(episode_id=episode_id, state="completed", reason="terminated", num_steps=3, num_chunks=1,
                         total_reward=2.0, active_s=1.0, ended_at=datetime.now(UTC))
        chunk = encode_chunk(episode_id, 0, steps, obs_spec, act_spec)
        for kind, payload in (("begin", begin.model_dump_json().encode()), ("chunk", chunk),
                              ("end", end.model_dump_json().encode())):
            await nc.jetstream().publish(subjects.record(episode_id, kind), payload, timeout=5)
        await nc.drain()

    asyncio.run(publish())
    return {"study": study_id, "episode": episode_id}


def test_a_graph_episode_is_recorded_and_summarised(client: Client, graph_episode: dict[str, Any]) -> None:
    steps = all_steps(client, graph_episode["episode"])
    assert [(s["observation"][0]["nodes"], s["observation"][0]["edges"]) for s in steps] == [(1, 0), (2, 1), (3, 2)]


def test_a_graph_episode_exports_to_rlds(client: Client, graph_episode: dict[str, Any], tmp_path: Path) -> None:
    export = client.create_export(graph_episode["study"], episode_ids=[graph_episode["episode"]], format="rlds")
    export = client.wait_export(export["id"], timeout=180)
    assert export["state"] == "done", export["error"]
    client.download_export(export, tmp_path)
    _, (episode,) = tensorflow_side.load(next(tmp_path.rglob("dataset_info.json")).parent)
    graphs = [s["observation"] for s in episode["steps"]]
    assert [len(g["nodes"]) for g in graphs] == [1, 2, 3] and [g["edges"].tolist() for g in graphs] == [[], [0], [0, 1]]
    assert graphs[2]["edge_links"].tolist() == [[0, 1], [1, 2]]


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "rlds"])
def test_formats_that_cannot_hold_a_graph_refuse_it(client: Client, graph_episode: dict[str, Any], fmt: str) -> None:
    stored_episode(client, graph_episode["episode"])
    with pytest.raises(ApiError) as err:
        client.create_export(graph_episode["study"], episode_ids=[graph_episode["episode"]], format=fmt)
    detail = json.dumps(err.value.detail)
    assert err.value.status == 422 and f"got '{fmt}'" in detail and "Graph space at observation" in detail, detail
