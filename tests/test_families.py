"""Environment families on real envs: Atari, Procgen, MuJoCo, generic Gymnasium, and the dispatcher's errors."""

from __future__ import annotations

import gc
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest

from playcorder.specs import EnvironmentSpec
from playcorder_env_worker.default_maps import default_atari_map
from playcorder_env_worker.families import make_env, resolve_family
from playcorder_env_worker.families.procgen import register_procgen_envs
from playcorder_env_worker.mapping import touch_controls


def spec(env_id: str, **kw) -> EnvironmentSpec:
    return EnvironmentSpec(id="e", env_id=env_id, **kw)


@pytest.mark.parametrize("env_id,family", [("ALE/Pong-v5", "atari"), ("procgen/coinrun", "procgen"),
                                           ("HalfCheetah-v5", "mujoco"), ("CartPole-v1", "gymnasium")])
def test_family_is_inferred(env_id, family):
    assert resolve_family(spec(env_id)) == family


def test_unknown_id_names_the_families():
    with pytest.raises(ValueError, match=r"^Expected a registered Gymnasium environment id, got 'Nope-v0'; "
                                         r"known families: atari .*procgen .*mujoco .*gymnasium"):
        make_env(spec("Nope-v0"))
    with pytest.raises(ValueError, match="got 'procgen/nope'"):
        make_env(spec("procgen/nope"))


@pytest.mark.parametrize("env_id,meanings", [
    ("ALE/Pong-v5", ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]),
    ("ALE/Breakout-v5", ["NOOP", "FIRE", "RIGHT", "LEFT"]),
])
def test_atari(env_id, meanings):
    prepared = make_env(spec(env_id, max_episode_steps=3))
    try:
        assert prepared.family == "atari" and prepared.action_meanings == meanings
        assert prepared.default_input_map is not None and prepared.cameras == []
        prepared.env.reset(seed=0)
        frame = prepared.render()
        assert frame.shape == (210, 160, 3) and frame.dtype == np.uint8
        ends = [prepared.env.step(0)[3] for _ in range(3)]
        assert ends == [False, False, True]  # max_episode_steps truncates
        with pytest.raises(ValueError, match="single camera"):
            prepared.set_camera(0)
    finally:
        prepared.close()


def _play(env: gym.Env, action: Callable[[], int], limit: int) -> tuple[int, bool, bool]:
    """Step until the episode ends or `limit` steps; returns (steps taken, terminated, truncated)."""
    for steps in range(1, limit + 1):
        _, _, terminated, truncated, _ = env.step(action())
        if terminated or truncated:
            return steps, terminated, truncated
    return limit, terminated, truncated


def test_procgen_coinrun():
    prepared = make_env(spec("procgen/coinrun", kwargs={"distribution_mode": "easy"}))
    env = prepared.env
    try:
        assert prepared.family == "procgen" and prepared.default_input_map is not None
        assert len(prepared.action_meanings) == 15 and {"NOOP", "RIGHT+UP", "LEFT"} <= set(prepared.action_meanings)
        assert env.observation_space == gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
        assert env.action_space == gym.spaces.Discrete(15)

        first, info = env.reset(seed=3)
        assert first.shape == (64, 64, 3) and first.dtype == np.uint8
        assert prepared.render().shape == (256, 256, 3)  # shown at half procgen's 512x512 by default
        again, info_again = env.reset(seed=3)  # same seed, same level
        assert np.array_equal(first, again) and info == info_again
        assert env.reset(seed=4)[1]["level_seed"] != info["level_seed"]

        env.reset(seed=3)  # holding RIGHT+UP finishes this level
        prev, right_up = first, prepared.action_meanings.index("RIGHT+UP")
        for _ in range(1000):
            obs, reward, terminated, truncated, step_info = env.step(right_up)
            if terminated or truncated:
                break
            prev = obs
        assert terminated and not truncated and reward > 0 and step_info["level_complete"]
        assert step_info["final_observation_repeated"] and np.array_equal(obs, prev)  # not the next level's frame
        assert env.reset()[1]["level_seed"] != info["level_seed"]  # the next level procgen started

        rng = np.random.default_rng(0)  # random play ends within procgen's 1000-step limit
        steps, terminated, truncated = _play(env, lambda: int(rng.integers(15)), 1000)
        assert terminated != truncated and steps <= 1000
    finally:
        prepared.close()


def test_procgen_own_step_limit_truncates():
    register_procgen_envs()
    env = gym.make("procgen/maze", distribution_mode="easy")  # no render: fast
    try:
        env.reset(seed=0)
        steps, terminated, truncated = _play(env, lambda: 4, 599)  # NOOP never reaches the cheese
        assert (steps, terminated, truncated) == (500, False, True)
    finally:
        env.close()


