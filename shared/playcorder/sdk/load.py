"""Load bots: N players at once over the browser's WebSocket protocol, and what each of them got.

`run_load` starts one LoadPlayer (load_player.py: how they play, how latency is measured) per token, all in this
process and event loop, lets them play for `duration_s`, ends every episode as a participant would (kept), and,
given a designer's Client, waits until those episodes are durable and listed through the API and compares the
steps played with the steps stored.

Steps: an episode of k actions stepped is recorded as k + 1 steps (the worker adds the final observation as the
last step, with a placeholder action; see episode.py), and `episode_ended.num_steps` says k + 1. steps_played is
the sum of those, checked against the frames received (the highest frame step of an episode is k when no frame
was dropped); steps_stored is the sum of the listed episodes' num_steps (the recorder counts the steps of the
chunks it stored), so steps_lost = steps_played - steps_stored is 0 when nothing recorded was lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from .bot import gateway_urls
from .load_player import LATE_PERIODS, LoadPlayer, PlayerStats, Window

if TYPE_CHECKING:
    from .client import Client

FPS_TARGET = 0.95  # a player "keeps its rate" at this share of its nominal frame rate
DURABLE_TIMEOUT_S = 60.0  # waiting for the episodes to be stored and listed


@dataclass
class LoadReport:
    """The whole run: per-player measures summarised over the players that joined."""

    players: int
    joined: int
    refused: int
    failed: int
    mode: str
    fps: int
    duration_s: float
    wall_s: float
    stats: list[PlayerStats] = field(repr=False)
    steps_played: int = 0
    steps_stored: int | None = None
    episodes_stored: int | None = None
    durable_s: float | None = None  # from the last player's end to all episodes listed as stored
    join_s: float | None = None  # from the start to the window's opening (everyone running, refused or failed)
    bot_cpu_s: float = 0.0  # this process's CPU time, the whole run
    bot_cpu_window_s: float | None = None  # the same, inside the window

    # ------------------------------------------------------------------ summaries
    def _joined(self) -> list[PlayerStats]:
        return [s for s in self.stats if s.joined]

    def fps_shares(self) -> list[float]:
        return [share for s in self._joined() if (share := s.fps_share) is not None]

    def fps_share(self) -> dict[str, float | None]:
        shares = np.asarray(self.fps_shares())
        if not shares.size:
            return {"p5": None, "p50": None, "mean": None, "min": None, "at_target": None}
        return {"p5": _r(np.percentile(shares, 5)), "p50": _r(np.percentile(shares, 50)), "mean": _r(shares.mean()),
                "min": _r(shares.min()), "at_target": _r(float(np.mean(shares >= FPS_TARGET)))}

    def late_frames_share(self) -> float | None:
        intervals = sum(s.intervals for s in self._joined())
        return _r(sum(s.late for s in self._joined()) / intervals) if intervals else None

    def latency_ms(self) -> dict[str, Any]:
        lat = np.concatenate([np.asarray(s.latencies) for s in self._joined()] or [np.zeros(0)]) * 1e3
        method = ("action sent -> its frame" if self.mode == "turn_based"
                  else "input change sent -> first frame after the worker's state answer to a resync sent behind it")
        if not lat.size:
            return {"p50": None, "p99": None, "n": 0, "method": method}
        return {"p50": _r(np.percentile(lat, 50), 2), "p99": _r(np.percentile(lat, 99), 2),
                "max": _r(lat.max(), 2), "n": int(lat.size), "method": method}

    def bytes_per_min_per_player(self) -> float | None:
        rates = [s.bytes / s.connected_s * 60 for s in self._joined() if s.connected_s > 0]
        return round(float(np.mean(rates))) if rates else None

    @property
    def steps_lost(self) -> int | None:
        return None if self.steps_stored is None else self.steps_played - self.steps_stored

    def to_dict(self) -> dict[str, Any]:
        joined = self._joined()
        errors: dict[str, int] = {}
        for s in self.stats:
            for code, n in s.errors.items():
                errors[code] = errors.get(code, 0) + n
        return {
            "players": self.players, "joined": self.joined, "refused": self.refused, "failed": self.failed,
            "mode": self.mode, "fps": self.fps, "duration_s": self.duration_s, "wall_s": round(self.wall_s, 2),
            "fps_share": self.fps_share(), "late_frames_share": self.late_frames_share(),
            "late_threshold_periods": LATE_PERIODS, "latency_ms": self.latency_ms(),
            "bytes_per_min_per_player": self.bytes_per_min_per_player(),
            "frames": sum(s.frames for s in joined), "actions": sum(s.actions for s in joined),
            "running_s_mean": _r(float(np.mean([s.running_s for s in joined])), 2) if joined else None,
            "episodes": sum(len(s.episodes) for s in joined), "episodes_stored": self.episodes_stored,
            "steps_played": self.steps_played, "steps_stored": self.steps_stored, "steps_lost": self.steps_lost,
            "join_s": None if self.join_s is None else round(self.join_s, 2),
            "durable_s": None if self.durable_s is None else round(self.durable_s, 3),
            "bot_cpu_s": round(self.bot_cpu_s, 2),
            "bot_cpu_share": round(self.bot_cpu_s / self.wall_s, 3) if self.wall_s else None,
            "bot_cpu_share_window": (None if self.bot_cpu_window_s is None or not self.duration_s
                                     else round(self.bot_cpu_window_s / self.duration_s, 3)),
            "reconnects": sum(s.reconnects for s in self.stats),  # after gateway restarts (1012), resumed
            "errors": errors, "failures": sorted({s.error for s in self.stats if s.error})[:5],
        }


def _r(x: float, digits: int = 4) -> float:
    return round(float(x), digits)


async def run_load(base_url: str | Sequence[str], tokens: Sequence[str], env: str, duration_s: float, *,
                   seed: int | None = None,
                   client: Client | None = None, study_id: str | None = None, join_spread_s: float = 1.0,
                   join_timeout_s: float = 60.0, probe_latency: bool = True) -> LoadReport:
    """Play `len(tokens)` players (one participant token each) and measure a window of `duration_s` with all of
    them playing.

    Players join spread uniformly over `join_spread_s` (a crowd does not arrive in one millisecond); the window
    opens once every player is running, refused (`no_capacity`: counted, not retried) or failed, or after
    `join_timeout_s`. Then every episode is ended and kept, and every session closed. With `client` (a
    designer's) and `study_id`, waits until every episode played is listed as stored and fills steps_stored;
    without, steps_stored stays None. `base_url`: one gateway URL or several (the players spread over them; one
    whose gateway restarts, closing with 1012, resumes its session through the next).
    """
    urls = gateway_urls(base_url)
    rng = np.random.default_rng(seed)
    seeds = rng.integers(2**31, size=len(tokens))
    delays = rng.uniform(0, join_spread_s, size=len(tokens)) if join_spread_s > 0 else np.zeros(len(tokens))
    window = Window(len(tokens), duration_s)
    started_at = datetime.now(UTC)
    t0, cpu0 = time.monotonic(), time.process_time()

    async def one(i: int, token: str) -> PlayerStats:
        await asyncio.sleep(float(delays[i]))
        first = i % len(urls)  # players spread over the gateways, each going on to the next after a restart
        return await LoadPlayer(urls[first:] + urls[:first], token, env, window, int(seeds[i]), probe_latency).run()

    window_cpu: list[float] = []

    async def cpu_in_window() -> None:  # the bots' own CPU while all of them play
        await window.opened.wait()
        start = time.process_time()
        await asyncio.sleep(duration_s)
        window_cpu.append(time.process_time() - start)

    timer = asyncio.get_running_loop().call_later(join_timeout_s, window.open)
    meter = asyncio.create_task(cpu_in_window())
    try:
        stats = list(await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens))))
    finally:
        timer.cancel()
        meter.cancel()
    wall_s, cpu_s = time.monotonic() - t0, time.process_time() - cpu0
    joined = [s for s in stats if s.joined]
    report = LoadReport(
        players=len(tokens), joined=len(joined), refused=sum(s.refused for s in stats),
        failed=sum(1 for s in stats if s.error and not s.refused), mode=joined[0].mode if joined else "",
        fps=joined[0].fps if joined else 0, duration_s=duration_s, wall_s=wall_s, stats=stats, bot_cpu_s=cpu_s,
        steps_played=sum(_played(s) for s in stats),
        join_s=None if window.start == float("inf") else window.start - t0,
        bot_cpu_window_s=window_cpu[0] if window_cpu else None,
    )
    if client is not None and study_id is not None:
        ended = time.monotonic()
        stored = await asyncio.to_thread(_wait_stored, client, study_id, _episode_ids(stats),
                                         started_at - timedelta(seconds=5))
        report.durable_s = time.monotonic() - ended
        report.episodes_stored = len(stored)
        report.steps_stored = sum(stored.values())
    return report


def _played(s: PlayerStats) -> int:
    """Steps the worker said it recorded for each ended episode (k actions stepped + the final observation); an
    episode that started but whose end never came counts what its frames show (highest step + 1)."""
    ended = {e["episode_id"]: int(e["num_steps"]) for e in s.episodes}
    return sum(ended.get(eid, s.max_step.get(eid, 0) + 1) for eid in s.episode_ids)


def _episode_ids(stats: Sequence[PlayerStats]) -> set[str]:
    return {eid for s in stats for eid in s.episode_ids}


def _wait_stored(client: Client, study_id: str, ids: set[str], since: datetime,
                 timeout: float = DURABLE_TIMEOUT_S) -> dict[str, int]:
    """num_steps of each episode in `ids` once all are listed and none is still recording (or the timeout: then
    those listed so far; the missing ones count as lost)."""
    stop = time.monotonic() + timeout
    found: dict[str, int] = {}
    while True:
        rows = client.list_episodes(study_id, started_after=since.isoformat(), limit=500)
        found = {r["id"]: int(r["num_steps"]) for r in rows if r["id"] in ids and r["state"] != "recording"}
        if len(found) == len(ids) or time.monotonic() > stop:
            return found
        time.sleep(0.1)
