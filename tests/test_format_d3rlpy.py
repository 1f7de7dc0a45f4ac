"""The d3rlpy export format and the SDK's processed trajectories: the writer on synthetic episodes (splits, skipped
one-step episodes, terminals and timeouts, MDPDataset's episodes), then on the real stack a Pong episode played
frame by frame (frameskip 1, as CrowdPlay records) by a bot, exported as d3rlpy, loaded into d3rlpy's MDPDataset
and used to train DiscreteBC on the CPU, and the same rows from client.processed_trajectory."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from playcorder.processing import ProcessingOptions, rows, trajectory
from playcorder.records import Step
from playcorder.sdk import ApiError, Client
from playcorder.sdk.bot import play
from playcorder_exporter.datasets.formats.base import DatasetConfig, EpisodeMeta
from playcorder_exporter.datasets.formats.d3rlpy_format import ARRAYS, D3rlpyWriter
from tests.factories import study
from tests.stored import stored_episode

FRAMES = 900  # recorded steps of the Pong episode (15 s of play at 60 frames a second)
ACTIONS = {"type": "discrete", "n": 6}
OBSERVATIONS = {"type": "box", "dtype": "uint8", "shape": [210, 160, 3], "low": 0, "high": 255}


def synthetic(n: int, terminal: bool, seed: int) -> list[Step]:
    rng = np.random.default_rng(seed)
    return [Step(index=j, observation=rng.integers(0, 256, (210, 160, 3), np.uint8), action=np.int64(rng.integers(6)),
                 reward=0.0 if j == n - 1 else float(rng.integers(-1, 2)), discount=1.0, is_first=j == 0,
                 is_last=j == n - 1, is_terminal=terminal and j == n - 1, time=j / 60) for j in range(n)]


def meta(index: int, steps: list[Step]) -> EpisodeMeta:
    return EpisodeMeta(episode_id=f"ep{index}", episode_index=index, agent_id="a", study_id="s", environment="pong",
                       env_id="ALE/Pong-v5", state="completed", seed=index, num_steps=len(steps),
                       total_reward=sum(s.reward for s in steps))


def load(root: Path, split: str) -> tuple[Any, dict[str, Any]]:
    """The split as d3rlpy's MDPDataset, as docs/datasets.md loads it."""
    import d3rlpy

    info = json.loads((root / "metadata.json").read_text())
    with np.load(root / f"{split}.npz") as arrays:
        assert sorted(arrays.files) == sorted(ARRAYS)
        dataset = d3rlpy.dataset.MDPDataset(**arrays, action_space=d3rlpy.ActionSpace.DISCRETE,
                                            action_size=info["action_size"])
    return dataset, info


def test_writer_splits_episodes_as_mdpdataset_reads_them(tmp_path: Path) -> None:
    config = DatasetConfig(name="pong_set", version="1.0.0", observation_spec=OBSERVATIONS, action_spec=ACTIONS,
                           keep_metadata=False)
    episodes = [synthetic(11, False, 0), synthetic(9, True, 1), synthetic(1, False, 2), synthetic(6, False, 3)]
    writer = D3rlpyWriter(tmp_path, config)
    for i, steps in enumerate(episodes):
        assert writer.add_episode(meta(i, steps), iter(steps), "test" if i == 3 else "train") == len(steps)
    summary = writer.close()
    # rows: ceil(10/4) + 1 (truncated), ceil(8/4) (terminated), none (one step: skipped); test: ceil(5/4) + 1
    assert summary["splits"]["train"] | {"observation_shape": None} == {
        "file": "train.npz", "episodes": 2, "steps": 21, "rows": 6, "transitions": 5, "observation_shape": None,
        "skipped_episodes": ["ep2"]}
    assert summary["splits"]["test"]["rows"] == 3 and summary["steps"] == 27
    root = tmp_path / "pong_set" / "1.0.0"
    train, info = load(root, "train")
    assert info["processing"] == ProcessingOptions().model_dump(mode="json") and info["action_size"] == 6
    assert info["observation_shape"] == [4, 84, 84]
    assert [(e["episode_id"], e["first_row"], e["rows"], e["terminal"]) for e in
            info["splits"]["train"]["episode_rows"]] == [("ep0", 0, 4, False), ("ep1", 4, 2, True)]
    # d3rlpy sees two episodes: the truncated one (its final-observation row is no transition), the terminated one
    assert [(len(e), e.terminated, e.transition_count) for e in train.episodes] == [(4, False, 3), (2, True, 2)]
    for stored, steps in zip(train.episodes, episodes[:2], strict=False):
        expected = trajectory(rows(steps, ACTIONS, ProcessingOptions()), ACTIONS)
        np.testing.assert_array_equal(stored.observations, expected.observations)
        np.testing.assert_array_equal(stored.actions[:, 0], expected.actions)
        np.testing.assert_array_equal(stored.rewards[:, 0], expected.rewards)
    test, _ = load(root, "test")
    assert [len(e) for e in test.episodes] == [3] and not (root / ".train.observations").exists()


