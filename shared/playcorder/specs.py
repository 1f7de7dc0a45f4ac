"""Study and environment specs: what a designer writes in a YAML/JSON file and the gateway stores."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class EnvironmentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., description="key of this environment within the study, e.g. 'pong'")
    env_id: str = Field(..., description="registered Gymnasium id, e.g. 'ALE/Pong-v5'")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for gymnasium.make")
    max_episode_steps: int | None = Field(None, ge=1, description="episode is truncated after this many steps")
    instructions: str = ""
    jpeg_quality: int = Field(85, ge=1, le=100)

    @field_validator("id")
    @classmethod
    def _key(cls, v: str) -> str:
        if not _KEY.match(v):
            raise ValueError(f"Expected an environment id of letters, digits, '_', '.', '-' (max 64), got {v!r}")
        return v


class StudySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    instructions: str = ""
    environments: list[EnvironmentSpec] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _unique_envs(self) -> "StudySpec":
        keys = [e.id for e in self.environments]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"Expected unique environment ids, got duplicates {dupes}")
        return self

    def environment(self, key: str) -> EnvironmentSpec | None:
        """Find an environment by its key, or by Gymnasium id when that is unambiguous."""
        for env in self.environments:
            if env.id == key:
                return env
        matches = [e for e in self.environments if e.env_id == key]
        return matches[0] if len(matches) == 1 else None
