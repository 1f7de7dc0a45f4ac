"""The live view WebSocket: a designer watches a running session of one of their studies, read-only. It gets the
worker's frames and events as the participant does (through the same dropping queue, so a slow watcher loses
display frames and input copies only) and each message the participant's gateway forwarded to the worker, as
`watched_input`. A watcher publishes one thing, once: a `resync` as it joins, so that the worker sends the session's
`state` (and a finished episode's `episode_finished`) again and a watcher joining mid-episode learns where the session
stands at once; the participant gets those again too, which changes nothing. Beyond that no keepalive and no input:
the session cannot tell it is watched.

Authentication: the designer token as subprotocol `token.<token>` (like /ws/play), or the browser session cookie;
with the cookie the Origin must be this gateway's own (a page of another site could open the socket with the
browser's cookie otherwise: cross-site WebSocket hijacking).

A draining gateway (draining.py) closes watch sockets as it does play sockets: 1012, for the watcher to reconnect."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import PlaySession, Study
from playcorder.db.queries import valid_browser_session, valid_token
from playcorder.fields import PathId, is_id
from playcorder.messages import Resync, SessionEnded
from playcorder.specs import StudySpec

from ..deps import SESSION_COOKIE, Bus, BusSubjects, DbSessions, GatewayDrain, GatewaySettings
from ..draining import CLOSE_RESTART, RESTART_REASON, Leave, refuse
from ..ratelimit import TokenBucket
from ..relay import Liveness, OutgoingQueue
from .play import CLOSE_UNAUTHORIZED, SUBPROTOCOL, offered_token, send_error

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_FORBIDDEN, CLOSE_NOT_FOUND = 4403, 4404
WATCH_INPUT_QUEUE = 64  # copies of the participant's input queued for a slow watcher before the oldest are dropped
# What the gateways themselves send a worker on the session's input subject: no input of the participant's (resync
# is also the player's round-trip probe, and a watcher's join: "send the state again", not the participant's doing).
_GATEWAY_ONLY = (b'{"type":"keepalive"', b'{"type":"detach"', b'{"type":"resync"')


class Watching(BaseModel):
    """The first event of a watch socket: the session watched (its `session` event went out when it started)."""

    type: Literal["watching"] = "watching"
    session_id: str
    study_id: str
    participant_id: str
    env: str
    env_id: str | None
    worker_id: str
    started_at: datetime


def same_origin(ws: WebSocket) -> bool:
    """Whether the page that opened the socket was served by this host (Origin's host:port is the Host header)."""
    origin, host = ws.headers.get("origin"), ws.headers.get("host")
    if not origin or not host:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


async def _designer(ws: WebSocket, db: AsyncSession) -> str | None:
    """The id of the designer asking, or None once the socket has been refused (error event, then a close)."""
    token, cookie = offered_token(ws), ws.cookies.get(SESSION_COOKIE)
    if token:
        row = await valid_token(db, token, "designer")
        if row is not None and row.account_id is not None:
            return row.account_id
    elif cookie:
        if not same_origin(ws):
            await send_error(ws, "forbidden_origin", f"Expected a page of this gateway (Origin "
                                                     f"{ws.headers.get('host')!r}) to watch with its session cookie, "
                                                     f"got Origin {ws.headers.get('origin')!r}")
            await ws.close(CLOSE_FORBIDDEN)
            return None
        session = await valid_browser_session(db, cookie)
        if session is not None:
            return session.account_id
    await send_error(ws, "unauthorized", "Expected a designer token (subprotocol token.<token>) or a signed-in "
                                         f"browser session (cookie {SESSION_COOKIE}), got none or an invalid one")
    await ws.close(CLOSE_UNAUTHORIZED)
    return None


async def _watched(ws: WebSocket, sessions: async_sessionmaker[AsyncSession], session_id: str) -> Watching | None:
    """The running session of one of the designer's studies named by `session_id`, or None once refused."""
    async with sessions() as db:
        designer_id = await _designer(ws, db)
        if designer_id is None:
            return None
        record = await db.get(PlaySession, session_id) if is_id(session_id) else None
        study = await db.get(Study, record.study_id) if record is not None else None
    if record is None or study is None or study.owner_id != designer_id:
        await send_error(ws, "unknown_session", f"Expected the id of a session of one of your studies, got "
                                                f"{session_id[:64]!r}")
        await ws.close(CLOSE_NOT_FOUND)
        return None
    if record.ended_at is not None:
        await send_error(ws, "not_running", f"Expected a running session to watch, got {session_id}, which ended "
                                            f"at {record.ended_at.isoformat(timespec='seconds')}")
        await ws.close(CLOSE_NOT_FOUND)
        return None
    env = StudySpec.model_validate(study.spec).environment(record.env)
    return Watching(session_id=record.id, study_id=record.study_id, participant_id=record.participant_id,
                    env=record.env, env_id=env.env_id if env is not None else None, worker_id=record.worker_id,
                    started_at=record.started_at)


@router.websocket("/ws/watch/{session_id}")
async def watch(ws: WebSocket, session_id: PathId, sessions: DbSessions, nc: Bus, subjects: BusSubjects,
                settings: GatewaySettings, drain: GatewayDrain) -> None:
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in (ws.scope.get("subprotocols") or []) else None
    if drain.draining:
        await refuse(ws, subprotocol)
        return
    with drain.hold() as leave:
        await ws.accept(subprotocol=subprotocol)
        await _watch(ws, session_id, sessions, nc, subjects, settings, leave)


async def _watch(ws: WebSocket, session_id: str, sessions: async_sessionmaker[AsyncSession], nc: NATS,
                 subjects: BusSubjects, settings: GatewaySettings, leave: Leave) -> None:
    watching = await _watched(ws, sessions, session_id)
    if watching is None:
        return
    out = OutgoingQueue(settings.frame_queue, WATCH_INPUT_QUEUE, socket="watch")
    out.put_event(watching.model_dump_json().encode())

    async def participant_input(msg: Msg) -> None:
        data = msg.data
        if not data.startswith(_GATEWAY_ONLY):  # the gateway's own JSON (model_dump_json): spliced in, not parsed
            out.put_input(b'{"type":"watched_input","message":' + data + b"}")

    subs = [await nc.subscribe(subjects.session_out_all(watching.session_id), cb=out.from_worker),
            await nc.subscribe(subjects.session_input(watching.session_id), cb=participant_input)]
    # Joined mid-episode: ask the worker for the session's state now rather than waiting for its next change.
    await nc.publish(subjects.session_input(watching.session_id), Resync(type="resync").model_dump_json().encode())

    async def silent(seconds: float) -> None:  # the worker no longer holds the session, or died
        async with sessions() as db:
            record = await db.get(PlaySession, watching.session_id)
        if record is not None and record.ended_at is not None:
            await ws.send_text(SessionEnded(reason="ended").model_dump_json())
        else:
            await send_error(ws, "worker_lost", f"The worker running this session ({watching.worker_id}) stopped "
                                                f"answering: nothing heard for {seconds:.1f} s")

    live = Liveness(ws, nc, "", watching.worker_id, out, settings, on_silence=silent)
    bucket = TokenBucket(settings.ws_max_rate, settings.ws_burst)
    tasks = [asyncio.create_task(c) for c in (out.pump(ws), live.watch(), _refuse_messages(ws, bucket), leave.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sub in subs:
            await sub.unsubscribe()
        try:
            await (ws.close(CLOSE_RESTART, RESTART_REASON) if leave.asked.is_set() else ws.close())
        except (RuntimeError, WebSocketDisconnect):  # the watcher is already gone
            pass
    log.info("watch of session %s ended; %d frames and %d input copies dropped for a slow watcher",
             watching.session_id, out.dropped_frames, out.dropped_inputs)


async def _refuse_messages(ws: WebSocket, bucket: TokenBucket) -> None:
    """Answer whatever the watcher sends with read_only (at most the message rate limit's worth); returns when the
    watcher leaves."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        if not bucket.take():
            if bucket.notify():
                await send_error(ws, "rate_limited", bucket.message(), retry_after=bucket.retry_after())
            continue
        text, data = message.get("text"), message.get("bytes")
        got = f"a text message of {len(text)} characters" if text is not None else f"{len(data or b'')} bytes"
        await send_error(ws, "read_only", f"Expected nothing from a watcher (this socket only shows the session; "
                                          f"the participant plays it), got {got}")
