"""The play WebSocket: authenticate a participant, place a new session on a worker or resume one its worker still
holds, relay input and frames.

When the session's worker drains (it is shutting down, draining.py in the env-worker) and ends the session
(reason worker_draining, after the episode's `episode_ended`), the socket stays open: a new session for the same
participant, study and environment is placed on another worker, whose `session`, `episode_started` and frames
follow as on a fresh start, the environment and token checked again as for select_env. A `new_episode` the client
sent before it was shown that session's first episode is dropped: meant for the old session (after its last
episode ended), it would cancel the episode the move has just started. Refused (`no_capacity`
with its retry time, a study disabled meanwhile, ...), the client gets the error as it would for select_env, and
the socket closes where select_env's refusal would close it.

When this gateway drains (draining.py) the socket is closed with 1012 (service restart) for the client to
reconnect elsewhere and resume; a playing one only after its worker was told the relay ended as detached."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from nats.aio.client import Client as NATS
from pydantic import ValidationError

from playcorder.db.models import Study
from playcorder.db.queries import valid_token
from playcorder.messages import (
    CLIENT_TYPES,
    CloseSession,
    ErrorEvent,
    NewEpisode,
    ResumeSession,
    SelectEnv,
    client_message,
)

from ..campaign_play import CLOSE_TAKEN_OVER, Takeover, enrollment_of
from ..deps import Bus, BusSubjects, DbSessions, Directory, GatewayDrain, GatewaySettings, RelayedSessions
from ..draining import CLOSE_RESTART, RESTART_REASON, Leave, Leaving, receive, refuse
from ..metrics import REFUSED, RELAYS, SESSIONS_RELAYED
from ..opening import Opened, Opener, Refused
from ..ratelimit import TokenBucket
from ..relay import Liveness, Outcome, disconnect_outcome
from ..settings import Settings

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_UNAUTHORIZED = 4401
# The token may travel as a subprotocol (`Sec-WebSocket-Protocol: playcorder, token.<token>`) and stay out of URLs
# and access logs; `?token=` is still accepted from older clients.
SUBPROTOCOL, TOKEN_PROTOCOL = "playcorder", "token."


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


async def _receive_message(ws: WebSocket, max_bytes: int, bucket: TokenBucket,  # type: ignore[no-untyped-def]
                           leave: Leave | None = None):
    """Next valid client message; anything else (a binary frame, a message over max_bytes, invalid JSON or fields)
    is answered with an error event naming what was expected, and the socket stays open. Every message counts
    against the connection's bucket, checked first: one beyond it is dropped unread (a notice per window).
    Raises Leaving once the gateway drains and asks the socket to leave."""
    while True:
        message = await receive(ws, leave)
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        if not bucket.take():
            if bucket.notify():
                await _error(ws, "rate_limited", bucket.message(), retry_after=bucket.retry_after())
            continue
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
        if not bucket.take_bytes(size):  # what reading and checking it costs: large ones count more
            if bucket.notify():
                await _error(ws, "rate_limited", bucket.message(), retry_after=bucket.retry_after())
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


def _offered_token(ws: WebSocket) -> str:
    for protocol in ws.scope.get("subprotocols") or []:
        if protocol.startswith(TOKEN_PROTOCOL):
            return str(protocol[len(TOKEN_PROTOCOL):])
    return ""


# What the watch WebSocket (routes/watch.py) shares with this one: its error events and how a token is offered.
send_error, offered_token = _error, _offered_token


@router.websocket("/ws/play")
async def play(
    ws: WebSocket, sessions: DbSessions, nc: Bus, subjects: BusSubjects, directory: Directory,
    settings: GatewaySettings, relayed: RelayedSessions, drain: GatewayDrain,
    token: str = Query("", description="participant token (older clients; prefer the subprotocol token.<token>)"),
) -> None:
    token, subprotocol = _offered_token(ws) or token, _subprotocol(ws)
    if drain.draining:
        await refuse(ws, subprotocol)
        return
    with drain.hold() as leave:
        await _serve(ws, sessions, nc, subjects, directory, settings, relayed, token, subprotocol, leave)


def _subprotocol(ws: WebSocket) -> str | None:
    return SUBPROTOCOL if SUBPROTOCOL in (ws.scope.get("subprotocols") or []) else None


async def _serve(ws: WebSocket, sessions: DbSessions, nc: NATS, subjects: BusSubjects, directory: Directory,
                 settings: Settings, relayed: RelayedSessions, token: str, subprotocol: str | None,
                 leave: Leave) -> None:
    await ws.accept(subprotocol=subprotocol)
    async with sessions() as db:
        row = await valid_token(db, token, "participant") if token else None
        study = await db.get(Study, row.study_id) if row and row.study_id else None
    if row is None or study is None or row.participant_id is None:
        await _error(ws, "unauthorized", "Expected a participant token of a study (subprotocol token.<token>, or "
                                         "?token=), got none or an invalid one")
        await ws.close(CLOSE_UNAUTHORIZED)
        return
    enrollment = await enrollment_of(sessions, row.participant_id)
    opener = Opener(sessions, nc, subjects, directory, settings, row.participant_id, study,
                    enrollment.id if enrollment else None)
    if enrollment is None:
        await _sessions(ws, opener, sessions, nc, subjects, settings, relayed, token, leave)
        return

    async def taken() -> None:  # the participant opened another tab: this one leaves
        await _error(ws, "taken_over", "Expected one socket per participant, got a newer one (another tab or "
                                       "device): play goes on there")
        await _close(ws, code=CLOSE_TAKEN_OVER)

    async with Takeover(nc, subjects, row.participant_id, taken):
        await _sessions(ws, opener, sessions, nc, subjects, settings, relayed, token, leave)


async def _sessions(ws: WebSocket, opener: Opener, sessions: DbSessions, nc: NATS, subjects: BusSubjects,
                    settings: Settings, relayed: RelayedSessions, token: str, leave: Leave) -> None:
    """The socket's sessions, one after the other (a new one when its worker drains), until it closes."""
    bucket = TokenBucket(settings.ws_max_rate, settings.ws_burst, byte_rate=settings.ws_max_byte_rate,
                         byte_burst=settings.ws_byte_burst)

    async def still_valid() -> bool:  # revoked or expired since the socket opened: no new session, no resume
        async with sessions() as db:
            return await valid_token(db, token, "participant") is not None

    try:
        opened, moved = await _open(ws, opener, settings.ws_max_message, bucket, still_valid, leave), False
        while opened is not None:
            outcome = await _play(ws, nc, subjects, opener, relayed, opened, settings, bucket, moved, leave)
            if outcome != Outcome.MOVED:
                return
            opened, moved = await _move(ws, opener, opened, still_valid), True
            if opened is None:  # refused without a close: the client may select an environment again
                opened, moved = await _open(ws, opener, settings.ws_max_message, bucket, still_valid, leave), False
    except (WebSocketDisconnect, _Closed):
        return
    except Leaving:  # no session yet: nothing to tell a worker
        await _close(ws, restart=True)


