"""Settings of `playcorder dev`: where the web app is and how many env-workers run (a PostgreSQL of your own comes
as --database-url)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_WORKERS = 256


class DevSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, populate_by_name=True)

    frontend_dir: Path | None = Field(
        None, validation_alias="FRONTEND_DIR",
        description="env FRONTEND_DIR: the web app the gateway serves at / (`make run`: frontend/dist)")

    worker_processes: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, le=MAX_WORKERS, validation_alias="WORKER_PROCESSES",
        description="env WORKER_PROCESSES (`playcorder dev --workers N` overrides it): env-worker processes to run "
                    "(default: one per core, as the CPU count says); each steps its sessions on a core of its own, "
                    "the gateway places across them")

    @field_validator("frontend_dir")
    @classmethod
    def _is_dir(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_dir():
            raise ValueError(f"Expected FRONTEND_DIR to be the web app's directory, got {str(v)!r} (not a directory)")
        return v.resolve() if v is not None else None
