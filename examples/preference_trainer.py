"""An external trainer's loop against Playcorder's preference API, as RL-Teacher's agent runs one.

It rolls out its own policy in a Gymnasium environment, cuts the rollouts into 1.5 s segments and posts them
(frames for the clips people watch; observations, actions and true rewards to train on), asks for pairs to be
labelled, reads the labels as they arrive (long-poll), and trains a reward model (playcorder-reward) on them.
After the first round it asks for the pairs its ensemble disagrees on most (active selection).

    python examples/preference_trainer.py --study STUDY_ID --rounds 3 --pairs 40
    # people label at the experiment's page: /label/<experiment id>?token=<a participant token of the study>
    python examples/preference_trainer.py --study STUDY_ID --synthetic   # a dry run: it answers as the true reward

Needs `pip install -e tools/reward-model` (torch) and `mujoco` for the default HalfCheetah-v5. The gateway and
designer token come from --url/--token, $PLAYCORDER_URL/$PLAYCORDER_TOKEN or the stored CLI credentials.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import threading
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")  # off-screen rendering without a display (or osmesa)

import gymnasium as gym
import numpy as np

from playcorder.sdk import Client, load_credentials
from playcorder_reward import FeatureSpec, SegmentSet, TrainConfig, Trainer, random_pairs, select_pairs
from playcorder_reward.data import ArrayCache, LabelFeed, build, split
from playcorder_reward.evaluate import agreement

FPS, SECONDS = 20, 1.5


def rollouts(env_id: str, segments: int, steps: int, seed: int) -> list[dict[str, np.ndarray]]:
    """`segments` stretches of `steps` steps from episodes of a random policy with a per-episode bias (so some
    run forward and some back): frames, observations, actions and rewards of each."""
    env = gym.make(env_id, render_mode="rgb_array", width=96, height=96)
    rng, out = np.random.default_rng(seed), []
    try:
        for episode in itertools.count():
            observation, _ = env.reset(seed=seed + episode)
            bias = rng.uniform(-0.6, 0.6, env.action_space.shape)
            for _ in range(4):  # four segments per episode
                rows: dict[str, list[Any]] = {"frames": [], "observations": [], "actions": [], "rewards": []}
                for _ in range(steps):
                    action = np.clip(bias + rng.uniform(-0.5, 0.5, bias.shape), -1, 1).astype(np.float32)
                    rows["frames"].append(env.render())
                    rows["observations"].append(observation)
                    rows["actions"].append(action)
                    observation, reward, *_ = env.step(action)
                    rows["rewards"].append(float(reward))
                out.append({k: np.asarray(v) for k, v in rows.items()})
                if len(out) == segments:
                    return out
    finally:
        env.close()
    raise AssertionError("unreachable")


def unasked(candidates: np.ndarray, asked: set[tuple[int, int]]) -> np.ndarray:
    """The candidate pairs not asked for yet, each once (either way round), in their order."""
    seen, out = set(asked), []
    for a, b in map(tuple, candidates.tolist()):
        if (a, b) not in seen and (b, a) not in seen:
            seen.add((a, b))
            out.append((a, b))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def synthetic_labeller(client: Client, study_id: str, experiment_id: str, returns: dict[str, float],
                       stop: threading.Event) -> threading.Thread:
    """A participant who answers as the true reward does, through the labelling API a person's page uses."""
    person = Client(client.url, client.create_participant(study_id)["token"])

    def answer() -> None:
        while not stop.is_set():
            offered = person.lease_pair(experiment_id)
            if (pair := offered["pair"]) is None:
                stop.wait(min(offered["retry_after"] or 0.5, 0.5))
                continue
            left, right = returns[pair["left"]["segment_id"]], returns[pair["right"]["segment_id"]]
            person.answer_pair(pair["id"], "left" if left > right else "right")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--study", required=True, help="the study whose participants label")
    parser.add_argument("--env-id", default="HalfCheetah-v5")
    parser.add_argument("--segments", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=60, help="pairs asked for per round")
    parser.add_argument("--synthetic", action="store_true", help="answer the pairs with a synthetic labeller")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    url, token = load_credentials(args.url, args.token)
    client = Client(url, token)
    experiment = client.create_preference_experiment(args.study, {
        "name": "trainer-rollouts", "instructions": "Which one runs forward faster?",
        "clip": {"seconds": SECONDS, "fps": FPS}, "source": {"kind": "posted"}})
    print(f"experiment {experiment['id']}: label at {url}/label/{experiment['id']}?token=<participant token>")

    local = rollouts(args.env_id, args.segments, round(SECONDS * FPS), args.seed)
    ids = [client.post_segment(experiment["id"], s["frames"], s["observations"], s["actions"], s["rewards"])["id"]
           for s in local]
    returns = {i: float(s["rewards"].sum()) for i, s in zip(ids, local, strict=True)}
    client.wait_clips(experiment["id"])
    print(f"posted {len(ids)} segments; their clips are rendered")

    stop = threading.Event()
    if args.synthetic:
        synthetic_labeller(client, args.study, experiment["id"], returns, stop)
    spec = FeatureSpec.infer(local[0]["observations"], local[0]["actions"])
    everything = SegmentSet.from_arrays([s["observations"] for s in local], [s["actions"] for s in local], spec)
    trainer = Trainer(spec, config=TrainConfig(epochs=60, seed=args.seed))
    feed, arrays, labels = LabelFeed(client, experiment["id"]), ArrayCache(client, experiment["id"]), []
    asked: set[tuple[int, int]] = set()
    try:
        for round_ in range(args.rounds):
            candidates = unasked(random_pairs(len(ids), 20 * args.pairs, args.seed + round_), asked)
            chosen = candidates[:args.pairs] if round_ == 0 else \
                candidates[select_pairs(trainer.model, everything, candidates, args.pairs)]
            asked |= {(int(a), int(b)) for a, b in chosen}
            client.post_pairs(experiment["id"], [{"left": ids[a], "right": ids[b], "priority": float(round_)}
                                                 for a, b in chosen])
            while len(labels) < len(asked):  # every pair asked for so far answered
                labels += feed.read(wait=25)
            dataset = build(labels, arrays, spec=spec)
            train, held = split(dataset, 0.2, args.seed)
            trainer.train(dataset.segments, train)
            predicted = trainer.model.returns(everything).mean(axis=0)
            true = np.array([returns[i] for i in ids])
            pairs = random_pairs(len(ids), 2000, 99)
            score = agreement(predicted[pairs[:, 0]] - predicted[pairs[:, 1]],
                              (true[pairs[:, 0]] > true[pairs[:, 1]]).astype(np.float32))
            print(json.dumps({"round": round_, "labels": len(labels), "train": len(train), "held_out": len(held),
                              "agreement_with_true_reward": score}))
    finally:
        stop.set()
    client.close_preference_experiment(experiment["id"])


if __name__ == "__main__":
    main()
