"""TFRecord file writer without TensorFlow: each record is u64 LE length, masked crc32c
of the length, the data, masked crc32c of the data (the format tf.data reads)."""

from __future__ import annotations

import struct
from os import PathLike
from types import TracebackType

import google_crc32c

_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC32C (rotated + offset so CRCs of CRCs stay well distributed)."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


class TFRecordWriter:
    """Appends framed records to a new file; `num_bytes` counts everything written."""

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = path
        self._file = open(path, "wb")
        self.num_bytes = 0
        self.num_records = 0

    def write(self, data: bytes) -> int:
        """Write one record; returns the bytes it took on disk (data + 16 framing)."""
        if self._file.closed:
            raise ValueError(f"TFRecordWriter for {self.path} is closed")
        header = struct.pack("<Q", len(data))
        # Separate writes avoid copying a large payload into a concatenated buffer.
        self._file.write(header + struct.pack("<I", masked_crc32c(header)))
        self._file.write(data)
        self._file.write(struct.pack("<I", masked_crc32c(data)))
        size = len(data) + 16
        self.num_bytes += size
        self.num_records += 1
        return size

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        """Close the file; calling it again does nothing."""
        if not self._file.closed:
            self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __enter__(self) -> TFRecordWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_records(path: str | PathLike[str]) -> list[bytes]:
    """Read back all records of a file, checking both CRCs (for tests and debugging)."""
    records = []
    with open(path, "rb") as f:
        while header := f.read(12):
            if len(header) != 12 or struct.unpack("<I", header[8:])[0] != masked_crc32c(header[:8]):
                raise ValueError(f"{path}: corrupt record header at record {len(records)}")
            (length,) = struct.unpack("<Q", header[:8])
            data = f.read(length)
            footer = f.read(4)
            if len(data) != length or len(footer) != 4 or struct.unpack("<I", footer)[0] != masked_crc32c(data):
                raise ValueError(f"{path}: corrupt record data at record {len(records)}")
            records.append(data)
    return records
