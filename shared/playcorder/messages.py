"""Pydantic models of every JSON payload on NATS and on the play WebSocket (binary layouts: frames.py, records.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .specs import EnvironmentSpec


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- placement
class WorkerHeartbeat(_Msg):
    worker_id: str
    capacity: int = Field(ge=0)
    active: int = Field(ge=0)
    draining: bool = False
    sent_at: datetime

    @property
    def free(self) -> int:
        return 0 if self.draining else max(0, self.capacity - self.active)


class OpenSession(_Msg):
    session_id: str
    study_id: str
    participant_id: str
    environment: EnvironmentSpec


class OpenSessionReply(_Msg):
    accepted: bool
    worker_id: str
    reason: str = ""


# ---------------------------------------------------------------- WebSocket: client -> gateway (-> worker)
class SelectEnv(_Msg):
    type: Literal["select_env"]
    env: str = Field(..., description="environment key within the study (or its Gymnasium id)")


class ActionInput(_Msg):
    type: Literal["action"]
    action: Any = Field(..., description="action in the environment's action space (int for Discrete)")
    keys: list[str] = Field(default_factory=list, description="raw input state recorded with the step")


class NewEpisode(_Msg):
    type: Literal["new_episode"]


class EndEpisode(_Msg):
    type: Literal["end_episode"]
    save: bool = Field(True, description="true: keep the episode (completed, truncated); false: cancelled")


class CloseSession(_Msg):
    type: Literal["close"]


ClientMessage = Annotated[
    Union[SelectEnv, ActionInput, NewEpisode, EndEpisode, CloseSession], Field(discriminator="type")
]
client_message = TypeAdapter(ClientMessage)
WorkerInput = Annotated[Union[ActionInput, NewEpisode, EndEpisode, CloseSession], Field(discriminator="type")]
worker_input = TypeAdapter(WorkerInput)


# ---------------------------------------------------------------- WebSocket: gateway/worker -> client
class SessionReady(_Msg):
    type: Literal["session"] = "session"
    session_id: str
    worker_id: str
    env: str
    env_id: str
    instructions: str = ""
    action_space: dict[str, Any]
    observation_space: dict[str, Any]


class EpisodeStarted(_Msg):
    type: Literal["episode_started"] = "episode_started"
    episode_id: str
    index: int = Field(description="number of this episode within the session, from 0")


class EpisodeEnded(_Msg):
    type: Literal["episode_ended"] = "episode_ended"
    episode_id: str
    state: str
    reason: str = Field(description="terminated, truncated, step_limit, ended_by_participant, cancelled or disconnected")
    num_steps: int
    total_reward: float


class ErrorEvent(_Msg):
    type: Literal["error"] = "error"
    code: str
    message: str
    retry_after: float | None = None


ServerEvent = Annotated[Union[SessionReady, EpisodeStarted, EpisodeEnded, ErrorEvent], Field(discriminator="type")]
server_event = TypeAdapter(ServerEvent)


# ---------------------------------------------------------------- recording (JetStream)
class EpisodeBegin(_Msg):
    episode_id: str
    session_id: str
    study_id: str
    participant_id: str
    env: str
    env_id: str
    worker_id: str
    seed: int
    started_at: datetime
    observation_spec: dict[str, Any]
    action_spec: dict[str, Any]


class EpisodeEnd(_Msg):
    episode_id: str
    state: Literal["completed", "rejected", "cancelled", "abandoned", "interrupted"]
    reason: str
    num_steps: int
    num_chunks: int
    total_reward: float
    ended_at: datetime


# ---------------------------------------------------------------- exports
class ExportJob(_Msg):
    export_id: str


class PresignRequest(_Msg):
    export_id: str
    expires_in: int = Field(ge=1, le=7 * 24 * 3600)


class PresignReply(_Msg):
    url: str | None = None
    expires_at: datetime | None = None
    error: str | None = None
