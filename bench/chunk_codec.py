"""Step-chunk encode and decode time per step (records.encode_chunk / decode_chunk) on real observations: Pong
(fixed-size leaves only, the layout chunks always had) and MiniGrid (a Dict with a Text mission: a length-prefixed
leaf). Run it against two checkouts (PYTHONPATH) to compare them; the best of REPEATS runs is reported.

Usage: .venv/bin/python bench/chunk_codec.py   (no servers needed)
"""

from __future__ import annotations

import json
import time

import gymnasium as gym

from playcorder.gym_spaces import space_spec
from playcorder.records import Step, decode_chunk, encode_chunk

CHUNK, STEPS, REPEATS = 64, 512, 5


def recorded(env_id: str) -> tuple[list[Step], dict, dict]:
    if env_id.startswith("ALE/"):
        import ale_py

        gym.register_envs(ale_py)
    else:
        import minigrid

        gym.register_envs(minigrid)
    env = gym.make(env_id)
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    steps = []
    for i in range(STEPS):
        action = env.action_space.sample()
        steps.append(Step(i, obs, action, 0.0, 1.0, i == 0, False, False, float(i), image=b"\xff\xd8" + bytes(2000)))
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
    specs = space_spec(env.observation_space), space_spec(env.action_space)
    env.close()
    return steps, *specs


def measure(env_id: str) -> dict[str, float]:
    steps, obs_spec, act_spec = recorded(env_id)
    batches = [steps[i:i + CHUNK] for i in range(0, STEPS, CHUNK)]
    best_enc = best_dec = float("inf")
    for _ in range(REPEATS):
        t = time.perf_counter()
        chunks = [encode_chunk("e", i, b, obs_spec, act_spec) for i, b in enumerate(batches)]
        best_enc = min(best_enc, time.perf_counter() - t)
        t = time.perf_counter()
        for c in chunks:
            decode_chunk(c, obs_spec, act_spec)
        best_dec = min(best_dec, time.perf_counter() - t)
    return {"encode_us_per_step": round(best_enc / STEPS * 1e6, 1),
            "decode_us_per_step": round(best_dec / STEPS * 1e6, 1),
            "bytes_per_step": round(sum(map(len, chunks)) / STEPS, 1)}


if __name__ == "__main__":
    out = {}
    for env_id in ("ALE/Pong-v5", "MiniGrid-Empty-5x5-v0"):
        try:
            out[env_id] = measure(env_id)
        except TypeError as err:  # a checkout without Text spaces
            out[env_id] = {"error": str(err)[:100]}
    print(json.dumps(out, indent=1))
