"""Players a running stack sustains, and what each of them gets, measured with the load bots (playcorder.sdk.load).

Against a running stack (`playcorder dev` or `make run`; the designer credentials it saved are used, point
PLAYCORDER_CONFIG at another config.json if needed):

    .venv/bin/python bench/load.py --url http://127.0.0.1:8000 [--quick] [--json out.json]

Phases, each printed as it ends:
 idle       the gateway's and recorder's CPU seconds per second with nobody playing (their fixed cost).
 memory     RSS of the stack's env-worker processes before and while N Pong sessions run: (delta) / N. Run first,
            on workers that have not yet held this many sessions (Python keeps freed memory, so a later run would
            read too little).
 ramp       N players of Pong at 15 fps (realtime), a fresh run_load per N. "Sustained" is the largest N where
            >=95% of the joined players got >=95% of the nominal rate, <1% late frames and 0 steps lost. With
            load-based admission players beyond capacity are refused (no_capacity): that is intended, so
            `joined` is reported next to `players`, and sustained counts joined players.
            Each step (and turn_based, bytes) also says what the gateway and recorder spent on it in CPU time
            (bench/service_cpu.py): gateway ms per frame relayed and cores per 100 players inside the window,
            recorder ms per step stored. These need the stack on this machine (found by the gateway's port).
 turn_based latency p50/p99 at 64 players, Pong turn-based at 15 steps/s.
 bytes      bytes per minute sent to a 60 fps Pong player (a few players).
 physical   raw Pong env.step + render + JPEG encode in this process, steps/s of one core (CPU time), and the
            ratio players_sustained * 15 / (that rate * cores): how close the stack gets to the hardware.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import common
import psutil
import service_cpu

from playcorder.sdk import Client, load_credentials
from playcorder.sdk.load import run_load

WORKER_MODULE = "playcorder_env_worker"
FPS_TARGET, AT_TARGET, LATE_MAX = 0.95, 0.95, 0.01


def spec(name: str, mode: str, fps: int, quality: int = 80) -> dict[str, Any]:
    """A Pong study like examples/pong.yaml, in the given mode and rate; episodes long enough to span a step."""
    return {"name": name, "environments": [{
        "id": "pong", "env_id": "ALE/Pong-v5", "mode": mode, "fps": fps, "max_episode_steps": 100_000,
        "render": {"jpeg_quality": quality},
        "input_map": {"kind": "discrete", "bindings": {"Up": 2, "Down": 3, "Up+Space": 4, "Down+Space": 5,
                                                        "Space": 1}}}]}


class Stack:
    """The stack under test: a designer's Client, the studies this run made, fresh participants per load step."""

    def __init__(self, url: str) -> None:
        url, token = load_credentials(url)
        if not token:
            raise SystemExit(f"Expected designer credentials for {url} (saved by `playcorder dev`; set "
                             "PLAYCORDER_CONFIG to its config.json), got none")
        self.url, self.client = url, Client(url, token)
        self.studies: dict[str, str] = {}
        self.made = 0
        self.services: dict[str, list[psutil.Process]] | None = None
        self.services_error: str | None = None
        try:
            procs = common.processes_behind(url)
            self.services = {kind: procs.tree(kind) for kind in service_cpu.SERVICES}
        except (LookupError, psutil.Error) as err:
            self.services_error = f"no CPU numbers: {err}"

    def study(self, key: str, mode: str, fps: int) -> str:
        if key not in self.studies:
            self.studies[key] = self.client.create_study(spec(f"bench-load-{key}", mode, fps))["id"]
        return self.studies[key]

    def tokens(self, study_id: str, n: int) -> list[str]:
        out = []
        for _ in range(n):
            self.made += 1
            out.append(self.client.create_participant(study_id, external_id=f"bench-load-{self.made}")["token"])
        return out

    def load(self, study_id: str, n: int, duration_s: float, spread_s: float, seed: int) -> dict[str, Any]:
        """One load step: the LoadReport's dict plus the gateway's and recorder's CPU numbers (service_cpu)."""
        tokens = self.tokens(study_id, n)
        if self.services is None:
            report = asyncio.run(run_load(self.url, tokens, "pong", duration_s, seed=seed, client=self.client,
                                          study_id=study_id, join_spread_s=spread_s))
            return report.to_dict() | {"cpu_error": self.services_error}
        with service_cpu.CpuTimeline(self.services) as timeline:
            started = time.monotonic()  # run_load's clock starts a moment later (asyncio.run's start)
            report = asyncio.run(run_load(self.url, tokens, "pong", duration_s, seed=seed, client=self.client,
                                          study_id=study_id, join_spread_s=spread_s))
        joined = [s for s in report.stats if s.joined]
        window = None if report.join_s is None else (started + report.join_s,
                                                     started + report.join_s + report.duration_s)
        if timeline.error:  # a service ended meanwhile: its CPU time is incomplete, no numbers
            return report.to_dict() | {"cpu_error": timeline.error}
        cpu = service_cpu.step_numbers(timeline.samples, window, len(joined), sum(s.frames_running for s in joined),
                                       sum(s.frames for s in joined), report.steps_stored)
        return report.to_dict() | cpu

    def idle(self, seconds: float) -> dict[str, Any]:
        """The gateway's and recorder's CPU seconds per second while nobody plays."""
        if self.services is None:
            return {"seconds": seconds, "gateway_cores": None, "recorder_cores": None,
                    "cpu_error": self.services_error}
        with service_cpu.CpuTimeline(self.services, every_s=seconds / 4) as timeline:
            time.sleep(seconds)
        cores = service_cpu.idle_cores(timeline.samples)
        return {"seconds": seconds, "gateway_cores": cores["gateway"], "recorder_cores": cores["recorder"]}


