"""Database tables (sqlmodel). The schema itself is owned by the alembic migrations in migrations/."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index
from sqlmodel import AutoString, Field, SQLModel

from ..auth import TokenKind
from ..messages import RECORDING, EpisodeState


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    id: str = Field(default_factory=new_id, primary_key=True)
    name: str = Field(unique=True)
    role: str = Field(default="designer")
    password_hash: str | None = Field(default=None, description="argon2id (playcorder.passwords); none: no sign-in")
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))


class ApiToken(SQLModel, table=True):
    """Only the SHA-256 of a token is stored; designer tokens belong to an account, participant tokens to one study."""

    __tablename__ = "api_tokens"
    id: str = Field(default_factory=new_id, primary_key=True)
    token_hash: str = Field(unique=True, index=True)
    kind: TokenKind = Field(sa_type=AutoString)
    account_id: str | None = Field(default=None, foreign_key="accounts.id", ondelete="CASCADE")
    participant_id: str | None = Field(default=None, foreign_key="participants.id", ondelete="CASCADE")
    study_id: str | None = Field(default=None, foreign_key="studies.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked: bool = False


class BrowserSession(SQLModel, table=True):
    """A designer signed in with a password: only the SHA-256 of the session cookie is stored (its CSRF token is
    derived from the cookie, playcorder.auth.csrf_token, so it needs no column)."""

    __tablename__ = "browser_sessions"
    id: str = Field(default_factory=new_id, primary_key=True)
    token_hash: str = Field(unique=True, index=True)
    account_id: str = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
    revoked: bool = False


class SigninFailure(SQLModel, table=True):
    """A failed sign-in, by the name tried (an account's or not): the gateways count them per name in a window,
    together, whichever of them each attempt reached."""

    __tablename__ = "signin_failures"
    __table_args__ = (Index("ix_signin_failures_name_at", "name", "at"),)
    id: str = Field(default_factory=new_id, primary_key=True)
    name: str
    at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True), index=True)


class Study(SQLModel, table=True):
    __tablename__ = "studies"
    id: str = Field(default_factory=new_id, primary_key=True)
    name: str
    owner_id: str = Field(foreign_key="accounts.id", index=True)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # the current version's
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"},
                         description="the current version (1 at creation, one more per edit of the spec)")
    enabled: bool = Field(default=True, sa_column_kwargs={"server_default": "true"},
                          description="participants may start sessions")
    archived_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True),
                                         description="hidden from the list (and closed to participants) since then")
    disabled_environments: list[str] = Field(default_factory=list,
                                             sa_column=Column(JSON, nullable=False, server_default="[]"))
    updated_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))


class StudyVersion(SQLModel, table=True):
    """Every version of a study's spec, the current one included; an episode names the one it was played with."""

    __tablename__ = "study_versions"
    study_id: str = Field(primary_key=True, foreign_key="studies.id", ondelete="CASCADE")
    version: int = Field(primary_key=True)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))
    created_by: str = Field(foreign_key="accounts.id")


class Participant(SQLModel, table=True):
    __tablename__ = "participants"
    id: str = Field(default_factory=new_id, primary_key=True)
    study_id: str = Field(foreign_key="studies.id", index=True, ondelete="CASCADE")
    external_id: str | None = None
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))


class PlaySession(SQLModel, table=True):
    __tablename__ = "sessions"
    id: str = Field(primary_key=True)
    study_id: str = Field(foreign_key="studies.id", index=True, ondelete="CASCADE")
    participant_id: str = Field(foreign_key="participants.id", index=True, ondelete="CASCADE")
    env: str
    worker_id: str
    started_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))
    ended_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class Episode(SQLModel, table=True):
    __tablename__ = "episodes"
    __table_args__ = (Index("ix_episodes_study_started", "study_id", "started_at"),)
    id: str = Field(primary_key=True)
    study_id: str = Field(foreign_key="studies.id", ondelete="CASCADE")
    study_version: int | None = Field(default=None, description="the study's version it was played with (None: "
                                                                "recorded before versions existed)")
    session_id: str = Field(index=True)
    participant_id: str = Field(index=True)
    env: str
    env_id: str
    worker_id: str
    seed: int = Field(sa_type=BigInteger)
    state: EpisodeState = Field(default=RECORDING, index=True, sa_type=AutoString)
    end_reason: str | None = None
    num_steps: int = 0
    num_chunks: int = 0
    total_reward: float = 0.0
    active_s: float = Field(default=0.0, description="seconds the episode was running (not paused)")
    notes: str = ""
    observation_spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    action_spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    started_at: datetime = Field(sa_type=DateTime(timezone=True))
    ended_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    campaign_id: str | None = Field(default=None, index=True, description="played through this campaign")
    condition: str | None = Field(default=None, description="in this condition of the campaign")
    stats: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"),
                                  description="the worker's statistics at the episode's end (score, steps, "
                                              "active_minutes, custom ones)")
    game_id: str | None = Field(default=None, index=True, description="the multi-agent game it is one agent's "
                                                                      "episode of (None: single-agent)")
    agent: str | None = Field(default=None, description="the game's agent it records")


