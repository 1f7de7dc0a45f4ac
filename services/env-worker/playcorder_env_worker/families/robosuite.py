"""robosuite's single-arm manipulation tasks as Gymnasium envs 'robosuite/<Task>' (a Panda by default) driven in
operational space: OSC_POSE deltas [dx, dy, dz, dax, day, daz, gripper] in [-1, 1] (Wipe has no gripper dim).

Observations are a Dict of robosuite's per-quantity vectors (float32: robot0_eef_pos, cube_pos, ...) and, with
camera_obs, its camera images upright at camera_size x camera_size (84, as robomimic records them). render() shows
`render_camera` (agentview unless chosen; the participant may switch) at width x height, with shadows per
spec.render.shadows and without floor reflections unless `reflections` (on llvmpipe they cost ~20 ms a render,
about 40% of it, in every camera observation too). info["success"] is the
task's own `_check_success()` after each step; robosuite never ends an episode on success (terminate_on_success
does), and its horizon ends it as truncated.

Rendering: robosuite renders through its own EGL (or OSMesa) context, left current on the thread that made it. The
worker steps and renders on whichever pool thread is free and runs several envs in a process, so each call that may
render (construction, reset, step with camera observations, render, close) makes this env's context current and
releases it afterwards. NUMBA_DISABLE_JIT=1 is set before robosuite imports numba: with numba's JIT (and an empty
cache) robosuite's EGL frames come back as uninitialised memory. Resets are soft (hard_reset=False): the scene is
rebuilt only at construction, a reset takes tens of ms instead of seconds and the GL context lives as long as the env.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

os.environ["NUMBA_DISABLE_JIT"] = "1"  # before robosuite imports numba (see above); robosuite needs it off

import gymnasium as gym
import mujoco
import numpy as np

from playcorder.specs import EnvironmentSpec

from ..default_maps import default_arm_map
from . import PreparedEnv, make_gym
from . import mujoco as _mujoco_gl  # noqa: F401  (decides MUJOCO_GL/PYOPENGL_PLATFORM before robosuite)
from .access import EnvAccess

# single-arm tasks of robosuite 1.5: robosuite.ALL_ENVIRONMENTS less the TwoArm* ones and NutAssemblySingle /
# PickPlaceSingle, which draw a new object each reset (so their observation keys change between episodes; the
# fixed-object tasks, e.g. PickPlaceCan or NutAssemblySquare, cover them)
TASKS = ("Door", "Lift", "NutAssembly", "NutAssemblyRound", "NutAssemblySquare", "PickPlace", "PickPlaceBread",
         "PickPlaceCan", "PickPlaceCereal", "PickPlaceMilk", "Stack", "ToolHang", "Wipe")
CAMERAS = ("agentview", "robot0_eye_in_hand")  # the camera observations by default
OSC_POSE = ("x", "y", "z", "rx", "ry", "rz", "gripper")
# robosuite's arguments this class decides (rendering, resets, controller); the others of a task pass through
_OWNED = frozenset({"robots", "controller_configs", "has_renderer", "has_offscreen_renderer", "use_camera_obs",
                    "camera_names", "camera_heights", "camera_widths", "camera_depths", "camera_segmentations",
                    "render_camera", "renderer", "renderer_config", "hard_reset", "ignore_done", "horizon", "seed",
                    "render_gpu_device_id", "env_configuration", "base_types"})
_OWN = {"robot", "controller", "camera_obs", "camera_names", "camera_size", "horizon", "render_camera", "width",
        "height", "shadows", "reflections", "terminate_on_success", "seed", "task"}


def register_robosuite_envs() -> None:
    for task in TASKS:
        if f"robosuite/{task}" not in gym.registry:
            gym.register(f"robosuite/{task}", entry_point=f"{__name__}:RobosuiteEnv", kwargs={"task": task})


class _QuietControllerConfig(logging.Filter):
    """robosuite warns at each make that the BASIC composite's left/torso/head/base/legs parts are skipped for a
    single-arm robot: expected here, five lines per env."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "but the robot does not have this component" not in record.getMessage()


