"""Multi-agent play (issue 16): what a study's environment says about its agents, the AI policies that may act for
them, and who controlled an agent at each recorded step.

An environment with `agents` is played by several participants in one game on one env-worker: each takes a seat
(an agent). Participants wait in a lobby for partners for up to `lobby_seconds`; then empty seats are filled by
their `fallback` policy (a seat with an `always` policy is never a person's), with a countdown. A player who leaves
is replaced by the fallback policy, or, with none, the game ends for the others with a clear reason.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .fields import LongText, Name
from .inputs import InputMap

MAX_AGENTS = 8  # seats of one game
Controller = Literal["human", "ai", "none"]  # who chose an agent's action at a step (CrowdPlay: 1 human, 2 AI)
CONTROLLERS: tuple[Controller, ...] = ("human", "ai", "none")
_ENTRY_POINT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_.]*$")
_SUBJECT = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_AGENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    deadline_ms: int = Field(100, ge=1, le=5000, description="a step waits this long for the policy's action; "
                                                              "late, the agent repeats its previous action (and "
                                                              "the step records that it was late)")


class RandomPolicy(_Policy):
    kind: Literal["random"] = "random"
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


class ScriptedPolicy(_Policy):
    """A Python callable `package.module:name`: a function (observation, agent) -> action, or a class made with
    (agent, action_space) whose instances have act(observation) -> action (and optionally reset())."""

    kind: Literal["scripted"] = "scripted"
    entry_point: Name = Field(..., description="'package.module:callable', importable on the env-worker")

    @field_validator("entry_point")
    @classmethod
    def _entry_point(cls, v: str) -> str:
        if not _ENTRY_POINT.match(v):
            raise ValueError(f"Expected 'package.module:callable', got {v!r}")
        return v


class NatsPolicy(_Policy):
    """An external process answering NATS requests on `subject` (a trained model): request JSON {game_id, agent,
    step, observation}, reply JSON {action}."""

    kind: Literal["nats"] = "nats"
    subject: Name = Field(..., description="NATS subject the policy server answers on, e.g. 'policies.invaders'")

    @field_validator("subject")
    @classmethod
    def _subject(cls, v: str) -> str:
        if not _SUBJECT.match(v) or len(v) > 200:
            raise ValueError(f"Expected a NATS subject of tokens joined by '.', no wildcards, got {v!r}")
        return v


PolicySpec = Annotated[RandomPolicy | ScriptedPolicy | NatsPolicy, Field(discriminator="kind")]


class AgentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    instructions: LongText = Field("", description="shown to the participant in this seat")
    input_map: InputMap | None = Field(None, description="this seat's input map (default: the family's)")
    always: PolicySpec | None = Field(None, description="this agent is always played by this policy")
    fallback: PolicySpec | None = Field(None, description="fills the seat when no participant came by the lobby's "
                                                          "timeout, and takes over from one who leaves")


class AgentsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    seats: dict[str, AgentSpec] = Field(..., min_length=1, max_length=MAX_AGENTS,
                                        description="the environment's agents by name (e.g. first_0, second_0)")
    lobby_seconds: float = Field(20.0, ge=0, le=600, description="how long participants wait for partners")
    countdown_seconds: float = Field(3.0, ge=0, le=30, description="shown before a game starts")

    @field_validator("seats")
    @classmethod
    def _names(cls, v: dict[str, AgentSpec]) -> dict[str, AgentSpec]:
        bad = [k for k in v if not _AGENT.match(k)]
        if bad:
            raise ValueError(f"Expected agent names of letters, digits, '_', '.', '-', got {bad[:3]}")
        return v

    @model_validator(mode="after")
    def _someone_plays(self) -> AgentsSpec:
        if all(s.always is not None for s in self.seats.values()):
            raise ValueError("Expected at least one agent a participant can play (without an 'always' policy), "
                             f"got every one of {sorted(self.seats)} played by a policy")
        return self

    def human_seats(self) -> list[str]:
        return [name for name, seat in self.seats.items() if seat.always is None]
