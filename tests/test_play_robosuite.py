"""robosuite/Lift through the real stack: the CLI bot plays it; a 6-DOF controller, held keys and the Space toggle
drive the arm and the stored steps hold the 7-D OSC_POSE actions that input implies, with the success flag; the
episode exported as RLDS, Minari and LeRobot loads back with its Dict observations and camera images."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import simplejpeg

from playcorder.sdk import Client
from tests import tensorflow_side
from tests.factories import study
from tests.stored import all_steps
from tests.wsclient import Player

pytestmark = pytest.mark.e2e
LIFT = {"id": "lift", "env_id": "robosuite/Lift", "fps": 10}
IMAGES = ("agentview_image", "robot0_eye_in_hand_image")
SIXDOF = [0.55, 0, 0, 0, 0, 0]  # pushed forward: +x, (0.55 - 0.1) / 0.9 = 0.5 past the dead zone


def _phase(steps: list[dict[str, Any]], **raw: Any) -> np.ndarray:
    """Actions of the steps recorded with exactly this raw input state."""
    return np.array([s["action"] for s in steps if s["input"] == raw])


async def _drive(client: Client, token: str) -> tuple[dict[str, Any], str]:
    player = await Player.join(client.url, token, "lift")
    session = await player.until("session", timeout=90)
    started = await player.until("episode_started", timeout=60)
    first = await player.until("frame")
    shown = simplejpeg.decode_jpeg(first.jpeg)
    assert shown.shape == (256, 256, 3) and shown.std() > 20, "the first frame shows the scene (not black)"
    await player.send(type="input", sixdof=SIXDOF)
    await player.until("state", state="running")
    await player.drain(1.5)
    await player.send(type="input", keys=["ArrowLeft"])  # robosuite's keyboard: Left is -y, ramping while held
    await player.drain(1.5)
    await player.send(type="input", keys=[" "])  # Space (KeyboardEvent.key " ") closes the gripper ...
    await player.drain(0.6)
    await player.send(type="input", keys=[])  # ... and it stays closed once let go
    await player.drain(1.0)
    await player.send(type="end_episode", save=True)
    ended = await player.until("episode_ended", timeout=60)
    await player.close()
    assert ended["episode_id"] == started["episode_id"]
    return session, str(ended["episode_id"])


@pytest.fixture(scope="module")
def lift(client: Client) -> dict[str, Any]:
    created = client.create_study(study(LIFT, name="robosuite"))
    token = client.create_participant(created["id"])["token"]
    session, episode_id = asyncio.run(_drive(client, token))
    return {"study": created["id"], "session": session, "episode": episode_id}


def test_sixdof_keys_and_toggle_drive_the_arm(client: Client, lift: dict[str, Any]) -> None:
    session = lift["session"]
    assert session["family"] == "robosuite" and session["input_map"]["kind"] == "continuous"
    assert session["input_map"]["toggles"] == [{"key": "Space", "dim": 6, "start": "low"}]
    assert {"agentview", "robot0_eye_in_hand", "frontview"} <= set(session["cameras"])
    steps = all_steps(client, lift["episode"])
    assert all(len(s["action"]) == 7 for s in steps[:-1])
    assert all(s["info"]["success"] is False for s in steps)  # nobody lifted the cube; recorded with each step

    forward = _phase(steps, sixdof=SIXDOF)
    assert len(forward) >= 3
    np.testing.assert_allclose(forward, np.tile([0.5, 0, 0, 0, 0, 0, -1], (len(forward), 1)), atol=1e-6)
    left = _phase(steps, keys=["ArrowLeft"])
    assert len(left) >= 3
    assert np.all(np.diff(left[:, 1]) <= 0) and left[0, 1] < 0 and left[-1, 1] == pytest.approx(-1.0)
    np.testing.assert_allclose(left[:, [0, 2, 3, 4, 5]], 0, atol=1e-6)
    assert np.all(left[:, 6] == -1)  # the gripper still open
    closed = np.concatenate([_phase(steps, keys=[" "]), _phase(steps[:-1], **{})[-3:]])  # the last step has no action
    assert len(closed) >= 3 and np.all(closed[:, 6] == 1)  # toggled closed, and kept closed after Space is up


def test_the_bot_plays_lift(cli_env: dict[str, str], client: Client, lift: dict[str, Any]) -> None:
    from tests.test_play_families import cli

    summary = cli(cli_env, "bot", "--study", lift["study"], "--env", "lift", "--episodes", "1", "--max-steps", "6",
                  "--seed", "1")
    assert summary["episodes"] == 1 and summary["actions"] == 6, summary
    listed = cli(cli_env, "episodes", "list", "--study", lift["study"], "--json")
    bot = next(e for e in listed if e["id"] != lift["episode"])
    steps = all_steps(client, bot["id"])
    actions = np.array([s["action"] for s in steps[:-1]])
    assert actions.shape[1] == 7 and np.all(np.abs(actions) <= 1) and "success" in steps[-1]["info"]


def _export(client: Client, lift: dict[str, Any], fmt: str, tmp_path: Path) -> Path:
    export = client.create_export(lift["study"], episode_ids=[lift["episode"]], format=fmt, keep_metadata=True)
    export = client.wait_export(export["id"], timeout=300)
    assert export["state"] == "done", export["error"]
    client.download_export(export, tmp_path)
    return tmp_path


def _moved_forward(eef: np.ndarray, steps: list[dict[str, Any]]) -> None:
    """The end effector's x grew while the 6-DOF controller pushed forward (observation i+1 follows action i)."""
    pushed = [i for i, s in enumerate(steps[:-1]) if s["input"] == {"sixdof": SIXDOF}]
    assert eef[pushed[-1] + 1, 0] - eef[pushed[0], 0] > 0.02, eef[:, 0]


