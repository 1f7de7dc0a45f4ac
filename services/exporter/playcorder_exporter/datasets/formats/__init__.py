"""Dataset formats the exporter writes; each module holds one writer behind the interface in base.py.

Writers are imported when used: envlogger, Minari and PyAV are installed with the exporter only. A format that
cannot hold the config's spaces (playcorder.spaces.format_limits) is refused before its writer is made: the gateway
refuses such a request already, so this catches a job queued before then or by hand.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from playcorder.spaces import format_limits

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
    if reason := format_limits(config.observation_spec, config.action_spec).get(fmt):
        raise ValueError(f"Expected spaces the {fmt} format can hold, got: {reason}")
    module, name = FORMATS[fmt]
    cls = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return cls(directory, config)