def test_writer_refuses_spaces_it_cannot_process(tmp_path: Path) -> None:
    vector = DatasetConfig(name="x", version="1.0.0", observation_spec={"type": "box", "dtype": "float32",
                                                                        "shape": [4]},
                           action_spec=ACTIONS, keep_metadata=False)
    with pytest.raises(ValueError, match="Expected observations that are frames"):
        D3rlpyWriter(tmp_path, vector)


# ---------------------------------------------------------------- on the real stack
@pytest.fixture(scope="module")
def recorded(client: Client) -> dict[str, Any]:
    """A Pong episode of FRAMES frames by a random bot (frameskip 1, no sticky actions) and a short CartPole one."""
    pong = {"id": "pong", "env_id": "ALE/Pong-v5", "mode": "turn_based", "max_episode_steps": FRAMES,
            "kwargs": {"frameskip": 1, "repeat_action_probability": 0.0}}
    created = client.create_study(study(pong, {"id": "cartpole", "env_id": "CartPole-v1", "mode": "turn_based"},
                                        name="d3rlpy"))
    token = client.create_participant(created["id"])["token"]
    started = time.perf_counter()
    bot = asyncio.run(play(client.url, token, "pong", episodes=1, seed=5, timeout=120))
    seconds = time.perf_counter() - started
    cartpole = asyncio.run(play(client.url, token, "cartpole", episodes=1, max_steps=10, seed=5))
    pong_id, cartpole_id = bot.episode_details[0]["episode_id"], cartpole.episode_details[0]["episode_id"]
    return {"study": created["id"], "pong": stored_episode(client, pong_id, timeout=60),
            "cartpole": stored_episode(client, cartpole_id), "record_s": seconds}


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_d3rlpy_export_trains_discrete_bc(client: Client, recorded: dict[str, Any], tmp_path: Path) -> None:
    import d3rlpy
    import torch

    episode = recorded["pong"]
    assert episode["num_steps"] == FRAMES + 1  # FRAMES actions, then the final observation
    started = time.perf_counter()
    export = client.create_export(recorded["study"], episode_ids=[episode["id"]], format="d3rlpy")
    export = client.wait_export(export["id"], timeout=300)
    assert export["state"] == "done", export["error"]
    export_s = time.perf_counter() - started
    client.download_export(export, tmp_path)
    root = next(tmp_path.rglob("metadata.json")).parent
    dataset, info = load(root, "train")

    # FRAMES transitions in skips of 4, then the final observation's row (truncated by the step limit)
    rows_expected = math.ceil(FRAMES / 4) + 1
    assert info["splits"]["train"]["rows"] == rows_expected and export["options"]["format"] == "d3rlpy"
    assert [(len(e), e.terminated, e.transition_count) for e in dataset.episodes] == [
        (rows_expected, False, rows_expected - 1)]
    stored = dataset.episodes[0]
    assert stored.observations.shape == (rows_expected, 4, 84, 84) and stored.observations.dtype == np.uint8
    assert float(stored.rewards.sum()) == pytest.approx(episode["total_reward"])

    # The SDK's processed trajectory is the same rows, from the recorded steps through the API.
    started = time.perf_counter()
    trajectory_ = client.processed_trajectory(episode["id"])
    sdk_s = time.perf_counter() - started
    for name, array in zip(("observations", "actions", "rewards"), trajectory_[:3], strict=True):
        np.testing.assert_array_equal(array.reshape(len(array), -1),
                                      getattr(stored, name).reshape(len(array), -1), err_msg=name)
    assert trajectory_.timeouts.tolist() == [0.0] * (rows_expected - 1) + [1.0] and not trajectory_.terminals.any()
    # ...whose actions are those recorded at every 4th frame, and rewards the sums of each 4 frames' rewards
    steps = [s for start in range(0, FRAMES + 1, 1000) for s in client.get_steps(episode["id"], start)["steps"]]
    assert trajectory_.actions[:-1].tolist() == [steps[j]["action"] for j in range(0, FRAMES, 4)]
    sums = [sum(s["reward"] for s in steps[j : j + 4]) for j in range(0, FRAMES, 4)]
    assert trajectory_.rewards[:-1].tolist() == sums and any(sums)  # a random player concedes a point in 15 s
    assert trajectory_.observations[1:, :3].tolist() == trajectory_.observations[:-1, 1:].tolist()  # stacks slide

    torch.set_num_threads(2)
    bc = d3rlpy.algos.DiscreteBCConfig(
        batch_size=32, learning_rate=3e-4, observation_scaler=d3rlpy.preprocessing.PixelObservationScaler(),
    ).create(device="cpu:0")
    started = time.perf_counter()
    history = bc.fit(dataset, n_steps=300, n_steps_per_epoch=100, show_progress=False, with_timestamp=False,
                     logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    train_s = time.perf_counter() - started
    losses = [metrics["loss"] for _, metrics in history]
    assert len(history) == 3 and all(math.isfinite(v) for v in losses), losses
    actions = bc.predict(stored.observations[:8])
    assert actions.shape == (8,) and set(actions.tolist()) <= set(range(info["action_size"]))
    print(f"\nrecorded {FRAMES} Pong frames in {recorded['record_s']:.1f} s; d3rlpy export of {rows_expected} rows in "
          f"{export_s:.1f} s; SDK processed_trajectory in {sdk_s:.2f} s; DiscreteBC 300 steps (batch 32) in "
          f"{train_s:.1f} s, loss by epoch {[round(v, 3) for v in losses]}")


@pytest.mark.e2e
def test_processed_frames_of_the_image_shown(client: Client, recorded: dict[str, Any]) -> None:
    # CartPole's observations are 4 floats: its frames are the JPEGs the participant saw.
    episode = recorded["cartpole"]
    with pytest.raises(ValueError, match="Expected observations that are frames"):
        client.processed_trajectory(episode["id"])
    shown = client.processed_trajectory(episode["id"], source="image", frame_skip=2, stack=2)
    transitions = episode["num_steps"] - 1
    assert shown.observations.shape == (math.ceil(transitions / 2) + 1, 2, 84, 84)
    assert shown.observations[-1].std() > 0  # a drawn cart, not a blank frame


@pytest.mark.e2e
def test_refusals(client: Client, recorded: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as err:
        client.create_export(recorded["study"], episode_ids=[recorded["cartpole"]["id"]], format="d3rlpy")
    assert err.value.status == 422 and "Expected observations that are frames" in str(err.value.detail)
    with pytest.raises(ApiError) as err:
        client.create_export(recorded["study"], episode_ids=[recorded["pong"]["id"]], format="rlds",
                             processing={"frame_skip": 2})
    assert err.value.status == 422 and "processing options with format 'd3rlpy' only" in str(err.value.detail)
    with pytest.raises(ApiError) as err:
        client.create_export(recorded["study"], episode_ids=[recorded["pong"]["id"]], format="d3rlpy",
                             processing={"stack": 0})
    assert err.value.status == 422
    chunks = client.episode_chunks(recorded["pong"]["id"])
    assert sum(c["num_steps"] for c in chunks) == FRAMES + 1 and [c["seq"] for c in chunks] == list(range(len(chunks)))
    with pytest.raises(ApiError) as err:
        client.read_chunk(recorded["pong"]["id"], len(chunks))
    assert err.value.status == 404 and "Expected a stored chunk" in str(err.value.detail)


@pytest.mark.e2e
def test_cli_exports_processed_frames_of_the_image_shown(cli_env: dict[str, str], recorded: dict[str, Any],
                                                         tmp_path: Path) -> None:
    episode = recorded["cartpole"]
    out = subprocess.run([sys.executable, "-m", "playcorder.cli", "export", "--study", recorded["study"],
                          "--episode", episode["id"], "--format", "d3rlpy", "--frames", "image", "--size", "42x42",
                          "--frame-skip", "2", "--color", "--download", str(tmp_path), "--json"],
                         env=cli_env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    export = json.loads(out.stdout)
    assert export["options"]["processing"] == {"frame_skip": 2, "max_pool": 2, "grayscale": False, "size": [42, 42],
                                               "stack": 4, "source": "image"}
    dataset, info = load(next(tmp_path.rglob("metadata.json")).parent, "train")
    rows_expected = math.ceil((episode["num_steps"] - 1) / 2) + 1
    assert info["observation_shape"] == [12, 42, 42]  # 4 RGB frames, channels first
    assert [len(e) for e in dataset.episodes] == [rows_expected]
