"""NetHack through the real stack: a participant plays NetHackScore-v0 with NetHack's keys (one press, one command),
the steps stored are exactly what the game produced (replayed from the recorded seed), the text decodes back, the
episode exports to RLDS, Minari and LeRobot with its dict observation intact, and the CLI bot plays it too."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import simplejpeg

from playcorder.records import Step
from playcorder.sdk import Client
from playcorder.specs import EnvironmentSpec
from playcorder_env_worker.families import make_env
from tests import tensorflow_side
from tests.factories import study
from tests.stored import all_steps, stored_episode
from tests.wsclient import Player

pytestmark = pytest.mark.e2e
ENV = {"id": "nethack", "env_id": "NetHackScore-v0", "mode": "turn_based"}
# held keys as the browser sends them (e.key, Shift held for capitals and '>'), each state after the one before
# ('>' first: the hero starts on the up staircase, so NetHack answers it alike whatever the episode's seed)
PRESSES: list[list[str]] = [["Shift", ">"], [], ["Enter"], [], ["k"], [], ["l"], [], ["Shift"], ["Shift", "L"],
                            ["Shift"], [], ["s"], [], ["ArrowDown"], []]
COMMANDS = [">", "Enter", "K", "L", "Shift+L", "S", "Down"]  # the bindings those presses step, in order
TEXT_KEYS = ("message", "tty_chars", "tty_colors", "tty_cursor", "blstats", "inv_strs", "inv_letters", "glyphs")


def text(row: np.ndarray) -> str:
    return bytes(np.asarray(row, np.uint8)).rstrip(b"\0").decode("latin-1")


async def _play(client: Client, token: str) -> dict[str, Any]:
    player = await Player.join(client.url, token, "nethack")
    session = await player.until("session")
    started = await player.until("episode_started")
    first = await player.until("frame")
    for keys in PRESSES:
        await player.send(type="input", keys=keys)
    await player.drain(0.8)
    await player.send(type="end_episode", save=True)
    ended = await player.until("episode_ended")
    await player.close()
    return {"session": session, "episode_id": started["episode_id"], "ended": ended, "first_frame": first}


@pytest.fixture(scope="module")
def played(client: Client) -> dict[str, Any]:
    created = client.create_study(study(ENV, name="nethack"))
    token = client.create_participant(created["id"])["token"]
    run = asyncio.run(_play(client, token))
    episode = stored_episode(client, run["episode_id"])
    steps = list(client.recorded_steps(run["episode_id"]))
    return run | {"study": created["id"], "episode": episode, "steps": steps}


def _replayed(seed: int, actions: list[int]) -> list[dict[str, np.ndarray]]:
    """The observations NetHack gives from this seed and these actions, in this process."""
    prepared = make_env(EnvironmentSpec.model_validate(ENV))
    try:
        obs, _ = prepared.env.reset(seed=seed)
        out = [obs]
        for action in actions:
            out.append(prepared.env.step(action)[0])
        return out
    finally:
        prepared.close()


def test_keys_step_nethack_and_the_steps_are_what_the_game_produced(played: dict[str, Any], client: Client) -> None:
    session, steps = played["session"], played["steps"]
    bindings = session["input_map"]["bindings"]
    assert session["family"] == "nethack" and session["input_map"]["kind"] == "discrete"
    assert [s.action for s in steps[:-1]] == [bindings[c] for c in COMMANDS]  # one press, one command
    assert played["episode"]["num_steps"] == len(COMMANDS) + 1 and steps[-1].is_last
    assert [s.input for s in steps[:-1]] == [{"keys": keys} for keys in PRESSES if keys and keys != ["Shift"]]

    replayed = _replayed(played["episode"]["seed"], [int(s.action) for s in steps[:-1]])
    for i, (stored, produced) in enumerate(zip(steps, replayed, strict=True)):
        assert set(stored.observation) == set(produced), i
        for key, value in produced.items():
            got = stored.observation[key]
            assert got.dtype == value.dtype and np.array_equal(got, value), f"step {i}: {key} differs"
    # the text reads back: the status lines, and NetHack's answers to '>' off the stairs and to Enter
    bottom = text(steps[0].observation["tty_chars"][23])
    assert bottom.startswith("Dlvl:1 $:0 HP:")
    assert text(steps[1].observation["message"]) == "You can't go down here."
    assert text(steps[1].observation["tty_chars"][0]).rstrip() == "You can't go down here."
    assert text(steps[2].observation["message"]) == "Unknown command '^M'."

    height, width, _, _ = simplejpeg.decode_jpeg_header(played["first_frame"].jpeg)
    assert (height, width) == (408, 640)
    shown = all_steps(client, played["episode_id"], images=True)
    assert simplejpeg.decode_jpeg_header(base64.b64decode(shown[0]["image"]))[:2] == (408, 640)


def _check_observations(loaded: list[dict[str, np.ndarray]], steps: list[Step], what: str) -> None:
    assert len(loaded) == len(steps), what
    for i, (got, step) in enumerate(zip(loaded, steps, strict=True)):
        for key in TEXT_KEYS:
            want = step.observation[key]
            value = np.asarray(got[key])
            assert value.dtype == want.dtype and np.array_equal(value, want), f"{what}: step {i} {key} differs"
        assert text(got["message"]) == text(step.observation["message"])


def _export(client: Client, played: dict[str, Any], fmt: str, tmp_path: Path) -> Path:
    export = client.create_export(played["study"], episode_ids=[played["episode_id"]], format=fmt,
                                  name=f"nethack_{fmt}")
    export = client.wait_export(export["id"], timeout=300)
    assert export["state"] == "done", export["error"]
    client.download_export(export, tmp_path)
    return tmp_path


def test_rlds_keeps_the_text(client: Client, played: dict[str, Any], tmp_path: Path) -> None:
    root = _export(client, played, "rlds", tmp_path)
    _, episodes = tensorflow_side.load(next(root.rglob("dataset_info.json")).parent)
    assert [e["episode_id"].decode() for e in episodes] == [played["episode_id"]]
    _check_observations([s["observation"] for s in episodes[0]["steps"]], played["steps"], "rlds")


def test_minari_keeps_the_text(client: Client, played: dict[str, Any], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    import minari

    root = _export(client, played, "minari", tmp_path)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    [name] = [d.name for d in (root / "playcorder").iterdir() if d.is_dir()]
    dataset = minari.load_dataset(f"playcorder/{name}")
    [episode] = list(dataset)
    observations = episode.observations
    loaded = [{k: observations[k][i] for k in observations} for i in range(len(played["steps"]))]
    _check_observations(loaded, played["steps"], "minari")
    assert list(episode.actions) == [s.action for s in played["steps"][:-1]]


def _column(table: pa.Table, key: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    arr = table[key].combine_chunks()
    while pa.types.is_fixed_size_list(arr.type) or pa.types.is_list(arr.type):
        arr = arr.flatten()
    return arr.to_numpy(zero_copy_only=False).astype(dtype, copy=False).reshape(len(table), *shape)


def test_lerobot_keeps_the_text(client: Client, played: dict[str, Any], tmp_path: Path) -> None:
    root = _export(client, played, "lerobot", tmp_path)
    info = json.loads((root / "meta" / "info.json").read_text())
    rows = pq.read_table(root / "data" / "chunk-000" / "file-000.parquet")
    steps = played["steps"]
    assert rows.num_rows == len(steps) == info["total_frames"]
    features = info["features"]
    columns = {}
    for key in TEXT_KEYS:
        feature = features[f"observation.{key}"]
        want = steps[0].observation[key]
        # LeRobot features are flat: tty_chars is a row of 1920 values (row-major), reshaped here to (24, 80)
        assert feature["shape"] == [want.size] and feature["dtype"] == str(want.dtype), (key, feature)
        columns[key] = _column(rows, f"observation.{key}", want.shape, want.dtype)
    _check_observations([{k: columns[k][i] for k in TEXT_KEYS} for i in range(len(steps))], steps, "lerobot")


def test_the_cli_bot_plays_nethack(cli_env: dict[str, str], played: dict[str, Any]) -> None:
    out = subprocess.run([sys.executable, "-m", "playcorder.cli", "bot", "--study", played["study"], "--env",
                          "nethack", "--episodes", "1", "--max-steps", "20", "--seed", "1"], env=cli_env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["episodes"] == 1 and summary["actions"] <= 20, summary
    detail = summary["episode_details"][0]
    # turn-based: one step per action, plus the final observation (fewer when the hero dies first)
    assert detail["state"] == "completed" and detail["num_steps"] == summary["actions"] + 1, detail