# ---------------------------------------------------------------------------------------------------- memory
def worker_processes(url: str) -> list[psutil.Process]:
    """The env-workers of the stack serving `url`: children of the process that started the gateway listening on
    its port (`playcorder dev` spawns every service); every env-worker on the machine if that is not found."""
    port = urlparse(url).port or 80
    everyone = [p for p in psutil.process_iter(["cmdline"]) if WORKER_MODULE in " ".join(p.info["cmdline"] or [])]
    try:
        listeners = [c.pid for c in psutil.net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid]
    except psutil.AccessDenied:
        listeners = []
    for pid in listeners:
        try:
            parent = psutil.Process(pid).parent()
        except psutil.Error:
            continue
        if parent is None:
            continue
        mine = [p for p in parent.children() if WORKER_MODULE in " ".join(p.cmdline())]
        if mine:
            return mine
    return everyone


def rss(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


class RssPeak:
    """Samples the workers' summed RSS in a thread while a load runs (the event loop stays the bots')."""

    def __init__(self, procs: list[psutil.Process], every_s: float = 0.25) -> None:
        self.procs, self.every_s, self.peak = procs, every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.peak = max(self.peak, rss(self.procs))

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def memory(stack: Stack, n: int, duration_s: float) -> dict[str, Any]:
    procs = worker_processes(stack.url)
    study = stack.study("rt15", "realtime", 15)
    before = rss(procs)
    with RssPeak(procs) as peak:
        joined = stack.load(study, n, duration_s, 2.0, seed=1)["joined"]
    delta = peak.peak - before
    return {"workers": len(procs), "worker_pids": [p.pid for p in procs], "sessions": joined, "players": n,
            "rss_before_mb": round(before / 2**20, 1), "rss_peak_mb": round(peak.peak / 2**20, 1),
            "per_session_mb": round(delta / joined / 2**20, 2) if joined else None}


# ---------------------------------------------------------------------------------------------------- ramp
def sustained(d: dict[str, Any]) -> bool:
    share, late, lost = d["fps_share"], d["late_frames_share"], d["steps_lost"]
    return (d["joined"] > 0 and share["at_target"] is not None and share["at_target"] >= AT_TARGET
            and late is not None and late < LATE_MAX and lost == 0)


def step_row(d: dict[str, Any]) -> dict[str, Any]:
    keys = ("players", "joined", "refused", "failed", "fps", "duration_s", "fps_share", "late_frames_share",
            "latency_ms", "bytes_per_min_per_player", "steps_played", "steps_stored", "steps_lost", "join_s",
            "durable_s", "bot_cpu_share_window", "errors", "failures",
            "frames", "frames_window", "gateway_cpu_s", "gateway_cpu_ms_per_frame", "gateway_cores_per_100_players",
            "gateway_cpu_s_run", "gateway_cpu_ms_per_frame_run", "recorder_cpu_s", "recorder_cpu_ms_per_step")
    return {k: d.get(k) for k in keys} | ({"cpu_error": d["cpu_error"]} if d.get("cpu_error") else {})


def num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def cpu_line(d: dict[str, Any]) -> str:
    return (f"gateway {num(d.get('gateway_cpu_ms_per_frame'))} ms CPU per frame, "
            f"{num(d.get('gateway_cores_per_100_players'))} cores per 100 players; "
            f"recorder {num(d.get('recorder_cpu_ms_per_step'))} ms CPU per step")


def pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def ramp(stack: Stack, ns: list[int], duration_s: float) -> dict[str, Any]:
    study = stack.study("rt15", "realtime", 15)
    steps = []
    print(f"{'players':>7} {'joined':>6} {'refused':>7} {'fps p5':>7} {'p50':>7} {'>=95%':>7} {'late':>6} "
          f"{'lost':>5} {'ok':>3} {'gw ms/fr':>8} {'gw c/100':>8} {'rec ms/st':>9}", flush=True)
    for i, n in enumerate(ns):
        d = stack.load(study, n, duration_s, min(5.0, max(2.0, n / 25)), seed=100 + i)
        row = step_row(d) | {"sustained": sustained(d)}
        steps.append(row)
        s = d["fps_share"]
        print(f"{n:>7} {d['joined']:>6} {d['refused']:>7} {pct(s['p5']):>7} {pct(s['p50']):>7} "
              f"{pct(s['at_target']):>7} {pct(d['late_frames_share']):>6} {d['steps_lost']!s:>5} "
              f"{'yes' if row['sustained'] else 'no':>3} {num(d.get('gateway_cpu_ms_per_frame')):>8} "
              f"{num(d.get('gateway_cores_per_100_players')):>8} {num(d.get('recorder_cpu_ms_per_step')):>9}",
              flush=True)
    ok = [r for r in steps if r["sustained"]]
    best = max(ok, key=lambda r: r["joined"]) if ok else None
    return {"fps": 15, "duration_s": duration_s, "steps": steps,
            "players_sustained": best["joined"] if best else 0,
            "steps_lost": sum(s["steps_lost"] or 0 for s in steps),
            "players_sustained_tried": best["players"] if best else None}


# ---------------------------------------------------------------------------------------------------- others
def turn_based(stack: Stack, n: int, duration_s: float) -> dict[str, Any]:
    d = stack.load(stack.study("tb15", "turn_based", 15), n, duration_s, 3.0, seed=7)
    lat = d["latency_ms"]
    print(f"turn-based {n} players at 15 steps/s: joined {d['joined']}, p50 {lat['p50']} ms, p99 {lat['p99']} ms "
          f"over {lat['n']} actions, lost {d['steps_lost']}; {cpu_line(d)}", flush=True)
    return step_row(d) | {"p50_ms": lat["p50"], "p99_ms": lat["p99"]}


def bytes_per_min(stack: Stack, n: int, duration_s: float) -> dict[str, Any]:
    d = stack.load(stack.study("rt60", "realtime", 60), n, duration_s, 1.0, seed=9)
    b = d["bytes_per_min_per_player"]
    print(f"60 fps Pong, {d['joined']} players: {b / 1e6 if b else 0:.2f} MB/min per player, "
          f"fps share p50 {pct(d['fps_share']['p50'])}; {cpu_line(d)}", flush=True)
    return step_row(d) | {"mb_per_min": round(b / 1e6, 2) if b else None}


def physical(steps: int, quality: int = 80) -> dict[str, Any]:
    """Raw Pong step + render + JPEG encode in this process, in CPU time: the per-core ceiling of the play path."""
    import ale_py
    import gymnasium
    import numpy as np
    import simplejpeg

    gymnasium.register_envs(ale_py)
    env = gymnasium.make("ALE/Pong-v5", render_mode="rgb_array")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.integers(env.action_space.n, size=steps)  # type: ignore[attr-defined]
    for a in actions[:100]:  # warm up
        env.step(int(a))
    t_step = t_render = t_jpeg = 0.0
    for a in actions:
        t0 = time.thread_time()
        _, _, term, trunc, _ = env.step(int(a))
        t1 = time.thread_time()
        frame = env.render()
        t2 = time.thread_time()
        simplejpeg.encode_jpeg(np.ascontiguousarray(frame), quality=quality, colorspace="RGB")
        t3 = time.thread_time()
        t_step, t_render, t_jpeg = t_step + t1 - t0, t_render + t2 - t1, t_jpeg + t3 - t2
        if term or trunc:
            env.reset()
    env.close()
    total = t_step + t_render + t_jpeg
    out = {"steps": steps, "jpeg_quality": quality, "step_ms": round(t_step / steps * 1e3, 4),
           "render_ms": round(t_render / steps * 1e3, 4), "jpeg_ms": round(t_jpeg / steps * 1e3, 4),
           "total_ms": round(total / steps * 1e3, 4), "steps_per_s_per_core": round(steps / total, 1),
           "cores": os.cpu_count() or 1}
    print(f"physical: step {out['step_ms']} + render {out['render_ms']} + jpeg {out['jpeg_ms']} ms = "
          f"{out['steps_per_s_per_core']} steps/s per core (CPU time), {out['cores']} cores", flush=True)
    return out


def cpu_step(ramp_steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The ramp step the summary's 15 fps CPU numbers come from: the most players joined among those that have
    the numbers (most frames, so the fixed cost weighs least); {} when none has."""
    measured = [r for r in ramp_steps if r.get("gateway_cpu_ms_per_frame") is not None]
    return max(measured, key=lambda r: r["joined"]) if measured else {}


def summarize(out: dict[str, Any]) -> dict[str, Any]:
    """The summary bench/run.py reads (its CHECKS name these keys)."""
    step, fast = cpu_step(out["ramp"]["steps"]), out["bytes_60fps"]
    return {
        "players_sustained": out["ramp"]["players_sustained"], "players_sustained_target": 100,
        "turn_based_p50_ms": out["turn_based"]["p50_ms"], "turn_based_p99_ms": out["turn_based"]["p99_ms"],
        "turn_based_target_ms": {"p50": 10, "p99": 40},
        "mb_per_min_60fps": fast["mb_per_min"],
        "worker_mb_per_session": out["memory"]["per_session_mb"],
        "physical_steps_per_s_per_core": out["physical"]["steps_per_s_per_core"],
        "ratio_to_physical": out["ratio_to_physical"],
        "gateway_cpu_ms_per_frame_15fps": step.get("gateway_cpu_ms_per_frame"),
        "gateway_cores_per_100_players_15fps": step.get("gateway_cores_per_100_players"),
        "gateway_cpu_players_15fps": step.get("joined"),
        "gateway_cpu_ms_per_frame_60fps": fast.get("gateway_cpu_ms_per_frame"),
        "gateway_cores_per_100_players_60fps": fast.get("gateway_cores_per_100_players"),
        "gateway_cpu_players_60fps": fast.get("joined"),
        "gateway_idle_cores": out["idle"]["gateway_cores"],
        "recorder_cpu_ms_per_step": step.get("recorder_cpu_ms_per_step"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="the running stack (default: the saved default server)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the results here")
    parser.add_argument("--quick", action="store_true", help="fewer ramp steps, shorter runs (~4 min)")
    args = parser.parse_args()
    quick = args.quick
    stack = Stack(args.url) if args.url else Stack(load_credentials()[0])
    t0 = time.monotonic()
    load_avg0 = os.getloadavg()
    out: dict[str, Any] = {"benchmark": "load", "url": stack.url, "quick": quick, "cores": os.cpu_count()}

    out["idle"] = stack.idle(3.0 if quick else 10.0)
    print(f"idle: gateway {num(out['idle']['gateway_cores'], 4)} cores, recorder "
          f"{num(out['idle']['recorder_cores'], 4)} cores with nobody playing", flush=True)
    out["memory"] = memory(stack, 24 if quick else 64, 5.0 if quick else 10.0)
    m = out["memory"]
    print(f"memory: {m['workers']} env-workers, {m['rss_before_mb']} -> {m['rss_peak_mb']} MB with "
          f"{m['sessions']} sessions: {m['per_session_mb']} MB per session", flush=True)
    out["ramp"] = ramp(stack, [24, 64, 100] if quick else [24, 48, 64, 100, 128], 10.0 if quick else 20.0)
    out["turn_based"] = turn_based(stack, 64, 10.0 if quick else 20.0)
    out["bytes_60fps"] = bytes_per_min(stack, 4, 10.0)
    out["physical"] = phys = physical(2000 if quick else 5000)
    sustained_n = out["ramp"]["players_sustained"]
    out["ratio_to_physical"] = round(sustained_n * 15 / (phys["steps_per_s_per_core"] * phys["cores"]), 4)
    out["summary"] = summarize(out)
    out["load_avg_before"] = [round(x, 2) for x in load_avg0]
    out["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    out["wall_s"] = round(time.monotonic() - t0, 1)
    print(f"sustained {sustained_n} players at 15 fps = {out['ratio_to_physical'] * 100:.1f}% of the raw "
          f"step+render+encode rate of {phys['cores']} cores; wall {out['wall_s']} s", flush=True)
    s = out["summary"]
    print(f"gateway CPU per frame relayed: {num(s['gateway_cpu_ms_per_frame_15fps'])} ms at 15 fps "
          f"({s['gateway_cpu_players_15fps']} players), {num(s['gateway_cpu_ms_per_frame_60fps'])} ms at 60 fps; "
          f"cores per 100 players {num(s['gateway_cores_per_100_players_15fps'])} at 15 fps, "
          f"{num(s['gateway_cores_per_100_players_60fps'])} at 60 fps (idle {num(s['gateway_idle_cores'], 4)}); "
          f"recorder {num(s['recorder_cpu_ms_per_step'])} ms CPU per step", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    else:
        print(json.dumps(out["summary"]))


if __name__ == "__main__":
    main()
