"""How soon a finished episode is visible, finalised, through the API: from the `episode_ended` event the player gets
to `GET /api/episodes/{id}` answering its final state (the worker flushes its last chunk and the end, JetStream,
the recorder stores and finalises, the API reads PostgreSQL).

Usage, against a running stack (`make run`):  .venv/bin/python bench/recording_latency.py --episodes 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx
import websockets

from playcorder.sdk import Client, load_credentials
from playcorder.sdk.bot import ws_url

SPEC = {"name": "bench-latency", "environments": [
    {"id": "pong", "env_id": "ALE/Pong-v5", "mode": "turn_based", "max_episode_steps": 100}]}


async def run(url: str, designer: str, token: str, episodes: int) -> list[float]:
    latencies = []
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {designer}"}) as api, \
            websockets.connect(ws_url(url, token), max_size=None) as ws:
        await ws.send(json.dumps({"type": "select_env", "env": "pong"}))
        while len(latencies) < episodes:
            message = await ws.recv()
            if isinstance(message, bytes):
                await ws.send(json.dumps({"type": "action", "action": 0}))
                continue
            event = json.loads(message)
            if event["type"] == "episode_finished":
                await ws.send(json.dumps({"type": "save", "save": True}))
            elif event["type"] == "episode_ended":
                url = f"/api/episodes/{event['episode_id']}"
                t0 = time.perf_counter()
                while (await api.get(url)).json().get("state") in (None, "recording"):
                    await asyncio.sleep(0.005)
                latencies.append(time.perf_counter() - t0)
                await ws.send(json.dumps({"type": "new_episode"}))
        await ws.send(json.dumps({"type": "close"}))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=30)
    args = parser.parse_args()
    url, designer = load_credentials()
    client = Client(url, designer)
    study = client.create_study(SPEC)
    token = client.create_participant(study["id"])["token"]
    lat = asyncio.run(run(url, designer, token, args.episodes))
    q = statistics.quantiles(lat, n=20)
    print(json.dumps({"episodes": len(lat), "p50_ms": round(statistics.median(lat) * 1e3, 1),
                      "p95_ms": round(q[18] * 1e3, 1), "max_ms": round(max(lat) * 1e3, 1)}))


if __name__ == "__main__":
    main()
