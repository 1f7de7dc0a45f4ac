"""Step records and the step-chunk wire format shared by env-worker (writes), recorder (stores) and exporter (reads).

A chunk is one JetStream message and one S3 object, byte for byte:
    b"PCR2" | header length u32 LE | header JSON (ChunkHeader) | zstd( per step: observation leaves, action leaves,
    image )
Observation and action leaves are the raw C-order bytes of each leaf of the episode's observation and action specs
(see spaces.py), so values of any Gymnasium space round-trip with their dtype and shape; a variable-size leaf (text,
sequence, graph) is its length (u32 LE) then its encoding (spaces.pack). Specs without one are laid out exactly as
before variable leaves existed, so every chunk stored earlier decodes unchanged. zstd over a whole chunk
finds the redundancy between consecutive frames: 2-8x smaller than per-frame PNG and 10-50x faster (see
docs/recording.md). The image is the JPEG shown to the participant; zstd's checksum guards the body.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zstandard
from pydantic import BaseModel

from .spaces import Spec, has_variable, leaf_layout, leaves, nest, pack, unpack

MAGIC = b"PCR2"
_LEN = struct.Struct("<I")
_MAX_BODY = 1 << 31


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
    tags: list[str] = field(default_factory=list)  # step tags, added by the exporter (not part of a chunk)
    # Who chose this step's action, in a multi-agent game (None: a single-agent episode): {"controller": "human" |
    # "ai" | "none", "participant": id or None, "policy": "random" | "scripted" | "nats" or None, "late": bool}
    control: dict[str, Any] | None = None


class StepMeta(BaseModel):
    i: int
    reward: float
    discount: float
    first: bool
    last: bool
    terminal: bool
    t: float
    image_len: int
    input: dict[str, Any]
    info: dict[str, Any]
    ctl: dict[str, Any] | None = None  # Step.control; absent from the chunks of single-agent episodes


class ChunkHeader(BaseModel):
    episode_id: str
    seq: int
    steps: list[StepMeta]


# Statistics of a multi-agent game's episode (EpisodeEnd.stats): steps its agent's action was chosen by a participant,
# by an AI policy, by no one, and steps the policy was late (the previous action repeated)
CONTROL_STATS = ("human_steps", "ai_steps", "none_steps", "late_steps")


def control_stats(controls: Iterable[dict[str, Any] | None]) -> dict[str, float]:
    """CONTROL_STATS over the steps' controls (Step.control; None, a single-agent step, counts in none of them)."""
    counts = dict.fromkeys(CONTROL_STATS, 0.0)
    for c in controls:
        if c is not None:
            counts[f"{c['controller']}_steps"] += 1
            counts["late_steps"] += bool(c.get("late"))
    return counts


# ------------------------------------------------------------------ JSON-safe values
def jsonable(value: Any, max_items: int = 4096) -> Any:
    """Info dicts and actions hold numpy values; keep them exactly where JSON can, summarise huge arrays."""
    kind = type(value)
    if kind is int or kind is str or kind is bool or value is None:  # most of every step's info: fast
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v, max_items) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, max_items) for v in value]
    if isinstance(value, np.ndarray):
        if value.size > max_items:
            return {"dtype": str(value.dtype), "shape": list(value.shape), "omitted": "too large for info"}
        return jsonable(value.tolist(), max_items)
    if isinstance(value, np.generic):
        return jsonable(value.item(), max_items)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


# ------------------------------------------------------------------ chunk codec
def _packer(spec: Spec) -> Any:
    """value -> its buffers in chunk order; fixed leaves as memoryviews of their C-contiguous arrays (no copy)."""
    if has_variable(spec):
        return lambda value: pack(spec, value)
    return lambda value: [leaf.data if leaf.ndim else leaf.tobytes() for leaf in leaves(spec, value)]


def _meta(s: Step) -> dict[str, Any]:
    """A StepMeta as the dict its JSON is made of (the per-step path builds no pydantic model); `ctl` only where the
    step has a control (so single-agent chunks are written exactly as before)."""
    meta = {"i": int(s.index), "reward": float(s.reward), "discount": float(s.discount), "first": bool(s.is_first),
            "last": bool(s.is_last), "terminal": bool(s.is_terminal), "t": float(s.time),
            "image_len": len(s.image or b""), "input": jsonable(s.input), "info": jsonable(s.info)}
    if s.control is not None:
        meta["ctl"] = jsonable(s.control)
    return meta


