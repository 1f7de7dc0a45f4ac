"""Round-trip latency of one turn-based step through the whole stack (action -> gateway -> worker -> frame back).

Usage, against a running stack (`make run`):  .venv/bin/python bench/play_loop.py --steps 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import websockets

from playcorder.sdk import Client, load_credentials
from playcorder.sdk.bot import ws_url

SPEC = {"name": "bench-pong", "environments": [{"id": "pong", "env_id": "ALE/Pong-v5", "mode": "turn_based"}]}


async def run(url: str, token: str, steps: int) -> list[float]:
    latencies = []
    async with websockets.connect(ws_url(url, token), max_size=None) as ws:
        await ws.send(json.dumps({"type": "select_env", "env": "pong"}))
        while not isinstance(await ws.recv(), bytes):  # session, episode_started, first frame
            pass
        for i in range(steps):
            t0 = time.perf_counter()
            await ws.send(json.dumps({"type": "action", "action": i % 6}))
            while True:
                message = await ws.recv()
                if isinstance(message, bytes):
                    break
                kind = json.loads(message)["type"]
                if kind == "episode_finished":  # keep it, then start the next one
                    await ws.send(json.dumps({"type": "save", "save": True}))
                elif kind == "episode_ended":
                    await ws.send(json.dumps({"type": "new_episode"}))
            latencies.append(time.perf_counter() - t0)
        await ws.send(json.dumps({"type": "close"}))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    url, token = load_credentials()
    client = Client(url, token)
    study = client.create_study(SPEC)
    participant = client.create_participant(study["id"])
    t0 = time.perf_counter()
    lat = asyncio.run(run(url, participant["token"], args.steps))
    wall = time.perf_counter() - t0
    q = statistics.quantiles(lat, n=100)
    print(json.dumps({"steps": len(lat), "steps_per_s": round(len(lat) / wall, 1), "p50_ms": round(q[49] * 1e3, 2),
                      "p95_ms": round(q[94] * 1e3, 2), "p99_ms": round(q[98] * 1e3, 2)}))


if __name__ == "__main__":
    main()