class EpisodeTag(SQLModel, table=True):
    __tablename__ = "episode_tags"
    episode_id: str = Field(primary_key=True, foreign_key="episodes.id", ondelete="CASCADE")
    label: str = Field(primary_key=True, index=True)
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))


class StepTag(SQLModel, table=True):
    __tablename__ = "step_tags"
    episode_id: str = Field(primary_key=True, foreign_key="episodes.id", ondelete="CASCADE")
    step: int = Field(primary_key=True)
    label: str = Field(primary_key=True)
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))


class DeletedEpisode(SQLModel, table=True):
    """Tombstone of a deleted episode, so a late or redelivered recording message cannot bring it back."""

    __tablename__ = "deleted_episodes"
    id: str = Field(primary_key=True)
    deleted_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))


class EpisodeChunk(SQLModel, table=True):
    """One stored step chunk; (episode_id, seq) makes redelivered chunks idempotent."""

    __tablename__ = "episode_chunks"
    episode_id: str = Field(primary_key=True, foreign_key="episodes.id", ondelete="CASCADE")
    seq: int = Field(primary_key=True)
    first_step: int
    num_steps: int
    reward_sum: float
    nbytes: int
    object_key: str


class Export(SQLModel, table=True):
    __tablename__ = "exports"
    id: str = Field(default_factory=new_id, primary_key=True)
    study_id: str = Field(foreign_key="studies.id", index=True, ondelete="CASCADE")
    requested_by: str = Field(foreign_key="accounts.id")
    format: str = "rlds"
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    state: str = "queued"  # queued | running | done | failed
    episode_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    steps_done: int = 0
    steps_total: int = 0
    link_expiry_s: int = 3600
    object_key: str | None = None  # the ZIP, or the prefix of the files of a directory-tree export
    files: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))  # tree: [{path, size}]
    size_bytes: int | None = Field(default=None, sa_type=BigInteger)
    error: str | None = None
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    shards_total: int = 0  # a sharded export's shard tasks (0: built in one task)
    shards_done: int = 0  # incremented once per shard, under the row's lock: the one that makes it total finalizes


class ExportShardRow(SQLModel, table=True):
    """One shard task of a sharded export: which episodes it writes into which file, and how far it got.

    (export_id, shard) makes a redelivered task idempotent: a shard already `done` is not counted again, and one
    rebuilt after its builder died overwrites the same objects. `steps_done` is this shard's progress; the
    export's steps_done moves by the same deltas, so it stays the sum over its shards (no double count)."""

    __tablename__ = "export_shards"
    export_id: str = Field(primary_key=True, foreign_key="exports.id", ondelete="CASCADE")
    shard: int = Field(primary_key=True)
    split: str
    file_index: int  # within its split: the file ...-{file_index:05d}-of-{file_count:05d}
    file_count: int
    # [[episode_id, episode_index, last, close], ...]: as plan.Planned, frozen when the export was planned
    episodes: list[list[Any]] = Field(sa_column=Column(JSON, nullable=False))
    step_tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    steps_total: int = 0
    steps_done: int = 0
    state: str = "pending"  # pending | done
    attempts: int = 0  # builds started (more than 1: redelivered after a crash or a failure)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # the part writer's summary
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class Campaign(SQLModel, table=True):
    """A crowd campaign of a study (playcorder.campaigns.CampaignSpec): its conditions, quotas and requirements."""

    __tablename__ = "campaigns"
    id: str = Field(default_factory=new_id, primary_key=True)
    study_id: str = Field(foreign_key="studies.id", index=True, ondelete="CASCADE")
    name: str
    channel: str
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    completion_code: str = Field(description="Prolific's completion code (the spec's, or made with the campaign)")
    closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True),
                                       description="closed by its designer: no one new is enrolled")
    created_by: str = Field(foreign_key="accounts.id")
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))


class Enrollment(SQLModel, table=True):
    """A participant who arrived through a campaign's link: their external ids (raw for the bonus table, keyed by
    an HMAC with the deployment's secret, which exports carry in their place), consent, answers, completion."""

    __tablename__ = "enrollments"
    __table_args__ = (Index("ux_enrollments_campaign_key", "campaign_id", "external_key", unique=True),)
    id: str = Field(default_factory=new_id, primary_key=True)
    campaign_id: str = Field(foreign_key="campaigns.id", index=True, ondelete="CASCADE")
    participant_id: str = Field(foreign_key="participants.id", index=True, ondelete="CASCADE")
    external_key: str = Field(description="HMAC-SHA256 of the channel's participant id (the deployment's secret)")
    external: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    consented_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    answers: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    completion_code: str | None = None
    completed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    bonus: float | None = None
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))
    last_seen_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))


