"""Where a preference segment's data lives and how it is laid out: the gateway writes posted segments and reads
segment arrays, the exporter reads posted frames to render clips.

A posted segment is one .npz in S3 (no pickles): `frame_bytes` (every encoded image back to back, uint8),
`frame_offsets` (int64, n + 1), and `observation`, `action`, `reward` where the trainer sent them.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

ARRAYS = ("observation", "action", "reward")
_savez: Any = np.savez  # its stubs type **arrays as its keyword options
JPEG_MAGIC, PNG_MAGIC = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"


def segment_prefix(study_id: str, experiment_id: str) -> str:
    return f"preferences/{study_id}/{experiment_id}/"


def clip_key(study_id: str, experiment_id: str, segment_id: str, fmt: str) -> str:
    return f"{segment_prefix(study_id, experiment_id)}clips/{segment_id}.{fmt}"


def posted_key(study_id: str, experiment_id: str, segment_id: str) -> str:
    return f"{segment_prefix(study_id, experiment_id)}posted/{segment_id}.npz"


def image_kind(data: bytes) -> str | None:
    """"jpeg" or "png" from the first bytes, else None."""
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    if data.startswith(PNG_MAGIC):
        return "png"
    return None


def decode_image(data: bytes) -> np.ndarray:
    """An encoded JPEG or PNG as HxWx3 uint8 (ValueError naming what it got otherwise)."""
    kind = image_kind(data)
    if kind is None:
        raise ValueError(f"Expected a JPEG or PNG image, got {len(data)} bytes starting {data[:8]!r}")
    try:
        if kind == "jpeg":
            import simplejpeg  # type: ignore[import-untyped]

            return np.asarray(simplejpeg.decode_jpeg(data, colorspace="RGB"))
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    except (ValueError, OSError) as err:
        raise ValueError(f"Expected a decodable {kind.upper()} image, got {len(data)} bytes it cannot decode: "
                         f"{err}") from None


def pack_posted(frames: list[bytes], arrays: dict[str, np.ndarray]) -> bytes:
    offsets = np.cumsum([0, *(len(f) for f in frames)], dtype=np.int64)
    buffer = io.BytesIO()
    _savez(buffer, frame_bytes=np.frombuffer(b"".join(frames), dtype=np.uint8), frame_offsets=offsets,
             **{k: v for k, v in arrays.items() if k in ARRAYS})
    return buffer.getvalue()


def unpack_posted(data: bytes) -> tuple[list[bytes], dict[str, np.ndarray]]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        raw, offsets = npz["frame_bytes"].tobytes(), npz["frame_offsets"]
        arrays = {k: npz[k] for k in ARRAYS if k in npz.files}
    return [raw[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)], arrays


def posted_frames(data: bytes) -> list[np.ndarray]:
    frames, _ = unpack_posted(data)
    return [decode_image(f) for f in frames]


def arrays_npz(arrays: dict[str, Any]) -> bytes:
    """A segment's arrays as the .npz the API returns (observation, action, reward)."""
    buffer = io.BytesIO()
    _savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    return buffer.getvalue()
