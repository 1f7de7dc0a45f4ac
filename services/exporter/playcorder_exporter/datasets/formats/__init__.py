"""Dataset formats the exporter writes; each module holds one writer behind the interface in base.py.

Writers are imported when used: envlogger, Minari, PyAV and OpenCV are installed with the exporter only. A format that
cannot hold the config's spaces (playcorder.spaces.format_limits) is refused before its writer is made: the gateway
refuses such a request already, so this catches a job queued before then or by hand.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from playcorder.spaces import format_limits

from .base import DatasetConfig, DatasetWriter, EpisodeMeta

FORMATS = {
    "rlds": ("rlds_format", "RLDSFormatWriter"),
    "envlogger": ("envlogger_format", "EnvloggerWriter"),
    "minari": ("minari_format", "MinariWriter"),
    "lerobot": ("lerobot_format", "LeRobotWriter"),
    "d3rlpy": ("d3rlpy_format", "D3rlpyWriter"),
}

# Formats whose export can be split into shards built apart, then finalized (their module has `finalize` and its
# writer takes `part=(split, index, count)`). envlogger (one Riegeli trajectory + index per export), Minari (one
# HDF5 file with an episode index), LeRobot (episode-indexed parquet, videos and stats over all episodes) and d3rlpy
# (one array file per split) are built by one task.
SHARDABLE = {"rlds"}

__all__ = ["FORMATS", "SHARDABLE", "DatasetConfig", "DatasetWriter", "EpisodeMeta", "finalize", "open_writer"]


def open_writer(fmt: str, directory: Path, config: DatasetConfig,
                part: tuple[str, int, int] | None = None) -> DatasetWriter:
    """`part=(split, index, count)`: a writer of one shard of a sharded export (formats in SHARDABLE)."""
    if part is not None and fmt not in SHARDABLE:
        raise ValueError(f"Expected a format that can be sharded ({sorted(SHARDABLE)}), got {fmt!r}")
    if fmt not in FORMATS:
        raise ValueError(f"Expected a dataset format among {sorted(FORMATS)}, got {fmt!r}")
    if reason := format_limits(config.observation_spec, config.action_spec).get(fmt):
        raise ValueError(f"Expected spaces the {fmt} format can hold, got: {reason}")
    module, name = FORMATS[fmt]
    cls = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return cls(directory, config) if part is None else cls(directory, config, part)


def finalize(fmt: str, directory: Path, config: DatasetConfig, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Write the metadata of a sharded export whose parts' files lie under `directory`; returns its summary."""
    module, _ = FORMATS[fmt]
    done: dict[str, Any] = importlib.import_module(f"{__name__}.{module}").finalize(directory, config, parts)
    return done
