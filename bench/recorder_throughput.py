"""What the recorder stores per second and per core: publishes recorded Pong episodes straight into the record
stream, as workers would (begin, 64-step chunks of real frames and JPEGs, end), interleaved as many players' workers
publish them, and times until the API shows all finalised. Target: >= 10,000 Atari steps/s per recorder core.

Two rates: wall-clock steps/s (steps stored / seconds from the first publish to the last episode finalised: on a
shared machine this mostly measures the neighbours), and steps/s per core = steps stored / the CPU seconds the
recorder process(es) used over the same interval (psutil), which is what the recorder itself costs. NATS,
PostgreSQL and S3 work for it too; their CPU (and the gateway's and workers') is reported alongside, as
others_cpu_s, but not counted as the recorder's.

Usage, against a running local stack (`make run`):  .venv/bin/python bench/recorder_throughput.py --episodes 40
(the recorder's processes and NATS URL are found through the gateway listening on --url's port; --nats overrides)
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import common
import gymnasium as gym
import httpx
import nats
import numpy as np

from playcorder.gym_spaces import space_spec
from playcorder.messages import EpisodeBegin, EpisodeEnd
from playcorder.records import Step, encode_chunk
from playcorder.sdk import Client
from playcorder.subjects import Subjects
from playcorder_env_worker.envs import encode_jpeg

CHUNK = 64
TARGET_STEPS_PER_CORE_S = 10_000


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


def _stored(api: Client, study_id: str, episodes: int) -> bool:
    listed = api.list_episodes(study_id)
    return len(listed) >= episodes and not any(e["state"] == "recording" for e in listed)


async def run(nats_url: str, api: Client, study_id: str, episodes: int, steps_per_episode: int,
              meters: dict[str, common.CpuMeter]) -> dict[str, Any]:
    steps, obs_spec, act_spec = pong_steps(steps_per_episode)
    ids = [uuid.uuid4().hex for _ in range(episodes)]
    chunks = {eid: [encode_chunk(eid, i // CHUNK, steps[i:i + CHUNK], obs_spec, act_spec)
                    for i in range(0, len(steps), CHUNK)] for eid in ids}
    subjects = Subjects()
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for meter in meters.values():
        meter.start()
    t0 = time.perf_counter()
    for eid in ids:
        begin = EpisodeBegin(episode_id=eid, session_id="bench", study_id=study_id, participant_id="bench", env="pong",
                             env_id="ALE/Pong-v5", worker_id="bench", seed=0, started_at=datetime.now(UTC),
                             observation_spec=obs_spec, action_spec=act_spec)
        await js.publish(subjects.record(eid, "begin"), begin.model_dump_json().encode())
    n_per_episode = len(chunks[ids[0]])
    for seq in range(n_per_episode):
        for eid in ids:
            await js.publish(subjects.record(eid, "chunk"), chunks[eid][seq])
    for eid in ids:
        end = EpisodeEnd(episode_id=eid, state="completed", reason="bench", num_steps=len(steps),
                         num_chunks=n_per_episode, total_reward=0.0, ended_at=datetime.now(UTC))
        await js.publish(subjects.record(eid, "end"), end.model_dump_json().encode())
    published = time.perf_counter() - t0
    await nc.close()
    while not await asyncio.to_thread(_stored, api, study_id, episodes):
        await asyncio.sleep(0.05)
    total = time.perf_counter() - t0
    cpu = {kind: meter.stop() for kind, meter in meters.items()}
    states = {e["state"] for e in api.list_episodes(study_id)}
    if states != {"completed"}:
        raise RuntimeError(f"Expected every episode completed, got states {states}; see the recorder's log")
    n_chunks, n_steps = episodes * n_per_episode, episodes * len(steps)
    return {"episodes": episodes, "chunks": n_chunks, "steps": n_steps,
            "chunk_kb": round(sum(map(len, chunks[ids[0]])) / n_per_episode / 1024, 1),
            "publish_s": round(published, 2), "stored_s": round(total, 2), "chunks_per_s": round(n_chunks / total, 1),
            "steps_per_s": round(n_steps / total), "recorder_cpu_s": round(cpu["recorder"], 2),
            "recorder_processes": len(meters["recorder"].procs),
            "steps_per_core_s": round(n_steps / cpu["recorder"]) if cpu["recorder"] > 0 else None,
            "recorder_cores_busy": round(cpu["recorder"] / total, 2),
            "others_cpu_s": {k: round(v, 2) for k, v in cpu.items() if k != "recorder"}}


def main() -> None:
    p = common.parser(__doc__, stack=True)
    p.add_argument("--episodes", type=int, help="episodes, all interleaved (default 40; --quick: 16)")
    p.add_argument("--steps", type=int, default=640, help="steps per episode")
    p.add_argument("--nats", help="NATS URL (default: the one the local stack behind --url uses)")
    args = p.parse_args()
    episodes = args.episodes or (16 if args.quick else 40)
    with common.Result("recorder_throughput", args, episodes=episodes, steps_per_episode=args.steps) as result:
        url, token = common.designer_credentials(args.url)
        procs = result.under_test(url) or common.processes_behind(url)  # the latter to say why it is not local
        meters = {kind: common.CpuMeter(procs.tree(kind)) for kind in ("recorder", "gateway", "env-worker")}
        meters |= {name: common.CpuMeter(server, strict=False) for name, server in procs.servers().items()}
        api = Client(url, token)
        study = api.create_study({"name": "bench-recorder",
                                  "environments": [{"id": "pong", "env_id": "ALE/Pong-v5"}]})
        try:
            numbers = asyncio.run(run(args.nats or procs.nats_url(), api, study["id"], episodes, args.steps, meters))
        except httpx.HTTPError as err:
            raise RuntimeError(f"Expected the API to answer, got {err}") from None
        result.update(**numbers, target_steps_per_core_s=TARGET_STEPS_PER_CORE_S,
                      met=(numbers["steps_per_core_s"] or 0) >= TARGET_STEPS_PER_CORE_S)


if __name__ == "__main__":
    main()
