"""Gymnasium wrappers a spec lists, applied right after gymnasium.make. A wrapper's name is a class of
gymnasium.wrappers ('FlattenObservation'), 'module:Class' of a module the operator allowed (ENV_MODULES, e.g.
'minigrid.wrappers:ImgObsWrapper'), or a class of an allowed module's `wrappers` submodule ('ImgObsWrapper').
Nothing else is imported, and only subclasses of gymnasium.Wrapper are applied; wrappers that write files or open
windows are refused (the worker is a server)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import gymnasium as gym
import gymnasium.wrappers

from playcorder.specs import WrapperSpec

from .access import EnvAccess
from .limits import check_paths
from .problems import EnvProblem, closest, unexpected_keyword
from .signature import accepted_kwargs

# side effects a server must not have: files written where a spec says, windows opened
REFUSED = frozenset({"RecordVideo", "HumanRendering", "RenderCollection"})
_GYMNASIUM = "gymnasium.wrappers"


def _names(module: ModuleType) -> list[str]:
    """Public names of a module (gymnasium.wrappers loads some of its wrappers only when asked for)."""
    return [n for n in (getattr(module, "__all__", None) or dir(module)) if not n.startswith("_") and n != "vector"]


def _wrapper_class(module: ModuleType, name: str) -> type[gym.Wrapper] | None:
    try:
        found = getattr(module, name, None)
    except ImportError:  # a wrapper whose optional dependency (jax, torch, ...) is not installed
        return None
    ok = isinstance(found, type) and issubclass(found, gym.Wrapper) and name not in REFUSED
    return found if ok else None  # type: ignore[return-value]


def _import(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _plugin_modules(access: EnvAccess) -> list[ModuleType]:
    """Each allowed module's `wrappers` submodule that imports."""
    return [m for m in (_import(f"{name}.wrappers") for name in sorted(access.modules)) if m is not None]


def resolve(name: str, access: EnvAccess, field: str) -> type[gym.Wrapper]:
    """The wrapper class `name` stands for; EnvProblem (with the names probably meant) otherwise."""
    refused = " (it writes files or opens windows)"
    if ":" in name:
        module_name, cls_name = name.split(":", 1)
        if module_name != _GYMNASIUM and module_name.split(".")[0] not in access.modules:
            allowed = sorted(access.modules) or "none"
            raise EnvProblem(field, f"Expected a wrapper of gymnasium.wrappers or of a module this worker may import "
                                    f"(ENV_MODULES: {allowed}), got module {module_name!r} in {name!r}")
        module = _import(module_name)
        if module is None:
            raise EnvProblem(field, f"Expected an importable module for the wrapper {name!r}, got {module_name!r}")
        cls = _wrapper_class(module, cls_name)
        if cls is None:
            why = refused if cls_name in REFUSED else ""
            raise EnvProblem(field, f"Expected a gymnasium.Wrapper class of {module_name}, got {cls_name!r}{why}",
                             [f"{module_name}:{c}" for c in closest(cls_name, _names(module)) if c not in REFUSED])
        return cls
    modules = [gymnasium.wrappers, *_plugin_modules(access)]
    for module in modules:
        if name in _names(module) and name not in REFUSED:
            cls = _wrapper_class(module, name)
            if cls is None:
                raise EnvProblem(field, f"Expected a wrapper this worker can load, got {name!r} of "
                                        f"{module.__name__}, whose optional dependencies are not installed")
            return cls
    names = [n for module in modules for n in _names(module) if n not in REFUSED]
    raise EnvProblem(field, f"Expected a wrapper class of gymnasium.wrappers or of an allowed module's `wrappers` "
                            f"(ENV_MODULES: {sorted(access.modules) or 'none'}), got {name!r}"
                            f"{refused if name in REFUSED else ''}", closest(name, names))


def _json_to_python(value: Any) -> Any:
    """JSON has no tuples: a list of numbers (shape=[84, 84]) becomes the tuple a wrapper expects."""
    if isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return tuple(value)
    return value


def apply(env: gym.Env, wrappers: list[WrapperSpec], access: EnvAccess) -> gym.Env:
    """`env` inside each wrapper in order; on a problem the env is closed and EnvProblem names the wrapper."""
    try:
        for i, spec in enumerate(wrappers):
            cls = resolve(spec.name, access, f"wrappers.{i}.name")
            check_paths(spec.kwargs, f"wrappers.{i}.kwargs")
            names, open_ended = accepted_kwargs(cls)
            names.discard("env")
            unknown = [k for k in spec.kwargs if k not in names] if not open_ended else []
            if unknown:
                raise EnvProblem(f"wrappers.{i}.kwargs.{unknown[0]}",
                                 f"Expected keyword arguments of {spec.name} among {sorted(names) or 'none'}, got "
                                 f"{unknown[0]!r}", closest(unknown[0], names))
            try:
                env = cls(env, **{k: _json_to_python(v) for k, v in spec.kwargs.items()})
            except TypeError as err:
                bad = unexpected_keyword(err)
                if bad is not None or "argument" in str(err):
                    where = f"wrappers.{i}.kwargs" + (f".{bad}" if bad else "")
                    raise EnvProblem(where, f"Expected keyword arguments that {spec.name} accepts, got "
                                            f"{sorted(spec.kwargs)}: {err}") from err
                raise EnvProblem(f"wrappers.{i}.name", f"Expected {spec.name} to wrap this environment, got "
                                                       f"{type(err).__name__}: {err}") from err
            except (ValueError, AssertionError, gym.error.Error) as err:
                raise EnvProblem(f"wrappers.{i}.name", f"Expected {spec.name} to wrap this environment, got "
                                                       f"{type(err).__name__}: {err}") from err
    except BaseException:
        env.close()
        raise
    return env
