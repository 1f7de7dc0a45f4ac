"""A preference segment's clip: its frames encoded into browser-playable video, then decoded back as the check.

Two files per clip, as a page's <video> takes the first source it can play: WebM (VP9), which every Chromium and
Firefox build plays, and MP4 (H.264, yuv420p, moov first), which Safari and Chrome play. The last frame is held
for `freeze_s` (RL-Teacher's 0.2 s) so a labeller sees where a clip ends. Odd sizes are padded by one edge pixel
(yuv420p needs even ones). A clip is stored only once each file decodes back to every frame it was given: a clip
that cannot play is a failed render, never an offered pair (RL-Teacher's blank clips).
"""

from __future__ import annotations

import io
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = {"webm": ("webm", "libvpx-vp9", {"crf": "32", "b:v": "0", "deadline": "realtime", "cpu-used": "8",
                                            "row-mt": "1"}),
           "mp4": ("mp4", "libx264", {"crf": "23", "preset": "veryfast", "tune": "animation"})}
CONTENT_TYPES = {"webm": "video/webm", "mp4": "video/mp4"}
MAX_SIDE = 1280  # pixels: larger frames are refused (a segment of 600 of them would be a large clip)


class ClipError(ValueError):
    """The frames cannot make a clip, or the clip made does not decode back: the segment's render failed."""


@dataclass(frozen=True)
class Clip:
    files: dict[str, bytes]  # format -> bytes
    frames: int  # frames in each file, the freeze included
    width: int
    height: int


def freeze_frames(fps: int, freeze_s: float) -> int:
    return math.ceil(round(freeze_s * fps, 6)) if freeze_s > 0 else 0


def render(frames: Sequence[np.ndarray], fps: int, freeze_s: float) -> Clip:
    """Encode HxWx3 uint8 frames (all one size) at `fps`, holding the last one `freeze_s`; check each file decodes."""
    if not frames:
        raise ClipError("Expected at least one frame, got none")
    first = frames[0]
    if first.ndim != 3 or first.shape[2] != 3 or first.dtype != np.uint8:
        raise ClipError(f"Expected frames as HxWx3 uint8, got shape {first.shape} {first.dtype}")
    height, width = first.shape[:2]
    if max(height, width) > MAX_SIDE:
        raise ClipError(f"Expected frames at most {MAX_SIDE} pixels a side, got {width}x{height}")
    for i, f in enumerate(frames):
        if f.shape != first.shape:
            raise ClipError(f"Expected every frame of shape {first.shape}, got {f.shape} at frame {i}")
    held = [*frames, *[frames[-1]] * freeze_frames(fps, freeze_s)]
    files = {name: _encode(held, fps, name) for name in FORMATS}
    for name, data in files.items():
        decoded = decoded_frames(data)
        if decoded != len(held):
            raise ClipError(f"Expected the {name} clip to decode to {len(held)} frames, got {decoded}")
    return Clip(files=files, frames=len(held), width=width + width % 2, height=height + height % 2)


def _encode(frames: Sequence[np.ndarray], fps: int, name: str) -> bytes:
    import av

    container_format, codec, options = FORMATS[name]
    height, width = frames[0].shape[:2]
    h, w = height + height % 2, width + width % 2
    # MP4's moov-first pass reopens its output by name, so both are written to a file (in the render thread)
    with tempfile.TemporaryDirectory(prefix="clip-") as tmp:
        path = Path(tmp) / f"clip.{name}"
        container_options = {"movflags": "+faststart"} if container_format == "mp4" else {}
        _write(av.open(str(path), "w", format=container_format, options=container_options), frames, fps, codec,
               options, (h, w))
        return path.read_bytes()


def _write(container: Any, frames: Sequence[np.ndarray], fps: int, codec: str, options: dict[str, str],
           size: tuple[int, int]) -> None:
    import av

    h, w = size
    height, width = frames[0].shape[:2]
    with container:
        stream = container.add_stream(codec, rate=fps, options=dict(options))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for n, frame in enumerate(frames):
            if (h, w) != frame.shape[:2]:
                frame = np.pad(frame, ((0, h - height), (0, w - width), (0, 0)), mode="edge")
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            vf.pts, vf.time_base = n, Fraction(1, fps)
            container.mux(stream.encode(vf))
        container.mux(stream.encode(None))


def decoded_frames(data: bytes) -> int:
    """How many frames a stored clip decodes to (0 when it does not decode at all)."""
    import av

    try:
        with av.open(io.BytesIO(data), "r") as container:
            return sum(1 for _ in container.decode(video=0))
    except (av.FFmpegError, ValueError, IndexError):
        return 0
