"""How many realtime Pong players one env-worker process keeps at their frame rate, and what its admission signals
(tick lateness p95, CPU share of one core, from its heartbeat) read meanwhile: the measurement behind the defaults
of WORKER_MAX_LATENESS and WORKER_MAX_CPU.

Run it against a stack whose single worker does not refuse by load, so the ramp goes past the point where players
suffer:
  WORKER_PROCESSES=1 WORKER_MAX_LATENESS=100000 WORKER_MAX_CPU=100 WORKER_ADMIT_BURST=1000 \\
      .venv/bin/playcorder dev --root /tmp/ramp --port 8120
  .venv/bin/python bench/admission_thresholds.py --url http://127.0.0.1:8120 --json /tmp/ramp.json
Players change their action every 100-300 ms, as a person would; each level holds for --hold seconds and is judged
on its second half (share of nominal frames received, frames more than 1.5 periods after the previous one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from playcorder.sdk import Client, load_credentials
from playcorder.sdk.bot import connect


def spec(fps: int) -> dict[str, Any]:
    return {"name": f"ramp-pong-{random.randrange(1 << 30):x}", "environments": [{
        "id": "pong", "env_id": "ALE/Pong-v5", "mode": "realtime", "fps": fps, "max_episode_steps": 100_000}]}


@dataclass
class Player:
    token: str
    arrivals: list[float] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    error: str = ""

    async def play(self, url: str, stop: asyncio.Event) -> None:
        try:
            async with await connect(url, self.token) as ws:
                await ws.send(json.dumps({"type": "select_env", "env": "pong"}))
                actor = asyncio.create_task(self._act(ws, stop))
                try:
                    while not stop.is_set():
                        try:
                            message = await asyncio.wait_for(ws.recv(), 1.0)
                        except TimeoutError:
                            continue
                        if isinstance(message, bytes):
                            self.arrivals.append(time.monotonic())
                            continue
                        event = json.loads(message)
                        if event["type"] == "episode_finished":
                            await ws.send(json.dumps({"type": "save", "save": True}))
                        elif event["type"] == "episode_ended":
                            await ws.send(json.dumps({"type": "new_episode"}))
                        elif event["type"] == "error":
                            self.error = event["code"]
                            return
                finally:
                    actor.cancel()
                await ws.send(json.dumps({"type": "close"}))
        except (OSError, websockets.ConnectionClosed) as err:
            self.error = repr(err)

    async def _act(self, ws: Any, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await ws.send(json.dumps({"type": "action", "action": random.randrange(6)}))
            await asyncio.sleep(random.uniform(0.1, 0.3))


def judge(players: list[Player], since: float, until: float, fps: int) -> dict[str, float]:
    shares, late, total = [], 0, 0
    for p in players:
        got = [t for t in p.arrivals if since <= t < until]
        shares.append(len(got) / ((until - since) * fps))
        gaps = [b - a for a, b in zip(got, got[1:], strict=False)]
        late += sum(1 for g in gaps if g > 1.5 / fps)
        total += len(gaps)
    return {"fps_share_p5": round(sorted(shares)[max(0, len(shares) // 20 - 1)], 3) if shares else 0.0,
            "fps_share_mean": round(statistics.fmean(shares), 3) if shares else 0.0,
            "late_share": round(late / total, 4) if total else 0.0}


async def ramp(url: str, token: str, levels: list[int], hold: float, fps: int,
               join_interval: float) -> list[dict[str, Any]]:
    client = Client(url, token)
    study = client.create_study(spec(fps))
    stop = asyncio.Event()
    players: list[Player] = []
    results = []
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
        for level in levels:
            while len(players) < level:
                p = Player(client.create_participant(study["id"])["token"])
                p.task = asyncio.create_task(p.play(url, stop))
                players.append(p)
                await asyncio.sleep(join_interval)  # a crowd arrives over time; a burst is WORKER_ADMIT_BURST's job
            start = time.monotonic()
            await asyncio.sleep(hold / 2)
            readings = []
            while time.monotonic() - start < hold:
                await asyncio.sleep(1.0)
                workers = (await http.get("/api/workers")).json()
                readings.append({w["worker_id"]: (w["lateness_ms"], w["cpu"], w["active"]) for w in workers})
            mid = start + hold / 2
            row: dict[str, Any] = {"players": level, **judge(players, mid, time.monotonic(), fps),
                                   "refused": sum(1 for p in players if p.error),
                                   "errors": sorted({p.error for p in players if p.error})}
            for wid in readings[-1]:
                row[f"{wid}"] = {"lateness_ms_p95": max(r[wid][0] for r in readings if wid in r),
                                 "cpu": round(statistics.fmean(r[wid][1] for r in readings if wid in r), 3),
                                 "active": readings[-1][wid][2]}
            print(json.dumps(row), flush=True)
            results.append(row)
    stop.set()
    await asyncio.gather(*(p.task for p in players if p.task is not None), return_exceptions=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="the stack (default: the one `playcorder dev` saved credentials for)")
    parser.add_argument("--levels", default="4,8,16,24,32,40,48,64", help="players at each level, comma-separated")
    parser.add_argument("--hold", type=float, default=12.0, help="seconds at each level")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--join-interval", type=float, default=0.25, help="seconds between players joining")
    parser.add_argument("--quick", action="store_true", help="levels 4,16,32 held 8 s")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    url, token = load_credentials(args.url)
    assert token, f"Expected designer credentials for {url} (saved by `playcorder dev`), got none"
    levels, hold = ([4, 16, 32], 8.0) if args.quick else ([int(n) for n in args.levels.split(",")], args.hold)
    results = asyncio.run(ramp(url, token, levels, hold, args.fps, args.join_interval))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "admission_thresholds", "fps": args.fps, "hold_s": hold, "levels": results}, f,
                      indent=1)


if __name__ == "__main__":
    main()
