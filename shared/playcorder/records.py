"""Step records and the step-chunk wire format shared by env-worker (writes), recorder (stores) and exporter (reads).

A chunk is one JetStream message and one S3 object, byte for byte:
    b"PCR1" | header length u32 LE | header JSON (ChunkHeader) | zstd( per step: observation leaves, then image )
Observation leaves are the raw C-order bytes of each leaf of the observation spec (see spaces.py), so any
Gymnasium space round-trips with its dtype and shape; the image is the JPEG shown to the participant.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zstandard
from pydantic import BaseModel

MAGIC = b"PCR1"
_LEN = struct.Struct("<I")


@dataclass
class Step:
    """One RLDS step: o_i, the action a_i taken at o_i and its reward r_i; the last step holds the final o_T."""

    index: int
    observation: Any
    action: Any
    reward: float
    discount: float
    is_first: bool
    is_last: bool
    is_terminal: bool
    time: float
    image: bytes | None = None
    input: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


class StepMeta(BaseModel):
    i: int
    action: Any
    reward: float
    discount: float
    first: bool
    last: bool
    terminal: bool
    t: float
    image_len: int
    input: dict[str, Any]
    info: dict[str, Any]


class ChunkHeader(BaseModel):
    episode_id: str
    seq: int
    steps: list[StepMeta]


# ------------------------------------------------------------------ observation leaves
def _leaf_dtype(spec: dict[str, Any]) -> np.dtype:
    kind = spec["type"]
    if kind == "box":
        return np.dtype(spec["dtype"])
    if kind == "discrete":
        return np.dtype(np.int64)
    if kind == "multi_discrete":
        return np.dtype(spec.get("dtype", "int64"))
    if kind == "multi_binary":
        return np.dtype(np.int8)
    raise ValueError(f"Expected a leaf space (box, discrete, multi_discrete, multi_binary), got {kind!r}")


def _leaf_shape(spec: dict[str, Any]) -> tuple[int, ...]:
    kind = spec["type"]
    if kind == "box":
        return tuple(spec["shape"])
    if kind == "discrete":
        return ()
    if kind == "multi_discrete":
        return tuple(np.asarray(spec["nvec"]).shape)
    n = spec["n"]
    return tuple(n) if isinstance(n, (list, tuple)) else (n,)


def leaves(spec: dict[str, Any], value: Any) -> list[np.ndarray]:
    """Flatten a value of the space described by `spec` into arrays, in the spec's order."""
    kind = spec["type"]
    if kind == "dict":
        return [leaf for key, sub in spec["spaces"].items() for leaf in leaves(sub, value[key])]
    if kind == "tuple":
        return [leaf for sub, item in zip(spec["spaces"], value, strict=True) for leaf in leaves(sub, item)]
    arr = np.asarray(value, dtype=_leaf_dtype(spec))
    shape = _leaf_shape(spec)
    if arr.shape != shape:
        raise ValueError(f"Expected an observation leaf of shape {shape}, got {arr.shape}")
    return [np.ascontiguousarray(arr)]


def unflatten(spec: dict[str, Any], arrays: list[np.ndarray]) -> Any:
    it = iter(arrays)

    def build(s: dict[str, Any]) -> Any:
        if s["type"] == "dict":
            return {k: build(sub) for k, sub in s["spaces"].items()}
        if s["type"] == "tuple":
            return tuple(build(sub) for sub in s["spaces"])
        return next(it)

    return build(spec)


def leaf_layout(spec: dict[str, Any]) -> list[tuple[np.dtype, tuple[int, ...]]]:
    kind = spec["type"]
    if kind == "dict":
        return [x for sub in spec["spaces"].values() for x in leaf_layout(sub)]
    if kind == "tuple":
        return [x for sub in spec["spaces"] for x in leaf_layout(sub)]
    return [(_leaf_dtype(spec), _leaf_shape(spec))]


# ------------------------------------------------------------------ JSON-safe values
def jsonable(value: Any, max_items: int = 4096) -> Any:
    """Info dicts and actions hold numpy values; keep them exactly where JSON can, summarise huge arrays."""
    if isinstance(value, dict):
        return {str(k): jsonable(v, max_items) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, max_items) for v in value]
    if isinstance(value, np.ndarray):
        if value.size > max_items:
            return {"dtype": str(value.dtype), "shape": list(value.shape), "omitted": "too large for info"}
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


# ------------------------------------------------------------------ chunk codec
def encode_chunk(episode_id: str, seq: int, steps: list[Step], observation_spec: dict[str, Any], level: int = 3) -> bytes:
    metas: list[StepMeta] = []
    body: list[bytes] = []
    for s in steps:
        for leaf in leaves(observation_spec, s.observation):
            body.append(leaf.tobytes())
        image = s.image or b""
        body.append(image)
        metas.append(
            StepMeta(
                i=s.index, action=jsonable(s.action), reward=float(s.reward), discount=float(s.discount),
                first=s.is_first, last=s.is_last, terminal=s.is_terminal, t=s.time, image_len=len(image),
                input=jsonable(s.input), info=jsonable(s.info),
            )
        )
    header = ChunkHeader(episode_id=episode_id, seq=seq, steps=metas).model_dump_json().encode()
    compressed = zstandard.ZstdCompressor(level=level).compress(b"".join(body))
    return MAGIC + _LEN.pack(len(header)) + header + compressed


def read_header(data: bytes) -> ChunkHeader:
    if data[:4] != MAGIC:
        raise ValueError(f"Expected a step chunk starting with {MAGIC!r}, got {bytes(data[:4])!r}")
    (n,) = _LEN.unpack_from(data, 4)
    return ChunkHeader.model_validate_json(data[8 : 8 + n])


def decode_chunk(data: bytes, observation_spec: dict[str, Any]) -> tuple[ChunkHeader, list[Step]]:
    header = read_header(data)
    (n,) = _LEN.unpack_from(data, 4)
    body = zstandard.ZstdDecompressor().decompress(data[8 + n :], max_output_size=1 << 31)
    layout = leaf_layout(observation_spec)
    pos, steps = 0, []
    for m in header.steps:
        arrays = []
        for dtype, shape in layout:
            size = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
            arrays.append(np.frombuffer(body, dtype=dtype, count=size // dtype.itemsize, offset=pos).reshape(shape))
            pos += size
        image = body[pos : pos + m.image_len] if m.image_len else None
        pos += m.image_len
        steps.append(
            Step(
                index=m.i, observation=unflatten(observation_spec, arrays), action=m.action, reward=m.reward,
                discount=m.discount, is_first=m.first, is_last=m.last, is_terminal=m.terminal, time=m.t,
                image=image, input=m.input, info=m.info,
            )
        )
    if pos != len(body):
        raise ValueError(f"Expected {pos} bytes of step data in chunk {header.seq}, got {len(body)}")
    return header, steps