def _robosuite() -> Any:
    if "robosuite" not in sys.modules:
        from numba.core import config

        config.reload_config()  # where numba was imported before NUMBA_DISABLE_JIT was set
    import robosuite
    from robosuite.utils import control_utils

    from . import robosuite_patch

    robosuite_patch.apply()
    robosuite_logger = logging.getLogger("robosuite_logs")
    if not any(isinstance(f, _QuietControllerConfig) for f in robosuite_logger.filters):
        robosuite_logger.addFilter(_QuietControllerConfig())
    if not inspect.isfunction(control_utils.nullspace_torques):
        raise RuntimeError("Expected robosuite's controllers without numba's JIT (NUMBA_DISABLE_JIT=1: with it, "
                           "robosuite's EGL frames are uninitialised memory), got robosuite imported with the JIT "
                           f"on before {__name__}; set NUMBA_DISABLE_JIT=1 in the worker's environment")
    return robosuite


def _release_egl() -> None:
    """Leave no robosuite EGL context current on this thread (another thread may make it current next)."""
    from robosuite.renderers.context import egl_context

    egl = egl_context.EGL
    egl.eglMakeCurrent(egl_context.EGL_DISPLAY, egl.EGL_NO_SURFACE, egl.EGL_NO_SURFACE, egl.EGL_NO_CONTEXT)


def _check_choice(name: str, value: Any, allowed: Any) -> None:
    if value not in allowed:
        raise ValueError(f"Expected {name} among {sorted(allowed)}, got {value!r}")


