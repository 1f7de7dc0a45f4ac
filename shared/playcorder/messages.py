"""Pydantic models of every JSON payload on NATS and on the play WebSocket (binary layouts: frames.py, records.py)."""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter

from .fields import Id
from .inputs import HeldKeys, InputState, text_check
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
    started_at: datetime | None = Field(None, description="when this worker process started (a restarted worker "
                                                          "with the same id is a new one)")
    recording: list[str] = Field(default_factory=list, description="episodes whose recording this worker has not "
                                                                   "finished publishing (begun, end not yet stored)")
    accepting: bool = Field(True, description="whether its measured load lets it take one more session now (a worker "
                                              "from before admission by load: always)")
    lateness_ms: float = Field(0.0, ge=0, description="p95 of how late its paced steps started after their tick, "
                                                      "over its load window")
    cpu: float = Field(0.0, ge=0, description="its process's CPU over its load window, as a share of one core")
    retry_after_s: float = Field(0.0, ge=0, description="while not accepting for load: seconds until it may have room "
                                                        "(0: no estimate)")

    @property
    def free(self) -> int:
        return 0 if self.draining or not self.accepting else max(0, self.capacity - self.active)


class GameSeat(_Msg):
    """A multi-agent session's seat in a game (issue 16): the gateway's lobby picked the game, its worker and the
    agent; the worker holds the game until every human seat is taken or `fill_at`, when policies fill the rest."""

    game_id: str
    agent: str
    fill_at: datetime = Field(description="when the lobby stops waiting for partners")


class OpenSession(_Msg):
    session_id: str
    study_id: str
    participant_id: str
    environment: EnvironmentSpec
    study_version: int | None = Field(None, description="the study's version `environment` is of (None: a gateway "
                                                        "from before versions)")
    campaign_id: str | None = Field(None, description="played through this campaign (its episodes say so)")
    condition: str | None = Field(None, description="the campaign's condition `environment` is the variant of")
    game: GameSeat | None = Field(None, description="a seat in a multi-agent game (the environment has agents)")


class OpenSessionReply(_Msg):
    accepted: bool
    worker_id: str
    reason: str = ""
    load: WorkerHeartbeat = Field(description="the worker's load right after its answer, so the gateway need not guess")


class AttachSession(_Msg):
    """A gateway asks the worker holding a session to relay it again (its client reconnected, maybe elsewhere)."""

    session_id: str
    participant_id: str


class AttachSessionReply(_Msg):
    attached: bool
    reason: str = Field("", description="why not: unknown (the worker no longer holds it) or not_yours")


class Keepalive(_Msg):
    """Gateway -> worker on the session's input subject, while the gateway holds the client's socket."""

    type: Literal["keepalive"] = "keepalive"


class Detach(_Msg):
    """Gateway -> worker: the client's socket dropped without `close`; pause now and keep the session for a grace."""

    type: Literal["detach"] = "detach"


# ---------------------------------------------------------------- WebSocket: client -> gateway (-> worker)
# Limits of client messages beyond those of InputState (all listed in docs/protocol.md, "Limits").
MAX_ENV_KEY = 256  # characters of select_env's env (an environment key, or a Gymnasium id)
MAX_CAMERA_NAME = 64
MAX_CAMERA_INDEX = 255
MAX_ACTION_VALUES = 4096  # numbers in one explicit action
MAX_ACTION_DEPTH = 8  # nesting of lists and objects in one explicit action
MAX_ACTION_KEY = 64  # characters of a key of an action object (Dict action spaces)
MAX_ACTION_TEXT = 1024  # characters of a text in an explicit action (Text action spaces)


def _check_action(value: Any) -> Any:
    """An explicit action is JSON of numbers (lists, objects for Dict spaces; strings for Text spaces), bounded in
    size and depth; whether it fits the environment's action space is the worker's check, which knows the space."""
    pending, count = [(value, 0)], 0
    while pending:
        v, depth = pending.pop()
        if depth > MAX_ACTION_DEPTH:
            raise ValueError(f"Expected an action nested at most {MAX_ACTION_DEPTH} deep, got deeper")
        if isinstance(v, list):
            pending += [(x, depth + 1) for x in v]
        elif isinstance(v, dict):
            for k, x in v.items():
                text_check("action keys", MAX_ACTION_KEY)(k)
                pending.append((x, depth + 1))
        elif isinstance(v, int) or (isinstance(v, float) and math.isfinite(v)) or isinstance(v, str):
            if isinstance(v, str):
                text_check("an action text", MAX_ACTION_TEXT)(v)
            count += 1  # ints of any size (no float())
            if count > MAX_ACTION_VALUES:
                raise ValueError(f"Expected an action of at most {MAX_ACTION_VALUES} numbers, got more")
        else:
            got = repr(v) if isinstance(v, float) or v is None else f"{type(v).__name__} {str(v)[:40]!r}"
            raise ValueError(f"Expected an action of finite numbers or texts (in lists, or objects for Dict spaces), "
                             f"got {got}")
    return value


