"""Study and environment specs: what a designer writes in a YAML/JSON file and the gateway stores."""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .fields import INT32_MAX, Key, LongText, Name, ShortText
from .inputs import InputMap
from .multiagent import AgentsSpec

MAX_ENVIRONMENTS = 50  # per study
MAX_KWARGS_BYTES = 16_384  # an environment's gymnasium.make kwargs (and a wrapper's kwargs), as JSON
MAX_WRAPPERS = 8  # per environment
# A Gymnasium id ('ALE/Pong-v5'), optionally 'module:' first; the worker decides which modules it may import.
_ENV_ID = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*:)?[A-Za-z0-9][A-Za-z0-9_./-]{0,199}$")
Family = Literal["auto", "atari", "procgen", "mujoco", "gymnasium", "pettingzoo", "robosuite", "robodesk", "nethack",
                 "dmlab"]
# Families named by the reference tool (RLDS Creator) that cannot be run here, and why (docs/environments.md)
UNAVAILABLE_FAMILIES = {
    "dmlab": "DeepMind Lab cannot run on Playcorder's workers: dmlab-gym 0.2.0 requires Python >=3.13 (the workers "
             "run 3.11) and a deepmind_lab native module that is not on PyPI (dmlab-gym builds it with Bazel inside "
             "Docker or Podman); see docs/environments.md",
}


class RenderSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # no coercion: "5" is no number, 0 no boolean

    width: int | None = Field(None, ge=16, le=1920,
                              description="rendered frame width (families that can render any size)")
    height: int | None = Field(None, ge=16, le=1920, description="rendered frame height")
    jpeg_quality: int = Field(80, ge=1, le=100, description="initial JPEG quality; participants may switch live")
    shadows: bool = Field(True, description="MuJoCo: render shadows (off saves most of the CPU cost of a frame)")
    camera: ShortText | Annotated[int, Field(ge=-1, le=INT32_MAX, strict=True)] | None = Field(
        None, description="initial camera name or id for envs with several cameras")


def _check_kwargs(v: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(v, default=str).encode())
    if size > MAX_KWARGS_BYTES:
        raise ValueError(f"Expected kwargs of at most {MAX_KWARGS_BYTES} bytes as JSON, got {size}")
    if _unstorable(v):
        raise ValueError("Expected kwargs of finite numbers and text without NUL characters (\\u0000) or lone "
                         "surrogates (\\ud800-\\udfff), in keys and values, got one that is not")
    return v


# A wrapper class: 'FlattenObservation' (gymnasium.wrappers), 'ImgObsWrapper' (an allowed module's `wrappers`) or
# 'module.sub:Class'; the worker decides which modules it may import.
_WRAPPER = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*:)?[A-Za-z_][A-Za-z0-9_]*$")


