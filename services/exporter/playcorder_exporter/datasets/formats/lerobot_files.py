"""Where the files of a LeRobot v3 export go and when one is full: LeRobot's path templates, its chunk and file
numbering, and parquet files that roll over at a size limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
ROW_GROUP = 1024  # frames per Arrow batch and parquet row group, at most
MB = 1 << 20


def next_file(chunk: int, file: int, chunks_size: int) -> tuple[int, int]:
    """LeRobot's update_chunk_file_indices: `chunks_size` files per chunk folder."""
    return (chunk + 1, 0) if file == chunks_size - 1 else (chunk, file + 1)


class ParquetFiles:
    """The parquet files of one kind (data or episodes): each grows until the next table would take it past
    `max_bytes` (uncompressed, as LeRobot measures), then the next begins."""

    def __init__(self, root: Path, template: str, max_bytes: float, chunks_size: int) -> None:
        self.root, self.template, self.max_bytes, self.chunks_size = root, template, max_bytes, chunks_size
        self.chunk = self.file = 0
        self._writer: Any = None
        self._bytes = 0

    def place(self, nbytes: int) -> tuple[int, int]:
        """(chunk, file) a table of `nbytes` will be written to."""
        if self._writer is not None and self._bytes + nbytes >= self.max_bytes:
            self.close()
            self.chunk, self.file = next_file(self.chunk, self.file, self.chunks_size)
        return self.chunk, self.file

    def write(self, table: Any) -> None:
        import pyarrow.parquet as pq

        if self._writer is None:
            path = self.root / self.template.format(chunk_index=self.chunk, file_index=self.file)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(path, table.schema, compression="snappy")
            self._bytes = 0
        self._writer.write_table(table, row_group_size=ROW_GROUP)
        self._bytes += table.nbytes

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
