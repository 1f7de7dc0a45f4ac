"""JSON-able specs of Gymnasium spaces, so dataset writers and services can describe
observations/actions without importing gymnasium (only this module needs it)."""

from __future__ import annotations

import math
from typing import Any

import gymnasium
import numpy as np

Spec = dict[str, Any]


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


def space_spec(space: gymnasium.spaces.Space) -> Spec:
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
    raise TypeError(f"Unsupported Gymnasium space for datasets: {space!r}")


def _default_bound(dtype: np.dtype, high: bool) -> Any:
    # Specs written by hand may omit bounds; use the widest range of the dtype.
    if dtype == np.bool_:
        return 1 if high else 0
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return info.max if high else info.min
    return np.inf if high else -np.inf


def space_from_spec(spec: Spec) -> gymnasium.spaces.Space:
    """Rebuild the Gymnasium space described by `spec` (inverse of `space_spec`)."""
    spaces = gymnasium.spaces
    kind = spec.get("type")
    if kind == "box":
        dtype = np.dtype(spec["dtype"])
        shape = tuple(spec["shape"])
        bounds = []
        for key, high in (("low", False), ("high", True)):
            value = spec.get(key, _default_bound(dtype, high))
            # Parse through float64 first so "inf" strings work for float dtypes.
            arr = np.array(value, dtype=np.float64 if dtype.kind == "f" else dtype)
            bounds.append(np.broadcast_to(arr, shape).astype(dtype))
        return spaces.Box(low=bounds[0], high=bounds[1], shape=shape, dtype=dtype)
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
    raise ValueError(f"Unknown space spec type {kind!r} in {spec!r}")


# ---------------------------------------------------------------- leaves: the arrays a value of a spec is made of
def leaf_dtype(spec: Spec) -> np.dtype:
    """dtype of a leaf space's values (box, discrete, multi_discrete, multi_binary), as Gymnasium samples them."""
    kind = spec.get("type")
    if kind == "box":
        return np.dtype(spec["dtype"])
    if kind in ("discrete", "multi_discrete"):
        return np.dtype(spec.get("dtype", "int64"))
    if kind == "multi_binary":
        return np.dtype(np.int8)
    raise ValueError(f"Expected a leaf space spec (box, discrete, multi_discrete, multi_binary), got {kind!r}")


def leaf_shape(spec: Spec) -> tuple[int, ...]:
    kind = spec.get("type")
    if kind == "box":
        return tuple(int(x) for x in spec["shape"])
    if kind == "discrete":
        return ()
    if kind == "multi_discrete":
        return tuple(np.shape(spec["nvec"]))
    if kind == "multi_binary":
        n = spec["n"]
        return (int(n),) if isinstance(n, int) else tuple(int(x) for x in n)
    raise ValueError(f"Expected a leaf space spec (box, discrete, multi_discrete, multi_binary), got {kind!r}")


def leaf_layout(spec: Spec) -> list[tuple[np.dtype, tuple[int, ...]]]:
    """(dtype, shape) of each leaf, depth first in the spec's order."""
    kind = spec.get("type")
    if kind == "dict":
        return [x for sub in spec["spaces"].values() for x in leaf_layout(sub)]
    if kind == "tuple":
        return [x for sub in spec["spaces"] for x in leaf_layout(sub)]
    return [(leaf_dtype(spec), leaf_shape(spec))]


def leaves(spec: Spec, value: Any) -> list[np.ndarray]:
    """Flatten a value of the space described by `spec` into C-contiguous arrays, in the spec's order."""
    kind = spec.get("type")
    if kind == "dict":
        return [leaf for key, sub in spec["spaces"].items() for leaf in leaves(sub, value[key])]
    if kind == "tuple":
        return [leaf for sub, item in zip(spec["spaces"], value, strict=True) for leaf in leaves(sub, item)]
    arr = np.asarray(value, dtype=leaf_dtype(spec))
    shape = leaf_shape(spec)
    if arr.shape != shape:
        raise ValueError(f"Expected a {kind} value of shape {shape}, got shape {arr.shape}")
    # (np.ascontiguousarray would turn a 0-d value, e.g. of a Discrete space, into shape (1,))
    return [arr if arr.flags.c_contiguous else np.array(arr, order="C")]


def unflatten(spec: Spec, arrays: list[np.ndarray]) -> Any:
    """Inverse of `leaves`: dicts and tuples rebuilt around the arrays."""
    it = iter(arrays)

    def build(s: Spec) -> Any:
        if s.get("type") == "dict":
            return {k: build(sub) for k, sub in s["spaces"].items()}
        if s.get("type") == "tuple":
            return tuple(build(sub) for sub in s["spaces"])
        return next(it)

    return build(spec)


def zeros(spec: Spec) -> Any:
    """A value of the space's structure with every leaf zero: the placeholder action of an RLDS last step."""
    return unflatten(spec, [np.zeros(shape, dtype) for dtype, shape in leaf_layout(spec)])

