"""Envlogger (Riegeli) export: one envlogger dataset per split in `{directory}/{split}/`, written with envlogger's
own RiegeliBackendWriter, so `envlogger.Reader(f"{directory}/train")` reads it as if `envlogger.EnvLogger` had
recorded the participant's play.

Envlogger stores dm_env TimeSteps, not RLDS steps. An RLDS episode o_0..o_T (step i = o_i, a_i, r_i, d_i; step T
holds the final o_T with a placeholder action) becomes T+1 envlogger steps:

    envlogger step 0:        TimeStep(FIRST, reward=None, discount=None, o_0), action None
    envlogger step k, 1..T:  TimeStep(MID or LAST, reward=r_{k-1}, discount=d_{k-1}, o_k), action a_{k-1}
                             (LAST, step T: discount 0.0 if the episode terminated, else d_{T-1}, which is 1.0)

The FIRST step's action is None because that is what EnvLogger records on reset(); the placeholder action and
the reward 0 of RLDS step T are dropped. An episode of one step (only o_0, never acted on) is one FIRST step and
no LAST, again as EnvLogger records a reset that no step followed; it cannot be terminal.

Per step, with `keep_metadata`, custom_data = {"image": JPEG bytes shown at o_k, "input": JSON of the raw input
that produced a_k (so it goes with the action of the *next* envlogger step), "info": JSON of the info returned
with o_k, "tags": JSON list of the step's tags}: the fields of RLDS step k, which is where envlogger's own RLDS
conversion (envlogger.backends.rlds_utils) puts the custom data of envlogger step k back.

Episodes of multi-agent games add to custom_data "controller" ("human", "ai", "none"), "late" (bool) and
"participant" (the pseudonym of the person in control, "" for none), who chose a_k, with or without keep_metadata.

Episode metadata: episode_id, episode_index, agent_id, study_id, environment, env_id, state, seed, num_steps (RLDS
steps, = envlogger steps), total_reward; with `keep_metadata` also tags (JSON list) and notes; in multi-agent games
game_id and agent. Dataset metadata:
name, version, description, split, observation_spec and action_spec (playcorder.spaces specs as JSON), format,
format_version, step_tags (JSON, with `keep_metadata`), and environment_specs (dm_env specs, so
`Reader.observation_spec()` works). Lists are JSON text because envlogger's codec reads an empty list back as None.

Observations and actions keep their dtype and shape (a Discrete value is a 0-d int64 array; Dict and Tuple spaces
become dicts and tuples; a text value is a str, its dm_env spec a StringArray); envlogger's codec has no float16,
so such spaces are refused up front, as are Sequence and Graph spaces (spaces.format_limits).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from playcorder.gym_spaces import space_from_spec
from playcorder.records import Step, jsonable
from playcorder.spaces import format_limits, leaf_dtype, leaf_shape, leaves, unflatten
from playcorder_exporter.datasets.formats.base import (
    CONTROL_FIELDS,
    DatasetConfig,
    EpisodeMeta,
    control_values,
    game_values,
    totals,
)

FORMAT = "playcorder.envlogger"
FORMAT_VERSION = 1
_SPLIT_RE = re.compile(r"^[a-zA-Z0-9_]+$")  # a directory name
# Riegeli options: envlogger's default is brotli:6; zstd:3 writes recorded Pong about twice as fast for ~10% more
# bytes (bench/rlds_vs_envlogger.py), and any Riegeli reader takes either: each chunk records its compression.
WRITER_OPTIONS = "transpose,zstd:3,chunk_size:1M"


def load_envlogger() -> Any:
    """The envlogger module, imported only when a writer needs it (only the exporter has it installed)."""
    # envlogger 1.2 still uses np.unicode_, which numpy 2 removed.
    if not hasattr(np, "unicode_"):
        np.unicode_ = np.str_
    import envlogger

    return envlogger


def _check_specs(observation_spec: dict[str, Any], action_spec: dict[str, Any]) -> None:
    """envlogger's codec has no float16, drops zero-length dimensions (reading empty arrays back as None) and holds
    no Sequence or Graph space: refuse those before any file is written."""
    if reason := format_limits(observation_spec, action_spec).get("envlogger"):
        raise ValueError(f"Expected spaces an envlogger dataset can hold, got: {reason}")


def _dm_spec(spec: dict[str, Any], name: str) -> Any:
    """The dm_env spec of a playcorder.spaces spec, bounds as scalars when uniform."""
    from dm_env import specs

    kind = spec["type"]
    if kind == "dict":
        return {k: _dm_spec(s, f"{name}.{k}") for k, s in spec["spaces"].items()}
    if kind == "tuple":
        return tuple(_dm_spec(s, f"{name}.{i}") for i, s in enumerate(spec["spaces"]))
    if kind == "text":
        return specs.StringArray((), name=name)
    space = space_from_spec(spec)
    dtype, shape = leaf_dtype(spec), leaf_shape(spec)
    if kind == "discrete" and space.start == 0:
        return specs.DiscreteArray(int(space.n), dtype=dtype, name=name)
    low, high = {
        "box": lambda: (space.low, space.high),
        "discrete": lambda: (space.start, space.start + space.n - 1),
        "multi_discrete": lambda: (space.start, space.start + space.nvec - 1),
        "multi_binary": lambda: (0, 1),
    }[kind]()
    low, high = (np.asarray(b, dtype) for b in (low, high))
    low, high = (b.flat[0] if b.size and np.all(b == b.flat[0]) else b for b in (low, high))
    return specs.BoundedArray(shape, dtype, low, high, name=name)


def _value(spec: dict[str, Any], value: Any) -> Any:
    """A value of the space as numpy arrays of its exact dtype and shape (0-d for Discrete), dicts and tuples kept."""
    return unflatten(spec, leaves(spec, value))  # leaves() checks dtype and shape (0-d kept 0-d)


class EnvloggerWriter:
    """Streams episodes, one split after the other, into one RiegeliBackendWriter per split."""

    def __init__(self, directory: Path, config: DatasetConfig, *, writer_options: str = WRITER_OPTIONS) -> None:
        _check_specs(config.observation_spec, config.action_spec)
        self.directory = Path(directory)
        self.config = config
        self.writer_options = writer_options
        self._backend: Any = None
        self._split: str | None = None
        self._counts: dict[str, int] = {}
        self._summaries: dict[str, dict[str, Any]] = {}
        self._broken: str | None = None
        self._closed = False
        import dm_env

        self._dm_env, self._step_data_type = dm_env, load_envlogger().StepData  # looked up once, used every step

    def _metadata(self, split: str) -> dict[str, Any]:
        load_envlogger()
        from dm_env import specs
        from envlogger.converters import spec_codec

        c = self.config
        metadata: dict[str, Any] = {
            "name": c.name, "version": c.version, "description": c.description, "split": split,
            "observation_spec": json.dumps(c.observation_spec), "action_spec": json.dumps(c.action_spec),
            "format": FORMAT, "format_version": FORMAT_VERSION,
            # The key and layout EnvLogger writes, which Reader.observation_spec() etc. decode.
            "environment_specs": {
                "observation_spec": spec_codec.encode(_dm_spec(c.observation_spec, "observation")),
                "action_spec": spec_codec.encode(_dm_spec(c.action_spec, "action")),
                "reward_spec": spec_codec.encode(specs.Array((), np.float64, name="reward")),
                "discount_spec": spec_codec.encode(specs.BoundedArray((), np.float64, 0.0, 1.0, name="discount")),
            },
        }
        if c.keep_metadata:
            metadata["step_tags"] = json.dumps(list(c.step_tags))
        return metadata

    def _for_split(self, split: str) -> Any:
        if self._closed:
            raise RuntimeError("EnvloggerWriter is closed")
        if self._broken:
            raise RuntimeError(f"EnvloggerWriter stopped: {self._broken}")
        if split != self._split:
            self._close_split()
            if split in self._summaries:
                raise ValueError(f"Expected the episodes of one split together, got split {split!r} again")
            if not _SPLIT_RE.match(split):
                raise ValueError(f"Expected a split name of letters, digits and '_', got {split!r}")
            path = self.directory / split
            # RiegeliBackendWriter logs, and swallows, the error of a missing directory.
            path.mkdir(parents=True, exist_ok=False)
            riegeli = load_envlogger().backends.riegeli_backend_writer
            self._backend = riegeli.RiegeliBackendWriter(str(path), metadata=self._metadata(split),
                                                         writer_options=self.writer_options)
            self._split = split
            self._counts = {"episodes": 0, "steps": 0}
        return self._backend

    def _step_data(self, prev: Step | None, step: Step) -> Any:
        dm_env, c = self._dm_env, self.config
        observation = _value(c.observation_spec, step.observation)
        if prev is None:
            timestep, action = dm_env.restart(observation), None
        else:
            reward, discount = float(prev.reward), float(prev.discount)
            if step.is_last:
                timestep = dm_env.TimeStep(dm_env.StepType.LAST, reward, 0.0 if step.is_terminal else discount,
                                           observation)
            else:
                timestep = dm_env.TimeStep(dm_env.StepType.MID, reward, discount, observation)
            action = _value(c.action_spec, prev.action)
        custom = None
        if c.keep_metadata:
            custom = {"image": bytes(step.image or b""), "input": json.dumps(jsonable(step.input)),
                      "info": json.dumps(jsonable(step.info)), "tags": json.dumps(list(step.tags))}
        if c.multiagent:
            custom = (custom or {}) | dict(zip(CONTROL_FIELDS, control_values(step), strict=True))
        return self._step_data_type(timestep, action, custom)

    def add_episode(self, meta: EpisodeMeta, steps: Iterable[Step], split: str = "train") -> int:
        backend = self._for_split(split)
        prev: Step | None = None
        n = 0
        try:
            for step in steps:
                if prev is not None and prev.is_last:
                    raise ValueError(f"Expected no step after the last one (step {n - 1}) of episode "
                                     f"{meta.episode_id}, got step {step.index}")
                if step.is_first != (n == 0):
                    raise ValueError(f"Expected is_first={n == 0} on step {n} of episode {meta.episode_id}, "
                                     f"got {step.is_first}")
                if n == 0 and step.is_terminal:
                    raise ValueError(f"Expected a terminal episode to have an action (two steps or more), got "
                                     f"episode {meta.episode_id} of one terminal step")
                backend.record_step(self._step_data(prev, step), is_new_episode=n == 0)
                prev, n = step, n + 1
            if prev is None:
                raise ValueError(f"Expected at least one step in episode {meta.episode_id}, got none")
            if not prev.is_last:
                raise ValueError(f"Expected step {n - 1} of episode {meta.episode_id} to be its last, "
                                 f"got is_last=False and no more steps")
            if n != meta.num_steps:
                raise ValueError(f"Expected {meta.num_steps} steps in episode {meta.episode_id} (its num_steps), "
                                 f"got {n}")
        except BaseException:
            if n:
                # Riegeli has the steps already: the split now ends in a partial episode, so stop here.
                self._broken = f"episode {meta.episode_id} was written partially"
            raise
        episode: dict[str, Any] = {
            "episode_id": meta.episode_id, "episode_index": int(meta.episode_index), "agent_id": meta.agent_id,
            "study_id": meta.study_id, "environment": meta.environment, "env_id": meta.env_id, "state": meta.state,
            "seed": int(meta.seed), "num_steps": int(meta.num_steps), "total_reward": float(meta.total_reward),
        }
        if self.config.keep_metadata:
            episode |= {"tags": json.dumps(list(meta.tags)), "notes": meta.notes}
        if self.config.multiagent:
            episode |= game_values(meta)
        backend.set_episode_metadata(episode)
        self._counts["episodes"] += 1
        self._counts["steps"] += n
        return n

    def _close_split(self) -> None:
        if self._backend is None:
            return
        self._backend.close()
        path = self.directory / self._split
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        self._summaries[self._split] = {"split": self._split, **self._counts, "bytes": size, "path": str(path)}
        self._backend, self._split = None, None

    def close(self) -> dict[str, Any]:
        self._close_split()
        self._closed = True
        return totals(self._summaries)
