"""examples/preference_trainer.py against the real stack, as a researcher runs it: its own HalfCheetah rollouts
posted as segments, pairs asked for in rounds (random, then the ones its ensemble disputes), labels read by
long-poll as a synthetic labeller answers them through the labelling API, and a reward model that agrees with the
true reward on most pairs by the last round."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from playcorder.sdk import Client
from tests.factories import cartpole_study

EXAMPLE = Path(__file__).parents[1] / "examples" / "preference_trainer.py"


def test_the_example_trainer_posts_segments_asks_for_pairs_and_learns(services: Any, client: Client,
                                                                    designer_token: str) -> None:
    study = client.create_study(cartpole_study())
    env = {**os.environ, "PLAYCORDER_URL": services.url, "PLAYCORDER_TOKEN": designer_token}
    ran = subprocess.run([sys.executable, str(EXAMPLE), "--study", study["id"], "--synthetic", "--segments", "24",
                          "--rounds", "2", "--pairs", "40"], env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    experiment_id = lines[0].split()[1].rstrip(":")
    rounds = [json.loads(line) for line in lines if line.startswith("{")]
    assert [(r["round"], r["labels"]) for r in rounds] == [(0, 40), (1, 80)], ran.stdout
    print("\n" + "\n".join(json.dumps(r) for r in rounds))
    assert rounds[-1]["agreement_with_true_reward"] >= 0.8, rounds
    experiment = client.preference_experiment(experiment_id)
    assert experiment["closed"] and experiment["counts"]["segments"]["ready"] == 24
    pairs = client.preference_pairs(experiment_id)
    assert len(pairs) == 80 and {p["state"] for p in pairs} == {"answered"}
    assert len({frozenset((p["left"], p["right"])) for p in pairs}) == 80  # no pair asked for twice
