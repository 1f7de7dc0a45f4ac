"""The robosuite family on real robosuite envs (Panda, OSC_POSE): spaces, upright frames that are not noise, camera
switching, the success flag, the arm's response to the default keys, and GL contexts across threads and envs."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from playcorder.inputs import InputState
from playcorder.specs import EnvironmentSpec
from playcorder_env_worker.families import PreparedEnv, make_env
from playcorder_env_worker.families import robosuite as _family  # noqa: F401  (NUMBA_DISABLE_JIT before robosuite)
from playcorder_env_worker.families.access import EnvAccess
from playcorder_env_worker.families.problems import EnvProblem
from playcorder_env_worker.mapping import ContinuousMapper

pytest.importorskip("robosuite")


def lift(**kwargs) -> PreparedEnv:
    return make_env(EnvironmentSpec(id="lift", env_id="robosuite/Lift", kwargs=kwargs))


@pytest.fixture(scope="module")
def env() -> Iterator[PreparedEnv]:
    prepared = lift()
    yield prepared
    prepared.close()


def red_rows(frame: np.ndarray) -> np.ndarray:
    """Row indices of the red cube's pixels."""
    r, g, b = (frame[:, :, i].astype(int) for i in range(3))
    return np.nonzero((r > 100) & (g < 60) & (b < 60))[0]


def smooth(frame: np.ndarray) -> float:
    """Mean difference of neighbouring pixels: a rendered scene ~5, uninitialised memory ~80."""
    return float(np.abs(np.diff(frame.astype(np.int16), axis=1)).mean())


def cube_lifted(prepared: PreparedEnv, dz: float) -> None:
    rs = prepared.env.unwrapped._env
    joint = rs.cube.joints[0]
    q = rs.sim.data.get_joint_qpos(joint).copy()
    q[2] += dz
    rs.sim.data.set_joint_qpos(joint, q)
    rs.sim.forward()


def test_spaces_cameras_and_default_map(env):
    space = env.env.observation_space
    assert env.family == "robosuite"
    assert space["agentview_image"].shape == (84, 84, 3) and space["agentview_image"].dtype == np.uint8
    assert space["robot0_eye_in_hand_image"].shape == (84, 84, 3)
    assert space["robot0_eef_pos"].shape == (3,) and space["robot0_eef_pos"].dtype == np.float32
    assert {"cube_pos", "robot0_gripper_qpos", "robot0_joint_pos"} <= set(space.spaces)
    assert env.env.action_space.shape == (7,)
    assert {"agentview", "robot0_eye_in_hand", "frontview", "birdview", "sideview"} <= set(env.cameras)
    assert env.camera == "agentview"
    obs, info = env.env.reset(seed=0)
    assert space.contains(obs) and info == {"success": False}
    toggles = env.default_input_map.toggles
    assert [(t.key, t.dim) for t in toggles] == [("Space", 6)]


def test_frames_upright_not_noise_and_cameras_switch(env):
    env.env.reset(seed=1)
    env.set_camera("frontview")
    try:
        frame = env.render()
        assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8
        assert smooth(frame) < 20 and frame.std() > 20, "a rendered scene, not noise or a blank frame"
        assert np.array_equal(env.render(), frame)  # the same state renders the same
        before = red_rows(frame)
        assert before.size > 5, "the red cube is in the front view"
        cube_lifted(env, 0.2)
        after = red_rows(env.render())
        assert after.mean() < before.mean() - 10, "a lifted cube is higher in the frame: the frame is upright"
        env.set_camera("robot0_eye_in_hand")
        assert env.camera == "robot0_eye_in_hand" and not np.array_equal(env.render(), frame)
        with pytest.raises(ValueError, match="agentview"):
            env.set_camera("topview")
    finally:
        env.set_camera("agentview")


def test_camera_observations_upright(env):
    obs, _ = env.env.reset(seed=2)
    image = obs["agentview_image"]
    assert smooth(image) < 25 and image.std() > 20
    arm = env.env.unwrapped
    arm.width = arm.height = 84
    try:
        shown = env.render()  # the same camera rendered for the participant, upright
    finally:
        arm.width = arm.height = 256
    assert np.abs(shown.astype(int) - image).mean() < 3
    assert np.abs(shown[::-1].astype(int) - image).mean() > 10  # so a flipped image would not pass


def test_success_flag(env):
    env.env.reset(seed=3)
    zero = np.zeros(7, np.float32)
    _, _, terminated, truncated, info = env.env.step(zero)
    assert info == {"success": False} and not terminated and not truncated
    cube_lifted(env, 0.2)
    _, reward, terminated, _, info = env.env.step(zero)
    assert info == {"success": True} and reward == pytest.approx(1.0) and not terminated


def test_default_keys_move_the_end_effector(env):
    obs, _ = env.env.reset(seed=4)
    space = env.env.action_space
    mapper = ContinuousMapper(env.default_input_map, space.low, space.high)
    start = obs["robot0_eef_pos"].copy()
    held = InputState(keys=["Down"])  # robosuite's keyboard: Down is +x
    for _ in range(8):
        action = mapper.action(held, 0.1)
        obs, *_ = env.env.step(action)
    assert action[0] > 0.5 and np.allclose(action[1:6], 0) and action[6] == -1  # gripper open until Space
    moved = obs["robot0_eef_pos"] - start
    assert moved[0] > 0.03 and abs(moved[1]) < 0.01 and abs(moved[2]) < 0.01, moved
    opening = float(np.diff(obs["robot0_gripper_qpos"])[0])
    pressed = mapper.action(InputState(keys=["Space"]), 0.1)
    assert pressed[6] == 1  # Space closes the gripper, and it stays closed once Space is up
    obs, *_ = env.env.step(pressed)
    for _ in range(8):
        obs, *_ = env.env.step(mapper.action(InputState(), 0.1))
    assert abs(float(np.diff(obs["robot0_gripper_qpos"])[0])) < abs(opening) - 0.02


