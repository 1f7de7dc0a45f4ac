"""The researcher's install: `pip install playcorder` (the SDK and CLI) must not pull TensorFlow, tfds, gymnasium or
the environment families, and everything the SDK and CLI import must come with its declared dependencies."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"tensorflow", "tensorflow-cpu", "tensorflow-datasets", "gymnasium", "ale-py", "procgen-mirror", "mujoco",
         "envlogger", "minari", "av", "pyarrow", "torch"}
# What a researcher imports: the SDK, the CLI and the contracts it speaks.
LIGHT_MODULES = ["playcorder.sdk", "playcorder.sdk.bot", "playcorder.cli", "playcorder.messages", "playcorder.specs",
                 "playcorder.inputs", "playcorder.frames", "playcorder.records", "playcorder.spaces",
                 "playcorder.exports", "playcorder.subjects", "playcorder.processing"]

# Runs in a fresh interpreter: refuses to import any top-level module outside the standard library, the playcorder
# package and the distributions in argv, as if only those were installed.
_GUARD = """
import importlib.abc, sys
allowed = set(sys.argv[1].split(","))
class OnlyDeclared(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top in allowed or top.startswith("_") or top == "playcorder":
            return None
        raise ModuleNotFoundError(f"{name} is not among the SDK's declared dependencies", name=name)
sys.meta_path.insert(0, OnlyDeclared())
try:
    import gymnasium
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("the guard let gymnasium through")
import importlib
for module in sys.argv[2].split(","):
    importlib.import_module(module)
from playcorder.cli import main
# --help, then a command that runs its lazy imports (SDK, httpx, rich) and fails on a closed port as a user would
# and an operator command, which needs the server extras and must say so
for argv, code in ((["--help"], 0), (["--url", "http://127.0.0.1:9", "--token", "pcd_x", "studies", "list"], 1),
                   (["dev", "--root", sys.argv[3]], 1)):
    sys.argv = ["playcorder", *argv]
    try:
        main()
    except SystemExit as done:
        assert (done.code or 0) == code, (argv, done.code)
from playcorder.sdk import Client
Client("http://127.0.0.1:9", "pcd_x")
"""


def core_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "shared" / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]]


def _requirements_of(distribution: str) -> list[Requirement]:
    """What an installed distribution requires; none for one not installed here (a platform-only dependency: if the
    SDK imported it, the import check below would refuse it)."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        return [Requirement(r) for r in requires(distribution) or []]
    except PackageNotFoundError:
        return []


def _applies(req: Requirement, extras: set[str]) -> bool:
    """Whether a requirement holds on this platform, plain or for one of the extras asked for."""
    return req.marker is None or any(req.marker.evaluate({"extra": e}) for e in {"", *extras})


def closure(requirements: list[Requirement]) -> set[str]:
    """The installed distributions these requirements pull in, transitively (with the extras they name)."""
    seen: set[str] = set()
    todo = [r for r in requirements if _applies(r, set())]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        todo += [r for r in _requirements_of(req.name) if _applies(r, set(req.extras))]
    return seen


def test_declared_dependencies_of_the_sdk_are_light() -> None:
    declared = closure(core_requirements())
    assert declared and not declared & HEAVY, declared & HEAVY


def test_sdk_and_cli_import_with_only_their_declared_dependencies(tmp_path: Path) -> None:
    from importlib.metadata import packages_distributions

    declared = closure(core_requirements())
    allowed = {module for module, dists in packages_distributions().items()
               if any(canonicalize_name(d) in declared for d in dists)}
    out = subprocess.run([sys.executable, "-c", _GUARD, ",".join(sorted(allowed)), ",".join(LIGHT_MODULES),
                          str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Expected the server packages for `playcorder dev` (pip install 'playcorder[dev]')" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "run").exists()