class _Closed(Exception):
    """A refused move closed the socket."""


async def _move(ws: WebSocket, opener: Opener, moved: Opened,
                still_valid: Callable[[], Awaitable[bool]]) -> Opened | None:
    """A new session for the participant of `moved`, whose worker drains, on another worker; None when refused
    (the client told); raises _Closed when the refusal closed the socket."""
    log.info("session %s: its worker %s drains; placing the participant elsewhere", moved.session_id,
             moved.worker_id)
    try:
        if not await still_valid():
            raise Refused("unauthorized", "Expected a valid participant token to play on after the game server's "
                                          "maintenance, got one revoked or expired", close=CLOSE_UNAUTHORIZED)
        return await opener.place(*await opener.playable(moved.env))
    except Refused as refused:
        REFUSED.labels(refused.code).inc()
        await _error(ws, refused.code, refused.message, retry_after=refused.retry_after)
        if refused.close is not None:
            await ws.close(refused.close)
            raise _Closed from None
        return None


async def _play(ws: WebSocket, nc: NATS, subjects: BusSubjects, opener: Opener, relayed: RelayedSessions,
                opened: Opened, settings: Settings, bucket: TokenBucket, moved: bool, leave: Leave) -> Outcome:
    """Relay one session until it ends for this socket; `moved`: placed as its participant's previous session's
    worker drained."""
    relayed.add(opened.session_id)
    SESSIONS_RELAYED.inc()
    try:
        outcome = await _relay(ws, nc, subjects.session_input(opened.session_id), opened, settings, bucket, moved,
                               leave)
    finally:
        relayed.discard(opened.session_id)
        SESSIONS_RELAYED.dec()
        await opened.sub.unsubscribe()
    RELAYS.labels(outcome.value).inc()
    log.info("session %s relay ended (%s); %d display frames dropped for a slow client", opened.session_id,
             outcome, opened.out.dropped_frames)
    await opener.set_ended(opened.session_id, datetime.now(UTC))
    return outcome


