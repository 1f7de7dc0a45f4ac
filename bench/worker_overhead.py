"""The env-worker's CPU per step against the physical limit: env.step + render + JPEG encode in one process.

For each family (Atari Pong, Procgen coinrun, MuJoCo InvertedPendulum at a small frame):
1. raw, in this process: CPU time of env.step, of render and of the JPEG encode of the frame shown, per step,
   over K environments stepped in turn (the physical limit; the encode runs at the size and settings the worker
   uses for that spec);
2. a real env-worker process (embedded NATS with JetStream, the worker as a subprocess, no recorder: the worker
   creates the streams it publishes to) with K realtime sessions opened over NATS exactly as a gateway does
   (OpenSession, then a held key that starts and keeps play running, keepalives), their frames consumed on the
   sessions' out subjects; the worker's CPU seconds (psutil, user + system, all threads) over a window divided
   by the steps it made (frames received) in that window.

overhead per step = worker CPU per step - (step + render + the episodes' resets at the rate the sessions had them,
each a reset with a new seed as the worker does); the target is overhead <= 1.3x the JPEG encode alone
(Atari) and <= 0.6 ms (Procgen). CPU time, not wall time: the machine is shared.

Usage: .venv/bin/python bench/worker_overhead.py [--quick] [--json PATH] [--families atari,procgen,mujoco]
       [--sessions K] [--window S] [--profile DIR]   (no servers needed; PYTHONPATH as for the services)
--profile DIR runs the worker under yappi (CPU clock, all threads; yappi must be importable, e.g. from a
`pip install --target` folder on PYTHONPATH) and writes DIR/<family>.pstats and DIR/<family>.txt (top functions).
Profiled runs cost more CPU per step: use them for where the CPU goes, not for the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from playcorder import frames
from playcorder.devstack.nats import NatsServer
from playcorder.devstack.services import ServiceProcess
from playcorder.messages import OpenSession, OpenSessionReply
from playcorder.specs import EnvironmentSpec
from playcorder.subjects import Subjects

FAMILIES: dict[str, dict[str, Any]] = {
    "atari": {"spec": {"id": "pong", "env_id": "ALE/Pong-v5"}, "key": "Right", "sessions": 16, "fps": 15},
    "procgen": {"spec": {"id": "coinrun", "env_id": "procgen/coinrun"}, "key": "Right", "sessions": 6, "fps": 15},
    # HalfCheetah's CPU render costs ~11 ms even at 64x64 (its noise would swamp the overhead); the pendulum's ~2.5.
    # Without reset noise and with no force applied it stays balanced: episodes as long as the others' (resume, no key)
    "mujoco": {"spec": {"id": "pendulum", "env_id": "InvertedPendulum-v5", "kwargs": {"reset_noise_scale": 0.0},
                        "idle_pause_s": 3600.0, "render": {"width": 128, "height": 128, "shadows": False}},
               "key": None, "sessions": 6, "fps": 15, "families": "mujoco,gymnasium"},
}


# ---------------------------------------------------------------- 1. the physical limit, in this process
def raw_costs(spec_raw: dict[str, Any], steps: int, envs: int) -> dict[str, Any]:
    """Per-step CPU of `envs` environments stepped in turn, as a worker steps its sessions (several games in one
    process share its caches: one env alone steps faster than each of 16)."""
    from playcorder_env_worker.families import make_env

    try:  # the worker's own frame path (size shown, encode settings) where it has one
        from playcorder_env_worker.envs import shown_jpeg as encode  # type: ignore[attr-defined]
    except ImportError:
        from playcorder_env_worker.envs import encode_jpeg

        def encode(frame: Any, quality: int, spec: EnvironmentSpec) -> bytes:
            return encode_jpeg(frame, quality)

    spec = EnvironmentSpec.model_validate(spec_raw)
    pool = [make_env(spec) for _ in range(envs)]
    for i, p in enumerate(pool):
        p.env.action_space.seed(i)
        p.env.reset(seed=i)
    t_step, t_render, t_jpeg, sizes, t_reset = [], [], [], [], []
    shape: list[int] = []
    clock = time.process_time  # all threads: a renderer may use several
    try:
        for i in range(steps + 20 * envs):
            prepared = pool[i % envs]
            env = prepared.env
            action = env.action_space.sample()
            t0 = clock()
            _, _, terminated, truncated, _ = env.step(action)
            t1 = clock()
            frame = prepared.render()
            t2 = clock()
            jpeg = encode(frame, spec.render.jpeg_quality, spec)
            t3 = clock()
            if i >= 20 * envs:  # warm
                t_step.append(t1 - t0), t_render.append(t2 - t1), t_jpeg.append(t3 - t2), sizes.append(len(jpeg))
            shape = list(frame.shape)
            if terminated or truncated:  # as the worker starts the next episode: a new seed (procgen rebuilds)
                t4 = clock()
                env.reset(seed=i)
                prepared.render()
                if i >= 20 * envs:
                    t_reset.append(clock() - t4)
    finally:
        for p in pool:
            p.close()

    def mean_ms(values: list[float]) -> float:
        return round(statistics.fmean(values) * 1e3, 4)

    return {"frame": shape, "step_ms": mean_ms(t_step), "render_ms": mean_ms(t_render), "jpeg_ms": mean_ms(t_jpeg),
            "jpeg_kb": round(statistics.fmean(sizes) / 1024, 2), "episodes_per_1000_steps": len(t_reset) * 1000 / steps,
            "reset_ms": mean_ms(t_reset) if t_reset else 0.0}


# ---------------------------------------------------------------- 2. a real worker, sessions over NATS
@dataclass
class Player:
    """One session as a gateway sees it: input in (keepalives, a held key or resume), frames and events out; an
    episode the environment ends is saved and a new one started, as a participant would."""

    nc: Any
    subjects: Subjects
    sid: str
    start: bytes
    steps: int = 0
    episodes: int = 0
    running: bool = False
    errors: list[str] = field(default_factory=list)

    async def keep_alive(self) -> None:
        while True:
            await self.nc.publish(self.subjects.session_input(self.sid), b'{"type":"keepalive"}')
            if not self.running:
                await self.nc.publish(self.subjects.session_input(self.sid), self.start)
            await asyncio.sleep(0.25)

    async def on_out(self, msg: Any) -> None:
        if msg.subject.endswith(".frame"):
            self.steps += not frames.unpack(msg.data).is_first
            return
        if not msg.subject.endswith(".event"):
            return
        event = json.loads(msg.data)
        kind = event.get("type")
        if kind == "state":
            self.running = event["state"] == "running"
        elif kind == "episode_started":
            self.episodes += 1
        elif kind in ("episode_finished", "episode_ended"):
            answer = b'{"type":"save","save":true}' if kind == "episode_finished" else b'{"type":"new_episode"}'
            await self.nc.publish(self.subjects.session_input(self.sid), answer)
        elif kind == "error":
            self.errors.append(f"{event.get('code')}: {event.get('message')}")


@dataclass
class Sample:
    user: float
    cpu: float
    steps: int
    at: float
    switches: int
    episodes: int

    @classmethod
    def of(cls, proc: Any, players: list[Player]) -> Sample:
        times = proc.cpu_times()
        return cls(times[0], times[0] + times[1], sum(p.steps for p in players), time.monotonic(),
                   sum(proc.num_ctx_switches()), sum(p.episodes for p in players))


async def drive_worker(nats_url: str, worker_id: str, prefix: str, spec_raw: dict[str, Any], key: str | None, k: int,
                       warmup: float, window: float, worker_pid: int, profiled: bool) -> dict[str, Any]:
    import nats

    subjects = Subjects(prefix=prefix, stream_prefix=prefix.upper())
    nc = await nats.connect(nats_url)
    spec = EnvironmentSpec.model_validate(spec_raw)
    start = json.dumps({"type": "input", "keys": [key]} if key else {"type": "resume"}).encode()
    players, tasks = [], []
    for i in range(k):
        p = Player(nc, subjects, f"bench{i}-{uuid.uuid4().hex[:8]}", start)
        await nc.subscribe(subjects.session_out_all(p.sid), cb=p.on_out)
        req = OpenSession(session_id=p.sid, study_id="bench", participant_id=f"p{i}", environment=spec)
        reply = OpenSessionReply.model_validate_json(
            (await nc.request(subjects.worker_open(worker_id), req.model_dump_json().encode(), timeout=60)).data)
        if not reply.accepted:
            raise RuntimeError(f"Expected the worker to accept session {i}, got {reply.reason!r}")
        players.append(p)
        tasks.append(asyncio.create_task(p.keep_alive()))
    proc = psutil.Process(worker_pid)
    await asyncio.sleep(warmup)
    if not all(p.running for p in players):
        await asyncio.sleep(2.0)
    if profiled:
        proc.send_signal(signal.SIGUSR1)
    a = Sample.of(proc, players)
    await asyncio.sleep(window)
    b = Sample.of(proc, players)
    if profiled:
        proc.send_signal(signal.SIGUSR2)
        await asyncio.sleep(5.0)  # (it writes the profile)
    running = sum(p.running for p in players)
    for t in tasks:
        t.cancel()
    for p in players:
        await nc.publish(subjects.session_input(p.sid), b'{"type":"close"}')
    await nc.flush()
    await asyncio.sleep(1.0)
    await nc.close()
    steps, cpu, wall = b.steps - a.steps, b.cpu - a.cpu, b.at - a.at
    return {"sessions": k, "fps": spec.fps, "window_s": round(wall, 2), "steps": steps,
            "worker_cpu_s": round(cpu, 3), "worker_user_s": round(b.user - a.user, 3),
            "episodes_per_1000_steps": round((b.episodes - a.episodes) * 1000 / steps, 2) if steps else None,
            "ctx_switches_per_step": round((b.switches - a.switches) / steps, 2) if steps else None,
            "worker_cpu_share": round(cpu / wall, 3), "rate_share": round(steps / (k * spec.fps * wall), 3),
            "running": running, "errors": sorted({e for p in players for e in p.errors}),
            "worker_cpu_per_step_ms": round(cpu / steps * 1e3, 4) if steps else None}


class ProfiledWorker(ServiceProcess):
    """The env-worker run by this script under yappi (see as_worker)."""

    def __init__(self, out: Path, env: dict[str, str], log_dir: Path, name: str) -> None:
        super().__init__("env-worker", env, log_dir, name=name)
        self.out = out

    def start(self) -> None:
        import subprocess

        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, __file__, "--as-worker", str(self.out)], env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)



def as_worker(out: Path) -> None:
    """Run the env-worker's main() with yappi's CPU clock profiling between SIGUSR1 (start) and SIGUSR2 (stop and
    write), so the profile holds the measured window only, not the sessions' start."""
    import yappi  # type: ignore[import-not-found]

    from playcorder_env_worker.__main__ import main as worker_main

    def start(signum: int, frame: Any) -> None:
        yappi.clear_stats()
        yappi.start(builtins=True, profile_threads=True)

    def stop(signum: int, frame: Any) -> None:
        import io
        import pstats

        yappi.stop()
        yappi.get_func_stats().save(str(out) + ".pstats", type="pstat")
        text = io.StringIO()
        ps = pstats.Stats(str(out) + ".pstats", stream=text)
        ps.sort_stats("tottime").print_stats(50)
        ps.sort_stats("cumulative").print_stats(70)
        Path(str(out) + ".txt").write_text(text.getvalue())

    yappi.set_clock_type("cpu")
    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    worker_main()


