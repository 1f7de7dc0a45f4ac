"""RoboDesk (google-research/robodesk 1.0.0, a Franka Panda at a desk on dm_control) as Gymnasium envs
'robodesk/<task>', one per task of RoboDesk's `all_tasks`.

Actions: Box(-1, 1, (5,)) float32 = [dx, dy, dz] of the end effector (x 0.01 m, RoboDesk solves the joints by IK),
the wrist's rotation, the gripper (-1 closed, +1 open). Observations: RoboDesk's dict (image, qpos_robot, qvel_robot,
end_effector, qpos_objects, qvel_objects), its float arrays as the float32 its spaces declare (RoboDesk returns
float64). RoboDesk 1.0.0's `qpos_objects` holds the objects' velocities (its bug, kept: the data is RoboDesk's).
info["success"]: whether the task is done now (RoboDesk's own success test); RoboDesk never ends an episode on it
(kwarg end_on_success does). An episode is truncated after episode_length steps (RoboDesk's 500 by default).

Rendering is the cost: RoboDesk's scene has ~140k triangles, 3 shadow-casting lights and 4x multisampling, ~250-350 ms
a frame on the CPU renderer (llvmpipe) whatever its size. RoboDesk renders a 120x120 frame and crops and shrinks it
into the image observation; here that one frame per step is both the image observation's source and the frame
participants see (RoboDesk itself would render twice when both are wanted). A frame size other than 120x120
(render.width/height) is a second render per step. render.shadows False skips the shadow passes (~80 ms a frame),
in the image observation too, which then no longer looks like RoboDesk's.

Seeding: RoboDesk draws its reset randomisation from numpy's global RNG; here each env draws the same numbers, in the
same order, from its own RandomState: reset(seed=s) gives what `np.random.seed(s); RoboDesk().reset()` gives, and
sessions sharing a process do not draw from each other's stream.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
from PIL import Image

from playcorder.inputs import ContinuousMap
from playcorder.specs import EnvironmentSpec

from ..default_maps import default_arm_map
from . import PreparedEnv, make_gym
from . import mujoco as _gl  # noqa: F401  (decides MUJOCO_GL before dm_control is imported)
from .access import EnvAccess
from .problems import EnvProblem, closest

TASKS = ("open_slide", "open_drawer", "push_green", "stack", "upright_block_off_table", "flat_block_in_bin",
         "flat_block_in_shelf", "lift_upright_block", "lift_ball", "push_blue", "push_red", "flat_block_off_table",
         "ball_off_table", "upright_block_in_bin", "ball_in_bin", "upright_block_in_shelf", "ball_in_shelf",
         "lift_flat_block")  # RoboDesk's all_tasks; the first 12 are its core_tasks
REWARDS = ("dense", "sparse", "success")
FRAME_SIZE = 120  # RoboDesk's render size, the source of its image observation
MAX_FRAME = 640  # largest frame side offered participants
MAX_IMAGE_SIZE = FRAME_SIZE  # beyond it the image observation would only be RoboDesk's crop scaled up
# RoboDesk.render's free camera and the crop its image observation is shrunk from
_CAMERA = {"distance": 1.8, "azimuth": 90.0, "elevation": -60.0}
_LOOKAT = (0.0, 0.535, 1.1)
_CROP = (16.75, 25.0, 105.0, 88.75)
_FLOAT_KEYS = {"qpos_robot": 9, "qvel_robot": 9, "end_effector": 3, "qpos_objects": 26, "qvel_objects": 26}
_T = TypeVar("_T")
INSTALL = "pip install --no-deps robodesk==1.0.0 gym==0.26.2 && pip install dm_control==1.0.52 mujoco==4.0.1"


def register_robodesk_envs() -> None:
    for task in TASKS:
        if f"robodesk/{task}" not in gym.registry:
            gym.register(f"robodesk/{task}", entry_point=f"{__name__}:RoboDeskEnv", kwargs={"task": task})


def _robodesk_class() -> Any:
    """robodesk imports the unmaintained `gym`, which rewrites SDL env vars on import; keep ours."""
    saved = {k: os.environ.get(k) for k in ("SDL_AUDIODRIVER", "PYGAME_HIDE_SUPPORT_PROMPT")}
    try:
        import robodesk
    except ImportError as err:
        raise ImportError(f"RoboDesk needs robodesk and its runtime deps: {INSTALL} ({err})") from err
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return robodesk.RoboDesk


@functools.cache
def _desk_class() -> Any:
    """RoboDesk with its reset drawing from the env's own RandomState, and the image observation taken from the
    frame the env renders once a step (RoboDesk 1.0.0's own render needs Pillow's removed Image.ANTIALIAS)."""
    base = _robodesk_class()

    class Desk(base):  # type: ignore[misc,valid-type]
        rng: np.random.RandomState
        observe: Any  # () -> the image observation of this step (set by RoboDeskEnv)

        def _get_init_robot_pos(self) -> np.ndarray:  # RoboDesk 1.0.0's, with self.rng for np.random
            init_joint_pose = np.array([-0.30, -0.4, 0.28, -2.5, 0.13, 1.87, 0.91, 0.01, 0.01])
            init_joint_pose += 0.15 * self.rng.uniform(
                low=self.physics.model.actuator_ctrlrange[:self.num_joints, 0],
                high=self.physics.model.actuator_ctrlrange[:self.num_joints, 1])
            return init_joint_pose

        def reset(self) -> dict[str, np.ndarray]:  # RoboDesk 1.0.0's, with self.rng for np.random
            self.success = False
            self.num_steps = 0
            self.physics.reset()
            qpos = self.physics.named.data.qpos
            qpos["drawer_joint"] -= 0.10 * self.rng.random()
            qpos["slide_joint"] += 0.20 * self.rng.random()
            qpos["flat_block"][0] += 0.3 * self.rng.random()
            qpos["flat_block"][1] += 0.07 * self.rng.random()
            qpos["ball"][0] += 0.48 * self.rng.random()
            qpos["ball"][1] += 0.08 * self.rng.random()
            qpos["upright_block"][0] += 0.3 * self.rng.random() + 0.05
            qpos["upright_block"][1] += 0.05 * self.rng.random()
            self.physics.data.qpos[:self.num_joints] = self._get_init_robot_pos()
            self.physics.data.qvel[:self.num_joints] = np.zeros(9)
            self.physics.forward()
            self.physics_copy.data.qpos[:] = self.physics.data.qpos[:]
            xpos = self.physics.named.data.xpos
            self.original_pos["ball"] = xpos["ball"]
            self.original_pos["upright_block"] = xpos["upright_block"]
            self.original_pos["flat_block"] = xpos["flat_block"]
            self.drawer_opened = False
            return self._get_obs()

        def _get_obs(self) -> dict[str, np.ndarray]:
            data = self.physics.data
            return {"image": self.observe(),
                    "qpos_robot": data.qpos[:self.num_joints].astype(np.float32),
                    "qvel_robot": data.qvel[:self.num_joints].astype(np.float32),
                    "end_effector": self.physics.named.data.site_xpos["end_effector"].astype(np.float32),
                    "qpos_objects": data.qvel[self.num_joints:].astype(np.float32),  # sic: RoboDesk 1.0.0's
                    "qvel_objects": data.qvel[self.num_joints:].astype(np.float32)}

    return Desk


def _int_kwarg(field: str, value: Any, low: int, high: int | None = None, note: str = "") -> int:
    """`value` as an int within low..high; else an EnvProblem at `field` (e.g. 'kwargs.image_size')."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (
            high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        name = field.rsplit(".", 1)[-1]
        raise EnvProblem(field, f"Expected {name}{note} to be an int {bounds}, got {value!r}")
    return int(value)


