"""What an env id may make the worker load: only environments of the families the operator enabled
(ENV_FAMILIES), and only the modules the operator allowed (ENV_MODULES) imported for Gymnasium's 'module:EnvId'
ids and known plugins. A participant's study must never choose what code the worker imports."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..settings import FAMILIES, Settings

# where the registry entries of each family live (Gymnasium's own classic envs are "gymnasium")
_ENTRY_MODULES = {"ale_py": "atari", "playcorder_env_worker.families.procgen": "procgen",
                  "gymnasium.envs.mujoco": "mujoco", "playcorder_env_worker.families.robosuite": "robosuite",
                  "playcorder_env_worker.families.robodesk": "robodesk", "nle": "nethack"}


@dataclass(frozen=True)
class EnvAccess:
    families: frozenset[str] = frozenset(FAMILIES)
    modules: frozenset[str] = frozenset()
    max_observation_bytes: int = 16 << 20  # one observation (or action) at most (MAX_OBSERVATION_BYTES)

    @classmethod
    def of(cls, settings: Settings) -> EnvAccess:
        return cls(settings.enabled_families, settings.allowed_modules, settings.max_observation_bytes)

    def check_family(self, family: str, env_id: str) -> None:
        if family not in self.families:
            raise ValueError(f"Expected an environment of the families this worker runs (ENV_FAMILIES: "
                             f"{sorted(self.families)}), got {env_id!r} of family {family!r}")

    def check_module(self, module: str, env_id: str) -> None:
        if module not in self.modules:
            allowed = sorted(self.modules) or "none"
            raise ValueError(f"Expected a 'module:EnvId' id with a module this worker may import (ENV_MODULES: "
                             f"{allowed}), got module {module!r} in {env_id!r}")


@functools.cache
def worker_access() -> EnvAccess:
    """The running worker's access, from its settings."""
    return EnvAccess.of(Settings())


def split_module(env_id: str) -> tuple[str | None, str]:
    """('module', 'EnvId') of a 'module:EnvId' id, (None, env_id) of a plain one."""
    if ":" not in env_id:
        return None, env_id
    module, name = env_id.split(":", 1)
    if ":" in name:
        raise ValueError(f"Expected an env id with at most one ':' (module:EnvId), got {env_id!r}")
    return module, name


def family_of_entry(entry_point: object) -> str:
    """The family whose code a registry entry point runs."""
    module = entry_point if isinstance(entry_point, str) else getattr(entry_point, "__module__", "")
    module = str(module).split(":", 1)[0]
    for prefix, family in _ENTRY_MODULES.items():
        if module == prefix or module.startswith(prefix + "."):
            return family
    return "gymnasium"
