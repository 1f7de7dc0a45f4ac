"""JSON-able specs of Gymnasium spaces, so dataset writers, services and the SDK can describe, flatten and sample
observations/actions without importing gymnasium (gym_spaces.py converts to and from live spaces).

Specs: box, discrete, multi_discrete, multi_binary (fixed-size leaves), dict and tuple (their structure), and the
variable-size leaves `{"type": "text", "max_length", "min_length", "charset"}`, `{"type": "sequence", "space",
"stack"}` and `{"type": "graph", "node_space", "edge_space" (or None)}`, each stored as one length-prefixed leaf
(`pack`). `format_limits` says which export formats cannot hold a pair of specs, and why."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

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
FIXED_KINDS = ("box", "discrete", "multi_discrete", "multi_binary")
VARIABLE_KINDS = ("text", "sequence", "graph")  # values of no fixed size: one length-prefixed leaf each
VARIABLE = -1  # the shape (VARIABLE,) of a variable leaf in leaf_layout: uint8 bytes of any length
TEXT_MAX_LENGTH = 4096  # characters of a str space that declares no limit (MiniGrid's MissionSpace)
_U32 = struct.Struct("<I")
EDGE_LINK_DTYPE = np.dtype(np.int32)  # as Gymnasium's Graph samples edge_links


class GraphValue(NamedTuple):
    """A value of a graph spec, field for field Gymnasium's GraphInstance (which needs gymnasium)."""

    nodes: np.ndarray  # (n, *node shape)
    edges: np.ndarray | None  # (m, *edge shape), None without an edge space
    edge_links: np.ndarray | None  # (m, 2) node indices, None without an edge space


def is_variable(spec: Spec) -> bool:
    return spec.get("type") in VARIABLE_KINDS


def leaf_dtype(spec: Spec) -> np.dtype:
    """dtype of a leaf space's values (box, discrete, multi_discrete, multi_binary), as Gymnasium samples them;
    uint8 (the bytes of its encoding) for a variable one (text, sequence, graph)."""
    kind = spec.get("type")
    if kind == "box":
        return np.dtype(spec["dtype"])
    if kind in ("discrete", "multi_discrete"):
        return np.dtype(spec.get("dtype", "int64"))
    if kind == "multi_binary":
        return np.dtype(np.int8)
    if kind in VARIABLE_KINDS:
        return np.dtype(np.uint8)
    raise ValueError(f"Expected a leaf space spec (box, discrete, multi_discrete, multi_binary, text, sequence, "
                     f"graph), got {kind!r}")


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
    if kind in VARIABLE_KINDS:
        return (VARIABLE,)
    raise ValueError(f"Expected a leaf space spec (box, discrete, multi_discrete, multi_binary, text, sequence, "
                     f"graph), got {kind!r}")


def leaf_layout(spec: Spec) -> list[tuple[np.dtype, tuple[int, ...]]]:
    """(dtype, shape) of each leaf, depth first in the spec's order; (uint8, (VARIABLE,)) for a variable one."""
    kind = spec.get("type")
    if kind == "dict":
        return [x for sub in spec["spaces"].values() for x in leaf_layout(sub)]
    if kind == "tuple":
        return [x for sub in spec["spaces"] for x in leaf_layout(sub)]
    return [(leaf_dtype(spec), leaf_shape(spec))]


def leaf_specs(spec: Spec, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Spec]]:
    """(path, leaf spec) of each leaf, in the order of `leaves`."""
    kind = spec.get("type")
    if kind == "dict":
        for k, sub in spec["spaces"].items():
            yield from leaf_specs(sub, (*path, str(k)))
    elif kind == "tuple":
        for i, sub in enumerate(spec["spaces"]):
            yield from leaf_specs(sub, (*path, str(i)))
    else:
        yield path, spec


def leaf_values(spec: Spec, value: Any) -> Iterator[tuple[Spec, Any]]:
    """(leaf spec, its part of `value`) of each leaf, in the order of `leaves`, the value as given."""
    kind = spec.get("type")
    if kind == "dict":
        for key, sub in spec["spaces"].items():
            yield from leaf_values(sub, value[key])
    elif kind == "tuple":
        for sub, item in zip(spec["spaces"], value, strict=True):
            yield from leaf_values(sub, item)
    else:
        yield spec, value


def _fixed_leaf(spec: Spec, value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=leaf_dtype(spec))
    shape = leaf_shape(spec)
    if arr.shape != shape:
        raise ValueError(f"Expected a {spec.get('type')} value of shape {shape}, got shape {arr.shape}")
    # (np.ascontiguousarray would turn a 0-d value, e.g. of a Discrete space, into shape (1,))
    return arr if arr.flags.c_contiguous else np.array(arr, order="C")