def test_rlds_keeps_dict_observations_and_images(client: Client, lift: dict[str, Any], tmp_path: Path) -> None:
    root = _export(client, lift, "rlds", tmp_path)
    directory = next(p.parent for p in root.rglob("dataset_info.json"))
    _, episodes = tensorflow_side.load(directory, "train")
    (episode,) = episodes
    steps = episode["steps"]
    stored = all_steps(client, lift["episode"])
    assert len(steps) == len(stored)
    obs = steps[0]["observation"]
    for key in IMAGES:
        assert obs[key].shape == (84, 84, 3) and obs[key].dtype == np.uint8 and obs[key].std() > 10
    assert obs["robot0_eef_pos"].shape == (3,) and obs["robot0_eef_pos"].dtype == np.float32
    _moved_forward(np.array([s["observation"]["robot0_eef_pos"] for s in steps]), stored)
    assert np.array_equal(steps[0]["action"], np.asarray(stored[0]["action"], np.float32))


def test_minari_keeps_dict_observations_and_images(client: Client, lift: dict[str, Any], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import minari

    root = _export(client, lift, "minari", tmp_path)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    (dataset_dir,) = [p for p in (root / "playcorder").iterdir() if p.is_dir()]
    dataset = minari.load_dataset(f"playcorder/{dataset_dir.name}")
    (episode,) = list(dataset)
    stored = all_steps(client, lift["episode"])
    observations = episode.observations
    assert observations["agentview_image"].shape == (len(stored), 84, 84, 3)
    assert observations["robot0_eye_in_hand_image"].dtype == np.uint8
    assert episode.actions.shape == (len(stored) - 1, 7)
    _moved_forward(observations["robot0_eef_pos"], stored)
    assert dataset.observation_space["agentview_image"].shape == (84, 84, 3)


def test_lerobot_keeps_dict_observations_and_images(client: Client, lift: dict[str, Any], tmp_path: Path) -> None:
    import av
    import pyarrow.parquet as pq

    root = _export(client, lift, "lerobot", tmp_path)
    info = json.loads((root / "meta" / "info.json").read_text())
    features = info["features"]
    stored = all_steps(client, lift["episode"])
    for key in IMAGES:
        feature = features[f"observation.images.{key}"]
        assert feature["dtype"] == "video" and feature["shape"][:2] == [84, 84]
        video = root / info["video_path"].format(video_key=f"observation.images.{key}", chunk_index=0, file_index=0)
        with av.open(str(video)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(frames) == info["total_frames"] and frames[0].shape == (84, 84, 3) and frames[0].std() > 10
    assert features["observation.robot0_eef_pos"]["shape"] == [3]
    table = pq.read_table(root / "data" / "chunk-000" / "file-000.parquet")
    eef = np.array(table.column("observation.robot0_eef_pos").to_pylist())
    assert len(eef) == info["total_frames"]
    _moved_forward(eef, stored)
