"""`make bench`: a quick run of every benchmark of issue 12, one JSON file each in bench/results/, then a summary
table (benchmark, number, target, met?, ratio to the physical limit where one exists) and bench/results/summary.json.

What runs, in order (BENCHMARKS below): bench/worker_overhead.py (self-contained), bench/load.py (--url),
bench/recording_latency.py (--url), bench/recorder_throughput.py (--url), the export bench (bench/export_shards.py,
else bench/rlds_vs_envlogger.py; self-contained). Each gets `--quick --json bench/results/<name>.json` (and `--url`
plus $PLAYCORDER_URL/$PLAYCORDER_TOKEN of one `playcorder dev` stack that run.py starts for them, with STACK_ENV),
under a time limit; the whole run stays within --budget seconds (default 570: `make bench` takes < 10 minutes on a
2-core machine). A script that fails or runs out of time does not stop the others: its JSON says `ok: false` and
why. A script that does not exist yet is listed as "missing"; one whose source has no `--json` option as "not
ready": neither is run.

Expected JSON key paths (dots go into nested objects), the CHECKS table below; change them there when a script's
output changes, and `bench/run.py --dry-run` shows them:
  worker_overhead:     families.atari.overhead_per_jpeg (worker overhead per step ÷ JPEG encode alone),
                       families.atari.limit_ms (raw step + render + JPEG encode of one step, ms: the physical limit),
                       families.procgen.overhead_ms, families.mujoco.overhead_per_jpeg
  load:                summary.players_sustained (players with >= 95% of 15 fps, < 1% late frames, 0 lost),
                       ramp.steps_lost, summary.turn_based_p50_ms, summary.turn_based_p99_ms (64 players),
                       summary.mb_per_min_60fps, summary.worker_mb_per_session,
                       summary.gateway_cpu_ms_per_frame_15fps / _60fps (gateway CPU ms per frame relayed),
                       summary.gateway_cores_per_100_players_15fps / _60fps, summary.recorder_cpu_ms_per_step
  recording_latency:   p99_ms (episode end -> durable and listed), p50_ms
  recorder_throughput: steps_per_core_s (steps stored ÷ recorder CPU seconds), steps_per_s (wall clock)
  export:              speedup_vs_envlogger (exporter steps/s with 2 exporter processes ÷ envlogger's TFDS writer)
Every JSON may carry `meta` (bench/common.py's Observation: commit, date, cores, load average before/after, the
other processes that used the CPU meanwhile); run.py adds one where a script wrote none, and `harness` (script,
command, exit status, seconds, timed out) to each.

Results are committed: the lead's final run on a quiet machine writes bench/results/*.json and commits them, so
every number in docs/benchmarks.md traces to a file (with its commit and machine load in `meta`). Scratch runs:
`--out DIR` elsewhere; the per-benchmark logs (bench/results/logs/) are never committed (bench/results/.gitignore).

Usage:  .venv/bin/python bench/run.py [--dry-run] [--only NAME,...] [--full] [--port PORT] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
BUDGET_S = 570  # all benchmarks together, the stack's start included; `make bench` promises < 10 minutes
# The stack the --url benchmarks share: the capacity raised, as the issue measured (admission by measured load,
# once it lands, still turns players away before this count).
STACK_ENV = {"WORKER_CAPACITY": "128"}


@dataclass(frozen=True)
class Bench:
    name: str
    scripts: tuple[str, ...]  # candidates under bench/, the first that exists runs
    stack: bool  # needs the shared stack (gets --url)
    limit_s: int
    what: str
    args: tuple[str, ...] = ()  # beyond --json PATH [--quick] [--url URL]


BENCHMARKS = [
    Bench("worker_overhead", ("worker_overhead.py",), False, 100,
          "raw step/render/JPEG cost per family and the worker's CPU per step (Atari, Procgen, MuJoCo)"),
    Bench("load", ("load.py",), True, 210,
          "load bots: players sustained at 15 fps, turn-based latency at 64 players, bytes/min at 60 fps, "
          "worker memory per session"),
    Bench("recording_latency", ("recording_latency.py",), True, 60, "episode end -> durable and listed"),
    Bench("recorder_throughput", ("recorder_throughput.py",), True, 50, "recorder steps/s, per core and wall clock"),
    Bench("export", ("export_shards.py", "rlds_vs_envlogger.py"), False, 120,
          "sharded RLDS export (2 exporter processes) vs envlogger's TFDS writer"),
]


@dataclass(frozen=True)
class Limit:
    """The physical limit a number is compared with: a value of some benchmark's JSON, turned into the number's
    unit by `convert`; ratio = number ÷ limit. `itself`: the number already is that ratio."""

    bench: str = ""
    key: str = ""
    convert: Callable[[float], float] = float
    itself: bool = False


@dataclass(frozen=True)
class Check:
    bench: str
    label: str
    key: str
    target: float | None  # None: reported, no target
    op: str | None = None  # "<=", ">=", "=="
    unit: str = ""
    scale: float = 1.0  # shown as value * scale
    limit: Limit | None = None
    note: str = ""  # e.g. the number before this issue


OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}
CHECKS = [
    Check("worker_overhead", "Atari worker overhead per step ÷ JPEG encode", "families.atari.overhead_per_jpeg",
          1.3, "<=", "x", limit=Limit(itself=True)),
    Check("worker_overhead", "Procgen worker overhead per step", "families.procgen.overhead_ms", 0.6, "<=", "ms"),
    Check("worker_overhead", "MuJoCo worker overhead per step ÷ JPEG encode", "families.mujoco.overhead_per_jpeg",
          None, unit="x", limit=Limit(itself=True)),
    # Ratio: the players sustained ÷ the players one core's raw step+render+encode rate could feed at 15 fps.
    Check("load", "Atari players sustained at 15 fps (>=95% fps, <1% late, 0 lost)", "summary.players_sustained",
          100, ">=", "players",
          limit=Limit("worker_overhead", "families.atari.limit_ms", lambda ms: 1000 / ms / 15)),
    Check("load", "steps lost in the sustained run", "ramp.steps_lost", 0, "=="),
    Check("load", "turn-based latency p50, 64 players", "summary.turn_based_p50_ms", 10, "<=", "ms"),
    Check("load", "turn-based latency p99, 64 players", "summary.turn_based_p99_ms", 40, "<=", "ms"),
    Check("load", "bytes per minute per 60 fps Atari player", "summary.mb_per_min_60fps", None, unit="MB/min",
          note="11.4 MB/min before"),
    Check("load", "worker memory per Atari session", "summary.worker_mb_per_session", None, unit="MB",
          note="~3.3 MB before"),
    # CPU time (not wall time) of the gateway inside the load window ÷ frames relayed to the players: replicas.
    Check("load", "gateway CPU per frame relayed, 15 fps Atari", "summary.gateway_cpu_ms_per_frame_15fps", None,
          unit="ms"),
    Check("load", "gateway CPU per frame relayed, 60 fps Atari", "summary.gateway_cpu_ms_per_frame_60fps", None,
          unit="ms"),
    Check("load", "gateway cores per 100 players, 15 fps Atari", "summary.gateway_cores_per_100_players_15fps",
          None, unit="cores"),
    Check("load", "gateway cores per 100 players, 60 fps Atari", "summary.gateway_cores_per_100_players_60fps",
          None, unit="cores"),
    Check("load", "recorder CPU per step stored, 15 fps Atari", "summary.recorder_cpu_ms_per_step", None,
          unit="ms"),
    Check("recording_latency", "episode end -> durable and listed, p99", "p99_ms", 150, "<=", "ms"),
    Check("recording_latency", "episode end -> durable and listed, p50", "p50_ms", None, unit="ms",
          note="55-62 ms before"),
    Check("recorder_throughput", "recorder Atari steps/s per core", "steps_per_core_s", 10_000, ">=", "steps/s"),
    Check("recorder_throughput", "recorder Atari steps/s, wall clock", "steps_per_s", None, unit="steps/s"),
    Check("export", "RLDS export steps/s ÷ envlogger's TFDS writer", "speedup_vs_envlogger", 10, ">=", "x",
          limit=Limit(itself=True), note="1.46x before"),
]


# -- which script, and running it -------------------------------------------------------------------------------

def resolve(bench: Bench) -> tuple[str, Path | None]:
    """("ready", path), ("not ready", path) when its source has no --json option yet, or ("missing", None)."""
    for name in bench.scripts:
        path = BENCH / name
        if path.exists():
            return ("ready" if '"--json"' in path.read_text() or "common.parser(" in path.read_text()
                    else "not ready"), path
    return "missing", None


def _rel(path: Path) -> str:
    """Relative to the checkout when inside it (the scripts run there): shorter commands in logs and JSON."""
    return str(path.relative_to(common.REPO)) if path.is_relative_to(common.REPO) else str(path)


def command(bench: Bench, script: Path, out: Path, quick: bool, url: str | None) -> list[str]:
    cmd = [sys.executable, _rel(script), "--json", _rel(out / f"{bench.name}.json"), *bench.args]
    cmd += ["--quick"] if quick else []
    cmd += ["--url", url] if bench.stack and url else []
    return cmd


def _end(proc: subprocess.Popen[bytes]) -> None:
    """A script past its limit: SIGINT to its process group first (its cleanup runs, a stack it started stops),
    SIGKILL after 15 s."""
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_one(bench: Bench, script: Path, out: Path, quick: bool, stack: common.BenchStack | None,
            limit_s: float) -> dict[str, Any]:
    """Runs one script; returns its JSON (written by it, or by run.py for a failure), `harness` added."""
    path = out / f"{bench.name}.json"
    path.unlink(missing_ok=True)
    cmd = command(bench, script, out, quick, stack.url if stack else None)
    env = {**os.environ, **(stack.script_env() if stack else {})}
    log = out / "logs" / f"{bench.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    observation = common.Observation(ours={os.getpid()}).start()
    t0 = time.monotonic()
    with open(log, "wb") as handle:
        proc = subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=common.REPO,
                                start_new_session=True)
        try:
            rc: int | None = proc.wait(limit_s)
        except subprocess.TimeoutExpired:
            _end(proc)
            rc = None
    seconds = time.monotonic() - t0
    meta = observation.finish(also_ours=stack.measured_pids() if stack else ())
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = None
    tail = log.read_text(errors="replace").strip().splitlines()[-15:]
    if rc != 0 or not isinstance(data, dict):
        why = (f"ran past its limit of {limit_s:.0f} s" if rc is None else
               f"exited with {rc}" if rc != 0 else "wrote no JSON object to --json PATH")
        data = data if isinstance(data, dict) else {"benchmark": bench.name}
        data["ok"] = False
        data.setdefault("error", why)  # the script's own reason when it wrote one
        data["log_tail"] = tail
    data.setdefault("meta", meta)
    data["harness"] = {"script": _rel(script), "command": " ".join(cmd[1:]),
                       "exit": rc, "timed_out": rc is None, "seconds": round(seconds, 1), "limit_s": round(limit_s),
                       "log": str(log.relative_to(out))}
    common.write_json(path, data)
    return data


# -- the summary ------------------------------------------------------------------------------------------------

def lookup(data: dict[str, Any] | None, key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def evaluate(check: Check, results: dict[str, dict[str, Any]], status: dict[str, str]) -> dict[str, Any]:
    """One row: the value (or why there is none), whether the target is met, the ratio to the physical limit."""
    row: dict[str, Any] = {"benchmark": check.bench, "label": check.label, "key": check.key, "unit": check.unit,
                           "target": check.target, "op": check.op, "value": None, "met": None, "ratio": None,
                           "note": check.note}
    data = results.get(check.bench)
    if data is None or not data.get("ok", True):
        row["why"] = status.get(check.bench, "not run")
        return row
    value = _number(lookup(data, check.key))
    if value is None:
        row["why"] = f"no number at {check.key}"
        return row
    row["value"] = value
    if check.target is not None and check.op:
        row["met"] = OPS[check.op](value, check.target)
    if check.limit and check.limit.itself:
        row["ratio"] = value
    elif check.limit:
        raw = _number(lookup(results.get(check.limit.bench), check.limit.key))
        limit = check.limit.convert(raw) if raw else None
        row["ratio"] = value / limit if limit else None
    return row


def _fmt(value: float | None, scale: float = 1.0) -> str:
    if value is None:
        return "-"
    v = value * scale
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def table(rows: list[dict[str, Any]], checks: list[Check]) -> str:
    lines = [("benchmark", "number", "target", "met?", "÷ limit")]
    for row, check in zip(rows, checks, strict=True):
        number = (f"{_fmt(row['value'], check.scale)} {check.unit}".strip() if row["value"] is not None
                  else f"({row['why']})")
        target = (f"{check.op} {_fmt(check.target)} {check.unit}".strip() if check.target is not None
                  else "report" + (f" ({check.note})" if check.note else ""))
        met = "-" if row["met"] is None else "yes" if row["met"] else "NO"
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        lines.append((f"{check.bench}: {check.label}", number, target, met, ratio))
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def dry_run(benches: list[Bench], quick: bool) -> None:
    print(f"benchmarks, in order (budget {BUDGET_S} s; a stack with {STACK_ENV} for those marked --url):")
    for b in benches:
        state, script = resolve(b)
        shown = " ".join(command(b, script, RESULTS, quick, "URL")[1:]) if script else \
            " or ".join(f"bench/{s}" for s in b.scripts)
        print(f"  {b.name:<20} {state:<10} limit {b.limit_s:>3} s  {shown}\n  {'':<20} {b.what}")
    print("\nchecks (benchmark: key path, target):")
    for c in CHECKS:
        target = f"{c.op} {c.target:g} {c.unit}".rstrip() if c.target is not None else f"report {c.unit}".rstrip()
        ratio = ("  ratio: the number itself" if c.limit and c.limit.itself else
                 f"  ratio: ÷ {c.limit.bench}.{c.limit.key} (converted)" if c.limit else "")
        print(f"  {c.bench}: {c.key}  {target}{ratio}   [{c.label}]")


# -- main -------------------------------------------------------------------------------------------------------

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="list the benchmarks, their scripts and the checks; run none")
    p.add_argument("--only", help="comma-separated benchmark names (default: all)")
    p.add_argument("--full", action="store_true", help="the scripts' full runs, not --quick (no 10-minute promise)")
    p.add_argument("--port", type=int, help="gateway port of the stack (default: a free one)")
    p.add_argument("--out", type=Path, default=RESULTS, help="where the JSON files go (default bench/results)")
    p.add_argument("--budget", type=float, default=BUDGET_S, help="seconds for everything (default %(default)s)")
    args = p.parse_args()
    names = {b.name for b in BENCHMARKS}
    only = set(args.only.split(",")) if args.only else names
    if only - names:
        p.error(f"expected benchmark names among {sorted(names)}, got {sorted(only - names)}")
    benches = [b for b in BENCHMARKS if b.name in only]
    quick = not args.full
    if args.dry_run:
        dry_run(benches, quick)
        return 0

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + (args.budget if quick else 10 ** 6)
    observation = common.Observation().start()
    results: dict[str, dict[str, Any]] = {}
    status: dict[str, str] = {}
    timings: dict[str, float] = {}
    stack: common.BenchStack | None = None
    try:
        for b in benches:
            state, script = resolve(b)
            if script is None or state != "ready":
                status[b.name] = (f"missing: no {' or '.join('bench/' + s for s in b.scripts)}" if script is None
                                  else f"not ready: {script.name} has no --json option")
                print(f"-- {b.name}: {status[b.name]}", flush=True)
                continue
            left = deadline - time.monotonic()
            if b.stack and stack is None:
                print(f"-- starting a stack ({STACK_ENV}) ...", flush=True)
                try:
                    port = args.port or common.free_port_in(range(8160, 8170))
                    stack = common.BenchStack(port, STACK_ENV).start()
                    timings["stack_start"] = round(stack.started_s, 1)
                    print(f"   ready on {stack.url} in {stack.started_s:.1f} s", flush=True)
                except (RuntimeError, OSError) as err:
                    status[b.name] = f"failed: no stack ({err})"[:300]
                    print(f"-- {b.name}: {status[b.name]}", flush=True)
                    continue
                left = deadline - time.monotonic()
            if b.stack and stack is None:
                continue
            limit = min(b.limit_s if quick else 3600, left)
            if limit < 10:
                status[b.name] = "skipped: the time budget is spent"
                print(f"-- {b.name}: {status[b.name]}", flush=True)
                continue
            print(f"-- {b.name}: {script.name} (limit {limit:.0f} s) ...", flush=True)
            data = run_one(b, script, out, quick, stack if b.stack else None, limit)
            results[b.name] = data
            timings[b.name] = data["harness"]["seconds"]
            status[b.name] = "ok" if data.get("ok", True) else f"failed: {data.get('error')}"[:300]
            print(f"   {status[b.name]} in {timings[b.name]:.1f} s", flush=True)
    finally:
        if stack is not None:
            logs = out / "logs" / "stack"
            shutil.rmtree(logs, ignore_errors=True)
            shutil.copytree(stack.root / "logs", logs, dirs_exist_ok=True)
            shutil.copy(stack.log_path, logs / "dev.log")
            stack.stop()
    rows = [evaluate(c, results, status) for c in CHECKS if c.bench in only]
    meta = observation.finish()
    common.write_json(out / "summary.json", {"quick": quick, "status": status, "seconds": timings,
                                             "checks": rows, "meta": meta})
    print("\n" + table(rows, [c for c in CHECKS if c.bench in only]))
    print(f"\n{sum(timings.values()):.0f} s of benchmarks, {meta['wall_s']:.0f} s in all; load average "
          f"{meta['loadavg_before'][0]} before, {meta['loadavg_after'][0]} after; JSON in {out}")
    failed = [n for n, s in status.items() if s.startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
