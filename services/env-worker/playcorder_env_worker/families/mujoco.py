"""MuJoCo (gymnasium.envs.mujoco): CPU rendering (MUJOCO_GL=egl when EGL initialises, else osmesa) at the spec's
size, shadows per spec.render.shadows, and switchable cameras ("free" plus the model's cameras)."""

from __future__ import annotations

import ctypes
import os


def _egl_works() -> bool:
    """Whether an EGL device display initialises (what mujoco.egl needs), probed with ctypes before any GL import."""
    try:
        egl = ctypes.CDLL("libEGL.so.1")
        egl.eglGetProcAddress.restype = ctypes.c_void_p
        egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]
        query_addr = egl.eglGetProcAddress(b"eglQueryDevicesEXT")
        display_addr = egl.eglGetProcAddress(b"eglGetPlatformDisplayEXT")
        if not query_addr or not display_addr:
            return False
        query = ctypes.CFUNCTYPE(ctypes.c_uint, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.POINTER(ctypes.c_int))(query_addr)
        get_display = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p)(display_addr)
        egl.eglInitialize.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        egl.eglTerminate.argtypes = [ctypes.c_void_p]
        devices, count = (ctypes.c_void_p * 16)(), ctypes.c_int(0)
        if not query(16, devices, ctypes.byref(count)):
            return False
        for device in devices[: count.value]:
            display = get_display(0x313F, device, None)  # EGL_PLATFORM_DEVICE_EXT
            if display and egl.eglInitialize(display, None, None):
                egl.eglTerminate(display)
                return True
    except (OSError, AttributeError, TypeError):
        pass
    return False


if not os.environ.get("MUJOCO_GL"):
    os.environ["MUJOCO_GL"] = "egl" if _egl_works() else "osmesa"
if os.environ["MUJOCO_GL"] in ("egl", "osmesa"):
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

import logging  # noqa: E402

import mujoco  # noqa: E402  (after MUJOCO_GL is decided)

from playcorder.specs import EnvironmentSpec  # noqa: E402

from ..default_maps import default_map_for  # noqa: E402
from . import PreparedEnv, make_gym  # noqa: E402
from .access import EnvAccess  # noqa: E402

FREE_CAMERA = "free"  # MuJoCo's free camera (id -1), where Gymnasium's MuJoCo envs look by default
_log = logging.getLogger(__name__)
_warned: set[str] = set()


def _warning(text: str) -> None:
    _log.log(logging.DEBUG if text in _warned else logging.WARNING, "MuJoCo: %s", text)
    _warned.add(text)


if mujoco.get_mju_user_warning() is None:  # else MuJoCo appends each warning to ./MUJOCO_LOG.TXT
    mujoco.set_mju_user_warning(_warning)


def _unbind(viewer) -> None:
    """Leave no GL context current on this thread: an EGL context current on one thread cannot be made current
    on another, and the worker steps and renders an env on whichever pool thread is free."""
    if viewer.backend == "egl":
        from mujoco import egl
        from mujoco.egl import egl_ext

        egl_ext.eglMakeCurrent(egl.EGL_DISPLAY, egl_ext.EGL_NO_SURFACE, egl_ext.EGL_NO_SURFACE, egl_ext.EGL_NO_CONTEXT)


def make(spec: EnvironmentSpec, access: EnvAccess | None = None) -> PreparedEnv:
    size = {k: v for k, v in (("width", spec.render.width), ("height", spec.render.height)) if v is not None}
    env = make_gym(spec, access, **size)
    prepared = PreparedEnv(env=env, family="mujoco", default_input_map=default_map_for(env.action_space))
    renderer = getattr(env.unwrapped, "mujoco_renderer", None)
    if renderer is None:  # a MuJoCo env without Gymnasium's renderer: native frames, one camera
        return prepared
    viewer = renderer._get_viewer("rgb_array")  # creates the GL context now, so scene flags can be set
    viewer.scn.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = int(spec.render.shadows)
    _unbind(viewer)
    context = viewer.opengl_context

    def render():
        with context.as_current():  # several envs share a process, and pool threads take turns rendering
            return env.render()

    def release():
        # free the GL objects in this env's own context: left to garbage collection, MjrContext frees them in
        # whichever context is current then, deleting another env's same-numbered framebuffers (black frames)
        with context.as_current():
            viewer.con.free()

    prepared._render, prepared._release = render, release
    model = env.unwrapped.model
    names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_CAMERA, i) or f"camera{i}" for i in range(model.ncam)]
    if names:
        prepared.cameras = [FREE_CAMERA, *names]
        prepared.camera = prepared.cameras[renderer.camera_id + 1]

        def select(index: int) -> None:
            renderer.camera_id = index - 1  # cameras[0] is the free camera, id -1

        prepared._select_camera = select
    return prepared