def leaves(spec: Spec, value: Any) -> list[np.ndarray]:
    """Flatten a value of the space described by `spec` into C-contiguous arrays, in the spec's order; a variable
    leaf (text, sequence, graph) is the uint8 array of its encoding (`encode_variable`: UTF-8 for text)."""
    return [np.frombuffer(encode_variable(s, v), np.uint8) if s.get("type") in VARIABLE_KINDS else _fixed_leaf(s, v)
            for s, v in leaf_values(spec, value)]


def nest(spec: Spec, items: Iterable[Any]) -> Any:
    """Dicts and tuples of the spec rebuilt around one item per leaf, the items as they are."""
    it = iter(items)

    def build(s: Spec) -> Any:
        if s.get("type") == "dict":
            return {k: build(sub) for k, sub in s["spaces"].items()}
        if s.get("type") == "tuple":
            return tuple(build(sub) for sub in s["spaces"])
        return next(it)

    return build(spec)


def unflatten(spec: Spec, arrays: list[np.ndarray]) -> Any:
    """Inverse of `leaves`: dicts and tuples rebuilt around the arrays, variable leaves decoded to their values."""
    return nest(spec, (decode_variable(s, a) if s.get("type") in VARIABLE_KINDS else a
                       for (_, s), a in zip(leaf_specs(spec), arrays, strict=True)))


# ---------------------------------------------------------------- variable leaves: text, sequence, graph
def _check_text(spec: Spec, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"Expected a text value (str), got {type(value).__name__}")
    low, high = int(spec.get("min_length", 0)), int(spec["max_length"])
    if not low <= len(value) <= high:
        raise ValueError(f"Expected a text value of {low}..{high} characters, got {len(value)}")
    return value


def pack(spec: Spec, value: Any) -> list[bytes]:
    """A value's leaves as the byte strings a chunk stores: fixed leaves raw (C order), each variable leaf as its
    length (u32 LE) then its encoding."""
    out: list[bytes] = []
    for s, v in leaf_values(spec, value):
        if s.get("type") in VARIABLE_KINDS:
            blob = encode_variable(s, v)
            out += [_U32.pack(len(blob)), blob]
        else:
            out.append(_fixed_leaf(s, v).tobytes())
    return out


def unpack(spec: Spec, data: bytes | memoryview, pos: int = 0) -> tuple[Any, int]:
    """Inverse of `pack` from `data` at `pos`: (value, position after it). Fixed leaves are read-only views."""
    items: list[Any] = []
    for _, s in leaf_specs(spec):
        if s.get("type") in VARIABLE_KINDS:
            (n,) = _U32.unpack_from(data, pos)
            pos += 4
            if pos + n > len(data):
                raise ValueError(f"Expected {n} bytes of a {s['type']} value, got {len(data) - pos}")
            items.append(decode_variable(s, data[pos : pos + n]))
            pos += n
        else:
            dtype, shape = leaf_dtype(s), leaf_shape(s)
            count = int(np.prod(shape, dtype=np.int64))
            items.append(np.frombuffer(data, dtype=dtype, count=count, offset=pos).reshape(shape))
            pos += count * dtype.itemsize
    return nest(spec, items), pos


def sequence_items(spec: Spec, value: Any) -> list[Any]:
    """The elements of a value of a sequence spec (a stacked one unstacked, as gymnasium.vector.utils.iterate)."""
    if not spec.get("stack"):
        if not isinstance(value, (tuple, list)):
            raise ValueError(f"Expected a sequence value (a tuple), got {type(value).__name__}")
        return list(value)
    return _unstack(spec["space"], value)


def _unstack(sub: Spec, value: Any) -> list[Any]:
    kind = sub.get("type")
    if kind == "dict":
        parts = {k: _unstack(s, value[k]) for k, s in sub["spaces"].items()}
        return [dict(zip(parts, row, strict=True)) for row in zip(*parts.values(), strict=True)]
    if kind == "tuple":
        parts_t = [_unstack(s, v) for s, v in zip(sub["spaces"], value, strict=True)]
        return [tuple(row) for row in zip(*parts_t, strict=True)]
    if kind in FIXED_KINDS:
        arr = np.asarray(value, dtype=leaf_dtype(sub))
        if arr.shape[1:] != leaf_shape(sub) or arr.ndim == 0:
            raise ValueError(f"Expected a stacked sequence of shape (n, *{leaf_shape(sub)}), got shape {arr.shape}")
        return list(arr)
    return list(value)  # text, sequence, graph elements stack as a tuple


