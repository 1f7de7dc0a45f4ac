"""Per-step cost of each environment family on the worker: env.step, render, JPEG encode, and the recording's
chunk encode; the last two are the overhead RLDS Creator publishes (encoding + recording per step).

Usage: .venv/bin/python bench/families.py [--steps 300]   (no servers needed; prints one JSON line per env)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from playcorder.gym_spaces import space_spec
from playcorder.records import Step, encode_chunk
from playcorder.specs import EnvironmentSpec
from playcorder_env_worker.envs import encode_jpeg
from playcorder_env_worker.families import make_env

ENVS: list[dict[str, Any]] = [
    {"id": "pong", "env_id": "ALE/Pong-v5"},
    {"id": "coinrun", "env_id": "procgen/coinrun", "kwargs": {"distribution_mode": "easy"}},
    {"id": "coinrun-q95", "env_id": "procgen/coinrun", "kwargs": {"distribution_mode": "easy"},
     "render": {"jpeg_quality": 95}},
    {"id": "cheetah-480", "env_id": "HalfCheetah-v5", "render": {"width": 480, "height": 480}},
    {"id": "cheetah-480-noshadow", "env_id": "HalfCheetah-v5",
     "render": {"width": 480, "height": 480, "shadows": False}},
    {"id": "cartpole", "env_id": "CartPole-v1"},
    # issue 17's families; the robot arms render on the CPU (llvmpipe), so fewer steps
    {"id": "nethack", "env_id": "NetHackScore-v0"},
    {"id": "lift", "env_id": "robosuite/Lift", "steps": 60},
    {"id": "lift-no-camera-obs", "env_id": "robosuite/Lift", "kwargs": {"camera_obs": False}, "steps": 60},
    {"id": "robodesk", "env_id": "robodesk/open_slide", "steps": 30},
]
CHUNK = 64


def ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1e3, 3)


def measure(raw: dict[str, Any], steps: int) -> dict[str, Any]:
    raw = dict(raw)
    steps = min(steps, raw.pop("steps", steps))
    spec = EnvironmentSpec.model_validate(raw)
    prepared = make_env(spec)
    env = prepared.env
    obs_spec, act_spec = space_spec(env.observation_space), space_spec(env.action_space)
    env.action_space.seed(0)
    obs, info = env.reset(seed=0)
    t_step, t_render, t_jpeg, sizes, records = [], [], [], [], []
    try:
        for i in range(steps):
            action = env.action_space.sample()
            t0 = time.perf_counter()
            next_obs, reward, terminated, truncated, info = env.step(action)
            t1 = time.perf_counter()
            frame = prepared.render()
            t2 = time.perf_counter()
            jpeg = encode_jpeg(frame, spec.render.jpeg_quality)
            t3 = time.perf_counter()
            t_step.append(t1 - t0), t_render.append(t2 - t1), t_jpeg.append(t3 - t2), sizes.append(len(jpeg))
            records.append(Step(index=i, observation=obs, action=action, reward=float(reward), discount=1.0,
                                is_first=i == 0, is_last=False, is_terminal=False, time=time.time(), image=jpeg,
                                input={"keys": ["Right"]}, info=info))
            obs = next_obs
            if terminated or truncated:
                obs, info = env.reset()
        t_chunk, recorded, chunk = [], 0, min(CHUNK, len(records))
        for start in range(0, len(records) - chunk + 1, chunk):
            t0 = time.perf_counter()
            recorded += len(encode_chunk("bench", start, records[start:start + chunk], obs_spec, act_spec))
            t_chunk.append((time.perf_counter() - t0) / chunk)
        per_step_bytes = recorded / (len(t_chunk) * chunk)
    finally:
        prepared.close()
    jpeg_ms, record_ms = ms(t_jpeg), ms(t_chunk)
    return {"env": spec.id, "env_id": spec.env_id, "frame": list(frame.shape), "step_ms": ms(t_step),
            "render_ms": ms(t_render), "jpeg_ms": jpeg_ms, "record_encode_ms": record_ms,
            "overhead_ms": round(jpeg_ms + record_ms, 3), "jpeg_kb": round(statistics.median(sizes) / 1024, 1),
            "recorded_kb_per_step": round(per_step_bytes / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--only", help="comma-separated env keys")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    for raw in ENVS:
        if only is None or raw["id"] in only:
            print(json.dumps(measure(raw, args.steps)), flush=True)


if __name__ == "__main__":
    main()
