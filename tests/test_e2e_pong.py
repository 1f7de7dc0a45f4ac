"""The walking skeleton, end to end, as a user drives it: CLI -> gateway -> worker -> recorder -> exporter -> tfds."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import time
import zipfile
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import gymnasium as gym
import httpx
import numpy as np
import pytest

from tests import tensorflow_side
from tests.factories import pong_study

pytestmark = pytest.mark.e2e
MAX_STEPS = 250


def cli(env: dict[str, str], *args: str) -> Any:
    out = subprocess.run([sys.executable, "-m", "playcorder.cli", *args], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, f"playcorder {' '.join(args)} failed:\n{out.stderr}"
    return json.loads(out.stdout)


def sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def played(services, designer_token, tmp_path_factory) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A study created from a spec file, 3 Pong episodes played by the CLI bot, exported and downloaded."""
    import os

    tmp = tmp_path_factory.mktemp("e2e")
    env = {**os.environ, "PLAYCORDER_URL": services.url, "PLAYCORDER_TOKEN": designer_token,
           "PLAYCORDER_CONFIG": str(tmp / "config.json")}
    spec = tmp / "study.json"
    spec.write_text(json.dumps(pong_study(MAX_STEPS)))
    study = cli(env, "studies", "create", str(spec))
    bot = cli(env, "bot", "--study", study["id"], "--env", "ALE/Pong-v5", "--episodes", "3", "--seed", "7")
    deadline = time.monotonic() + 10
    while True:
        episodes = cli(env, "episodes", "list", "--study", study["id"], "--json")
        if all(e["state"] != "recording" for e in episodes) and len(episodes) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    export = cli(env, "export", "--study", study["id"], "--keep-metadata", "--wait", "--json")
    archive = httpx.get(export["url"], timeout=60)  # plain HTTP, no credentials: the link is the key
    assert archive.status_code == 200, archive.text
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        zf.extractall(tmp / "dataset")
    info = next((tmp / "dataset").rglob("dataset_info.json"))
    return {"study": study, "bot": bot, "episodes": episodes, "export": export, "dataset_dir": info.parent}


def test_bot_plays_three_episodes_and_receives_frames(played: dict[str, Any]) -> None:
    bot = played["bot"]
    assert bot["episodes"] == 3
    # One frame after each reset plus one per action.
    assert bot["frames"] == bot["actions"] + 3
    assert all(d["state"] == "completed" and d["reason"] == "step_limit" for d in bot["episode_details"])
    # The env's step limit truncates after MAX_STEPS actions; RLDS adds the final observation as a step.
    assert [d["num_steps"] for d in bot["episode_details"]] == [MAX_STEPS + 1] * 3


def test_episodes_are_listed_with_steps_and_rewards(played: dict[str, Any]) -> None:
    listed = {e["id"]: e for e in played["episodes"]}
    assert len(listed) == 3
    for d in played["bot"]["episode_details"]:
        e = listed[d["episode_id"]]
        assert e["state"] == "completed"
        assert e["num_steps"] == d["num_steps"]
        assert e["total_reward"] == pytest.approx(d["total_reward"])
    # A random Pong player concedes points within 250 steps: the reward path is exercised, not just zeros.
    assert any(e["total_reward"] != 0 for e in listed.values())


def test_export_loads_with_tfds_aligned_and_bit_exact(played: dict[str, Any]) -> None:
    _, loaded = tensorflow_side.load(played["dataset_dir"])
    listed = {e["id"]: e for e in played["episodes"]}
    seen = set()
    import ale_py

    gym.register_envs(ale_py)
    for episode in loaded:
        eid = episode["episode_id"].decode()
        seen.add(eid)
        meta = listed[eid]
        steps = episode["steps"]
        assert len(steps) == meta["num_steps"] == int(episode["num_steps"])
        assert [bool(s["is_first"]) for s in steps] == [True] + [False] * (len(steps) - 1)
        assert [bool(s["is_last"]) for s in steps] == [False] * (len(steps) - 1) + [True]
        assert not steps[-1]["is_terminal"]  # truncated by the step limit: last but not terminal
        assert sum(float(s["reward"]) for s in steps) == pytest.approx(meta["total_reward"])
        # Replay the recorded actions from the recorded seed: o_{i+1}, r_i must follow from (o_i, a_i) bit for bit.
        env = gym.make("ALE/Pong-v5", max_episode_steps=MAX_STEPS)
        obs, _ = env.reset(seed=int(episode["seed"]))
        assert sha(steps[0]["observation"]) == sha(obs)
        for i, step in enumerate(steps[:-1]):
            obs, reward, terminated, truncated, _ = env.step(int(step["action"]))
            assert float(step["reward"]) == reward, f"step {i}"
            assert sha(steps[i + 1]["observation"]) == sha(obs), f"observation {i + 1} differs from the worker's"
        assert truncated and not terminated
        assert steps[0]["image"].shape == (210, 160, 3)  # the JPEG the participant saw, decoded by tfds
        env.close()
    assert seen == set(listed)


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_tampered_link_is_refused(played: dict[str, Any]) -> None:
    url = played["export"]["url"]
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    forged = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    assert httpx.get(_with_query(url, **{"X-Amz-Signature": forged})).status_code == 403
    assert httpx.get(_with_query(url, **{"X-Amz-Expires": "604800"})).status_code == 403
    other_key = url.replace(".zip?", ".zip.other?")
    assert httpx.get(other_key).status_code in (403, 404)
    assert httpx.get(url).status_code == 200


def test_expired_link_is_refused(played: dict[str, Any], client) -> None:  # type: ignore[no-untyped-def]
    export = client.create_export(played["study"]["id"], link_expiry=1)
    export = client.wait_export(export["id"], timeout=120)
    assert export["state"] == "done"
    time.sleep(2.5)
    assert httpx.get(export["url"]).status_code == 403