def run_worker(family: str, cfg: dict[str, Any], k: int, warmup: float, window: float, root: Path,
               profile_dir: Path | None) -> dict[str, Any]:
    server = NatsServer(root / f"nats-{family}")
    server.start()
    worker_id = f"bench-{family}-{uuid.uuid4().hex[:6]}"
    prefix = f"b{uuid.uuid4().hex[:6]}"
    env = {"NATS_URL": server.url, "WORKER_ID": worker_id, "WORKER_CAPACITY": str(k + 4), "LOG_LEVEL": "WARNING",
           "NATS_SUBJECT_PREFIX": prefix, "NATS_STREAM_PREFIX": prefix.upper(),
           "ENV_FAMILIES": cfg.get("families", family),
           # the cost of K sessions is what is measured: admission by load must not turn any of them away
           "WORKER_MAX_LATENESS": "100000", "WORKER_MAX_CPU": "100", "WORKER_ADMIT_BURST": "1000"}
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        worker: ServiceProcess = ProfiledWorker(profile_dir / family, env, root, name=f"worker-{family}")
    else:
        worker = ServiceProcess("env-worker", env, root, name=f"worker-{family}")
    try:
        worker.start()
        worker.wait_ready(120)
        assert worker.process is not None
        result = asyncio.run(drive_worker(server.url, worker_id, prefix, {**cfg["spec"], "fps": cfg["fps"]},
                                          cfg["key"], k, warmup, window, worker.process.pid,
                                          profile_dir is not None))
    finally:
        worker.stop()
        server.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps, a shorter window")
    parser.add_argument("--json", type=Path, help="write the results as one JSON object here")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--sessions", type=int, help="sessions per worker (default: per family)")
    parser.add_argument("--window", type=float, help="seconds of worker CPU measured")
    parser.add_argument("--profile", type=Path, help="cProfile the worker into this folder")
    parser.add_argument("--as-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.as_worker:
        as_worker(args.as_worker)
        return
    raw_steps, warmup = (150, 3.0) if args.quick else (600, 5.0)
    window = args.window or (6.0 if args.quick else 20.0)
    results: dict[str, Any] = {"bench": "worker_overhead", "quick": args.quick, "cpus": os.cpu_count(),
                               "loadavg_start": os.getloadavg(), "families": {}}
    with tempfile.TemporaryDirectory(prefix="worker-overhead-") as tmp:
        for family in [f.strip() for f in args.families.split(",") if f.strip()]:
            cfg = FAMILIES[family]
            k = args.sessions or (max(2, cfg["sessions"] // 2) if args.quick else cfg["sessions"])
            raw = raw_costs(cfg["spec"], raw_steps, k)
            worker = run_worker(family, cfg, k, warmup, window, Path(tmp), args.profile)
            per_step = worker["worker_cpu_per_step_ms"]
            # the episodes' starts are the environment's cost too: at the rate the worker's sessions had them
            resets = raw["reset_ms"] * (worker["episodes_per_1000_steps"] or 0) / 1000
            limit = raw["step_ms"] + raw["render_ms"] + resets
            overhead = round(per_step - limit, 4) if per_step is not None else None
            row = {"env_id": cfg["spec"]["env_id"], "raw": raw, "worker": worker, "overhead_ms": overhead,
                   "overhead_per_jpeg": round(overhead / raw["jpeg_ms"], 2) if overhead is not None else None,
                   "resets_ms_per_step": round(resets, 4), "limit_ms": round(limit + raw["jpeg_ms"], 4)}
            results["families"][family] = row
            print(json.dumps({family: row}), flush=True)
    results["loadavg_end"] = os.getloadavg()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps({f: {"overhead_ms": r["overhead_ms"], "overhead_per_jpeg": r["overhead_per_jpeg"],
                          "cpu_per_step_ms": r["worker"]["worker_cpu_per_step_ms"]}
                      for f, r in results["families"].items()}))


if __name__ == "__main__":
    sys.exit(main())
