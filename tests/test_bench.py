"""`make bench`'s harness (bench/run.py) cannot rot silently: its plan lists every benchmark of issue 12 with its
target, each script it would run takes the options it passes, and its summary says met / missed / why no number
correctly. No benchmark runs here (they take minutes and measure the machine, not the code)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"


def _load_run() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # run.py imports bench/common.py as `common`, as the scripts do
    try:
        spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_run"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


run = _load_run()


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
                        ("summary.mb_per_min_60fps", "report"), ("summary.worker_mb_per_session", "report")]:
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
