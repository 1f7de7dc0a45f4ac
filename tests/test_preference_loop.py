"""The whole preference loop on the real stack (issue 15's "done when"): bots record HalfCheetah episodes, an
experiment samples segments from them and renders their clips, a synthetic labeller answers every pair through the
labelling API a person's page uses (lease, answer), and `playcorder-reward train` learns a reward model from the
labels that ranks held-out pairs as the true reward does. With PLAYCORDER_DOC_IMAGES=1 its training curve is kept as
docs/images/preference-curve.png."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from playcorder.sdk import Client
from playcorder.sdk.bot import play
from tests.factories import study
from tests.stored import stored_episode

FPS, STEPS, EPISODES, PER_EPISODE, PAIRS = 20, 160, 8, 4, 300
REWARD_CLI = Path(sys.executable).with_name("playcorder-reward")


@pytest.fixture(scope="module")
def cheetah(services: Any, client: Client) -> dict[str, Any]:
    """A HalfCheetah study with EPISODES bot episodes of STEPS steps (turn-based: as fast as the stack plays)."""
    created = client.create_study(study({"id": "cheetah", "env_id": "HalfCheetah-v5", "fps": FPS,
                                         "mode": "turn_based", "max_episode_steps": 1000,
                                         "render": {"width": 96, "height": 96, "shadows": False}}, name="cheetah"))
    token = client.create_participant(created["id"])["token"]
    summary = asyncio.run(play(services.url, token, "cheetah", episodes=EPISODES, max_steps=STEPS, seed=11,
                               timeout=120))
    assert summary.episodes == EPISODES, summary
    ids = [e["episode_id"] for e in summary.episode_details]
    for episode_id in ids:  # finalised by the recorder (a busy machine lags): all of their steps to sample from
        stored_episode(client, episode_id)
    return {"study": created, "episodes": ids}


def synthetic_labeller(person: Client, experiment_id: str, returns: dict[str, float]) -> list[dict[str, Any]]:
    """Answers pairs as the labelling page does (lease one, answer it) until none is left: the clip whose segment
    has the larger true return, as RL-Teacher's synthetic comparisons."""
    labels = []
    while (offered := person.lease_pair(experiment_id))["pair"] is not None:
        pair = offered["pair"]
        left, right = returns[pair["left"]["segment_id"]], returns[pair["right"]["segment_id"]]
        labels.append(person.answer_pair(pair["id"], "left" if left > right else "right"))
    assert offered["retry_after"] is None, offered  # nothing leased elsewhere or waiting for a clip
    return labels


def test_a_reward_model_learns_from_labels_given_through_the_labelling_api(
        services: Any, client: Client, designer_token: str, cheetah: dict[str, Any], tmp_path: Path) -> None:
    made = client.create_preference_experiment(cheetah["study"]["id"], {
        "name": "runs-forward", "instructions": "Which cheetah runs forward faster?",
        "clip": {"seconds": 1.5, "freeze_seconds": 0.2},
        "source": {"kind": "episodes", "episode_ids": cheetah["episodes"], "segments_per_episode": PER_EPISODE,
                   "seed": 5},
        "pairs": {"count": PAIRS, "seed": 6}})
    done = client.wait_clips(made["id"], timeout=300)
    assert done["counts"]["segments"] == {"pending": 0, "ready": EPISODES * PER_EPISODE, "failed": 0}, done
    segments = client.preference_segments(made["id"])
    assert {s["num_steps"] for s in segments} == {int(1.5 * FPS)}
    returns = {s["id"]: s["reward_sum"] for s in segments}
    person = Client(services.url, client.create_participant(cheetah["study"]["id"])["token"])
    given = synthetic_labeller(person, made["id"], returns)
    assert len(given) == PAIRS and {g["response"] for g in given} == {"left", "right"}

    out = tmp_path / "model"
    env = {**os.environ, "PLAYCORDER_URL": services.url, "PLAYCORDER_TOKEN": designer_token}
    ran = subprocess.run([str(REWARD_CLI), "train", "--experiment", made["id"], "--out", str(out), "--members", "3",
                          "--epochs", "40", "--holdout", "0.2", "--threads", "2", "--seed", "1", "--curve-points", "6"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert summary["labels"]["used"] == PAIRS and summary["segments"] == EPISODES * PER_EPISODE
    assert summary["labels"]["holdout"] >= 40, summary["labels"]
    print(f"\nheld-out agreement with the true reward: {summary['holdout_true_agreement']:.3f} over "
          f"{summary['labels']['holdout']} pairs ({summary['labels']['train']} training labels, "
          f"{summary['train_seconds']:.1f} s of training)")
    assert summary["holdout_true_agreement"] >= 0.85, summary
    assert (out / "curve.png").stat().st_size > 0
    if os.environ.get("PLAYCORDER_DOC_IMAGES") == "1":
        shutil.copy(out / "curve.png", Path(__file__).parents[1] / "docs" / "images" / "preference-curve.png")
    curve = json.loads((out / "curve.json").read_text())["points"]
    assert [p["labels"] for p in curve] == sorted(p["labels"] for p in curve) and curve[-1]["labels"] == PAIRS - \
        summary["labels"]["holdout"]

    client.close_preference_experiment(made["id"])  # a follower trains on what there is and stops once closed
    followed = subprocess.run([str(REWARD_CLI), "follow", "--experiment", made["id"], "--out", str(tmp_path / "f"),
                               "--members", "1", "--epochs", "2", "--wait", "1", "--threads", "2"],
                              env=env, capture_output=True, text=True, timeout=120)
    assert followed.returncode == 0 and json.loads(followed.stdout)["labels"]["used"] == PAIRS, followed.stderr

    from playcorder_reward import load

    model = load(out / "model.pt")  # the exported model predicts per-step rewards of a segment it never saw whole
    arrays = client.segment_arrays(made["id"], segments[0]["id"])
    predicted = model.rewards(arrays["observation"], arrays["action"])
    assert predicted.shape == (int(1.5 * FPS),) and np.isfinite(predicted).all()
