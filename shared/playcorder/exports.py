"""Export options: what a designer asks of a dataset export. The gateway validates them and stores them with the
export; the exporter plans and applies them (playcorder_exporter.plan)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .messages import EndState

Format = Literal["rlds", "envlogger", "minari", "lerobot"]
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


class EpisodeFilter(BaseModel):
    """Episodes of the study that match every given criterion."""

    model_config = ConfigDict(extra="forbid")

    env: str | None = Field(None, description="environment key in the study, or its Gymnasium id")
    states: list[EndState] = Field(
        default_factory=lambda: list[EndState](["completed"]), min_length=1, description="episode states to include")
    participant: str | None = None
    tags: list[str] = Field(default_factory=list, description="episodes carrying every one of these tags")
    started_after: datetime | None = None
    started_before: datetime | None = None
    min_reward: float | None = None
    max_reward: float | None = None


class ExportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Format = Field("rlds", description="rlds (TFDS layout), envlogger (Riegeli), minari or lerobot (v3)")
    keep_metadata: bool = Field(False, description="keep the internal metadata: image shown, raw input, info, tags, "
                                                   "notes (stripped by default, as RLDS Creator does)")
    end_tags: list[str] = Field(default_factory=list, description="an episode ends at its first step carrying one "
                                                                  "of these tags (truncated: last, not terminal)")
    archive: bool = Field(True, description="one ZIP file; false: the dataset's directory tree, file by file")
    name: str | None = Field(None, description="dataset name (default: from the study's name)")
    version: str = Field("1.0.0", description="dataset version, x.y.z")
    test_split: float = Field(0.0, ge=0.0, lt=1.0, description="share of the episodes in a 'test' split")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.match(v):
            raise ValueError(f"Expected a dataset name of lowercase letters, digits and '_' (starting with a letter, "
                             f"at most 64), got {v!r}")
        return v

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not _VERSION.match(v):
            raise ValueError(f"Expected a version like '1.0.0', got {v!r}")
        return v
