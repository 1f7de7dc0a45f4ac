"""Binary display frame: a 16-byte header then the JPEG, relayed unchanged from worker to NATS to WebSocket.

Layout (little endian): magic b"PF" | version u8 | flags u8 | step u32 | reward f32 | episode_return f32.
flags: bit 0 is_first, bit 1 is_last, bit 2 is_terminal. The JPEG starts at byte 16.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER = struct.Struct("<2sBBIff")
MAGIC = b"PF"
VERSION = 1
IS_FIRST, IS_LAST, IS_TERMINAL = 1, 2, 4


@dataclass(frozen=True)
class Frame:
    step: int
    reward: float
    episode_return: float
    flags: int
    jpeg: bytes

    @property
    def is_first(self) -> bool:
        return bool(self.flags & IS_FIRST)

    @property
    def is_last(self) -> bool:
        return bool(self.flags & IS_LAST)


def pack(step: int, reward: float, episode_return: float, flags: int, jpeg: bytes) -> bytes:
    return HEADER.pack(MAGIC, VERSION, flags, step, reward, episode_return) + jpeg


def unpack(data: bytes) -> Frame:
    if len(data) < HEADER.size or data[:2] != MAGIC:
        raise ValueError(f"Expected a frame starting with {MAGIC!r} and at least {HEADER.size} bytes, got {data[:4]!r}")
    magic, version, flags, step, reward, ret = HEADER.unpack_from(data)
    if version != VERSION:
        raise ValueError(f"Expected frame version {VERSION}, got {version}")
    return Frame(step, reward, ret, flags, bytes(data[HEADER.size :]))