class RoboDeskEnv(gym.Env):
    """One RoboDesk task with Gymnasium's reset/step contract; render() is the frame of the last reset or step."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, task: str, render_mode: str | None = None, reward: str = "dense", image_size: int = 64,
                 episode_length: int | None = 500, action_repeat: int = 1, end_on_success: bool = False):
        if task not in TASKS:
            raise ValueError(f"Expected a RoboDesk task among {list(TASKS)}, got {task!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"Expected render_mode None or 'rgb_array', got {render_mode!r}")
        if reward not in REWARDS:
            raise EnvProblem("kwargs.reward", f"Expected reward among {list(REWARDS)}, got {reward!r}",
                             closest(str(reward), REWARDS))
        image_size = _int_kwarg("kwargs.image_size", image_size, 16, MAX_IMAGE_SIZE)
        if episode_length is not None:
            episode_length = _int_kwarg("kwargs.episode_length", episode_length, 1, note=" (or null for no limit)")
        action_repeat = _int_kwarg("kwargs.action_repeat", action_repeat, 1, 100)
        if not isinstance(end_on_success, bool):
            raise EnvProblem("kwargs.end_on_success",
                             f"Expected end_on_success to be true or false, got {end_on_success!r}")
        self.task, self.render_mode, self.end_on_success = task, render_mode, end_on_success
        # dm_control's EGL context stays current on the thread that rendered with it and cannot be made current on
        # another; the worker steps and renders an env on whichever pool thread is free: so every call that may
        # render (reset, step, render, close) runs on this env's own thread
        self._gl = ThreadPoolExecutor(1, thread_name_prefix=f"robodesk-{task}")
        self.desk = _desk_class()(task=task, reward=reward, action_repeat=action_repeat,
                                  episode_length=episode_length, image_size=image_size)
        self.desk.rng = np.random.RandomState()
        visual = self.desk.physics.model.vis.global_  # the GL context, made at the first render, is sized by it
        visual.offwidth, visual.offheight = max(visual.offwidth, MAX_FRAME), max(visual.offheight, MAX_FRAME)
        self.desk.observe = self._image
        self.image_size = image_size
        self._seeded = False
        self._shadows = True
        self._size = (FRAME_SIZE, FRAME_SIZE)  # (width, height) of what render() shows
        self._cameras: dict[tuple[int, int], Any] = {}
        self._frame: np.ndarray | None = None  # the 120x120 frame of the current state
        self._shown: np.ndarray | None = None  # the frame at _size, when that differs
        bounds = self.desk.joint_bounds.astype(np.float32)
        float_spaces = {k: gym.spaces.Box(-np.inf, np.inf, (n,), np.float32) for k, n in _FLOAT_KEYS.items()}
        float_spaces["qpos_robot"] = gym.spaces.Box(bounds[:, 0], bounds[:, 1], (9,), np.float32)
        self.observation_space = gym.spaces.Dict(
            {"image": gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8), **float_spaces})
        self.action_space = gym.spaces.Box(-1.0, 1.0, (5,), np.float32)

    @classmethod
    def accepted_kwargs(cls) -> set[str]:
        """What a spec's kwargs may hold: not `task` (the id names it) nor render_mode (the worker's)."""
        return {"reward", "image_size", "episode_length", "action_repeat", "end_on_success"}

    def show(self, width: int, height: int, shadows: bool = True) -> None:
        """Frames of `width` x `height` from render(); shadows off in every render (the image observation too)."""
        for name, value in (("width", width), ("height", height)):
            _int_kwarg(f"render.{name}", value, 16, MAX_FRAME)
        self._size, self._shadows = (int(width), int(height)), bool(shadows)
        for camera in self._cameras.values():
            self._set_shadows(camera)
        self._frame = self._shown = None

    def _camera(self, width: int, height: int) -> Any:
        """A persistent camera per frame size (RoboDesk makes a new one, with its scene, every render)."""
        if (width, height) not in self._cameras:
            from dm_control import mujoco as dm_mujoco

            camera = dm_mujoco.Camera(physics=self.desk.physics, height=height, width=width, camera_id=-1)
            free = camera._render_camera
            free.distance, free.azimuth, free.elevation = _CAMERA["distance"], _CAMERA["azimuth"], _CAMERA["elevation"]
            free.lookat[:] = _LOOKAT
            self._set_shadows(camera)
            self._cameras[(width, height)] = camera
        return self._cameras[(width, height)]

    def _set_shadows(self, camera: Any) -> None:
        from dm_control.mujoco.wrapper.mjbindings import enums

        camera._scene.flags[enums.mjtRndFlag.mjRND_SHADOW] = int(self._shadows)

    def _render(self, size: tuple[int, int]) -> np.ndarray:
        return np.asarray(self._camera(*size).render(depth=False, segmentation=False), dtype=np.uint8)

    def _image(self) -> np.ndarray:
        """The state's 120x120 frame (kept for render()) cropped and shrunk as RoboDesk's image observation."""
        self._frame = self._render((FRAME_SIZE, FRAME_SIZE))
        self._shown = None
        image = Image.fromarray(self._frame).crop(box=_CROP)
        return np.asarray(image.resize((self.image_size, self.image_size), resample=Image.LANCZOS))

    def _on_gl(self, call: Callable[..., _T], *args: Any) -> _T:
        return self._gl.submit(call, *args).result()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.desk.rng = np.random.RandomState(int(seed) % 2**32)
        elif not self._seeded:  # an unseeded first reset: a stream from gymnasium's own entropy
            self.desk.rng = np.random.RandomState(int(self.np_random.integers(2**32)))
        self._seeded = True
        return self._ordered(self._on_gl(self.desk.reset)), {"success": self._success()}

    def _ordered(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {key: obs[key] for key in self.observation_space.spaces}  # the space's (sorted) key order

    def _success(self) -> bool:
        return bool(self.desk._get_task_reward(self.task, "success"))

    def step(self, action: Any):
        act = np.asarray(action, dtype=np.float32)
        if act.shape != (5,) or not self.action_space.contains(act):
            raise ValueError(f"Expected an action in {self.action_space} ([dx, dy, dz, wrist, gripper] in -1..1), "
                             f"got {action!r}")
        obs, reward, done, _ = self._on_gl(self.desk.step, act.astype(np.float64))
        success = self._success()
        terminated = self.end_on_success and success
        return self._ordered(obs), float(reward), terminated, bool(done) and not terminated, {"success": success}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        if self._size == (FRAME_SIZE, FRAME_SIZE):
            if self._frame is None:
                self._frame = self._on_gl(self._render, self._size)
            return self._frame
        if self._shown is None:
            self._shown = self._on_gl(self._render, self._size)
        return self._shown

    def _free(self) -> None:
        for camera in self._cameras.values():
            camera._scene.free()
        self._cameras.clear()
        self.desk.physics.free()
        self.desk.physics_copy.free()

    def close(self) -> None:
        if getattr(self, "desk", None) is None:
            return
        try:
            self._on_gl(self._free)
        finally:
            self.desk = None
            self._gl.shutdown(wait=False)


def shown_size(spec: EnvironmentSpec) -> tuple[int, int]:
    """(width, height) of the frame participants see: render.width/height, else RoboDesk's 120x120 (a width or
    height alone keeps it square), at most MAX_FRAME a side."""
    width = min(spec.render.width or spec.render.height or FRAME_SIZE, MAX_FRAME)
    height = min(spec.render.height or width, MAX_FRAME)
    return width, height


def default_robodesk_map() -> ContinuousMap:
    """The arm keys as the camera shows the desk (it looks along +y from the front, tilted down): Right/Left +x/-x,
    Up/Down +y/-y (away from/towards the viewer), ';'/'.' up/down, O/P the wrist, Space toggles the gripper, open
    first (RoboDesk's gripper dim is +1 open, -1 closed; robosuite's the other way round)."""
    arm = default_arm_map(("y", "x", "z", "rz", "gripper"))  # robosuite's y keys (Right +) drive RoboDesk's dx
    keys = [k.model_copy(update={"direction": -k.direction}) if k.dim == 1 else k for k in arm.keys]
    axes = [a.model_copy(update={"invert": not a.invert}) if a.dim == 1 else a for a in arm.axes]
    toggles = [t.model_copy(update={"start": "high"}) for t in arm.toggles]
    return arm.model_copy(update={"keys": keys, "axes": axes, "toggles": toggles})


def make(spec: EnvironmentSpec, access: EnvAccess | None = None) -> PreparedEnv:
    register_robodesk_envs()
    env = make_gym(spec, access)
    desk: RoboDeskEnv = env.unwrapped  # type: ignore[assignment]
    desk.show(*shown_size(spec), shadows=spec.render.shadows)
    return PreparedEnv(env=env, family="robodesk", default_input_map=default_robodesk_map(),
                       _render=lambda: desk.render())
