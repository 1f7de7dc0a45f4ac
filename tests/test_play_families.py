"""Each family through the real stack: the example study played by the CLI bot, MuJoCo driven by gamepad axes,
a 6-DOF controller and held keys, Procgen driven by keys."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import simplejpeg

from playcorder.sdk import Client
from tests.factories import study
from tests.stored import all_steps
from tests.wsclient import Player

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "three_families.yaml"


def cli(env: dict[str, str], *args: str) -> Any:
    out = subprocess.run([sys.executable, "-m", "playcorder.cli", *args], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, f"playcorder {' '.join(args)} failed:\n{out.stderr}"
    return json.loads(out.stdout)


def test_example_study_plays_every_family(cli_env: dict[str, str], client: Client) -> None:
    """As a new user: the example study (Pong, coinrun, HalfCheetah) from its file, the CLI bot on each."""
    created = cli(cli_env, "studies", "create", str(EXAMPLE))
    assert [e["id"] for e in created["spec"]["environments"]] == ["pong", "coinrun", "cheetah"]
    played = {}
    for env in ("pong", "coinrun", "cheetah"):
        summary = cli(cli_env, "bot", "--study", created["id"], "--env", env, "--episodes", "1", "--max-steps", "12",
                      "--seed", "1")
        assert summary["episodes"] == 1 and summary["actions"] == 12, summary
        played[env] = summary["episode_details"][0]
        # Realtime: the worker keeps ticking at the study's fps, so it may take a tick or two more (holding the
        # bot's last action) before the bot's end_episode reaches it.
        assert played[env]["state"] == "completed" and 13 <= played[env]["num_steps"] <= 16, played[env]
    listed = cli(cli_env, "episodes", "list", "--study", created["id"], "--json")
    assert sorted(e["env"] for e in listed) == ["cheetah", "coinrun", "pong"]

    expected = {  # observation leaf, frame shown (height, width), action type
        "pong": ((210, 160, 3), "uint8", (210, 160), int),
        "coinrun": ((64, 64, 3), "uint8", (256, 256), int),
        "cheetah": ((17,), "float64", (240, 320), list),
    }
    for env, (obs_shape, dtype, frame, action_type) in expected.items():
        steps = all_steps(client, played[env]["episode_id"], images=True)
        leaf = steps[0]["observation"][0]
        assert (tuple(leaf["shape"]), leaf["dtype"]) == (obs_shape, dtype), env
        height, width, _, _ = simplejpeg.decode_jpeg_header(base64.b64decode(steps[0]["image"]))
        assert (height, width) == frame, env
        assert all(isinstance(s["action"], action_type) for s in steps[:-1]), env
    cheetah_steps = all_steps(client, played["cheetah"]["episode_id"])
    assert len(cheetah_steps) == played["cheetah"]["num_steps"]  # every step the worker took is stored
    cheetah = np.array([s["action"] for s in cheetah_steps[:-1]])
    assert cheetah.shape == (len(cheetah_steps) - 1, 6) and np.all(np.abs(cheetah) <= 1.0)


def _phase(steps: list[dict[str, Any]], **raw: Any) -> np.ndarray:
    """Actions of the steps recorded with exactly this raw input state."""
    return np.array([s["action"] for s in steps if s["input"] == raw])


async def test_gamepad_sixdof_and_held_keys_drive_mujoco(client: Client) -> None:
    created = client.create_study(study({"id": "cheetah", "env_id": "HalfCheetah-v5", "fps": 20,
                                         "render": {"width": 96, "height": 96, "shadows": False}}, name="mujoco"))
    token = client.create_participant(created["id"])["token"]
    player = await Player.join(client.url, token, "cheetah")
    session = await player.until("session")
    assert session["family"] == "mujoco" and session["input_map"]["kind"] == "continuous"
    started = await player.until("episode_started")
    assert session["cameras"] == ["free", "track"]
    first = await player.until("frame")
    await player.send(type="set_camera", camera="track")
    assert (await player.until("state", camera="track"))["state"] == "paused"
    assert (await player.until("frame")).jpeg != first.jpeg  # the same state, seen from the tracking camera
    # A stick pushed right and fully up (y is -1 upwards), and the 6-DOF controller twisted (rz, axis 5).
    await player.send(type="input", axes=[0.6, -1.0, 0.0, 0.0], sixdof=[0, 0, 0, 0, 0, 0.5])
    await player.until("state", state="running")
    await player.drain(0.5)
    await player.send(type="input", keys=["e"])  # E ramps dimension 2 up while held
    await player.drain(0.8)
    await player.send(type="input", keys=[])  # released: the ramp returns to the centre
    await player.drain(0.5)
    await player.send(type="end_episode", save=True)
    ended = await player.until("episode_ended")
    await player.close()
    assert ended["episode_id"] == started["episode_id"]
    steps = all_steps(client, ended["episode_id"])

    pad = _phase(steps, axes=[0.6, -1.0, 0.0, 0.0], sixdof=[0, 0, 0, 0, 0, 0.5])
    assert len(pad) >= 5
    # Dead zone 0.1 rescaled: 0.6 -> 0.5/0.9; the y axis is inverted so up is positive; sixdof:5 drives dim 5.
    np.testing.assert_allclose(pad, np.tile([0.5 / 0.9, 1.0, 0, 0, 0, 0.4 / 0.9], (len(pad), 1)), atol=1e-6)

    held = _phase(steps, keys=["e"])
    assert len(held) >= 8
    ramp = held[:, 2]
    assert np.all(np.diff(ramp) >= 0) and 0 < ramp[0] < 0.5 and ramp[-1] == pytest.approx(1.0)
    np.testing.assert_allclose(held[:, [0, 1, 3, 4, 5]], 0, atol=1e-6)

    released = _phase(steps, **{})
    back = released[:, 2] if len(released) else np.array([])
    assert len(back) >= 3 and np.all(np.diff(back) <= 0) and back[-1] < ramp[-1]


async def test_keys_drive_procgen(client: Client) -> None:
    created = client.create_study(study({"id": "coinrun", "env_id": "procgen/coinrun", "mode": "turn_based",
                                         "kwargs": {"distribution_mode": "easy"}}, name="procgen"))
    token = client.create_participant(created["id"])["token"]
    player = await Player.join(client.url, token, "coinrun")
    session = await player.until("session")
    assert session["family"] == "procgen" and session["observation_space"]["shape"] == [64, 64, 3]
    await player.until("episode_started")
    for keys in (["ArrowRight"], [], ["ArrowUp"], ["ArrowUp", "ArrowRight"], []):
        await player.send(type="input", keys=keys)
    await player.drain(0.5)
    await player.send(type="end_episode", save=True)
    ended = await player.until("episode_ended")
    await player.close()
    steps = all_steps(client, ended["episode_id"])
    bindings = session["input_map"]["bindings"]
    assert [s["action"] for s in steps[:-1]] == [bindings["Right"], bindings["Up"], bindings["Right+Up"]]
    assert steps[0]["observation"][0]["shape"] == [64, 64, 3]