def _header_json(episode_id: str, seq: int, metas: list[dict[str, Any]]) -> bytes:
    """ChunkHeader's JSON without building the models; falls back to pydantic for what json cannot write as it
    does (a non-finite float, which jsonable already turns into text, or a value of another type)."""
    try:
        return json.dumps({"episode_id": episode_id, "seq": seq, "steps": metas}, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError):
        no_ctl = {i: {"ctl"} for i, m in enumerate(metas) if m.get("ctl") is None}  # as written above
        return ChunkHeader(episode_id=episode_id, seq=seq, steps=[StepMeta(**m) for m in metas]).model_dump_json(
            exclude={"steps": no_ctl} if no_ctl else None).encode()


def encode_chunk(episode_id: str, seq: int, steps: list[Step], observation_spec: dict[str, Any],
                 action_spec: dict[str, Any], level: int = 3) -> bytes:
    """The chunk of `steps`. The body is compressed as a stream over the leaves' own buffers: joining them first
    cost more than the compression (a 64-step Pong chunk is 6.4 MB raw)."""
    metas: list[dict[str, Any]] = []
    body: list[Any] = []
    pack_obs, pack_act = _packer(observation_spec), _packer(action_spec)
    for s in steps:
        body += pack_obs(s.observation)
        body += pack_act(s.action)
        body.append(s.image or b"")
        metas.append(_meta(s))
    header = _header_json(episode_id, seq, metas)
    size = sum(memoryview(b).nbytes for b in body)
    stream = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj(size=size)
    compressed = b"".join([*(stream.compress(b) for b in body), stream.flush()])
    return MAGIC + _LEN.pack(len(header)) + header + compressed


def read_header(data: bytes) -> ChunkHeader:
    if data[:4] != MAGIC:
        raise ValueError(f"Expected a step chunk starting with {MAGIC!r}, got {bytes(data[:4])!r}")
    (n,) = _LEN.unpack_from(data, 4)
    return ChunkHeader.model_validate_json(data[8 : 8 + n])


def _take(body: bytes, pos: int, layout: list[tuple[np.dtype, tuple[int, ...]]]) -> tuple[list[np.ndarray], int]:
    arrays = []
    for dtype, shape in layout:
        count = int(np.prod(shape, dtype=np.int64))
        arrays.append(np.frombuffer(body, dtype=dtype, count=count, offset=pos).reshape(shape))
        pos += count * dtype.itemsize
    return arrays, pos


def _reader(spec: Spec) -> Any:
    """(body, pos) -> (value, pos) of one value of the spec."""
    if has_variable(spec):
        return lambda body, pos: unpack(spec, body, pos)
    layout = leaf_layout(spec)

    def read(body: bytes, pos: int) -> tuple[Any, int]:
        arrays, pos = _take(body, pos, layout)
        return nest(spec, arrays), pos  # (no variable leaf to decode)

    return read


def decode_chunk(data: bytes, observation_spec: dict[str, Any],
                 action_spec: dict[str, Any]) -> tuple[ChunkHeader, list[Step]]:
    """Steps with observations and actions as read-only numpy arrays of their spaces' dtypes and shapes (text as
    str, sequences as tuples or stacked arrays, graphs as spaces.GraphValue)."""
    header = read_header(data)
    (n,) = _LEN.unpack_from(data, 4)
    body = zstandard.ZstdDecompressor().decompress(data[8 + n :], max_output_size=_MAX_BODY)
    read_obs, read_act = _reader(observation_spec), _reader(action_spec)
    pos, steps = 0, []
    for m in header.steps:
        obs, pos = read_obs(body, pos)
        act, pos = read_act(body, pos)
        image = body[pos : pos + m.image_len] if m.image_len else None
        pos += m.image_len
        steps.append(Step(
            index=m.i, observation=obs, action=act,
            reward=m.reward, discount=m.discount, is_first=m.first, is_last=m.last, is_terminal=m.terminal, time=m.t,
            image=image, input=m.input, info=m.info, control=m.ctl,
        ))
    if pos != len(body):
        raise ValueError(f"Expected {pos} bytes of step data in chunk {header.seq}, got {len(body)}")
    return header, steps
