"""The data rows of the episode a LeRobot v3 export is writing, held as Arrow until the episode ends: values are
buffered per column and become a record batch, and stats, every ROW_GROUP frames."""

from __future__ import annotations

from typing import Any

import numpy as np

from playcorder_exporter.datasets.formats.lerobot_features import Column
from playcorder_exporter.datasets.formats.lerobot_files import ROW_GROUP
from playcorder_exporter.datasets.formats.lerobot_stats import Stats


class EpisodeRows:
    def __init__(self, columns: list[Column]) -> None:
        import pyarrow as pa

        self.columns = columns
        self.schema = pa.schema([(c.key, c.arrow_type(pa)) for c in columns])
        self._buffers: list[list[Any]] = [[] for _ in columns]  # up to ROW_GROUP frames
        self._batches: list[Any] = []
        self._stats: dict[str, Stats] = {}

    def begin(self, stats: dict[str, Stats]) -> None:
        """Start an episode, dropping what a failed one left; its numeric columns' stats go to `stats`."""
        self._buffers, self._batches, self._stats = [[] for _ in self.columns], [], stats

    def append(self, values: list[Any]) -> None:
        """One frame: a value per column."""
        for buffer, value in zip(self._buffers, values, strict=True):
            buffer.append(value)
        if len(self._buffers[0]) >= ROW_GROUP:
            self._flush()

    def table(self) -> Any:
        """The episode's rows, which it ends."""
        import pyarrow as pa

        self._flush()
        table = pa.Table.from_batches(self._batches, schema=self.schema)
        self._batches = []
        return table

    def _flush(self) -> None:
        import pyarrow as pa

        count = len(self._buffers[0])
        if not count:
            return
        arrays = []
        for col, buffer in zip(self.columns, self._buffers, strict=True):
            if col.dtype is None:
                arrays.append(pa.array(buffer, pa.string()))
            else:
                data = np.asarray(buffer, dtype=col.dtype).reshape(count, col.size)
                self._stats[col.key].add(data, frames=count)
                flat = pa.array(data.reshape(-1))
                arrays.append(flat if col.size == 1 else pa.FixedSizeListArray.from_arrays(flat, col.size))
            buffer.clear()
        self._batches.append(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
