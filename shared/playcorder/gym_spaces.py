"""Conversion between live Gymnasium spaces and their JSON-able specs (spaces.py): the env-worker describes its
environments' spaces, the exporter rebuilds them for formats that store Gymnasium spaces. Needs gymnasium
(the `gym` extra), unlike the rest of the shared package.

A space of strings that is not a Text (MiniGrid's MissionSpace: any mission its function makes) becomes a text
spec of 0..TEXT_MAX_LENGTH printable characters; its values are recorded whatever characters they hold."""

from __future__ import annotations

import math
import string
from typing import Any

import gymnasium
import numpy as np

from .spaces import TEXT_MAX_LENGTH, GraphValue, Spec, box_bounds

PRINTABLE = string.printable.strip() + " "  # letters, digits, punctuation and the space


def _bound_to_json(bound: np.ndarray) -> Any:
    """A Box bound as a scalar when uniform (keeps image specs tiny), else a nested list.

    Non-finite floats become "inf"/"-inf"/"nan" strings because strict JSON has no
    infinity; numpy parses those strings back when building the array.
    """
    flat = bound.reshape(-1)
    if flat.size and np.all(flat == flat[0]):
        return _scalar_to_json(flat[0].item())
    return np.array([_scalar_to_json(x) for x in flat.tolist()], dtype=object).reshape(bound.shape).tolist()


def _scalar_to_json(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


def _shape_or_int(shape: tuple[int, ...]) -> int | list[int]:
    return shape[0] if len(shape) == 1 else list(shape)


def space_spec(space: gymnasium.spaces.Space[Any]) -> Spec:
    """Describe a live Gymnasium space as a JSON-able dict (see `space_from_spec`)."""
    spaces = gymnasium.spaces
    if isinstance(space, spaces.Box):
        return {
            "type": "box",
            "dtype": np.dtype(space.dtype).name,
            "shape": list(space.shape),
            "low": _bound_to_json(space.low),
            "high": _bound_to_json(space.high),
        }
    if isinstance(space, spaces.Discrete):
        spec: Spec = {"type": "discrete", "n": int(space.n)}
        if int(space.start) != 0:
            spec["start"] = int(space.start)
        return spec
    if isinstance(space, spaces.MultiDiscrete):
        spec = {"type": "multi_discrete", "nvec": space.nvec.tolist()}
        if np.any(space.start != 0):
            spec["start"] = space.start.tolist()
        if np.dtype(space.dtype) != np.int64:
            spec["dtype"] = np.dtype(space.dtype).name
        return spec
    if isinstance(space, spaces.MultiBinary):
        return {"type": "multi_binary", "n": _shape_or_int(tuple(space.shape))}
    if isinstance(space, spaces.Dict):
        return {"type": "dict", "spaces": {k: space_spec(s) for k, s in space.spaces.items()}}
    if isinstance(space, spaces.Tuple):
        return {"type": "tuple", "spaces": [space_spec(s) for s in space.spaces]}
    if (variable := _variable_spec(space)) is not None:
        return variable
    raise TypeError(f"Expected a Gymnasium space of a kind Playcorder records (Box, Discrete, MultiDiscrete, "
                    f"MultiBinary, Text, Sequence, Graph, Dict, Tuple), got {space!r}")


def _variable_spec(space: gymnasium.spaces.Space[Any]) -> Spec | None:
    """The spec of a text, sequence or graph space (None for another kind)."""
    spaces = gymnasium.spaces
    if isinstance(space, spaces.Text):
        return {"type": "text", "max_length": int(space.max_length), "min_length": int(space.min_length),
                "charset": space.characters}
    if isinstance(space, spaces.Sequence):
        return {"type": "sequence", "space": space_spec(space.feature_space), "stack": bool(space.stack)}
    if isinstance(space, spaces.Graph):
        edges = space.edge_space
        return {"type": "graph", "node_space": space_spec(space.node_space),
                "edge_space": None if edges is None else space_spec(edges)}
    if space.dtype is not None and space.dtype.kind == "U":  # a Space[str] of its own, e.g. MissionSpace
        return {"type": "text", "max_length": TEXT_MAX_LENGTH, "min_length": 0, "charset": PRINTABLE}
    return None


def space_from_spec(spec: Spec) -> gymnasium.spaces.Space[Any]:
    """Rebuild the Gymnasium space described by `spec` (inverse of `space_spec`)."""
    spaces = gymnasium.spaces
    kind = spec.get("type")
    if kind == "box":
        low, high = box_bounds(spec)
        return spaces.Box(low=low, high=high, shape=low.shape, dtype=low.dtype)
    if kind == "discrete":
        return spaces.Discrete(int(spec["n"]), start=int(spec.get("start", 0)))
    if kind == "multi_discrete":
        return spaces.MultiDiscrete(
            np.array(spec["nvec"]),
            dtype=np.dtype(spec.get("dtype", "int64")),
            start=np.array(spec["start"]) if "start" in spec else None,
        )
    if kind == "multi_binary":
        n = spec["n"]
        return spaces.MultiBinary(n if isinstance(n, int) else list(n))
    if kind == "dict":
        return spaces.Dict({k: space_from_spec(s) for k, s in spec["spaces"].items()})
    if kind == "tuple":
        return spaces.Tuple([space_from_spec(s) for s in spec["spaces"]])
    if kind == "text":
        return spaces.Text(int(spec["max_length"]), min_length=int(spec.get("min_length", 0)),
                           charset=spec["charset"])
    if kind == "sequence":
        return spaces.Sequence(space_from_spec(spec["space"]), stack=bool(spec.get("stack", False)))
    if kind == "graph":
        edges = spec.get("edge_space")
        return spaces.Graph(space_from_spec(spec["node_space"]), None if edges is None else space_from_spec(edges))
    raise ValueError(f"Unknown space spec type {kind!r} in {spec!r}")


def gym_value(spec: Spec, value: Any) -> Any:
    """A value of the spec as its Gymnasium space holds it: graphs (GraphValue) as GraphInstance, recursively."""
    kind = spec.get("type")
    if kind == "dict":
        return {k: gym_value(s, value[k]) for k, s in spec["spaces"].items()}
    if kind == "tuple":
        return tuple(gym_value(s, v) for s, v in zip(spec["spaces"], value, strict=True))
    if kind == "sequence" and not spec.get("stack"):
        return tuple(gym_value(spec["space"], v) for v in value)
    if kind == "sequence" and spec["space"].get("type") in ("graph", "sequence", "text"):
        return tuple(gym_value(spec["space"], v) for v in value)
    if kind == "graph" and isinstance(value, GraphValue):
        return gymnasium.spaces.GraphInstance(*value)
    return value
