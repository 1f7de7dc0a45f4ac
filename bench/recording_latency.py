"""How soon a finished episode is durable and listed: from the `episode_ended` event the player gets to
`GET /api/episodes/{id}` answering its final state (the worker flushes its last chunk and the end, JetStream, the
recorder stores the chunks in S3 and finalises the row, the API reads PostgreSQL). Target: p99 <= 150 ms.

One participant plays turn-based Pong episodes of 100 steps and keeps each; after each end the episode is polled
every 5 ms (one API round trip is the resolution). At the end every episode must be listed, completed, with all
its steps: a fast number that lost an episode would be worthless.

Usage, against a running stack (`make run`):  .venv/bin/python bench/recording_latency.py --episodes 200
`make bench` runs it with --quick (30 episodes: p99 of so few is close to their maximum).
"""

from __future__ import annotations

import asyncio
import json
import time

import common
import httpx
import websockets

from playcorder.sdk import Client
from playcorder.sdk.bot import play_url, subprotocols

STEPS = 100
SPEC = {"name": "bench-latency", "environments": [
    {"id": "pong", "env_id": "ALE/Pong-v5", "mode": "turn_based", "max_episode_steps": STEPS}]}
TARGET_P99_MS = 150


async def run(url: str, designer: str, token: str, episodes: int) -> tuple[list[float], dict[str, int]]:
    """The latency of each episode, and each episode's steps as its episode_ended event gave them."""
    latencies, ended = [], {}
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {designer}"}) as api, \
            websockets.connect(play_url(url), subprotocols=subprotocols(token), max_size=None) as ws:
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
                path = f"/api/episodes/{event['episode_id']}"
                t0 = time.perf_counter()
                while (await api.get(path)).json().get("state") in (None, "recording"):  # 404 until begun
                    await asyncio.sleep(0.005)
                latencies.append(time.perf_counter() - t0)
                ended[event["episode_id"]] = event["num_steps"]
                await ws.send(json.dumps({"type": "new_episode"}))
            elif event["type"] == "error" and event.get("code") != "no_episode":  # that one: an action crossed
                raise RuntimeError(f"Expected play events, got error {event}")  # the episode's end on the wire
        await ws.send(json.dumps({"type": "close"}))
    return latencies, ended


def check_listed(client: Client, study_id: str, ended: dict[str, int]) -> None:
    """Every timed episode listed, completed, with the steps its episode_ended event announced."""
    listed = {e["id"]: e for e in client.list_episodes(study_id)}
    wrong = [(i, listed.get(i, {}).get("state"), listed.get(i, {}).get("num_steps"), n) for i, n in ended.items()
             if (listed.get(i, {}).get("state"), listed.get(i, {}).get("num_steps")) != ("completed", n)]
    if wrong:
        raise RuntimeError(f"Expected all {len(ended)} episodes listed, completed, with the steps their end "
                           f"announced; got (id, state, steps, announced) {wrong[:3]}")


def main() -> None:
    p = common.parser(__doc__, stack=True)
    p.add_argument("--episodes", type=int, help="episodes to time (default 200; --quick: 30)")
    args = p.parse_args()
    episodes = args.episodes or (30 if args.quick else 200)
    with common.Result("recording_latency", args, episodes=episodes, steps_per_episode=STEPS) as result:
        url, designer = common.designer_credentials(args.url)
        result.under_test(url)
        client = Client(url, designer)
        study = client.create_study(SPEC)
        token = client.create_participant(study["id"])["token"]
        t0 = time.perf_counter()
        lat, ended = asyncio.run(run(url, designer, token, episodes))
        wall = time.perf_counter() - t0
        check_listed(client, study["id"], ended)
        q = common.percentiles(lat)
        result.update(episodes=len(lat), p50_ms=q["p50"], p95_ms=q["p95"], p99_ms=q["p99"],
                      max_ms=round(max(lat) * 1e3, 1), target_p99_ms=TARGET_P99_MS,
                      met=q["p99"] <= TARGET_P99_MS, wall_s=round(wall, 1))


if __name__ == "__main__":
    main()