def test_two_envs_render_from_other_threads(env):
    other = lift(camera_obs=False)
    try:
        env.env.reset(seed=5)
        other.env.reset(seed=5)
        with ThreadPoolExecutor(2) as pool:
            mine = pool.submit(env.render).result()
            theirs = pool.submit(other.render).result()
            for i in range(4):  # steps and renders alternate between the threads and the envs
                action = np.zeros(7, np.float32)
                a = pool.submit(env.env.step, action)
                b = pool.submit(other.env.step, action)
                obs = a.result()[0]
                b.result()
                mine, theirs = pool.submit(env.render).result(), pool.submit(other.render).result()
                assert smooth(mine) < 20 and mine.std() > 20, i
                assert smooth(theirs) < 20 and theirs.std() > 20, i
                assert smooth(obs["agentview_image"]) < 25, i
            assert np.array_equal(env.render(), mine)  # this thread too, with nothing left current elsewhere
    finally:
        other.close()
    env.env.step(np.zeros(7, np.float32))
    assert smooth(env.render()) < 20 and env.render().std() > 20  # closing one env leaves the other rendering


def test_kwargs_are_checked():
    with pytest.raises(EnvProblem, match="camera_size") as err:
        lift(camera_szie=64)
    assert err.value.field == "kwargs.camera_szie"
    with pytest.raises(ValueError, match="Expected robot among"):
        lift(robot="Pandaa", camera_obs=False)
    with pytest.raises(ValueError, match="Expected an OSC_POSE arm .* got 11 dims"):
        lift(robot="PandaOmron", camera_obs=False)  # a mobile base adds dims the arm map has no keys for


def test_numba_jit_is_off_for_robosuite_even_when_numba_came_first():
    """robosuite's EGL frames are uninitialised memory with numba's JIT (and an empty cache): the family turns the
    JIT off, also in a process that imported numba before it."""
    from robosuite.utils import control_utils

    assert inspect.isfunction(control_utils.nullspace_torques)  # not a numba dispatcher
    script = ("import numba, inspect\n"
              "from playcorder.specs import EnvironmentSpec\n"
              "from playcorder_env_worker.families import make_env\n"
              "p = make_env(EnvironmentSpec(id='l', env_id='robosuite/Lift', kwargs={'camera_obs': False}))\n"
              "from robosuite.utils import control_utils\n"
              "p.env.reset(seed=0)\n"
              "f = p.render().astype(int)\n"
              "print(inspect.isfunction(control_utils.nullspace_torques), abs(f[:, 1:] - f[:, :-1]).mean())\n")
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    out = subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    plain, roughness = out.stdout.split()[-2:]
    assert plain == "True" and float(roughness) < 20


@pytest.mark.parametrize("task,kwargs,dims", [("Wipe", {}, 6), ("Door", {"use_latch": False}, 7)])
def test_other_tasks_and_their_own_kwargs(task: str, kwargs: dict, dims: int) -> None:
    prepared = make_env(EnvironmentSpec(id="t", env_id=f"robosuite/{task}", kwargs={"camera_obs": False, **kwargs}))
    try:
        env = prepared.env
        assert env.action_space.shape == (dims,)
        assert len(prepared.default_input_map.toggles) == (dims == 7)  # Wipe's arm has no gripper to toggle
        obs, info = env.reset(seed=0)
        assert env.observation_space.contains(obs) and "robot0_eef_pos" in obs and info == {"success": False}
        _, _, _, _, info = env.step(env.action_space.sample())
        assert info == {"success": False}
        assert smooth(prepared.render()) < 20
    finally:
        prepared.close()


def test_tasks_with_a_new_object_each_reset_are_not_offered():
    only = EnvAccess(families=frozenset({"robosuite"}))
    with pytest.raises(EnvProblem, match="Expected a registered Gymnasium environment id") as err:
        make_env(EnvironmentSpec(id="t", env_id="robosuite/PickPlaceSingle"), only)
    assert "robosuite/PickPlaceCan" in err.value.suggestions


def test_beside_a_mujoco_env_in_one_process(env):
    """The worker may run Gymnasium's MuJoCo envs (mujoco.Renderer's EGL contexts) next to robosuite's."""
    cheetah = make_env(EnvironmentSpec(id="c", env_id="HalfCheetah-v5", render={"width": 96, "height": 96}))
    try:
        cheetah.env.reset(seed=0)
        env.env.reset(seed=6)
        with ThreadPoolExecutor(2) as pool:
            for _ in range(3):
                a = pool.submit(cheetah.env.step, cheetah.env.action_space.sample())
                b = pool.submit(env.env.step, np.zeros(7, np.float32))
                a.result()
                obs = b.result()[0]
                theirs, mine = pool.submit(cheetah.render).result(), pool.submit(env.render).result()
                assert theirs.mean() > 10 and smooth(mine) < 20 and mine.std() > 20
                assert smooth(obs["agentview_image"]) < 25
    finally:
        cheetah.close()
    env.env.step(np.zeros(7, np.float32))
    assert smooth(env.render()) < 20 and env.render().std() > 20