CameraChoice = Annotated[
    Annotated[str, AfterValidator(text_check("a camera name", MAX_CAMERA_NAME)), Tag("name")]
    | Annotated[int, Field(ge=0, le=MAX_CAMERA_INDEX), Tag("index")],
    Discriminator(lambda v: "name" if isinstance(v, str) else "index"),  # errors of the one that applies, only
]


class SelectEnv(_Msg):
    type: Literal["select_env"]
    env: Annotated[str, AfterValidator(text_check("an environment key", MAX_ENV_KEY))] = Field(
        ..., description="environment key within the study (or its Gymnasium id)")


class InputMsg(InputState):
    """The raw input state (held keys, gamepad, 6-DOF, touch); sent whenever it changes."""

    type: Literal["input"]


class ActionInput(_Msg):
    """An explicit action (bots, SDK): one step in turn-based mode, the held action in realtime mode."""

    type: Literal["action"]
    action: Annotated[Any, AfterValidator(_check_action)] = Field(
        ..., description="action in the environment's action space (int for Discrete)")
    keys: HeldKeys = Field(default_factory=list, description="raw input state recorded with the step")


class Pause(_Msg):
    type: Literal["pause"]


class Resume(_Msg):
    type: Literal["resume"]


class NewEpisode(_Msg):
    type: Literal["new_episode"]


class CancelEpisode(_Msg):
    type: Literal["cancel"]


class EndEpisode(_Msg):
    type: Literal["end_episode"]
    save: bool = Field(True, strict=True, description="true: keep the episode (completed, truncated); false: cancelled")


class SaveEpisode(_Msg):
    """The participant's answer once an episode finished: keep it (completed) or not (rejected)."""

    type: Literal["save"]
    save: bool = Field(..., strict=True)


class SetFps(_Msg):
    type: Literal["set_fps"]
    fps: int = Field(..., ge=1, le=60, strict=True)


class SetQuality(_Msg):
    type: Literal["set_quality"]
    jpeg_quality: int = Field(..., ge=1, le=100, strict=True)


class SetCamera(_Msg):
    type: Literal["set_camera"]
    camera: CameraChoice = Field(..., description="camera name or index")


class Resync(_Msg):
    """Ask for the session's current state again (sent after a NATS reconnect, when events may have been lost)."""

    type: Literal["resync"]


class CloseSession(_Msg):
    type: Literal["close"]


class ResumeSession(_Msg):
    """Instead of select_env, after a reconnect: continue a session its worker still holds."""

    type: Literal["resume_session"]
    session_id: Id = Field(..., description="the session_id of its `session` event")


_WorkerInputs = (InputMsg | ActionInput | Pause | Resume | NewEpisode | CancelEpisode | EndEpisode | SaveEpisode
                 | SetFps | SetQuality | SetCamera | Resync | CloseSession)
WorkerInput = Annotated[_WorkerInputs, Field(discriminator="type")]
worker_input = TypeAdapter(WorkerInput)
ClientMessage = Annotated[SelectEnv | ResumeSession | _WorkerInputs, Field(discriminator="type")]
client_message = TypeAdapter(ClientMessage)
# What a worker reads on a session's input subject: the client's messages and the gateway's own.
GatewayInput = Annotated[_WorkerInputs | Keepalive | Detach, Field(discriminator="type")]
gateway_input = TypeAdapter(GatewayInput)
CLIENT_TYPES = ["select_env", "resume_session",
                *(get_args(m.model_fields["type"].annotation)[0] for m in get_args(_WorkerInputs))]


# ---------------------------------------------------------------- WebSocket: gateway/worker -> client
class SessionReady(_Msg):
    type: Literal["session"] = "session"
    session_id: str
    worker_id: str
    env: str
    env_id: str
    family: str
    mode: str
    step_while_held: bool = False
    fps: int
    instructions: str = ""
    action_space: dict[str, Any]
    observation_space: dict[str, Any]
    input_map: dict[str, Any]
    touch_controls: list[str] = Field(default_factory=list)
    cameras: list[str] = Field(default_factory=list)
    jpeg_quality: int
    game_id: str | None = Field(None, description="a multi-agent game: its id")
    agent: str | None = Field(None, description="a multi-agent game: your seat")