class Assignment(SQLModel, table=True):
    """An enrolled participant's condition: it holds a place in the condition's quota while active and reserved
    (reserved_until moves on while they are seen), and for good once completed."""

    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_campaign_condition", "campaign_id", "condition", "state"),)
    id: str = Field(default_factory=new_id, primary_key=True)
    campaign_id: str = Field(foreign_key="campaigns.id", ondelete="CASCADE")
    enrollment_id: str = Field(foreign_key="enrollments.id", index=True, ondelete="CASCADE")
    participant_id: str = Field(index=True)
    condition: str
    state: str = "active"  # active | completed
    reserved_until: datetime = Field(sa_type=DateTime(timezone=True))
    stats: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))
    completed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class DeploymentSecret(SQLModel, table=True):
    """A secret of the whole deployment, made once by whichever gateway first needs it (the key that hashes
    participants' external ids, when ID_HASH_SECRET is not set)."""

    __tablename__ = "deployment_secrets"
    name: str = Field(primary_key=True)
    value: str
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))


class PreferenceExperiment(SQLModel, table=True):
    """Humans compare pairs of clips of a study's segments (playcorder.preferences.ExperimentSpec)."""

    __tablename__ = "preference_experiments"
    id: str = Field(default_factory=new_id, primary_key=True)
    study_id: str = Field(foreign_key="studies.id", index=True, ondelete="CASCADE")
    name: str
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    env: str | None = Field(default=None, description="the environment its segments come from (posted: none)")
    fps: int = Field(default=15, description="frames per second of its clips")
    labels_count: int = Field(default=0, description="labels so far: the last one's seq (assigned under this row's "
                                                     "lock, so a reader's cursor never skips one committed later)")
    created_by: str = Field(foreign_key="accounts.id")
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class PreferenceSegment(SQLModel, table=True):
    """A stretch of steps, from a recorded episode or posted by a trainer, and the state of its rendered clip."""

    __tablename__ = "preference_segments"
    id: str = Field(default_factory=new_id, primary_key=True)
    experiment_id: str = Field(foreign_key="preference_experiments.id", index=True, ondelete="CASCADE")
    source: str = "episode"  # episode | posted
    episode_id: str | None = Field(default=None, foreign_key="episodes.id", ondelete="CASCADE")
    first_step: int = 0
    num_steps: int = 0
    data_key: str | None = Field(default=None, description="posted: the .npz of its frames and arrays in S3")
    reward_sum: float | None = Field(default=None, description="the true summed reward, where known")
    state: str = "pending"  # pending | ready | failed
    error: str | None = None
    clip_keys: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False,
                                                                             server_default="{}"))  # {webm, mp4}
    clip_frames: int = 0
    width: int = 0
    height: int = 0
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))
    rendered_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class PreferencePair(SQLModel, table=True):
    """Two segments to compare; leased to one labeller at a time (leased_by until lease_until)."""

    __tablename__ = "preference_pairs"
    __table_args__ = (Index("ix_preference_pairs_queue", "experiment_id", "priority", "created_at"),)
    id: str = Field(default_factory=new_id, primary_key=True)
    experiment_id: str = Field(foreign_key="preference_experiments.id", ondelete="CASCADE")
    left_id: str = Field(foreign_key="preference_segments.id", ondelete="CASCADE")
    right_id: str = Field(foreign_key="preference_segments.id", ondelete="CASCADE")
    priority: float = 0.0
    labels_wanted: int = 1
    labels: int = 0
    leased_by: str | None = None
    leased_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    lease_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))


class PreferenceLabel(SQLModel, table=True):
    """One labeller's answer to one pair; seq orders an experiment's labels for readers following them."""

    __tablename__ = "preference_labels"
    __table_args__ = (Index("ux_preference_labels_pair_labeller", "pair_id", "labeller", unique=True),
                      Index("ux_preference_labels_experiment_seq", "experiment_id", "seq", unique=True))
    id: str = Field(default_factory=new_id, primary_key=True)
    experiment_id: str = Field(foreign_key="preference_experiments.id", ondelete="CASCADE")
    seq: int
    pair_id: str = Field(foreign_key="preference_pairs.id", ondelete="CASCADE")
    labeller: str = Field(description="participant:<id> or account:<id>")
    response: str  # left | right | tie | cant_tell
    shown_at: datetime = Field(sa_type=DateTime(timezone=True))
    answered_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))
    duration_ms: int = 0


class Game(SQLModel, table=True):
    """A multi-agent game the lobby fills (issue 16): the worker it plays on and who took which seat. Gateways
    seat participants under the row's lock, so a seat is never given twice however many gateways there are."""

    __tablename__ = "games"
    __table_args__ = (Index("ix_games_lobby", "study_id", "env", "fill_at"),)
    id: str = Field(default_factory=new_id, primary_key=True)
    study_id: str = Field(foreign_key="studies.id", ondelete="CASCADE")
    env: str
    worker_id: str
    seats: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False),
                                  description="agent -> participant id, for the seats people took")
    created_at: datetime = Field(default_factory=now, sa_type=DateTime(timezone=True))
    fill_at: datetime = Field(sa_type=DateTime(timezone=True), description="when the lobby stops waiting and "
                                                                           "policies fill the empty seats")
