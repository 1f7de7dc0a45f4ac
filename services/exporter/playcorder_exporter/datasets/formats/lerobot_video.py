"""The video side of the LeRobot v3 writer: one camera's frames streamed into its mp4 files as they arrive.

LeRobot v3 keeps several episodes back to back in one mp4 per camera (`videos/<key>/chunk-CCC/file-FFF.mp4`) and
finds an episode by its [from_timestamp, to_timestamp) in that file. LeRobot itself encodes a finished episode from
PNGs and then concatenates it onto the file (the 30-40 s its users wait per episode); here every frame is encoded
when it arrives, into the open file, so finishing an episode costs nothing but a flush of the encoder's queue at
the end of a file.

Encoding follows LeRobot's `encode_video_frames` defaults: libsvtav1 (AV1), yuv420p, crf 30 and a keyframe every
2 frames (g=2), plus a forced keyframe on each episode's first frame, so a random frame decodes after at most one
other and every episode starts clean. Frame k of a file has pts k in time base 1/fps.

Codec choice, once per camera from its frame size: SVT-AV1 (v4, as in this image) accepts any size, odd and tiny
ones included. Where libsvtav1 is missing or refuses the size, libx264 (H.264, which LeRobot also reads) is used;
x264 needs even sizes in yuv420p, so odd frames are padded by repeating their last row / column and the video (and
the feature's shape in info.json) is that one pixel larger: crop to the observation space's shape after decoding.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from playcorder_exporter.datasets.formats.lerobot_files import VIDEO_PATH, next_file

CODECS = ("libsvtav1", "libx264")
ENCODER_OPTIONS = {"g": "2", "crf": "30"}  # LeRobot's defaults


def choose_codec(height: int, width: int, fps: int, codecs: tuple[str, ...] = CODECS) -> tuple[str, int, int]:
    """The first of `codecs` that opens for frames of this size: (codec, encoded height, encoded width)."""
    import av

    # SVT-AV1 prints its whole configuration to stderr for every encoder; keep its errors only (overridable).
    os.environ.setdefault("SVT_LOG", "1")
    errors = []
    for codec in codecs:
        h, w = (height, width) if codec == "libsvtav1" else (height + height % 2, width + width % 2)
        try:
            ctx = av.CodecContext.create(codec, "w")
            ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv420p"
            ctx.time_base, ctx.framerate = Fraction(1, fps), Fraction(fps)
            ctx.options = dict(ENCODER_OPTIONS)
            ctx.open()
            ctx.encode(None)  # end the probe's stream: SVT-AV1 complains when an encoder goes without one
            return codec, h, w
        except (av.FFmpegError, ValueError) as e:  # ValueError: codec not in this FFmpeg build
            errors.append(f"{codec}: {e}")
    raise RuntimeError(f"Expected one of {list(codecs)} to encode {width}x{height} frames, got {'; '.join(errors)}")


class CameraVideo:
    """One camera's video files. Episodes are appended to the open file until it would outgrow `max_bytes`, then a
    new file begins (and a new chunk folder every `chunks_size` files), as LeRobot does."""

    def __init__(self, root: Path, key: str, fps: int, max_bytes: float, chunks_size: int,
                 codecs: tuple[str, ...] = CODECS) -> None:
        self.root, self.key, self.fps = Path(root), key, fps
        self.max_bytes, self.chunks_size, self.codecs = max_bytes, chunks_size, codecs
        self.chunk = self.file = 0
        self.shape: tuple[int, ...] | None = None  # of the frames given; fixed by the first one
        self.codec: str | None = None
        self.size = (0, 0)  # encoded (height, width)
        self._container: Any = None
        self._stream: Any = None
        self._frames_in_file = self._packets_in_file = self._bytes_in_file = 0
        self._packets_total = self._bytes_total = 0
        self._episode_start = 0
        self._keyframe_next = False

    @property
    def info(self) -> dict[str, Any]:
        """The feature's "info" in info.json, as LeRobot's get_video_info writes it."""
        return {"video.height": self.size[0], "video.width": self.size[1],
                "video.codec": "av1" if self.codec == "libsvtav1" else "h264", "video.pix_fmt": "yuv420p",
                "video.is_depth_map": False, "video.fps": self.fps, "video.channels": 3, "has_audio": False}

    def begin_episode(self, expected_frames: int) -> None:
        if self._container is not None and self._packets_total:
            # An episode is never split across files, so decide on an estimate of its size (as LeRobot does), and
            # of the frames still in the encoder's lookahead (SVT-AV1 holds ~26): a packet per frame.
            pending = self._frames_in_file - self._packets_in_file + max(expected_frames, 1)
            if self._bytes_in_file + self._bytes_total / self._packets_total * pending >= self.max_bytes:
                self._close_file()
                self.chunk, self.file = next_file(self.chunk, self.file, self.chunks_size)
        # Frames of an episode that failed midway stay in the file, unreferenced: the next one starts after them.
        self._episode_start = self._frames_in_file
        self._keyframe_next = True

    def add(self, frame: np.ndarray) -> None:
        """Encode one HxWx3 uint8 frame of the current episode."""
        import av

        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"Expected {self.key} frames as HxWx3 uint8, got shape {frame.shape} {frame.dtype}")
        if self.shape is None:
            self.codec, *size = choose_codec(frame.shape[0], frame.shape[1], self.fps, self.codecs)
            self.shape, self.size = frame.shape, (size[0], size[1])
        elif frame.shape != self.shape:
            raise ValueError(f"Expected {self.key} frames of shape {self.shape}, got {frame.shape}")
        if self._container is None:
            self._open_file()
        h, w = self.size
        if (h, w) != frame.shape[:2]:
            frame = np.pad(frame, ((0, h - frame.shape[0]), (0, w - frame.shape[1]), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts, vf.time_base = self._frames_in_file, Fraction(1, self.fps)
        if self._keyframe_next:
            vf.pict_type = av.video.frame.PictureType.I
            self._keyframe_next = False
        self._mux(self._stream.encode(vf))
        self._frames_in_file += 1

    def end_episode(self) -> dict[str, Any]:
        """The episode's columns of meta/episodes for this camera."""
        prefix = f"videos/{self.key}/"
        return {prefix + "chunk_index": self.chunk, prefix + "file_index": self.file,
                prefix + "from_timestamp": self._episode_start / self.fps,
                prefix + "to_timestamp": self._frames_in_file / self.fps}

    def close(self) -> None:
        if self._container is not None:
            self._close_file()

    def _open_file(self) -> None:
        import av

        path = self.root / VIDEO_PATH.format(video_key=self.key, chunk_index=self.chunk, file_index=self.file)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(path), "w")
        stream = self._container.add_stream(self.codec, rate=self.fps, options=dict(ENCODER_OPTIONS))
        stream.height, stream.width = self.size
        stream.pix_fmt = "yuv420p"
        self._stream = stream

    def _mux(self, packets: list[Any]) -> None:
        for p in packets:
            self._bytes_in_file += p.size
            self._bytes_total += p.size
        self._packets_in_file += len(packets)
        self._packets_total += len(packets)
        self._container.mux(packets)

    def _close_file(self) -> None:
        self._mux(self._stream.encode(None))  # flush the encoder's lookahead
        self._container.close()
        self._container = self._stream = None
        self._frames_in_file = self._packets_in_file = self._bytes_in_file = 0
