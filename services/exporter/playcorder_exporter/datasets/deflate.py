"""The zlib streams of RLDS tensors, from the fastest compressor installed.

tfds stores a `Tensor(encoding=ZLIB)` as one zlib stream per value and reads it with zlib.decompress (or
tf.io.decode_compressed): any compliant stream at any level decodes alike. tfds itself calls zlib.compress at
level 6, which costs ~370 us per 210x160x3 Atari frame; ISA-L's level 1 costs ~17 us and makes smaller streams
than zlib's level 1 (460 vs 800 bytes for a Pong frame), zlib-ng's level 1 ~22 us. All three release the GIL.
Without either library, zlib level 1 (~150 us, about 2.6x zlib 6's size on Pong frames, still ~1% of raw).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

Buffer = bytes | bytearray | memoryview

compress: Callable[[Buffer], bytes]
try:
    from isal import isal_zlib

    BACKEND = "isal"

    def compress(data: Buffer) -> bytes:
        return isal_zlib.compress(data, 1)
except ImportError:  # pragma: no cover - depends on what is installed
    try:
        from zlib_ng import zlib_ng

        BACKEND = "zlib-ng"

        def compress(data: Buffer) -> bytes:
            return zlib_ng.compress(data, 1)
    except ImportError:
        BACKEND = "zlib"

        def compress(data: Buffer) -> bytes:
            return zlib.compress(data, 1)
