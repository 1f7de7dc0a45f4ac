"""Opening a play session for a participant: place a new one on a worker, or re-attach to one its worker still
holds (resume after a reconnect). A refusal is raised as `Refused`, which the route turns into an error event."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import PlaySession, Study
from playcorder.messages import AttachSession, AttachSessionReply, OpenSession
from playcorder.specs import EnvironmentSpec, StudySpec
from playcorder.subjects import Subjects

from . import lobby
from .availability import closed, enabled_environments
from .campaign_play import NotPlayable, Seat, seat
from .placement import NoCapacity, WorkerDirectory
from .relay import OutgoingQueue
from .settings import Settings

log = logging.getLogger(__name__)
CLOSE_TRY_AGAIN = 1013


class Refused(Exception):
    """The session cannot be opened: an error event for the client, and whether to close the socket after it."""

    def __init__(self, code: str, message: str, retry_after: float | None = None, close: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.retry_after, self.close = code, message, retry_after, close


@dataclass
class Opened:
    session_id: str
    worker_id: str
    sub: Subscription  # the session's out.* subjects, feeding `out`
    out: OutgoingQueue
    env: str  # the environment's key in the study (a session moved off a draining worker is placed with it again)


@dataclass
class Opener:
    """The services opening a session needs, for one participant of one study."""

    sessions: async_sessionmaker[AsyncSession]
    nc: NATS
    subjects: Subjects
    directory: WorkerDirectory
    settings: Settings
    participant_id: str
    study: Study
    enrollment_id: str | None = None  # a campaign's participant: they play their condition only
    seat: Seat | None = None  # what they play now (set by playable)

    async def playable(self, key: str) -> tuple[EnvironmentSpec, int]:
        """The environment `key` names in the study as it is now (its designer may have edited, disabled or archived
        it since the socket opened), and the study's version; refused when it cannot be played."""
        async with self.sessions() as db:
            study = await db.get(Study, self.study.id)
        if study is None or (why := closed(study)) is not None:
            state = "deleted" if study is None else why
            raise Refused("study_disabled", f"Expected an enabled study, got {self.study.name!r}, {state} by its "
                                            "designer")
        spec = StudySpec.model_validate(study.spec)
        env = spec.environment(key)
        if env is None:
            raise Refused("unknown_env", f"Expected one of {[e.id for e in spec.environments]}, got {key!r}")
        if env.id in study.disabled_environments:
            raise Refused("environment_disabled", f"Expected an enabled environment of the study, one of "
                          f"{[e.id for e in enabled_environments(study, spec)]}, got {env.id!r}, disabled by its "
                          "designer")
        if self.enrollment_id is not None:
            try:
                self.seat = await seat(self.sessions, self.enrollment_id, spec, env.id)
            except NotPlayable as no:
                raise Refused(no.code, no.message) from None
            return self.seat.env, study.version
        return env, study.version

    async def _game_seat(self, env: EnvironmentSpec) -> lobby.Joined | None:
        """A multi-agent environment's seat from the lobby (any gateway's), None for a single-agent one."""
        if env.agents is None:
            return None

        def least_loaded() -> str | None:
            room = self.directory.candidates()
            return room[0].worker_id if room else None

        try:
            return await lobby.join(self.sessions, self.study.id, env, self.participant_id, least_loaded)
        except lobby.NoWorker:
            retry = self.settings.no_capacity_retry
            raise Refused("no_capacity", f"No worker has room for a new game; retry in {retry:g} s", retry,
                          CLOSE_TRY_AGAIN) from None

    async def place(self, env: EnvironmentSpec, study_version: int | None = None) -> Opened:
        session_id, out = uuid.uuid4().hex, OutgoingQueue(self.settings.frame_queue)
        joined = await self._game_seat(env)
        # Subscribed before placing: the first frame is not missed.
        sub = await self.nc.subscribe(self.subjects.session_out_all(session_id), cb=out.from_worker)
        try:
            worker_id = await self.directory.place(OpenSession(
                session_id=session_id, study_id=self.study.id, participant_id=self.participant_id, environment=env,
                study_version=study_version, campaign_id=self.seat.campaign_id if self.seat else None,
                condition=self.seat.condition if self.seat else None, game=joined.seat if joined else None),
                worker_id=joined.worker_id if joined else None)
        except NoCapacity as none:
            await sub.unsubscribe()
            if joined is not None:
                await lobby.give_back(self.sessions, joined, self.participant_id)
            # the workers' own estimate when each refusing for load gave one, else NO_CAPACITY_RETRY
            retry = none.retry_after if none.retry_after is not None else self.settings.no_capacity_retry
            raise Refused("no_capacity", f"No worker has room for a session; retry in {retry:g} s", retry,
                          CLOSE_TRY_AGAIN) from None
        async with self.sessions() as db:
            db.add(PlaySession(id=session_id, study_id=self.study.id, participant_id=self.participant_id, env=env.id,
                               worker_id=worker_id))
            await db.commit()
        log.info("session %s placed on %s%s", session_id, worker_id,
                 f" in game {joined.seat.game_id} as {joined.seat.agent}" if joined else "")
        return Opened(session_id, worker_id, sub, out, env.id)

    async def resume(self, session_id: str) -> Opened:
        """Re-attach to a session of this participant that its worker still holds."""
        async with self.sessions() as db:
            record = await db.get(PlaySession, session_id)
        if record is None or record.participant_id != self.participant_id or record.study_id != self.study.id:
            raise Refused("unknown_session", f"Expected the session_id of one of your sessions, got {session_id!r}")
        if not self.nc.is_connected:
            retry = self.settings.reconnect_retry
            raise Refused("connection_lost", f"The gateway cannot reach the workers now; retry in {retry:g} s", retry)
        out = OutgoingQueue(self.settings.frame_queue)
        # Subscribed before asking: the worker sends the session's state again as soon as it agrees.
        sub = await self.nc.subscribe(self.subjects.session_out_all(session_id), cb=out.from_worker)
        request = AttachSession(session_id=session_id, participant_id=self.participant_id)
        try:
            reply = await self.nc.request(self.subjects.worker_attach(record.worker_id),
                                          request.model_dump_json().encode(), timeout=self.settings.placement_timeout)
            answer = AttachSessionReply.model_validate_json(reply.data)
        except (NatsTimeout, NoRespondersError):
            answer = AttachSessionReply(attached=False, reason="worker_gone")
        if not answer.attached:
            await sub.unsubscribe()
            raise Refused("session_gone", f"Expected a session its worker still holds, got {session_id!r}, which "
                          f"has ended ({answer.reason}); select_env starts a new session")
        await self.set_ended(session_id, None)
        log.info("session %s resumed on %s", session_id, record.worker_id)
        return Opened(session_id, record.worker_id, sub, out, record.env)

    async def set_ended(self, session_id: str, at: datetime | None) -> None:
        """When the last relay of the session ended (cleared while one relays it again)."""
        async with self.sessions() as db:
            record = await db.get(PlaySession, session_id)
            if record is not None:
                record.ended_at = at
                db.add(record)
                await db.commit()