class RobosuiteEnv(gym.Env):
    """One robosuite task with Gymnasium's reset/step contract; see the module docstring."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 5}  # what a CPU worker holds with camera observations

    def __init__(self, task: str, render_mode: str | None = None, robot: str = "Panda", controller: str = "BASIC",
                 camera_obs: bool = True, camera_names: list[str] | tuple[str, ...] = CAMERAS, camera_size: int = 84,
                 horizon: int = 500, render_camera: str = "agentview", width: int = 256, height: int = 256,
                 shadows: bool = True, reflections: bool = False, terminate_on_success: bool = False,
                 seed: int | None = None, **task_kwargs: Any):
        _check_choice("task", task, TASKS)
        _check_choice("render_mode", render_mode, {None, "rgb_array"})
        for name, value, low, high in (("camera_size", camera_size, 8, 512), ("width", width, 16, 1920),
                                       ("height", height, 16, 1920), ("horizon", horizon, 1, 1_000_000)):
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"Expected {name} an int in [{low}, {high}], got {value!r}")
        suite = _robosuite()
        _check_choice("robot", robot, set(suite.ALL_ROBOTS))
        if not isinstance(camera_names, (list, tuple)) or not all(isinstance(c, str) for c in camera_names):
            raise ValueError(f"Expected camera_names a list of camera names, got {camera_names!r}")
        accepted = self.task_kwargs(task)
        for key in task_kwargs:
            if key not in accepted:
                raise ValueError(f"Expected kwargs of robosuite/{task} among {sorted(accepted | _OWN)}, got {key!r}")
        self.task, self.render_mode, self.width, self.height = task, render_mode, width, height
        self.terminate_on_success = terminate_on_success
        self._lock = threading.RLock()  # one GL context per env: one call at a time may have it current
        config = suite.load_composite_controller_config(controller=controller, robot=robot)
        camera_names = list(camera_names) if camera_obs else []
        task_kwargs.setdefault("reward_shaping", True)
        with self._gl(building=True):
            self._env = suite.make(task, robots=robot, controller_configs=config, has_renderer=False,
                                   has_offscreen_renderer=True, use_camera_obs=bool(camera_names),
                                   camera_names=camera_names or "agentview", camera_heights=camera_size,
                                   camera_widths=camera_size, horizon=horizon, hard_reset=False, seed=seed,
                                   **task_kwargs)
            self.cameras: list[str] = list(self._env.sim.model.camera_names)
            flags = self._env.sim._render_context_offscreen.scn.flags  # the scene of every camera's render
            flags[mujoco.mjtRndFlag.mjRND_SHADOW] = int(bool(shadows))
            flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = int(bool(reflections))
            observation = self._observation(self._env.observation_spec())
        low, high = self._env.action_spec
        try:
            _check_choice("render_camera", render_camera, self.cameras)
            if len(low) not in (6, 7):
                raise ValueError(f"Expected an OSC_POSE arm (6 or 7 action dims) from robot {robot!r} with "
                                 f"controller {controller!r}, got {len(low)} dims")
        except ValueError:
            self.close()
            raise
        self.render_camera = render_camera
        self.layout = OSC_POSE[: len(low)]
        self.action_space = gym.spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
        self.observation_space = gym.spaces.Dict({
            key: gym.spaces.Box(0, 255, value.shape, np.uint8) if key.endswith("_image")
            else gym.spaces.Box(-np.inf, np.inf, value.shape, np.float32) for key, value in observation.items()})

    @staticmethod
    def task_kwargs(task: str) -> set[str]:
        """The task's own robosuite arguments a spec may set (table size, reward_shaping, ...)."""
        from .signature import accepted_kwargs

        names, _ = accepted_kwargs(_robosuite().environments.base.REGISTERED_ENVS[task])
        return names - _OWNED

    @classmethod
    def accepted_kwargs(cls) -> set[str]:
        """This class's kwargs plus every single-arm task's own (each task checks its own at construction)."""
        names = set().union(*(cls.task_kwargs(task) for task in TASKS))
        return names | _OWN

    @contextmanager
    def _gl(self, building: bool = False) -> Iterator[None]:
        """This env's GL context current on the calling thread for the block; none current after it."""
        with self._lock:
            context = None if building else getattr(self._env.sim._render_context_offscreen, "gl_ctx", None)
            if context is not None:
                context.make_current()
            try:
                yield
            finally:
                if os.environ.get("MUJOCO_GL") == "egl":
                    _release_egl()

    def _observation(self, raw: dict[str, Any]) -> dict[str, np.ndarray]:
        """robosuite's observations less its concatenations ('robot0_proprio-state', 'object-state'), vectors as
        float32, images upright."""
        out: dict[str, np.ndarray] = {}
        for key, value in raw.items():
            if key.endswith("-state"):
                continue
            value = np.asarray(value)
            if key.endswith("_image"):
                out[key] = np.ascontiguousarray(value[::-1], dtype=np.uint8)
            else:
                out[key] = np.atleast_1d(value).astype(np.float32)
        return out

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:  # robosuite's placement samplers and robots share this Generator: reseed it in place
            self._env.rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state
        with self._gl():
            raw = self._env.reset()
        return self._observation(raw), {"success": False}

    def step(self, action: Any):
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape:
            raise ValueError(f"Expected an action of shape {self.action_space.shape}, got {action.shape}")
        with self._gl():
            raw, reward, done, _ = self._env.step(np.clip(action, -1.0, 1.0))
            success = bool(self._env._check_success())
        terminated = success and self.terminate_on_success
        return self._observation(raw), float(reward), terminated, bool(done) and not terminated, {"success": success}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        with self._gl():
            frame = self._env.sim.render(camera_name=self.render_camera, width=self.width, height=self.height)
        return np.ascontiguousarray(frame[::-1])

    def close(self) -> None:
        env = getattr(self, "_env", None)
        if env is None:
            return
        with self._gl():
            context = env.sim._render_context_offscreen
            if context is not None:  # free GL objects in this env's context, not in whichever is current at GC
                context.con.free()
        env.close()
        self._env = None


def make(spec: EnvironmentSpec, access: EnvAccess | None = None) -> PreparedEnv:
    register_robosuite_envs()
    size = {k: v for k, v in (("width", spec.render.width), ("height", spec.render.height)) if v is not None}
    env = make_gym(spec, access, shadows=spec.render.shadows, **size)
    arm: RobosuiteEnv = env.unwrapped  # type: ignore[assignment]
    # the camera shown first leads the list: the player offers cameras[0] until the participant picks another
    cameras = [arm.render_camera, *(c for c in arm.cameras if c != arm.render_camera)]
    prepared = PreparedEnv(env=env, family="robosuite", default_input_map=default_arm_map(arm.layout),
                           cameras=cameras, camera=arm.render_camera)

    def select(index: int) -> None:
        arm.render_camera = cameras[index]

    prepared._select_camera = select
    return prepared
