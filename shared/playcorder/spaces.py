"""JSON-able specs of Gymnasium spaces, so dataset writers, services and the SDK can describe, flatten and sample
observations/actions without importing gymnasium (gym_spaces.py converts to and from live spaces)."""

from __future__ import annotations

from typing import Any

import numpy as np

Spec = dict[str, Any]


def default_bound(dtype: np.dtype[Any], high: bool) -> Any:
    """The bound of a box spec that omits it (specs written by hand may): the widest range of the dtype."""
    if dtype == np.bool_:
        return 1 if high else 0
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return info.max if high else info.min
    return np.inf if high else -np.inf


def box_bounds(spec: Spec) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of a box spec as arrays of its dtype and shape."""
    dtype, shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
    bounds = []
    for key, high in (("low", False), ("high", True)):
        value = spec.get(key, default_bound(dtype, high))
        # Parse through float64 first so "inf" strings work for float dtypes.
        arr = np.array(value, dtype=np.float64 if dtype.kind == "f" else dtype)
        bounds.append(np.broadcast_to(arr, shape).astype(dtype))
    return bounds[0], bounds[1]


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


def _sample_box(spec: Spec, rng: np.random.Generator) -> np.ndarray:
    low, high = box_bounds(spec)
    dtype = low.dtype
    if dtype.kind in "iub":
        return rng.integers(low.astype(np.int64), high.astype(np.int64), endpoint=True).astype(dtype)
    lo, hi = low.astype(np.float64), high.astype(np.float64)
    finite = np.isfinite(lo) & np.isfinite(hi)
    # unbounded dimensions: a standard normal, kept within the one bound they may have
    bounded = rng.uniform(np.where(finite, lo, 0), np.where(finite, hi, 1))
    value = np.where(finite, bounded, rng.standard_normal(lo.shape))
    return np.asarray(np.clip(value, lo, hi), dtype)


def sample(spec: Spec, rng: np.random.Generator) -> Any:
    """A random value of the space described by `spec` (what a random policy sends), without gymnasium."""
    kind = spec.get("type")
    if kind == "dict":
        return {k: sample(sub, rng) for k, sub in spec["spaces"].items()}
    if kind == "tuple":
        return tuple(sample(sub, rng) for sub in spec["spaces"])
    if kind == "box":
        return _sample_box(spec, rng)
    if kind == "discrete":
        return int(spec.get("start", 0) + rng.integers(int(spec["n"])))
    if kind == "multi_discrete":
        nvec = np.asarray(spec["nvec"])
        start = np.asarray(spec.get("start", np.zeros_like(nvec)))
        return (start + rng.integers(nvec)).astype(leaf_dtype(spec))
    if kind == "multi_binary":
        return rng.integers(0, 2, leaf_shape(spec)).astype(np.int8)
    raise ValueError(f"Expected a space spec of type box, discrete, multi_discrete, multi_binary, dict or tuple, "
                     f"got {kind!r}")


def zeros(spec: Spec) -> Any:
    """A value of the space's structure with every leaf zero: the placeholder action of an RLDS last step."""
    return unflatten(spec, [np.zeros(shape, dtype) for dtype, shape in leaf_layout(spec)])



FORMATS = ("rlds", "envlogger", "minari", "lerobot")


def format_limits(observation_spec: Spec, action_spec: Spec) -> dict[str, str]:
    """Export formats that cannot hold episodes of these spaces, each with the reason (absent: the format can)."""
    del observation_spec, action_spec
    return {}
