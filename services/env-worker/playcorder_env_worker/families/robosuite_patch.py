"""robosuite 1.5.2 under MuJoCo 4, made to work: two fixes applied once by `apply()` after `import robosuite`
(docs/research/issue17-families.md, "mujoco 4 incompatibilities").

1. `MjModel.get_joint_qpos_addr/qvel_addr` assert `jnt_type in (mjJNT_HINGE, mjJNT_SLIDE)`, which MuJoCo 4's
   pybind11 enums make False (`enum == np.int32(3)` is False); the same logic, comparing ints.
2. MuJoCo 4 dropped `MjData.qM` and made `mj_fullM(m, dst, qM)` into `mj_fullM(m, d, dst)`; robosuite's
   `Controller.update` calls the old form, so its module gets a `mujoco` whose `mj_fullM` takes the old arguments.
"""

from __future__ import annotations

import types
from typing import Any

import mujoco

_applied = False


def _joint_addr(model: Any, name: str, adr: Any, free_n: int, ball_n: int) -> int | tuple[int, int]:
    jid = model.joint_name2id(name)
    kind, start = int(model.jnt_type[jid]), int(adr[jid])
    n = free_n if kind == int(mujoco.mjtJoint.mjJNT_FREE) else ball_n if kind == int(mujoco.mjtJoint.mjJNT_BALL) else 1
    return start if n == 1 else (start, start + n)


def apply() -> None:
    global _applied
    if _applied:
        return
    from robosuite.controllers.parts import controller
    from robosuite.utils import binding_utils

    binding_utils.MjModel.get_joint_qpos_addr = lambda self, name: _joint_addr(self, name, self.jnt_qposadr, 7, 4)
    binding_utils.MjModel.get_joint_qvel_addr = lambda self, name: _joint_addr(self, name, self.jnt_dofadr, 6, 3)
    if not hasattr(mujoco.MjData, "qM"):
        # robosuite's MjData wrapper hands the raw MjData through where the old code passed qM
        binding_utils.MjData.qM = property(lambda self: self._data)
        proxy = types.ModuleType("mujoco_for_robosuite")
        proxy.__dict__.update(mujoco.__dict__)
        proxy.mj_fullM = lambda m, dst, d: mujoco.mj_fullM(m, d, dst)  # type: ignore[attr-defined]
        controller.mujoco = proxy  # type: ignore[attr-defined]
    _applied = True
