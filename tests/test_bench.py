"""`make bench`'s harness (bench/run.py) cannot rot silently: its plan lists every benchmark of issue 12 with its
target, each script it would run takes the options it passes, and its summary says met / missed / why no number
correctly. No benchmark runs here (they take minutes and measure the machine, not the code)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"


def _load_bench(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCH))  # the scripts import bench/common.py as `common`, as they do when run
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"bench_{name}"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


run = _load_bench("run")
load = _load_bench("load")
service_cpu = _load_bench("service_cpu")


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_dry_run_lists_every_benchmark_and_target_of_the_issue() -> None:
    result = _bench("bench/run.py", "--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in ("worker_overhead", "load", "recording_latency", "recorder_throughput", "export"):
        assert f"  {name} " in out
    for key, target in [("families.atari.overhead_per_jpeg", "<= 1.3"), ("families.procgen.overhead_ms", "<= 0.6"),
                        ("summary.players_sustained", ">= 100"), ("ramp.steps_lost", "== 0"),
                        ("summary.turn_based_p50_ms", "<= 10"), ("summary.turn_based_p99_ms", "<= 40"),
                        ("p99_ms", "<= 150"), ("steps_per_core_s", ">= 10000"), ("speedup_vs_envlogger", ">= 10"),
                        ("summary.mb_per_min_60fps", "report"), ("summary.worker_mb_per_session", "report"),
                        ("summary.gateway_cpu_ms_per_frame_15fps", "report ms"),
                        ("summary.gateway_cpu_ms_per_frame_60fps", "report ms"),
                        ("summary.gateway_cores_per_100_players_15fps", "report cores"),
                        ("summary.gateway_cores_per_100_players_60fps", "report cores"),
                        ("summary.recorder_cpu_ms_per_step", "report ms")]:
        assert any(key in line and target in line for line in out.splitlines()), (key, target, out)
    # The scripts of this checkout that run.py would run are named as such, with the options it passes.
    assert "recording_latency    ready" in out and "--quick --url URL" in out


def test_each_script_run_would_run_takes_json_and_quick() -> None:
    ready = [script for b in run.BENCHMARKS for state, script in [run.resolve(b)] if state == "ready"]
    assert {p.name for p in ready} >= {"recording_latency.py", "recorder_throughput.py"}
    for script in ready:
        result = _bench(str(script.relative_to(REPO)), "--help")
        assert result.returncode == 0, (script, result.stderr[-2000:])
        assert "--json" in result.stdout and "--quick" in result.stdout, (script, result.stdout)


def test_every_check_names_a_benchmark_and_a_known_comparison() -> None:
    names = {b.name for b in run.BENCHMARKS}
    for check in run.CHECKS:
        assert check.bench in names
        assert (check.target is None) == (check.op is None) or check.op in run.OPS
        if check.limit and not check.limit.itself:
            assert check.limit.bench in names


def _row(label: str, results: dict, status: dict | None = None) -> dict:
    check = next(c for c in run.CHECKS if c.label == label)
    return run.evaluate(check, results, status or {})


def test_summary_says_met_missed_and_why_there_is_no_number() -> None:
    p99 = "episode end -> durable and listed, p99"
    assert _row(p99, {"recording_latency": {"ok": True, "p99_ms": 120.0}})["met"] is True
    missed = _row(p99, {"recording_latency": {"ok": True, "p99_ms": 407.2}})
    assert missed["met"] is False and missed["value"] == 407.2
    assert _row(p99, {"recording_latency": {"ok": True}})["why"] == "no number at p99_ms"
    failed = _row(p99, {"recording_latency": {"ok": False, "error": "boom"}},
                  {"recording_latency": "failed: boom"})
    assert failed["value"] is None and failed["why"] == "failed: boom"
    assert _row(p99, {}, {"recording_latency": "missing: no bench/recording_latency.py"})["why"].startswith("missing")


def test_players_ratio_is_taken_against_one_cores_raw_rate() -> None:
    # 0.4 ms raw step+render+encode: one core feeds 2,500 steps/s = 166.7 players at 15 fps; 100 sustained = 0.6.
    results = {"load": {"summary": {"players_sustained": 100}},
               "worker_overhead": {"families": {"atari": {"limit_ms": 0.4}}}}
    row = _row("Atari players sustained at 15 fps (>=95% fps, <1% late, 0 lost)", results)
    assert row["met"] is True
    assert row["ratio"] == pytest.approx(0.6)
    table = run.table([row], [c for c in run.CHECKS if c.label == row["label"]])
    assert "100 players" in table and ">= 100 players" in table and "yes" in table and "0.60" in table


# -- the load benchmark's CPU numbers (bench/service_cpu.py, bench/load.py) ---------------------------------------

def _samples(rate: dict[str, float], seconds: int) -> list:
    """A timeline sampled once a second, each service burning CPU at a steady rate (cores)."""
    return [(100.0 + t, {k: r * t for k, r in rate.items()}) for t in range(seconds + 1)]


def test_gateway_cpu_per_frame_and_cores_per_100_players_come_from_the_window() -> None:
    # Gateway at 0.3 cores, 20 players at 15 fps for a 10 s window opened 2.5 s in: 3000 frames, 3 CPU s.
    samples = _samples({"gateway": 0.3, "recorder": 0.1}, 20)
    d = service_cpu.step_numbers(samples, (102.5, 112.5), joined=20, frames_window=3000, frames=4000,
                                 steps_stored=4020)
    assert d["gateway_cpu_s"] == pytest.approx(3.0)
    assert d["gateway_cpu_ms_per_frame"] == pytest.approx(1.0)
    assert d["gateway_cores_per_100_players"] == pytest.approx(1.5)  # 0.3 cores / 20 players * 100
    assert d["gateway_cpu_s_run"] == pytest.approx(6.0) and d["gateway_cpu_ms_per_frame_run"] == pytest.approx(1.5)
    assert d["recorder_cpu_s"] == pytest.approx(2.0)
    assert d["recorder_cpu_ms_per_step"] == pytest.approx(2000 / 4020, abs=1e-4)
    never_opened = service_cpu.step_numbers(samples, None, joined=0, frames_window=0, frames=0, steps_stored=0)
    assert never_opened["gateway_cpu_ms_per_frame"] is None and never_opened["recorder_cpu_ms_per_step"] is None


def test_cpu_at_a_time_outside_the_timeline_names_the_range() -> None:
    samples = _samples({"gateway": 0.5, "recorder": 0.0}, 4)
    assert service_cpu.cpu_at(samples, "gateway", 101.5) == pytest.approx(0.75)
    with pytest.raises(ValueError, match=r"within the sampled 100.000\.\.104.000 s, got 105.000 s"):
        service_cpu.cpu_at(samples, "gateway", 105.0)


def test_timeline_reads_a_real_process_cpu_time() -> None:
    me = psutil.Process()
    with service_cpu.CpuTimeline({"gateway": [me], "recorder": [me]}, every_s=0.02) as timeline:
        end = time.thread_time() + 0.2
        while time.thread_time() < end:  # burn 0.2 s of CPU
            pass
    assert timeline.error is None and len(timeline.samples) >= 3
    used = timeline.samples[-1][1]["gateway"] - timeline.samples[0][1]["gateway"]
    assert 0.15 <= used < 2.0
    assert service_cpu.idle_cores(timeline.samples)["gateway"] > 0.3


def test_load_summary_has_every_key_run_py_checks() -> None:
    cpu = {"gateway_cpu_ms_per_frame": 0.5, "gateway_cores_per_100_players": 0.75, "recorder_cpu_ms_per_step": 0.1}
    out = {"ramp": {"players_sustained": 32, "steps": [{"joined": 24, **cpu}, {"joined": 32, **cpu,
                                                                               "gateway_cpu_ms_per_frame": 0.4}]},
           "turn_based": {"p50_ms": 6.0, "p99_ms": 20.0}, "bytes_60fps": {"mb_per_min": 11.0, "joined": 4, **cpu},
           "memory": {"per_session_mb": 4.2}, "physical": {"steps_per_s_per_core": 2500.0},
           "ratio_to_physical": 0.1, "idle": {"gateway_cores": 0.01}}
    summary = load.summarize(out)
    for check in (c for c in run.CHECKS if c.bench == "load" and c.key.startswith("summary.")):
        value = run.lookup({"summary": summary}, check.key)
        assert isinstance(value, int | float), (check.key, summary)
    assert summary["gateway_cpu_ms_per_frame_15fps"] == 0.4 and summary["gateway_cpu_players_15fps"] == 32