class EpisodeStarted(_Msg):
    type: Literal["episode_started"] = "episode_started"
    episode_id: str
    index: int = Field(description="number of this episode within the session, from 0")


EndState = Literal["completed", "rejected", "cancelled", "abandoned", "interrupted"]  # how an episode ended
# A stored episode's state: recording from its begin until its end is applied, then how it ended.
EpisodeState = Literal["recording", EndState]
RECORDING: Final = "recording"


class SessionState(StrEnum):
    """Where a play session is: an episode starts paused and ends in awaiting_save (when the environment ended it)
    or straight in idle (when the participant or the session did)."""

    PAUSED = "paused"  # reason: start, participant, idle, client_lost
    RUNNING = "running"
    AWAITING_SAVE = "awaiting_save"  # the environment ended the episode; the participant keeps it or not
    IDLE = "idle"  # no episode


class StateChanged(_Msg):
    type: Literal["state"] = "state"
    state: SessionState
    reason: str = ""
    fps: int
    jpeg_quality: int
    camera: str | None = None


class EpisodeFinished(_Msg):
    """The environment ended the episode; the participant now answers with `save`."""

    type: Literal["episode_finished"] = "episode_finished"
    episode_id: str
    reason: str = Field(description="terminated, truncated or step_limit")
    num_steps: int
    total_reward: float


class EpisodeEnded(_Msg):
    type: Literal["episode_ended"] = "episode_ended"
    episode_id: str
    state: EndState
    reason: str = Field(description="terminated, truncated, ended_by_participant, rejected, cancelled, restarted, "
                                    "disconnected, expired, worker_draining")
    num_steps: int
    total_reward: float


class SessionEnded(_Msg):
    """The worker ended the session (e.g. paused past its expiry); the gateway closes the socket after it, except
    for reason worker_draining, where it places the participant on another worker instead (never relayed)."""

    type: Literal["session_ended"] = "session_ended"
    reason: str = Field(description="expired, disconnected (its client stayed away past the resume grace) or "
                                    "worker_draining (its worker is shutting down: the gateway opens a new session "
                                    "elsewhere on the same socket)")


WORKER_DRAINING: Final = "worker_draining"  # reason of a session (and its interrupted episode) a draining worker ends
MAX_NOTICE = 500  # characters of a notice's message


class Notice(_Msg):
    """Something the participant should know that changes nothing yet; kind maintenance: the session's worker is
    shutting down, the episode being played continues until `deadline` at most (then it ends interrupted and the
    gateway moves the participant to another worker with a new episode), and none starts there after it."""

    type: Literal["notice"] = "notice"
    kind: Literal["maintenance"]
    message: str = Field(max_length=MAX_NOTICE)
    deadline: float = Field(ge=0, description="seconds since the epoch (UTC) until which the episode may continue")


class LobbyEvent(_Msg):
    """A multi-agent game before it starts: who sits where, and how long the lobby still waits for partners."""

    type: Literal["lobby"] = "lobby"
    game_id: str
    agent: str = Field(description="your seat")
    seats: dict[str, str] = Field(description="each agent's seat: you, human, waiting or ai")
    seconds_left: float = Field(description="until empty seats are filled by AI (or the game is called off)")


class CountdownEvent(_Msg):
    type: Literal["countdown"] = "countdown"
    game_id: str
    seconds: float = Field(description="the game starts in this many seconds")
    seats: dict[str, str]


class ControlEvent(_Msg):
    """An agent changed hands during a game: an AI took over from a player who left (or one came back)."""

    type: Literal["control"] = "control"
    agent: str
    controller: str = Field(description="human, ai or none")
    reason: str = Field(description="left, returned, lobby_timeout")
    step: int


class StatsEvent(_Msg):
    """The episode's statistics so far (score, steps, active_minutes, custom ones), sent about once a second while
    it runs and once at its end."""

    type: Literal["stats"] = "stats"
    episode_id: str
    values: dict[str, float]


class ErrorEvent(_Msg):
    type: Literal["error"] = "error"
    code: str
    message: str
    retry_after: float | None = None