def _cheetah(**render):
    return make_env(spec("HalfCheetah-v5", render={"width": 160, "height": 120, **render}))


def test_mujoco_size_shadows_and_cameras():
    import mujoco

    lit, flat = _cheetah(), _cheetah(shadows=False)
    try:
        assert flat.family == "mujoco" and flat.default_input_map is not None and flat.action_meanings is None
        assert flat.cameras == ["free", "track"] and flat.camera == "free"
        viewer = flat.env.unwrapped.mujoco_renderer.viewer
        assert viewer.scn.flags[mujoco.mjtRndFlag.mjRND_SHADOW] == 0
        lit.env.reset(seed=0)
        flat.env.reset(seed=0)
        free = flat.render()
        assert free.shape == (120, 160, 3) and free.dtype == np.uint8
        assert not np.array_equal(lit.render(), free)  # the same state with shadows looks different

        flat.set_camera("track")
        assert flat.camera == "track" and not np.array_equal(flat.render(), free)
        flat.set_camera(0)
        assert flat.camera == "free" and np.array_equal(flat.render(), free)
        with pytest.raises(ValueError, match=r"\['free', 'track'\]"):
            flat.set_camera("side")
        with pytest.raises(ValueError, match="track"):
            flat.set_camera(2)
    finally:
        lit.close()
        flat.close()


def test_mujoco_closing_one_env_keeps_the_next_rendering():
    first = _cheetah(shadows=False)
    first.env.reset(seed=0)
    first.render()
    first.close()
    second = _cheetah(shadows=False)
    try:
        del first
        gc.collect()  # the closed env's GL objects must not be freed in the second env's context
        second.env.reset(seed=0)
        second.env.step(second.env.action_space.sample())
        assert second.render().mean() > 10  # not a black frame
    finally:
        second.close()


def test_cartpole():
    prepared = make_env(spec("CartPole-v1"))
    try:
        assert prepared.family == "gymnasium" and prepared.cameras == [] and prepared.action_meanings is None
        assert prepared.default_input_map is not None
        prepared.env.reset(seed=0)
        frame = prepared.render()
        assert frame.shape == (400, 600, 3) and frame.dtype == np.uint8
    finally:
        prepared.close()


def test_minigrid_without_module_prefix():
    pytest.importorskip("minigrid")
    prepared = make_env(spec("MiniGrid-Empty-5x5-v0"))
    try:
        assert prepared.family == "gymnasium" and prepared.env.action_space == gym.spaces.Discrete(7)
        prepared.env.reset(seed=0)
        assert prepared.render().ndim == 3
    finally:
        prepared.close()


def test_every_atari_game_gets_a_default_map():
    """Every game ale-py ships: a default map that reaches each of its actions, and controls a touch UI can show."""
    import ale_py

    gym.register_envs(ale_py)
    games = sorted(k for k in gym.registry if k.startswith("ALE/") and k.endswith("-v5"))
    assert len(games) >= 100
    for env_id in games:
        env = gym.make(env_id)
        meanings = env.unwrapped.get_action_meanings()
        env.close()
        input_map = default_atari_map(meanings)
        reachable = set(input_map.bindings.values()) | {input_map.noop}
        assert reachable == set(range(len(meanings))), (env_id, meanings)
        assert touch_controls(input_map) or meanings == ["NOOP"], env_id


def test_family_defaults_fill_only_what_the_spec_leaves_unset():
    """RoboDesk steps while a key is held at 3 fps, robosuite plays at 5, NetHack waits for each command, unless the
    spec says otherwise;
    NetHack refuses realtime (each idle tick would send --More--)."""
    desk = spec("robodesk/open_slide")
    assert (desk.mode, desk.fps, desk.step_while_held) == ("turn_based", 3, True)
    assert (spec("robosuite/Lift").mode, spec("robosuite/Lift").fps) == ("realtime", 5)
    assert EnvironmentSpec.model_validate(desk.model_dump()).fps == 3  # stored as set
    chosen = spec("robodesk/open_slide", fps=2, step_while_held=False)
    assert (chosen.mode, chosen.fps, chosen.step_while_held) == ("turn_based", 2, False)
    assert spec("NetHackScore-v0").mode == "turn_based" and spec("ALE/Pong-v5").mode == "realtime"
    with pytest.raises(ValueError, match=r"Expected mode 'turn_based' for 'NetHackScore-v0' .*got 'realtime'"):
        spec("NetHackScore-v0", mode="realtime")
