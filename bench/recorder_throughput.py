"""What one recorder stores per second: publishes recorded Pong episodes straight into the record stream, as
workers would (begin, 64-step chunks of real frames and JPEGs, end), and times until the API shows all finalised.

Usage, against a running stack (`make run`):  .venv/bin/python bench/recorder_throughput.py --episodes 40
(NATS address: --nats, default the one `make run` uses, nats://127.0.0.1:4322)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

import gymnasium as gym
import httpx
import nats
import numpy as np

from playcorder.gym_spaces import space_spec
from playcorder.messages import EpisodeBegin, EpisodeEnd
from playcorder.records import Step, encode_chunk
from playcorder.sdk import Client, load_credentials
from playcorder_env_worker.envs import encode_jpeg

CHUNK = 64


def pong_steps(n: int) -> tuple[list[Step], dict, dict]:
    import ale_py

    gym.register_envs(ale_py)
    env = gym.make("ALE/Pong-v5", render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    steps = []
    for i in range(n):
        action = int(env.action_space.sample())
        next_obs, reward, *_ = env.step(action)
        steps.append(Step(i, obs, np.int64(action), float(reward), 1.0, i == 0, False, False, time.time(),
                          image=encode_jpeg(env.render(), 80), input={"keys": ["Right"]}))
        obs = next_obs
    specs = space_spec(env.observation_space), space_spec(env.action_space)
    env.close()
    return steps, *specs


async def run(nats_url: str, api: Client, study_id: str, episodes: int, steps_per_episode: int) -> dict[str, float]:
    steps, obs_spec, act_spec = pong_steps(steps_per_episode)
    ids = [uuid.uuid4().hex for _ in range(episodes)]
    chunks = {eid: [encode_chunk(eid, i // CHUNK, steps[i:i + CHUNK], obs_spec, act_spec)
                    for i in range(0, len(steps), CHUNK)] for eid in ids}
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    t0 = time.perf_counter()
    # Interleaved, as many players' workers publish at once: every episode's begin, then chunk by chunk.
    for eid in ids:
        begin = EpisodeBegin(episode_id=eid, session_id="bench", study_id=study_id, participant_id="bench", env="pong",
                             env_id="ALE/Pong-v5", worker_id="bench", seed=0, started_at=datetime.now(UTC),
                             observation_spec=obs_spec, action_spec=act_spec)
        await js.publish(f"pc.record.{eid}.begin", begin.model_dump_json().encode())
    n_per_episode = len(chunks[ids[0]])
    for seq in range(n_per_episode):
        for eid in ids:
            await js.publish(f"pc.record.{eid}.chunk", chunks[eid][seq])
    for eid in ids:
        end = EpisodeEnd(episode_id=eid, state="completed", reason="bench", num_steps=len(steps),
                         num_chunks=n_per_episode, total_reward=0.0, ended_at=datetime.now(UTC))
        await js.publish(f"pc.record.{eid}.end", end.model_dump_json().encode())
    published = time.perf_counter() - t0
    await nc.close()
    while any(e["state"] == "recording" for e in api.list_episodes(study_id)) or \
            len(api.list_episodes(study_id)) < episodes:
        await asyncio.sleep(0.05)
    total = time.perf_counter() - t0
    n_chunks, n_steps = episodes * n_per_episode, episodes * len(steps)
    states = {e["state"] for e in api.list_episodes(study_id)}
    if states != {"completed"}:
        raise SystemExit(f"error: expected every episode completed, got states {states}; see the recorder's log")
    return {"episodes": episodes, "chunks": n_chunks, "steps": n_steps,
            "chunk_kb": round(sum(map(len, chunks[ids[0]])) / n_per_episode / 1024, 1),
            "publish_s": round(published, 2), "stored_s": round(total, 2), "chunks_per_s": round(n_chunks / total, 1),
            "steps_per_s": round(n_steps / total)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--steps", type=int, default=640, help="steps per episode")
    parser.add_argument("--nats", default="nats://127.0.0.1:4322")
    args = parser.parse_args()
    url, token = load_credentials()
    api = Client(url, token)
    study = api.create_study({"name": "bench-recorder", "environments": [{"id": "pong", "env_id": "ALE/Pong-v5"}]})
    try:
        print(json.dumps(asyncio.run(run(args.nats, api, study["id"], args.episodes, args.steps))))
    except httpx.HTTPError as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