ServerEvent = Annotated[
    SessionReady | EpisodeStarted | StateChanged | EpisodeFinished | EpisodeEnded | SessionEnded | Notice
    | StatsEvent | ErrorEvent | LobbyEvent | CountdownEvent | ControlEvent,
    Field(discriminator="type"),
]


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
    study_version: int | None = Field(None, description="the study's version the episode is played with (None: a "
                                                        "worker from before versions)")
    campaign_id: str | None = Field(None, description="played through this campaign")
    condition: str | None = Field(None, description="in this condition of the campaign")
    game_id: str | None = Field(None, description="the multi-agent game it is one agent's episode of (None: a "
                                                  "single-agent episode)")
    agent: str | None = Field(None, description="the agent of that game it records (a seat of the spec's agents)")


class EpisodeEnd(_Msg):
    """The end of an episode: from its worker, or `presumed` by a recorder that found the worker gone."""

    episode_id: str
    state: EndState
    reason: str
    num_steps: int = Field(description="steps the worker recorded (the stored count is authoritative)")
    num_chunks: int | None = Field(description="chunks the worker published; None when presumed")
    total_reward: float
    active_s: float = Field(0.0, description="seconds the episode was running (not paused)")
    stats: dict[str, float] = Field(default_factory=dict, description="the episode's statistics at its end")
    ended_at: datetime
    presumed: bool = Field(False, description="published by a recorder's reaper: applies only to an episode still "
                                              "recording, and a worker's own end overrides it")


# ---------------------------------------------------------------- trying an environment before a study is saved
MAX_TRIAL_TIMEOUT = 600.0


class TrialRequest(_Msg):
    """Gateway -> any worker (queue group "trial"): build this environment once and report what is wrong with it."""

    environment: EnvironmentSpec
    timeout_s: float = Field(30.0, gt=0, le=MAX_TRIAL_TIMEOUT,
                             description="seconds the worker may take; beyond, the reply is the problem 'timed out'")


class TrialProblem(_Msg):
    field: str = Field(description="dotted path inside the environment spec: 'env_id', 'kwargs.frameskp', "
                                   "'input_map.bindings.Up', 'wrappers.0.name', 'observation_space', ...")
    message: str = Field(description="'Expected ..., got ...'")
    suggestions: list[str] = Field(default_factory=list, description="values meant, closest first (did you mean)")


class StepCost(_Msg):
    """What one step of the environment cost on the worker that tried it, as the play loop runs it (env.step, render,
    JPEG encode at the spec's size and quality): the median of the steps measured after the preview's; each part its
    wall time, or the trial process's CPU time where less (the trial runs at nice 10 and waits on a busy worker)."""

    total_ms: float = Field(description="one whole step: what 1000 / fps must leave room for")
    step_ms: float = Field(description="env.step")
    render_ms: float = Field(description="rendering the frame")
    jpeg_ms: float = Field(description="encoding the frame as JPEG")
    steps: int = Field(ge=1, description="steps measured")


class TrialReply(_Msg):
    env: str = Field(description="the environment's key within the study")
    ok: bool
    problems: list[TrialProblem] = Field(default_factory=list)
    warnings: list[TrialProblem] = Field(default_factory=list,
                                         description="what works but not as the spec asks (e.g. at 'fps': a step "
                                                     "slower than 1000 / fps); the study is still valid")
    step_cost: StepCost | None = Field(None, description="what one step costs on the worker (single-agent "
                                                         "environments that stepped)")
    family: str | None = None
    observation_space: dict[str, Any] | None = None
    action_space: dict[str, Any] | None = None
    preview_jpeg: str | None = Field(None, description="the frame after one idle step, JPEG (at most 640 px wide), "
                                                       "base64")
    width: int | None = None
    height: int | None = None
    format_limits: dict[str, str] = Field(default_factory=dict, description="export format -> why it cannot hold "
                                                                            "this environment's spaces")
    seconds: float | None = Field(None, description="how long the worker took to try it")


# ---------------------------------------------------------------- exports
class ExportJob(_Msg):
    export_id: str



class ExportShard(_Msg):
    """Build one shard of a sharded export (its episodes are in the export_shards row; any replica may take it).
    Published once per shard by the replica that planned the export; redelivered if its builder dies."""

    export_id: str
    shard: int = Field(ge=0, description="index among the export's shards (export_shards.shard)")


class ExportFinalize(_Msg):
    """Every shard of the export is built: write the dataset's metadata and its ZIP or tree (once; idempotent)."""

    export_id: str


class ClipRender(_Msg):
    """Render one preference segment's clip (export_task("clip")): any exporter replica may take it; redelivered if
    its renderer dies; a segment already rendered is not rendered again."""

    segment_id: str