class WrapperSpec(BaseModel):
    """A Gymnasium wrapper applied to the environment right after gymnasium.make (in the order listed)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name = Field(..., description="a class of gymnasium.wrappers ('FlattenObservation'), 'module:Class' of a "
                                        "module in the worker's ENV_MODULES ('minigrid.wrappers:ImgObsWrapper'), or "
                                        "a class of such a module's `wrappers` ('ImgObsWrapper')")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the wrapper (at most "
                                                                     f"{MAX_KWARGS_BYTES} bytes as JSON)")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if len(v) > 200 or not _WRAPPER.match(v):
            raise ValueError(f"Expected a wrapper class name like 'FlattenObservation' or 'module.sub:Class', "
                             f"got {v[:200]!r}")
        return v

    @field_validator("kwargs")
    @classmethod
    def _small_kwargs(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _check_kwargs(v)


class EnvironmentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # no coercion: "5" is no number, 0 no boolean

    id: Key = Field(..., description="key of this environment within the study, e.g. 'pong'")
    env_id: Name = Field(..., description="registered Gymnasium id, e.g. 'ALE/Pong-v5', 'procgen/coinrun', "
                                         "'HalfCheetah-v5'")
    family: Family = Field("auto", description="environment family; 'auto' infers it from env_id")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for gymnasium.make "
                                                                     f"(at most {MAX_KWARGS_BYTES} bytes as JSON)")
    mode: Literal["realtime", "turn_based"] = Field("realtime",
                                                    description="realtime: stepped at fps; turn_based: on input")
    fps: int = Field(15, ge=1, le=60, description="realtime steps per second (participants may change it live)")
    step_while_held: bool = Field(False, description="turn_based: keep stepping (at fps) while an input is held")
    max_episode_steps: int | None = Field(None, ge=1, le=INT32_MAX,
                                          description="episode is truncated after this many steps")
    statistics: list[Key] = Field(default_factory=list, max_length=10,
                                  description="custom statistics the worker computes besides score, steps, minutes "
                                              "and active time: names of `playcorder.statistics` entry points")
    wrappers: list[WrapperSpec] = Field(default_factory=list, max_length=MAX_WRAPPERS,
                                        description="Gymnasium wrappers applied in order right after gymnasium.make "
                                                    "(the recorded spaces are the wrapped ones)")
    input_map: InputMap | None = Field(None, description="overrides the family's default input map")
    instructions: LongText = ""
    render: RenderSpec = Field(default_factory=RenderSpec)
    idle_pause_s: float = Field(6.0, gt=0, le=86_400,
                                description="realtime: pause after this many seconds without input")
    pause_expiry_s: float = Field(600.0, gt=0, le=7 * 86_400,
                                  description="a session paused this long ends; its episode is abandoned")
    agents: AgentsSpec | None = Field(None, description="a multi-agent environment: its seats, their policies and "
                                                        "the lobby (docs/multiagent.md)")

    @field_validator("kwargs")
    @classmethod
    def _small_kwargs(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _check_kwargs(v)

    @model_validator(mode="after")
    def _runnable_family(self) -> EnvironmentSpec:
        family = self.resolved_family
        if family in UNAVAILABLE_FAMILIES:
            raise ValueError(f"Expected a family Playcorder can run, got {self.env_id!r} of family {family!r}: "
                             f"{UNAVAILABLE_FAMILIES[family]}")
        for name, value in FAMILY_DEFAULTS.get(family, {}).items():
            if name not in self.model_fields_set:
                setattr(self, name, value)
                self.model_fields_set.add(name)
        if why := _WRONG_MODES.get((family, self.mode)):
            raise ValueError(f"Expected mode 'turn_based' for {self.env_id!r} (family {family!r}), got "
                             f"{self.mode!r}: {why}")
        return self

    @field_validator("env_id")
    @classmethod
    def _env_id(cls, v: str) -> str:
        if len(v) > 250 or not _ENV_ID.match(v):
            raise ValueError(f"Expected a Gymnasium id of letters, digits, '_', '.', '-', '/' (e.g. 'ALE/Pong-v5'), "
                             f"optionally after one 'module:' naming a Python module, got {v[:250]!r}")
        return v

    @property
    def resolved_family(self) -> str:
        if self.family != "auto":
            return self.family
        if self.env_id.startswith("ALE/"):
            return "atari"
        if self.env_id.startswith("procgen"):
            return "procgen"
        if self.env_id.startswith("pettingzoo/"):
            return "pettingzoo"
        for prefix, family in _ID_PREFIXES:
            if self.env_id.startswith(prefix):
                return family
        return "gymnasium"  # the worker refines this to "mujoco" from the registry's entry point


# How a family plays where its spec leaves mode, fps and step_while_held unset: RoboDesk's frame costs ~0.3 s to
# render on a CPU worker, so it steps while a key is held, 3 times a second; a robosuite step with its camera
# observations and frame ~0.1-0.17 s, so 5 fps; NetHack waits for each command.
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "nethack": {"mode": "turn_based"},
    "robodesk": {"mode": "turn_based", "step_while_held": True, "fps": 3},
    "robosuite": {"fps": 5},
}
# Modes a family cannot be played in, and why
_WRONG_MODES = {("nethack", "realtime"): "NetHack is turn-based: stepped at fps, its every idle tick would send "
                                         "--More-- and wipe the message line before it can be read"}


# env id prefixes of the families that register their own ids
_ID_PREFIXES = (("robosuite/", "robosuite"), ("robodesk/", "robodesk"), ("NetHack", "nethack"),
                ("dmlab/", "dmlab"), ("deepmind_lab", "dmlab"))


def _unstorable(value: Any) -> bool:
    """What PostgreSQL's JSON or a JSON answer cannot carry: NUL, lone surrogates, NaN and infinities."""
    if isinstance(value, str):
        return _UNSTORABLE_TEXT.search(value) is not None
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


_UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


class StudySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # no coercion: "5" is no number, 0 no boolean

    name: Name
    description: LongText = ""
    instructions: LongText = ""
    environments: list[EnvironmentSpec] = Field(..., min_length=1, max_length=MAX_ENVIRONMENTS)

    @model_validator(mode="after")
    def _unique_envs(self) -> StudySpec:
        keys = [e.id for e in self.environments]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"Expected unique environment ids, got duplicates {dupes}")
        return self

    def environment(self, key: str) -> EnvironmentSpec | None:
        """Find an environment by its key, or by Gymnasium id when that is unambiguous."""
        for env in self.environments:
            if env.id == key:
                return env
        matches = [e for e in self.environments if e.env_id == key]
        return matches[0] if len(matches) == 1 else None
