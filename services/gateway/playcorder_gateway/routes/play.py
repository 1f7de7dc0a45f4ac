"""The play WebSocket: authenticate a participant, place a new session on a worker or resume one its worker still
holds, relay input and frames."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import ApiToken, PlaySession, Study
from playcorder.db.queries import valid_token
from playcorder.messages import (
    CLIENT_TYPES,
    AttachSession,
    AttachSessionReply,
    CloseSession,
    ErrorEvent,
    OpenSession,
    ResumeSession,
    SelectEnv,
    client_message,
)
from playcorder.specs import EnvironmentSpec, StudySpec
from playcorder.subjects import Subjects

from ..deps import Bus, BusSubjects, DbSessions, Directory, GatewaySettings, RelayedSessions
from ..placement import NoCapacity, WorkerDirectory
from ..relay import Liveness, Outcome, OutgoingQueue, disconnect_outcome
from ..settings import Settings

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_UNAUTHORIZED, CLOSE_TRY_AGAIN = 4401, 1013
# The token may travel as a subprotocol (`Sec-WebSocket-Protocol: playcorder, token.<token>`) and stay out of URLs
# and access logs; `?token=` is still accepted from older clients.
SUBPROTOCOL, TOKEN_PROTOCOL = "playcorder", "token."


async def _error(ws: WebSocket, code: str, message: str, retry_after: float | None = None) -> None:
    await ws.send_text(ErrorEvent(code=code, message=message, retry_after=retry_after).model_dump_json())


async def _receive_message(ws: WebSocket):  # type: ignore[no-untyped-def]
    """Next valid client message; invalid ones are answered with an error naming what was expected."""
    while True:
        raw = await ws.receive_text()
        try:
            return client_message.validate_json(raw)
        except ValidationError as err:
            await _error(ws, "bad_message", f"Expected a JSON message with type in {CLIENT_TYPES}, "
                                            f"got {raw[:200]!r}: {err.errors()[0]['msg']}")


@dataclass
class _Opened:
    session_id: str
    worker_id: str
    sub: Subscription
    out: OutgoingQueue


@dataclass
class _Context:
    """What opening a session needs: the services, and who the participant is."""

    ws: WebSocket
    sessions: async_sessionmaker[AsyncSession]
    nc: NATS
    subjects: Subjects
    directory: WorkerDirectory
    settings: Settings
    token: ApiToken
    study: Study

    @property
    def participant_id(self) -> str:
        assert self.token.participant_id is not None  # checked by play() before a context is made
        return self.token.participant_id


def _offered_token(ws: WebSocket) -> str:
    for protocol in ws.scope.get("subprotocols") or []:
        if protocol.startswith(TOKEN_PROTOCOL):
            return str(protocol[len(TOKEN_PROTOCOL):])
    return ""


@router.websocket("/ws/play")
async def play(
    ws: WebSocket, sessions: DbSessions, nc: Bus, subjects: BusSubjects, directory: Directory,
    settings: GatewaySettings, relayed: RelayedSessions,
    token: str = Query("", description="participant token (older clients; prefer the subprotocol token.<token>)"),
) -> None:
    token = _offered_token(ws) or token
    await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in (ws.scope.get("subprotocols") or []) else None)
    async with sessions() as db:
        row = await valid_token(db, token, "participant") if token else None
        study = await db.get(Study, row.study_id) if row and row.study_id else None
    if row is None or study is None or row.participant_id is None:
        await _error(ws, "unauthorized", "Expected a participant token of a study (subprotocol token.<token>, or "
                                         "?token=), got none or an invalid one")
        await ws.close(CLOSE_UNAUTHORIZED)
        return
    ctx = _Context(ws, sessions, nc, subjects, directory, settings, row, study)
    try:
        opened = await _open(ctx)
    except WebSocketDisconnect:
        return
    if opened is None:
        return
    relayed.add(opened.session_id)
    try:
        outcome = await _relay(ws, nc, subjects.session_input(opened.session_id), opened, settings)
    finally:
        relayed.discard(opened.session_id)
        await opened.sub.unsubscribe()
    log.info("session %s relay ended (%s); %d display frames dropped for a slow client", opened.session_id,
             outcome, opened.out.dropped_frames)
    await _set_ended(sessions, opened.session_id, datetime.now(UTC))


async def _open(ctx: _Context) -> _Opened | None:
    """The first messages: select_env places a new session, resume_session continues one; None once refused."""
    spec = StudySpec.model_validate(ctx.study.spec)
    while True:
        msg = await _receive_message(ctx.ws)
        if isinstance(msg, ResumeSession):
            opened = await _resume(ctx, msg.session_id)
            if opened is not None:
                return opened
            continue
        if not isinstance(msg, SelectEnv):
            await _error(ctx.ws, "no_session", f"Expected select_env or resume_session first, got {msg.type}")
            continue
        env = spec.environment(msg.env)
        if env is not None:
            return await _place(ctx, env)
        await _error(ctx.ws, "unknown_env", f"Expected one of {[e.id for e in spec.environments]}, got {msg.env!r}")


async def _place(ctx: _Context, env: EnvironmentSpec) -> _Opened | None:
    session_id, out = uuid.uuid4().hex, OutgoingQueue(ctx.settings.frame_queue)
    sub = await ctx.nc.subscribe(ctx.subjects.session_out_all(session_id), cb=out.from_worker)
    try:
        worker_id = await ctx.directory.place(OpenSession(
            session_id=session_id, study_id=ctx.study.id, participant_id=ctx.participant_id, environment=env))
    except NoCapacity:
        await sub.unsubscribe()
        retry = ctx.settings.no_capacity_retry
        await _error(ctx.ws, "no_capacity", f"No worker has room for a session; retry in {retry:g} s",
                     retry_after=retry)
        await ctx.ws.close(CLOSE_TRY_AGAIN)
        return None
    async with ctx.sessions() as db:
        db.add(PlaySession(id=session_id, study_id=ctx.study.id, participant_id=ctx.participant_id,
                           env=env.id, worker_id=worker_id))
        await db.commit()
    log.info("session %s placed on %s", session_id, worker_id)
    return _Opened(session_id, worker_id, sub, out)


async def _resume(ctx: _Context, session_id: str) -> _Opened | None:
    """Re-attach to a session of this participant that its worker still holds; otherwise say why not."""
    async with ctx.sessions() as db:
        record = await db.get(PlaySession, session_id)
    if record is None or record.participant_id != ctx.participant_id or record.study_id != ctx.study.id:
        await _error(ctx.ws, "unknown_session", f"Expected the session_id of one of your sessions, got {session_id!r}")
        return None
    if not ctx.nc.is_connected:
        retry = ctx.settings.reconnect_retry
        await _error(ctx.ws, "connection_lost", f"The gateway cannot reach the workers now; retry in {retry:g} s",
                     retry_after=retry)
        return None
    out = OutgoingQueue(ctx.settings.frame_queue)
    sub = await ctx.nc.subscribe(ctx.subjects.session_out_all(session_id), cb=out.from_worker)  # before it resends
    request = AttachSession(session_id=session_id, participant_id=ctx.participant_id).model_dump_json().encode()
    try:
        reply = await ctx.nc.request(ctx.subjects.worker_attach(record.worker_id), request,
                                     timeout=ctx.settings.placement_timeout)
        attached = AttachSessionReply.model_validate_json(reply.data)
    except (NatsTimeout, NoRespondersError):
        attached = AttachSessionReply(attached=False, reason="worker_gone")
    if not attached.attached:
        await sub.unsubscribe()
        await _error(ctx.ws, "session_gone", f"Expected a session its worker still holds, got {session_id!r}, which "
                     f"has ended ({attached.reason}); select_env starts a new session")
        return None
    await _set_ended(ctx.sessions, session_id, None)
    log.info("session %s resumed on %s", session_id, record.worker_id)
    return _Opened(session_id, record.worker_id, sub, out)


async def _set_ended(sessions: async_sessionmaker[AsyncSession], session_id: str, at: datetime | None) -> None:
    """When the last relay of the session ended (cleared while one relays it again)."""
    async with sessions() as db:
        record = await db.get(PlaySession, session_id)
        if record is not None:
            record.ended_at = at
            db.add(record)
            await db.commit()


async def _relay(ws: WebSocket, nc: NATS, input_subject: str, opened: _Opened, settings: Settings) -> Outcome:
    live = Liveness(ws, nc, input_subject, opened.worker_id, opened.out, settings)

    async def client_to_worker() -> Outcome:
        while True:
            try:
                msg = await _receive_message(ws)
            except WebSocketDisconnect as err:
                return disconnect_outcome(err)
            if isinstance(msg, SelectEnv | ResumeSession):
                await _error(ws, "already_playing", f"Expected input for the running session, got {msg.type}")
                continue
            await nc.publish(input_subject, msg.model_dump_json().encode())
            if isinstance(msg, CloseSession):
                return Outcome.CLOSED

    async def pump() -> Outcome:
        try:
            await opened.out.pump(ws)
        except (WebSocketDisconnect, RuntimeError, OSError):  # the client is gone
            return Outcome.DETACHED
        return Outcome.FINISHED

    async def watch() -> Outcome:
        await live.watch()
        return Outcome.WORKER_LOST

    tasks = [asyncio.create_task(c) for c in (client_to_worker(), pump(), watch(), live.keepalive())]
    outcome = Outcome.DETACHED  # also when the gateway shuts down: the client may resume elsewhere
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        outcome = next(iter(done)).result()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await live.end(outcome)
        try:
            await ws.close()
        except (RuntimeError, WebSocketDisconnect):  # the client is already gone
            pass
    return outcome
