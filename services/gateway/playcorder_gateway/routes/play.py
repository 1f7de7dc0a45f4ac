"""The play WebSocket: authenticate a participant, place the session on a worker, relay input and frames."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import ValidationError

from playcorder.db.models import PlaySession, Study
from playcorder.db.queries import valid_token
from playcorder.messages import CLIENT_TYPES, CloseSession, ErrorEvent, OpenSession, SelectEnv, client_message
from playcorder.specs import StudySpec

from ..deps import Bus, BusSubjects, DbSessions, Directory, GatewaySettings, RelayedSessions
from ..placement import NoCapacity, WorkerDirectory
from ..relay import OutgoingQueue

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_UNAUTHORIZED, CLOSE_TRY_AGAIN = 4401, 1013


_ECHO = 200  # characters of a client's input an error event quotes at most
_MAX_ERROR = 1000  # characters of an error event's message


async def _error(ws: WebSocket, code: str, message: str, retry_after: float | None = None) -> None:
    if len(message) > _MAX_ERROR:
        message = message[:_MAX_ERROR - 3] + "..."
    await ws.send_text(ErrorEvent(code=code, message=message, retry_after=retry_after).model_dump_json())


def _problems(err: ValidationError, most: int = 3) -> str:
    """'at action.keys: Expected at most 32 held keys, got 40; ...' for the first few errors."""
    parts = []
    for e in err.errors(include_input=False)[:most]:
        where = ".".join(str(p) for p in e["loc"])
        parts.append(f"at {where}: {e['msg'].removeprefix('Value error, ')}" if where else e["msg"])
    more = err.error_count() - most
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


async def _receive_message(ws: WebSocket, max_bytes: int):  # type: ignore[no-untyped-def]
    """Next valid client message; anything else (a binary frame, a message over max_bytes, invalid JSON or fields)
    is answered with an error event naming what was expected, and the socket stays open."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        raw = message.get("text")
        if raw is None:
            size = len(message.get("bytes") or b"")
            await _error(ws, "bad_message", f"Expected a JSON text message, got a binary frame of {size} bytes")
            continue
        size = len(raw.encode("utf-8", "surrogatepass")) if len(raw) * 4 > max_bytes else len(raw)
        if size > max_bytes:
            await _error(ws, "message_too_large", f"Expected a message of at most {max_bytes} bytes, got {size} "
                                                  f"bytes starting {raw[:_ECHO]!r}")
            continue
        try:
            return client_message.validate_json(raw)
        except ValidationError as err:
            await _error(ws, "bad_message", f"Expected a JSON message with type in {CLIENT_TYPES}, "
                                            f"got {raw[:_ECHO]!r}: {_problems(err)}")
        except Exception as err:  # a validator's bug must not end the session: log it, and the client learns of it
            log.exception("checking a client message failed: %r", raw[:_ECHO])
            await _error(ws, "bad_message", f"Expected a message the gateway can check, got {raw[:_ECHO]!r}: "
                                            f"{type(err).__name__} while checking it")


@router.websocket("/ws/play")
async def play(
    ws: WebSocket, sessions: DbSessions, nc: Bus, subjects: BusSubjects, directory: Directory,
    settings: GatewaySettings, relayed: RelayedSessions, token: str = Query("", description="participant token"),
) -> None:
    await ws.accept()
    async with sessions() as db:
        row = await valid_token(db, token, "participant") if token else None
        study = await db.get(Study, row.study_id) if row and row.study_id else None
    if row is None or study is None or row.participant_id is None:
        await _error(ws, "unauthorized", "Expected ?token=<participant token> of a study, got none or an invalid one")
        await ws.close(CLOSE_UNAUTHORIZED)
        return
    spec = StudySpec.model_validate(study.spec)
    try:
        while True:
            msg = await _receive_message(ws, settings.ws_max_message)
            if not isinstance(msg, SelectEnv):
                await _error(ws, "no_session", f"Expected select_env first, got {msg.type}")
                continue
            env = spec.environment(msg.env)
            if env is not None:
                break
            await _error(ws, "unknown_env", f"Expected one of {[e.id for e in spec.environments]}, got {msg.env!r}")
    except WebSocketDisconnect:
        return

    session_id = uuid.uuid4().hex
    out = OutgoingQueue(settings.frame_queue)

    async def on_out(m: Msg) -> None:
        (out.put_frame if m.subject.endswith(".frame") else out.put_event)(m.data)

    sub = await nc.subscribe(subjects.session_out_all(session_id), cb=on_out)
    try:
        worker_id = await directory.place(
            OpenSession(session_id=session_id, study_id=study.id, participant_id=row.participant_id, environment=env)
        )
    except NoCapacity:
        await sub.unsubscribe()
        retry = settings.no_capacity_retry
        await _error(ws, "no_capacity", f"No worker has room for a session; retry in {retry:g} s", retry_after=retry)
        await ws.close(CLOSE_TRY_AGAIN)
        return
    async with sessions() as db:
        db.add(PlaySession(id=session_id, study_id=study.id, participant_id=row.participant_id, env=env.id,
                           worker_id=worker_id))
        await db.commit()
    log.info("session %s placed on %s", session_id, worker_id)
    relayed.add(session_id)
    try:
        await _relay(ws, nc, subjects.session_input(session_id), directory, worker_id, out, settings.ws_max_message)
    finally:
        relayed.discard(session_id)
    await sub.unsubscribe()
    log.info("session %s ended; %d display frames dropped for a slow client", session_id, out.dropped_frames)
    async with sessions() as db:
        record = await db.get(PlaySession, session_id)
        if record is not None:
            record.ended_at = datetime.now(UTC)
            db.add(record)
            await db.commit()


async def _relay(ws: WebSocket, nc: NATS, input_subject: str, directory: WorkerDirectory, worker_id: str,
                 out: OutgoingQueue, max_message: int) -> None:

    async def client_to_worker() -> None:
        while True:
            msg = await _receive_message(ws, max_message)
            if isinstance(msg, SelectEnv):
                await _error(ws, "already_playing", "Expected input for the running session, got select_env")
                continue
            await nc.publish(input_subject, msg.model_dump_json().encode())
            if isinstance(msg, CloseSession):
                return

    async def watch_worker() -> None:
        while True:
            await asyncio.sleep(1.0)
            if worker_id not in directory.workers.live():
                await _error(ws, "worker_lost", f"The worker running this session ({worker_id}) stopped answering")
                return

    tasks = [asyncio.create_task(c) for c in (client_to_worker(), out.pump(ws), watch_worker())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Whatever ended the relay, the worker ends the session (an unfinished episode is abandoned).
        await nc.publish(input_subject, CloseSession(type="close").model_dump_json().encode())
        try:
            await ws.close()
        except (RuntimeError, WebSocketDisconnect):  # the client is already gone
            pass