async def _open(ws: WebSocket, opener: Opener, max_message: int, bucket: TokenBucket,
                still_valid: Callable[[], Awaitable[bool]], leave: Leave) -> Opened | None:
    """The first messages: select_env places a new session, resume_session continues one; None once refused
    with a close. The token is checked again for each: it may have been revoked or expired meanwhile."""
    while True:
        msg = await _receive_message(ws, max_message, bucket, leave)
        try:
            if isinstance(msg, SelectEnv | ResumeSession) and not await still_valid():
                raise Refused("unauthorized", f"Expected a valid participant token for {msg.type}, got one revoked "
                                              "or expired since this socket opened", close=CLOSE_UNAUTHORIZED)
            if isinstance(msg, ResumeSession):
                return await opener.resume(msg.session_id)
            if not isinstance(msg, SelectEnv):
                await _error(ws, "no_session", f"Expected select_env or resume_session first, got {msg.type}")
                continue
            return await opener.place(*await opener.playable(msg.env))
        except Refused as refused:
            REFUSED.labels(refused.code).inc()
            await _error(ws, refused.code, refused.message, retry_after=refused.retry_after)
            if refused.close is not None:
                await ws.close(refused.close)
                return None


def _before_the_move(msg: object, opened: Opened) -> bool:
    """A new_episode the client sent before it saw the moved session's first episode: meant for the session before
    the move (the episode after its last), it would cancel the episode the move has just started."""
    return isinstance(msg, NewEpisode) and not opened.out.episode_shown


async def _relay(ws: WebSocket, nc: NATS, input_subject: str, opened: Opened, settings: Settings,
                 bucket: TokenBucket, moved: bool, leave: Leave) -> Outcome:
    live = Liveness(ws, nc, input_subject, opened.worker_id, opened.out, settings)

    async def client_to_worker() -> Outcome:
        while True:
            try:
                msg = await _receive_message(ws, settings.ws_max_message, bucket)
            except WebSocketDisconnect as err:
                return disconnect_outcome(err)
            if isinstance(msg, SelectEnv | ResumeSession):
                await _error(ws, "already_playing", f"Expected input for the running session, got {msg.type}")
                continue
            if moved and _before_the_move(msg, opened):
                continue
            await nc.publish(input_subject, msg.model_dump_json().encode())
            if isinstance(msg, CloseSession):
                return Outcome.CLOSED

    async def pump() -> Outcome:
        try:
            await opened.out.pump(ws)
        except (WebSocketDisconnect, RuntimeError, OSError):  # the client is gone
            return Outcome.DETACHED
        return Outcome.MOVED if opened.out.moved else Outcome.FINISHED

    async def watch() -> Outcome:
        await live.watch()
        return Outcome.WORKER_LOST

    tasks = [asyncio.create_task(c) for c in (client_to_worker(), pump(), watch(), live.keepalive(), _asked(leave))]
    outcome = Outcome.DETACHED  # also when the gateway shuts down: the client may resume elsewhere
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        outcome = next(iter(done)).result()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        leaving = leave.leaving(outcome == Outcome.DETACHED)
        await live.end(outcome, flush=leaving)  # leaving: the worker knows before the client can resume elsewhere
        if outcome != Outcome.MOVED:  # moved: the socket plays on, in a session placed elsewhere
            await _close(ws, restart=leaving)
    return outcome


async def _asked(leave: Leave) -> Outcome:
    """The gateway drains: the relay ends detached (the socket closes with 1012 once the worker knows)."""
    await leave.wait()
    return Outcome.DETACHED


async def _close(ws: WebSocket, restart: bool = False, code: int = 1000) -> None:
    """Close normally (or with `code`), or with `restart` as a draining gateway does: 1012 and its reason (reconnect
    and resume)."""
    try:
        await (ws.close(CLOSE_RESTART, RESTART_REASON) if restart else ws.close(code))
    except (RuntimeError, WebSocketDisconnect):  # the client is already gone
        pass
