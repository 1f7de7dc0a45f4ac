"""Dataset formats the exporter writes; each module holds one writer behind the interface in base.py.

Writers are imported when used: envlogger, Minari and PyAV are installed with the exporter only.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .base import DatasetConfig, DatasetWriter, EpisodeMeta

FORMATS = {
    "rlds": ("rlds_format", "RLDSFormatWriter"),
    "envlogger": ("envlogger_format", "EnvloggerWriter"),
    "minari": ("minari_format", "MinariWriter"),
    "lerobot": ("lerobot_format", "LeRobotWriter"),
}

__all__ = ["FORMATS", "DatasetConfig", "DatasetWriter", "EpisodeMeta", "open_writer"]


def open_writer(fmt: str, directory: Path, config: DatasetConfig) -> DatasetWriter:
    if fmt not in FORMATS:
        raise ValueError(f"Expected a dataset format among {sorted(FORMATS)}, got {fmt!r}")
    module, name = FORMATS[fmt]
    cls = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return cls(directory, config)