def _stack(sub: Spec, items: list[Any]) -> Any:
    """Elements of a stacked sequence as Gymnasium's Sequence(stack=True) holds them (vector.utils.concatenate)."""
    kind = sub.get("type")
    if kind == "dict":
        return {k: _stack(s, [item[k] for item in items]) for k, s in sub["spaces"].items()}
    if kind == "tuple":
        return tuple(_stack(s, [item[i] for item in items]) for i, s in enumerate(sub["spaces"]))
    if kind in FIXED_KINDS:
        if not items:
            return np.zeros((0, *leaf_shape(sub)), leaf_dtype(sub))
        return np.stack([np.asarray(x, leaf_dtype(sub)) for x in items])
    return tuple(items)


def _array_of(spec: Spec, value: Any, what: str) -> np.ndarray:
    """A graph's nodes or edges: (count, *shape) of the node/edge space."""
    arr = np.asarray(value, dtype=leaf_dtype(spec))
    shape = leaf_shape(spec)
    if arr.ndim != len(shape) + 1 or arr.shape[1:] != shape:
        raise ValueError(f"Expected graph {what} of shape (n, *{shape}), got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def encode_variable(spec: Spec, value: Any) -> bytes:
    """The bytes of a value of a text (UTF-8), sequence (u32 count, then each element packed) or graph (u32 node
    count, nodes, then with an edge space u32 edge count, edges, edge_links as int32 (m, 2)) spec."""
    kind = spec.get("type")
    if kind == "text":
        return _check_text(spec, value).encode("utf-8")
    if kind == "sequence":
        items = sequence_items(spec, value)
        return b"".join([_U32.pack(len(items)), *(b for item in items for b in pack(spec["space"], item))])
    if kind == "graph":
        nodes = _array_of(spec["node_space"], value.nodes, "nodes")
        parts = [_U32.pack(len(nodes)), nodes.tobytes()]
        edge_space = spec.get("edge_space")
        if edge_space is None:
            if value.edges is not None or value.edge_links is not None:
                raise ValueError("Expected a graph without edges (its space has no edge space), got edges")
            return b"".join(parts)
        edges = _array_of(edge_space, value.edges, "edges")
        links = np.asarray(value.edge_links)
        if links.shape != (len(edges), 2) or not np.issubdtype(links.dtype, np.integer):
            raise ValueError(f"Expected edge_links of integers, shape ({len(edges)}, 2), got {links.dtype} "
                             f"{links.shape}")
        if links.size and not (0 <= links.min() and links.max() < len(nodes)):
            raise ValueError(f"Expected edge_links within 0..{len(nodes) - 1}, got {links.min()}..{links.max()}")
        parts += [_U32.pack(len(edges)), edges.tobytes(), links.astype(EDGE_LINK_DTYPE).tobytes()]
        return b"".join(parts)
    raise ValueError(f"Expected a variable space spec (text, sequence, graph), got {kind!r}")


def _rows(spec: Spec, data: bytes | memoryview, pos: int, count: int, what: str) -> tuple[np.ndarray, int]:
    dtype, shape = leaf_dtype(spec), leaf_shape(spec)
    size = int(np.prod(shape, dtype=np.int64)) * count
    if pos + size * dtype.itemsize > len(data):
        raise ValueError(f"Expected {count} graph {what} in {len(data) - pos} bytes, got too few")
    return np.frombuffer(data, dtype, size, pos).reshape((count, *shape)), pos + size * dtype.itemsize


def decode_variable(spec: Spec, data: bytes | memoryview | np.ndarray) -> Any:
    """Inverse of `encode_variable`."""
    kind = spec.get("type")
    if isinstance(data, np.ndarray):
        data = data.tobytes()
    if kind == "text":
        return bytes(data).decode("utf-8")
    if kind == "sequence":
        (n,) = _U32.unpack_from(data, 0)
        pos, items = 4, []
        for _ in range(n):
            item, pos = unpack(spec["space"], data, pos)
            items.append(item)
        value = _stack(spec["space"], items) if spec.get("stack") else tuple(items)
    elif kind == "graph":
        (n,) = _U32.unpack_from(data, 0)
        nodes, pos = _rows(spec["node_space"], data, 4, n, "nodes")
        edges = links = None
        if spec.get("edge_space") is not None:
            (m,) = _U32.unpack_from(data, pos)
            edges, pos = _rows(spec["edge_space"], data, pos + 4, m, "edges")
            links, pos = _rows({"type": "box", "dtype": EDGE_LINK_DTYPE.name, "shape": [2]}, data, pos, m,
                               "edge links")
        value = GraphValue(nodes, edges, links)
    else:
        raise ValueError(f"Expected a variable space spec (text, sequence, graph), got {kind!r}")
    if pos != len(data):
        raise ValueError(f"Expected {pos} bytes of a {kind} value, got {len(data)}")
    return value


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
    if kind == "text":
        charset = spec["charset"]
        length = int(rng.integers(int(spec.get("min_length", 0)), int(spec["max_length"]) + 1))
        return "".join(charset[i] for i in rng.integers(len(charset), size=length)) if charset else ""
    if kind == "sequence":
        items = [sample(spec["space"], rng) for _ in range(int(rng.integers(0, 5)))]
        return _stack(spec["space"], items) if spec.get("stack") else tuple(items)
    if kind == "graph":
        n = int(rng.integers(1, 6))
        nodes = _stack(spec["node_space"], [sample(spec["node_space"], rng) for _ in range(n)])
        if spec.get("edge_space") is None:
            return GraphValue(nodes, None, None)
        m = int(rng.integers(0, 2 * n))
        edges = _stack(spec["edge_space"], [sample(spec["edge_space"], rng) for _ in range(m)])
        return GraphValue(nodes, edges, rng.integers(0, n, (m, 2)).astype(EDGE_LINK_DTYPE))
    raise ValueError(f"Expected a space spec of type box, discrete, multi_discrete, multi_binary, text, sequence, "
                     f"graph, dict or tuple, got {kind!r}")


def zeros(spec: Spec) -> Any:
    """A value of the space's structure with every leaf zero: the placeholder action of an RLDS last step (the
    shortest text of the charset's first character, an empty sequence, a graph of no nodes)."""
    kind = spec.get("type")
    if kind == "dict":
        return {k: zeros(sub) for k, sub in spec["spaces"].items()}
    if kind == "tuple":
        return tuple(zeros(sub) for sub in spec["spaces"])
    if kind == "text":
        return spec["charset"][:1] * int(spec.get("min_length", 0))
    if kind == "sequence":
        return _stack(spec["space"], []) if spec.get("stack") else ()
    if kind == "graph":
        nodes = _stack(spec["node_space"], [])
        if spec.get("edge_space") is None:
            return GraphValue(nodes, None, None)
        return GraphValue(nodes, _stack(spec["edge_space"], []), np.zeros((0, 2), EDGE_LINK_DTYPE))
    return np.zeros(leaf_shape(spec), leaf_dtype(spec))


# ---------------------------------------------------------------- which export formats hold which spaces
FORMATS = ("rlds", "envlogger", "minari", "lerobot")
_NOT_HELD = {
    "rlds": "RLDS (TFDS features) holds fixed-shape tensors and text, not the {kind} space at {path}",
    "envlogger": "envlogger's codec holds arrays and text, not the {kind} space at {path} (it reads an empty "
                 "list back as None)",
    "minari": "Minari 0.5 serializes Box, Discrete, MultiDiscrete, MultiBinary, Text, Dict and Tuple spaces, not "
              "the {kind} space at {path}",
    "lerobot": "LeRobot features are fixed-shape columns, strings and videos, not the {kind} space at {path}",
}


def _paths(spec: Spec, path: str) -> Iterator[tuple[str, Spec]]:
    """(dotted path, spec) of every leaf, a sequence or graph as one leaf."""
    for parts, leaf in leaf_specs(spec):
        yield ".".join((path, *parts)), leaf


def format_limits(observation_spec: Spec, action_spec: Spec) -> dict[str, str]:
    """Export formats that cannot hold episodes of these spaces, each with the reason (absent: the format can).
    Text goes everywhere (a string feature, dataset or column); no format holds a Sequence or Graph space."""
    limits: dict[str, str] = {}
    leaves_ = [*_paths(observation_spec, "observation"), *_paths(action_spec, "action")]
    for path, leaf in leaves_:
        kind = leaf.get("type")
        if kind in ("sequence", "graph"):
            for fmt, reason in _NOT_HELD.items():
                limits.setdefault(fmt, reason.format(kind=kind.capitalize(), path=path))
        elif kind in FIXED_KINDS and "envlogger" not in limits:
            dtype, shape = leaf_dtype(leaf), leaf_shape(leaf)
            if dtype == np.float16:
                limits["envlogger"] = f"envlogger's codec has no float16 (the {path} space)"
            elif 0 in shape:
                limits["envlogger"] = (f"envlogger's codec reads a zero-length dimension back as None (the {path} "
                                       f"space of shape {list(shape)})")
    return limits
