"""A study is tried on an env-worker before it is saved: misspelled ids, kwargs, wrappers and bindings are refused
with a 422 at their field and the values meant; a good study keeps a preview frame per environment; the trial
route shows what a spec would get without saving it; no worker is a 503."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import simplejpeg
from fastapi import HTTPException

from playcorder.bus import connect
from playcorder.devstack.stack import DevStack
from playcorder.messages import TrialReply, TrialRequest
from playcorder.sdk import ApiError, Client
from playcorder.settings import NatsSettings
from playcorder.specs import EnvironmentSpec, StudySpec
from playcorder.subjects import Subjects
from playcorder_env_worker.families.access import EnvAccess
from playcorder_env_worker.trial import try_environment
from playcorder_env_worker.trial_pool import TrialPool
from playcorder_gateway.settings import Settings as GatewaySettings
from playcorder_gateway.trial import NoTrialWorker, checked, try_spec
from tests.factories import study
from tests.test_cli import refused, run
from tests.wsclient import Player

PONG = {"id": "pong", "env_id": "ALE/Pong-v5", "mode": "turn_based"}
MINIGRID = {"id": "grid", "env_id": "MiniGrid-Empty-5x5-v0", "mode": "turn_based",
            "wrappers": [{"name": "ImgObsWrapper"}]}


def _refusal(client: Client, *envs: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ApiError) as caught:
        client.create_study(study(*envs, name="refused"))
    assert caught.value.status == 422, caught.value.detail
    return caught.value.detail  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the create route, on the real stack
@pytest.mark.e2e
@pytest.mark.parametrize("env,loc,meant,says", [
    ({"env_id": "ALE/Pongg-v5"}, ["env_id"], "ALE/Pong-v5", "Expected a registered Gymnasium environment id"),
    ({"env_id": "procgen/bigfsh"}, ["env_id"], "procgen/bigfish", "got 'procgen/bigfsh'"),
    ({"env_id": "ALE/Pong-v5", "kwargs": {"frameskp": 4}}, ["kwargs", "frameskp"], "frameskip",
     "Expected kwargs that 'ALE/Pong-v5' accepts"),
    ({"env_id": "ALE/Pong-v5", "input_map": {"kind": "discrete", "bindings": {"Up": 2, "Space": 99}}},
     ["input_map", "bindings", "Space"], "1", "Expected an action in 0..5 (NOOP, FIRE, RIGHT, LEFT, RIGHTFIRE, "
                                              "LEFTFIRE), got 99"),
    ({"env_id": "MiniGrid-Empty-5x5-v0", "wrappers": [{"name": "ImgObsWraper"}]}, ["wrappers", 0, "name"],
     "ImgObsWrapper", "got 'ImgObsWraper'"),
    ({"env_id": "CartPole-v1", "wrappers": [{"name": "os:system"}]}, ["wrappers", 0, "name"], None,
     "got module 'os' in 'os:system'"),
])
def test_a_study_that_would_break_is_refused_at_its_field(client: Client, env: dict[str, Any], loc: list[Any],
                                                           meant: str | None, says: str) -> None:
    before = len(client.list_studies())
    detail = _refusal(client, PONG, {"id": "bad", "mode": "turn_based", **env})
    assert [(d["loc"], d["type"]) for d in detail] == [(["body", "environments", 1, *loc], "environment_trial")]
    assert says in detail[0]["msg"], detail[0]["msg"]
    assert detail[0]["suggestions"][:1] == ([meant] if meant else [])
    assert len(client.list_studies()) == before  # nothing saved


def _decoded(jpeg: bytes) -> np.ndarray:
    assert jpeg[:3] == b"\xff\xd8\xff"  # a JPEG's start of image
    return simplejpeg.decode_jpeg(jpeg)


def _pong_after_one_idle_step() -> np.ndarray:
    import ale_py

    gym.register_envs(ale_py)
    env = gym.make("ALE/Pong-v5", render_mode="rgb_array")
    try:
        env.reset(seed=0)
        env.step(0)  # NOOP, the default map's idle action
        return np.asarray(env.render())
    finally:
        env.close()


@pytest.mark.e2e
def test_a_good_study_is_created_with_a_preview_of_each_environment(client: Client) -> None:
    created = client.create_study(study(PONG, MINIGRID, name="previews"))
    assert created["spec"]["environments"][1]["wrappers"] == [{"name": "ImgObsWrapper", "kwargs": {}}]
    http = client._http
    pong = http.get(f"/api/studies/{created['id']}/environments/pong/preview.jpg")
    assert pong.status_code == 200 and pong.headers["content-type"] == "image/jpeg"
    frame = _decoded(pong.content)
    expected = _pong_after_one_idle_step()
    assert frame.shape == expected.shape == (210, 160, 3)
    assert np.abs(frame.astype(int) - expected).mean() < 4  # the same frame, but for JPEG's loss
    grid = _decoded(http.get(f"/api/studies/{created['id']}/environments/grid/preview.jpg").content)
    assert grid.shape == (160, 160, 3) and grid.std() > 10  # MiniGrid's full render, not a blank image
    missing = http.get(f"/api/studies/{created['id']}/environments/nope/preview.jpg")
    assert missing.status_code == 404 and "pong, grid" in missing.json()["detail"]


@pytest.mark.e2e
def test_the_trial_route_shows_problems_and_previews_and_saves_nothing(client: Client) -> None:
    before = len(client.list_studies())
    spec = study(PONG, {"id": "typo", "env_id": "ALE/Pongg-v5"}, {"id": "cheetah", "env_id": "HalfCheetah-v5",
                                                                  "render": {"width": 1280, "height": 720}})
    pong, typo, cheetah = client.try_study(spec)
    assert pong["ok"] and pong["family"] == "atari" and pong["problems"] == []
    assert pong["action_space"] == {"type": "discrete", "n": 6} and pong["observation_space"]["shape"] == [210, 160, 3]
    assert _decoded(base64.b64decode(pong["preview_jpeg"])).shape == (210, 160, 3)
    assert not typo["ok"] and typo["preview_jpeg"] is None and typo["problems"][0]["suggestions"][0] == "ALE/Pong-v5"
    assert cheetah["ok"] and (cheetah["width"], cheetah["height"]) == (640, 360)  # at most 640 px wide
    assert len(client.list_studies()) == before


# A MuJoCo frame this size with shadows takes ~50-150 ms to render on a CPU: far beyond 60 fps' 16.7 ms.
SLOW_CHEETAH = {"id": "cheetah", "env_id": "HalfCheetah-v5", "fps": 60,
                "render": {"width": 480, "height": 480, "shadows": True}}


@pytest.mark.e2e
def test_a_slow_environment_is_a_warning_at_fps_and_the_study_still_saves(client: Client) -> None:
    pong = {"id": "pong", "env_id": "ALE/Pong-v5", "mode": "realtime", "fps": 60}
    fast, slow = client.try_study(study(pong, SLOW_CHEETAH))
    assert fast["ok"] and fast["warnings"] == [] and fast["step_cost"]["total_ms"] < 1000 / 60, fast["step_cost"]
    assert slow["ok"] and slow["problems"] == [] and [w["field"] for w in slow["warnings"]] == ["fps"], slow
    cost, warning = slow["step_cost"], slow["warnings"][0]
    assert cost["total_ms"] > 1000 / 60 and 1 <= cost["steps"] <= 5, cost
    assert warning["message"].startswith("Expected a step within 16.7 ms for realtime at 60 fps, got ~"), warning
    assert warning["message"].endswith(f"on this worker: set fps to {warning['suggestions'][0]} or less, or mode "
                                       "turn_based"), warning
    assert int(warning["suggestions"][0]) == int(1000 // cost["total_ms"])
    print(f"\ntrial of {SLOW_CHEETAH['env_id']} at 480x480 with shadows: {warning['message']}")
    assert client.create_study(study(pong, SLOW_CHEETAH, name="slow but valid"))["id"]


@pytest.mark.e2e
def test_the_cli_shows_each_problem_with_what_was_meant(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text("name: s\nenvironments:\n  - {id: p, env_id: ALE/Pongg-v5}\n"
                    "  - {id: q, env_id: ALE/Pong-v5, kwargs: {frameskp: 4}}\n")
    lines = refused(run(cli_env, "studies", "create", str(path)))
    assert len(lines) == 2
    assert lines[0].startswith("environments.0.env_id: Expected a registered Gymnasium environment id, got "
                               "'ALE/Pongg-v5'") and lines[0].endswith("; did you mean 'ALE/Pong-v5' or "
                                                                       "'ALE/Pooyan-v5' or 'ALE/Boxing-v5'?")
    assert lines[1].startswith("environments.1.kwargs.frameskp: Expected kwargs that 'ALE/Pong-v5' accepts")
    assert lines[1].endswith("did you mean 'frameskip'?")


# ---------------------------------------------------------------- no worker
async def test_no_worker_to_try_the_spec_is_a_503(stack: DevStack) -> None:
    nc = await connect(NatsSettings(url=stack.nats_url, subject_prefix="notrial"), "test-no-trial-worker")
    try:
        subjects, spec = Subjects(prefix="notrial"), StudySpec.model_validate(study(PONG))
        started = time.monotonic()
        with pytest.raises(NoTrialWorker):
            await try_spec(nc, subjects, spec, timeout=1.0)
        settings = GatewaySettings(database={"url": "postgresql+asyncpg://x@127.0.0.1/x"},
                                   s3={"endpoint": "127.0.0.1:1", "access_key": "a", "secret_key": "b"},
                                   trial_timeout=1.0)
        with pytest.raises(HTTPException) as caught:
            await checked(spec, nc, subjects, settings)
        assert caught.value.status_code == 503 and caught.value.headers == {"Retry-After": "5"}
        assert "Expected an env-worker to try the environments, got no answer within 6 s" in caught.value.detail
        assert time.monotonic() - started < 5  # NATS says at once that nobody listens
    finally:
        await nc.close()


# ---------------------------------------------------------------- the worker's trial, in process
HANGS = {"id": "hang", "env_id": "ALE/Pong-v5", "kwargs": {"frameskip": 1_000_000_000}}  # a step that never ends


async def test_a_trial_that_hangs_is_killed_and_the_next_one_succeeds() -> None:
    pool = TrialPool(1, EnvAccess())
    pool.start()
    try:
        started = time.monotonic()
        reply = await pool.run(EnvironmentSpec(**HANGS), timeout=2.0)
        assert not reply.ok and reply.problems[0].field == "env_id" and "timed out" in reply.problems[0].message
        assert time.monotonic() - started < 4
        started = time.monotonic()
        after = await pool.run(EnvironmentSpec(**PONG), timeout=30.0)  # in a fresh process, the stuck one killed
        assert after.ok, after.problems
        again = await pool.run(EnvironmentSpec(**PONG), timeout=30.0)
        assert again.ok and again.seconds is not None and again.seconds < 1  # imports stay warm in the child
        print(f"\nfirst Pong trial in a fresh trial process: {time.monotonic() - started - again.seconds:.2f} s, "
              f"then {again.seconds:.2f} s")
    finally:
        pool.close()


async def test_a_trial_process_that_dies_is_a_problem_and_is_replaced() -> None:
    pool = TrialPool(1, EnvAccess(modules=frozenset({"tests.trial_envs"})))
    pool.start()
    try:
        reply = await pool.run(EnvironmentSpec(id="d", env_id="tests.trial_envs:Die-v0"), timeout=30.0)
        assert not reply.ok and "the trial process died (exit code 3)" in reply.problems[0].message, reply.problems
        assert (await pool.run(EnvironmentSpec(**PONG), timeout=30.0)).ok
    finally:
        pool.close()


@pytest.mark.e2e
async def test_hanging_trials_leave_live_play_and_later_trials_alone(stack: DevStack, client: Client) -> None:
    created = client.create_study(study({"id": "pong", "env_id": "ALE/Pong-v5", "mode": "realtime", "fps": 15},
                                        name="live-while-trying"))
    player = await Player.join(client.url, client.create_participant(created["id"])["token"], "pong")
    await player.until("episode_started")
    await player.send(type="resume")
    await player.until("state", state="running")
    nc = await connect(NatsSettings(url=stack.nats_url), "test-hanging-trials")
    try:
        # more hanging trials than the worker has threads (WORKER_THREADS 4), as the probe sent them
        request = TrialRequest(environment=EnvironmentSpec(**HANGS), timeout_s=3.0).model_dump_json().encode()
        asks = [asyncio.create_task(nc.request(Subjects(prefix="pc").trial, request, timeout=10)) for _ in range(6)]
        during = 0
        for _ in range(4):
            await player.send(type="input", keys=["ArrowUp"])  # a participant playing (no idle pause)
            during += await player.drain(1.0)
        replies = [TrialReply.model_validate_json(m.data) for m in await asyncio.gather(*asks)]
        assert all(not r.ok and "timed out" in r.problems[0].message for r in replies), replies
        assert during >= 4 * 10, during  # ~15 fps all along
        print(f"\nframes while 6 trials hung: {during} in 4 s")
        (pong,) = await asyncio.to_thread(client.try_study, study(PONG))
        assert pong["ok"], pong["problems"]
        await player.send(type="input", keys=[])
        assert await player.drain(1.0) >= 10
    finally:
        await nc.close()
        await player.close()


@pytest.mark.parametrize("env,field,says", [
    ({"env_id": "MiniGrid-Empty-5x5-v0", "kwargs": {"size": 600}}, "kwargs", "got 19200x19200"),
    ({"env_id": "ALE/Pong-v5", "wrappers": [{"name": "FrameStackObservation", "kwargs": {"stack_size": 1000}}]},
     "observation_space", "of at most 16.0 MiB per value (MAX_OBSERVATION_BYTES), got 96.1 MiB"),
    ({"env_id": "HalfCheetah-v5", "kwargs": {"xml_file": "/etc/passwd"}}, "kwargs.xml_file",
     "designers may not make the worker read files"),
    ({"env_id": "CartPole-v1", "wrappers": [{"name": "RecordEpisodeStatistics", "kwargs": {"stats_dir": "/"}}]},
     "wrappers.0.kwargs.stats_dir", "Expected kwargs that name no file or folder"),
])
def test_a_spec_may_not_blow_up_memory_or_read_files(env: dict[str, Any], field: str, says: str) -> None:
    reply = try_environment(EnvironmentSpec(id="e", **env))
    assert not reply.ok and [p.field for p in reply.problems] == [field], reply.problems
    assert says in reply.problems[0].message, reply.problems[0].message


def test_large_renders_and_sizes_stay_within_the_limits() -> None:
    for env in ({"env_id": "HalfCheetah-v5", "render": {"width": 1920, "height": 1920}},
                {"env_id": "procgen/coinrun", "render": {"width": 1920, "height": 1920}},
                {"env_id": "MiniGrid-Empty-5x5-v0", "kwargs": {"size": 50}}):
        reply = try_environment(EnvironmentSpec(id="e", **env))
        assert reply.ok, (env, reply.problems)


def test_a_json_list_is_the_tuple_a_wrapper_expects() -> None:
    reply = try_environment(EnvironmentSpec(id="r", env_id="ALE/Pong-v5",
                                            wrappers=[{"name": "ResizeObservation", "kwargs": {"shape": [84, 84]}}]))
    assert all("tuple" not in p.message for p in reply.problems), reply.problems
    # (opencv, which ResizeObservation resizes with, is not a dependency of the worker)
    assert reply.ok and reply.observation_space is not None and reply.observation_space["shape"] == [84, 84, 3] \
        or "opencv" in reply.problems[0].message, reply.problems


@pytest.mark.parametrize("env,field,meant", [
    ({"env_id": "HalfCheetah-v5", "kwargs": {"frame_skp": 2}}, "kwargs.frame_skp", "frame_skip"),
    ({"env_id": "procgen/coinrun", "kwargs": {"distribution_mod": "easy"}}, "kwargs.distribution_mod",
     "distribution_mode"),
    ({"env_id": "MiniGrid-Empty-5x5-v0", "kwargs": {"sise": 6}}, "kwargs.sise", "size"),
    ({"env_id": "CartPole-v1", "kwargs": {"render_mode": "human"}}, "kwargs.render_mode", None),
    ({"env_id": "CartPole-v1", "wrappers": [{"name": "TimeAwareObservation", "kwargs": {"flaten": True}}]},
     "wrappers.0.kwargs.flaten", "flatten"),
    ({"env_id": "CartPole-v1", "wrappers": [{"name": "RecordVideo", "kwargs": {"video_folder": "/tmp/x"}}]},
     "wrappers.0.name", None),
    ({"env_id": "CartPole-v1", "wrappers": [{"name": "ClipAction"}]}, "wrappers.0.name", None),
    ({"env_id": "HalfCheetah-v5", "input_map": {"kind": "discrete"}}, "input_map.kind", "continuous"),
    ({"env_id": "HalfCheetah-v5", "input_map": {"kind": "continuous", "keys": [{"key": "Up", "dim": 6}]}},
     "input_map.keys.0.dim", None),
    ({"env_id": "ALE/Pong-v5", "render": {"camera": "top"}}, "render.camera", None),
])
def test_each_problem_names_its_field(env: dict[str, Any], field: str, meant: str | None) -> None:
    reply = try_environment(EnvironmentSpec(id="e", **env))
    assert not reply.ok and [p.field for p in reply.problems] == [field], reply.problems
    assert reply.problems[0].message.startswith("Expected"), reply.problems[0].message
    if meant is not None:
        assert reply.problems[0].suggestions[:1] == [meant], reply.problems[0].suggestions


@pytest.mark.parametrize("env", [
    PONG, MINIGRID, {"id": "m", "env_id": "MiniGrid-Empty-5x5-v0",
                     "wrappers": [{"name": "minigrid.wrappers:ImgObsWrapper"}]},
    {"id": "c", "env_id": "CartPole-v1", "wrappers": [{"name": "FlattenObservation"},
                                                      {"name": "TimeAwareObservation", "kwargs": {"flatten": True}}]},
    {"id": "coinrun", "env_id": "procgen/coinrun", "kwargs": {"distribution_mode": "easy"}},
    {"id": "cheetah", "env_id": "HalfCheetah-v5", "render": {"width": 96, "height": 96}},
])
def test_each_family_tries_cheaply(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    spec = EnvironmentSpec(**env)
    try_environment(spec)  # the first trial of a family imports it
    reply = try_environment(spec)
    assert reply.ok, reply.problems
    assert reply.preview_jpeg and reply.width and reply.height and reply.width <= 640
    assert reply.seconds is not None and reply.seconds < 2, reply.seconds
    with capsys.disabled():
        print(f"\ntrial of {spec.env_id} ({reply.family}): {reply.seconds * 1000:.0f} ms, "
              f"preview {reply.width}x{reply.height}")


SLOW_ACCESS = EnvAccess(modules=frozenset({"tests.trial_envs"}))


@pytest.mark.parametrize("env,says", [
    ({"mode": "realtime", "fps": 15}, "Expected a step within 66.7 ms for realtime at 15 fps, got ~2"),
    ({"mode": "turn_based", "step_while_held": True, "fps": 15},
     "Expected a step within 66.7 ms for turn_based with step_while_held at 15 fps, got ~2"),
])
def test_a_step_slower_than_the_fps_allows_is_a_warning_not_a_problem(env: dict[str, Any], says: str) -> None:
    spec = EnvironmentSpec(id="slow", env_id="tests.trial_envs:Slow-v0", kwargs={"step_s": 0.21}, **env)
    reply = try_environment(spec, SLOW_ACCESS)
    assert reply.ok and reply.problems == [] and [w.field for w in reply.warnings] == ["fps"], reply
    cost = reply.step_cost
    assert cost is not None and 210 < cost.total_ms < 250 and cost.step_ms >= 210, cost  # CartPole renders in ms
    assert 1 <= cost.steps < 5  # a fifth step would take the measuring past its 1 s (a fourth too, on a busy CPU)
    warning = reply.warnings[0]
    assert warning.message.startswith(says), warning.message
    assert f"got ~{cost.total_ms:.0f} ms per step (step {cost.step_ms:.0f} ms, render " in warning.message
    other = "mode turn_based" if spec.mode == "realtime" else "step_while_held off"
    assert warning.message.endswith(f"on this worker: set fps to 4 or less, or {other}"), warning.message
    assert warning.suggestions == ["4"]  # what the form's "did you mean" puts in the fps field


def test_a_step_slower_than_a_second_fits_no_fps_and_is_measured_once_more() -> None:
    spec = EnvironmentSpec(id="slow", env_id="tests.trial_envs:Slow-v0", kwargs={"step_s": 1.05}, fps=1)
    reply = try_environment(spec, SLOW_ACCESS)
    assert reply.ok and reply.step_cost is not None and reply.step_cost.steps == 1, reply.step_cost
    assert reply.seconds is not None and reply.seconds < 5  # the preview's step and one more (2.1 s of CPU), no further
    (warning,) = reply.warnings
    assert warning.message.endswith("no fps keeps up (1 is the least): mode turn_based"), warning.message
    assert warning.suggestions == []


@pytest.mark.parametrize("env", [
    {"id": "cartpole", "env_id": "CartPole-v1", "fps": 60},
    {"id": "pong", "env_id": "ALE/Pong-v5", "fps": 60},
    {**SLOW_CHEETAH, "mode": "turn_based"},  # slow, but it steps only when a key is pressed
    {"id": "slow", "env_id": "tests.trial_envs:Slow-v0", "kwargs": {"step_s": 0.21}, "fps": 4},  # 250 ms: it fits
])
def test_a_step_within_its_budget_or_unpaced_is_no_warning(env: dict[str, Any]) -> None:
    reply = try_environment(EnvironmentSpec(**env), SLOW_ACCESS)
    assert reply.ok and reply.warnings == [], reply.warnings
    assert reply.step_cost is not None, reply
    assert reply.step_cost.steps == 5 or env["id"] in ("cheetah", "slow"), reply.step_cost  # fast: all 5 in the 1 s
    if env["id"] == "cheetah":
        assert reply.step_cost.total_ms > 1000 / 60  # what a realtime cheetah at 60 fps would be warned about
    print(f"\n{env['env_id']}: {reply.step_cost}")


def test_an_env_that_breaks_on_its_second_step_is_a_problem() -> None:
    reply = try_environment(EnvironmentSpec(id="b", env_id="tests.trial_envs:BreaksLater-v0"), SLOW_ACCESS)
    assert not reply.ok and [p.field for p in reply.problems] == ["env_id"], reply.problems
    assert reply.problems[0].message == ("Expected 'tests.trial_envs:BreaksLater-v0' to keep stepping (the idle "
                                         "action, 5 steps at most), got RuntimeError: the simulation diverged")
    assert reply.preview_jpeg is not None  # its first step rendered


def test_wrapped_spaces_are_the_recorded_ones() -> None:
    reply = try_environment(EnvironmentSpec(**MINIGRID))
    assert reply.observation_space == {"type": "box", "dtype": "uint8", "shape": [7, 7, 3], "low": 0, "high": 255}

