"""Per-step cost of a two-player game on the worker (issue 16), next to the same game played alone: the
environment's step, the frame rendered and encoded (once for every player when they share the screen, as the game
runtime does, against once per player), and each agent's step record encoded into a chunk.

Usage: .venv/bin/python bench/multiagent.py [--steps 1000] [--json FILE]   (no servers needed)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from playcorder.gym_spaces import space_spec
from playcorder.records import Step, encode_chunk
from playcorder.specs import EnvironmentSpec
from playcorder_env_worker.envs import encode_jpeg
from playcorder_env_worker.families import make_env
from playcorder_env_worker.multiagent.envs import make_game

SEATS = {"first_0": {"fallback": {"kind": "random"}}, "second_0": {"fallback": {"kind": "random"}}}


def _ms(seconds: float, steps: int) -> float:
    return round(seconds / steps * 1000, 4)


def two_players(steps: int) -> dict[str, Any]:
    spec = EnvironmentSpec.model_validate({"id": "invaders", "env_id": "pettingzoo/atari/space_invaders_v2",
                                           "agents": {"seats": SEATS}})
    game = make_game(spec)
    observations, _ = game.reset(0)
    timing = {"step": 0.0, "render": 0.0, "jpeg_shared": 0.0, "jpeg_per_agent": 0.0, "chunk": 0.0}
    records: dict[str, list[Step]] = {a: [] for a in game.agents}
    for i in range(steps):
        t0 = time.perf_counter()
        actions = {a: game.action_spaces[a].sample() for a in game.live}
        observations, rewards, terminations, truncations, _ = game.step(actions)
        t1 = time.perf_counter()
        frame = game.render()
        t2 = time.perf_counter()
        image = encode_jpeg(frame, 80)
        t3 = time.perf_counter()
        for _ in game.agents:
            encode_jpeg(frame, 80)
        t4 = time.perf_counter()
        for agent in game.agents:
            records[agent].append(Step(index=i, observation=observations.get(agent), action=actions.get(agent, 0),
                                       reward=float(rewards.get(agent, 0.0)), discount=1.0, is_first=i == 0,
                                       is_last=False, is_terminal=False, time=time.time(), image=image,
                                       control={"controller": "ai", "participant": None, "policy": "random",
                                                "late": False}))
        if len(records[game.agents[0]]) == 64:
            for agent in game.agents:
                encode_chunk("e", 0, records[agent], space_spec(game.observation_spaces[agent]),
                             space_spec(game.action_spaces[agent]))
                records[agent] = []
        t5 = time.perf_counter()
        for key, took in zip(timing, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            timing[key] += took
        if game.done:
            game.reset(i)
    game.close()
    per = {k: _ms(v, steps) for k, v in timing.items()}
    per["game_step_ms"] = round(per["step"] + per["render"] + per["jpeg_shared"] + per["chunk"], 4)
    per["game_step_ms_jpeg_per_agent"] = round(per["step"] + per["render"] + per["jpeg_per_agent"] + per["chunk"], 4)
    return per


def alone(steps: int) -> dict[str, Any]:
    prepared = make_env(EnvironmentSpec.model_validate({"id": "invaders", "env_id": "ALE/SpaceInvaders-v5"}))
    prepared.env.reset(seed=0)
    started = time.perf_counter()
    for i in range(steps):
        _, _, terminated, truncated, _ = prepared.env.step(prepared.env.action_space.sample())
        encode_jpeg(prepared.render(), 80)
        if terminated or truncated:
            prepared.env.reset(seed=i)
    took = time.perf_counter() - started
    prepared.close()
    return {"step_render_jpeg_ms": _ms(took, steps)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="300 steps")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    steps = 300 if args.quick else args.steps
    result = {"steps": steps, "two_players": two_players(steps), "alone": alone(steps)}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
