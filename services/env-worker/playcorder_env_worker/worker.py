"""The worker process: announces capacity, accepts sessions placed on it, routes their input and output over NATS.

Told to stop (SIGTERM) it drains (draining.py): no new session, its players told and let finish their episodes up to
DRAIN_TIMEOUT, then what is left interrupted with every step recorded; stop() (the app's shutdown) ends at once
whatever is still running, interrupted the same way."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError

from playcorder.bus import connect, ensure_streams, subjects_for
from playcorder.messages import (
    AttachSession,
    AttachSessionReply,
    CloseSession,
    Detach,
    Keepalive,
    OpenSession,
    OpenSessionReply,
    Resync,
    TrialRequest,
    WorkerHeartbeat,
    gateway_input,
)

from . import metrics, trial
from .admission import Admission
from .deletion_cost import deletion_cost
from .draining import Drain
from .families.access import EnvAccess
from .liveness import ClientLink, LinkWatch, Reattached
from .multiagent.game import Game
from .multiagent.seat_session import SeatSession
from .play_loop import PlayLoop
from .publisher import RecordingPublisher
from .session import PlaySession
from .settings import Settings
from .trial_pool import TrialPool

log = logging.getLogger(__name__)
_KEEPALIVE = Keepalive().model_dump_json().encode()  # exactly what a gateway sends (relay.py)


class Worker:
    play_loop: PlayLoop  # made in start(): one pacing loop steps every session's realtime ticks
    link_watch: LinkWatch  # and one timer watches every session's client link

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.subjects = subjects_for(settings.nats)
        self.executor = ThreadPoolExecutor(settings.worker_threads, thread_name_prefix="env")
        self.nc: NATS | None = None
        self.sessions: dict[str, PlaySession | SeatSession] = {}
        self.games: dict[str, Game] = {}  # multi-agent games, by id: their seats are sessions above
        self.tasks: set[asyncio.Task[None]] = set()  # trials
        self.session_tasks: set[asyncio.Task[None]] = set()
        self._drain: Drain | None = None
        self._trial_sub: Subscription | None = None
        self.draining = False
        self.started_at = datetime.now(UTC)
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._alive_task: asyncio.Task[None] | None = None
        # trials run in child processes of their own (TRIAL_PROCESSES), never on the sessions' threads
        self.trials = TrialPool(settings.trial_processes, EnvAccess.of(settings))
        # whether one more session may come in, by the load measured (admission.py); the pacing loop feeds it
        self.admission = Admission(settings)
        metrics.CAPACITY.set(settings.worker_capacity)
        self.deletion_cost = deletion_cost(settings)  # None outside Kubernetes

    @property
    def ready(self) -> bool:
        return self.nc is not None and self.nc.is_connected and not self.draining

    async def start(self) -> None:
        self.play_loop = PlayLoop(self.executor, self.settings.worker_threads, on_tick=self._on_tick)
        self.link_watch = LinkWatch()
        self.trials.start()
        if self.deletion_cost is not None:
            self.deletion_cost.start()
        self.nc = await connect(self.settings.nats, name=f"env-worker {self.settings.worker_id}",
                                on_reconnect=self._resync_sessions)
        await ensure_streams(self.nc, self.subjects, self.settings.nats.record_max_bytes)
        await self.nc.subscribe(self.subjects.worker_open(self.settings.worker_id), cb=self._on_open)
        await self.nc.subscribe(self.subjects.worker_attach(self.settings.worker_id), cb=self._on_attach)
        await self.nc.subscribe(self.subjects.announce, cb=self._on_announce)
        self._trial_sub = await self.nc.subscribe(self.subjects.trial, queue=trial.QUEUE_GROUP, cb=self._on_trial)
        self._heartbeat_task = asyncio.create_task(self._heartbeat_loop())
        self._alive_task = asyncio.create_task(self._alive_loop())
        self.admission.restart()
        log.info("worker %s ready, capacity %d at most, admitting while tick lateness p95 < %g ms and CPU < %g of a "
                 "core", self.settings.worker_id, self.settings.worker_capacity, self.settings.max_lateness_ms,
                 self.settings.max_cpu)

    def begin_drain(self) -> None:
        """From now on no new session, no new episode; the players are told (draining.py). Once only."""
        if self._drain is not None:
            return
        self.draining = True
        self._drain = Drain(self.sessions, self.session_tasks, self.settings.drain_timeout)
        self._drain.begin()

    async def drain(self) -> None:
        """The first SIGTERM: drain, until every session ended or DRAIN_TIMEOUT (or hurry()) ended the rest."""
        self.begin_drain()
        assert self._drain is not None
        if self.nc is not None and self.nc.is_connected:
            await self._heartbeat()  # at once: gateways stop placing here
        if self._trial_sub is not None:  # trials go to the other workers
            await self._trial_sub.unsubscribe()
            self._trial_sub = None
        await self._drain.run()
        log.info("worker %s drained", self.settings.worker_id)

    def hurry(self) -> None:
        """A second SIGTERM: the drain ends every session now."""
        if self._drain is not None:
            self._drain.hurry()

    async def stop(self) -> None:
        """Stop taking sessions, end those still running (all of them without a drain before, e.g. on SIGINT) as
        interrupted (worker_draining), flush their recordings."""
        self.draining = True
        self.trials.close()  # a stuck trial must not hold up the stop
        if self.nc is not None and self.nc.is_connected:
            await self._heartbeat()
        await Drain(self.sessions, self.session_tasks, 0).run()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=10)
        for task in (self._heartbeat_task, self._alive_task):
            if task is not None:
                task.cancel()
        await self.play_loop.close()
        if self.deletion_cost is not None:
            await self.deletion_cost.close()
        if self.nc is not None:
            await self.nc.drain()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def _on_tick(self, lateness_s: float) -> None:
        """Each realtime step's lateness, for admission by measured load."""
        self.admission.observe_tick(lateness_s)

    # ---------------------------------------------------------------- capacity announcements
    def load(self) -> WorkerHeartbeat:
        active = len(self.sessions)
        accepting, _, retry = self.admission.verdict(active)
        accepting = accepting and not self.draining
        metrics.SESSIONS_ACTIVE.set(active)
        if self.deletion_cost is not None:
            self.deletion_cost.want(active)
        metrics.ACCEPTING.set(1 if accepting else 0)
        return WorkerHeartbeat(
            worker_id=self.settings.worker_id, capacity=self.settings.worker_capacity, active=active,
            draining=self.draining, sent_at=datetime.now(UTC), started_at=self.started_at,
            recording=sorted({e for p in self.publishers() for e in p.open_episodes}),
            accepting=accepting, lateness_ms=round(self.admission.lateness_p95 * 1000, 2),
            cpu=round(self.admission.cpu_share, 3), retry_after_s=retry,
        )

    def publishers(self) -> list[RecordingPublisher]:
        """Every recording open here: each session's, and each game's agents' (an AI's seat has no session)."""
        own = [s.publisher for s in self.sessions.values() if isinstance(s, PlaySession)]
        return own + [p for game in self.games.values() for p in game.publishers()]

    async def _heartbeat(self) -> None:
        assert self.nc is not None
        await self.nc.publish(self.subjects.heartbeat, metrics.observed(self.load()).model_dump_json().encode())

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                self.admission.sample()
                await self._heartbeat()
                for publisher in self.publishers():
                    publisher.flush_if_stale()
            except Exception:
                log.exception("heartbeat failed")
            await asyncio.sleep(self.settings.heartbeat_interval)

    async def _alive_loop(self) -> None:
        """Tell each session's gateway that we still hold it: a gateway that stops hearing this tells its client."""
        assert self.nc is not None
        while True:
            try:
                if self.nc.is_connected:
                    for sid in list(self.sessions):
                        await self.nc.publish(self.subjects.session_out(sid, "alive"), b"")
            except Exception:
                log.exception("liveness signal failed")
            await asyncio.sleep(self.settings.alive_interval)

    async def _on_announce(self, msg: Msg) -> None:
        await self._heartbeat()

    async def _resync_sessions(self) -> None:
        """Events sent while we were cut off from NATS are lost: each session tells its client its state again."""
        for session in self.sessions.values():
            session.inputs.put_nowait(Resync(type="resync"))

    # ---------------------------------------------------------------- trials of a spec's environments
    async def _on_trial(self, msg: Msg) -> None:
        """Each trial in a task of its own: NATS runs a subscription's callbacks one after another."""
        task = asyncio.create_task(self._trial(msg))
        self.tasks.add(task)  # (stop() waits for these too)
        task.add_done_callback(self.tasks.discard)

    async def _trial(self, msg: Msg) -> None:
        try:
            request = TrialRequest.model_validate_json(msg.data)
        except ValidationError as err:
            await msg.respond(trial.bad_request(msg.data, err).model_dump_json().encode())
            return
        try:
            reply = await self.trials.run(request.environment, request.timeout_s)
            log.info("trial of %s (%s): %s in %s s", request.environment.id, request.environment.env_id,
                     "ok" if reply.ok else [p.field for p in reply.problems], reply.seconds)
            await msg.respond(reply.model_dump_json().encode())
        except Exception:  # the gateway sees no answer (a 503 asking to retry)
            log.exception("trial of %s failed", request.environment.env_id)

    # ---------------------------------------------------------------- sessions
    async def _reply(self, msg: Msg, accepted: bool, reason: str = "") -> None:
        """The answer carries the load right after it (accepting, retry_after_s), so the gateway need not guess."""
        reply = OpenSessionReply(accepted=accepted, worker_id=self.settings.worker_id, reason=reason, load=self.load())
        await msg.respond(reply.model_dump_json().encode())

    async def _on_open(self, msg: Msg) -> None:
        try:
            req = OpenSession.model_validate_json(msg.data)
        except ValidationError as err:
            await self._reply(msg, False, f"Expected an OpenSession request: {err}")
            return
        if self.draining:
            await self._reply(msg, False, "draining")
            return
        accepts, reason, _ = self.admission.verdict(len(self.sessions))
        if not accepts:
            log.info("refused session %s: %s (%d sessions, tick lateness p95 %.1f ms, CPU %.2f of a core)",
                     req.session_id, reason, len(self.sessions), self.admission.lateness_p95 * 1000,
                     self.admission.cpu_share)
            await self._reply(msg, False, reason)
            return
        self.admission.admitted()
        session = self._create_session(req)
        self.sessions[req.session_id] = session
        assert self.nc is not None  # start() connects before subscribing this callback
        # Subscribe before accepting: the gateway relays input as soon as it has the reply, and core NATS drops
        # messages nobody is subscribed to yet.
        sub = await self.nc.subscribe(self.subjects.session_input(req.session_id), cb=self._input_handler(session))
        await self._reply(msg, True)
        await self._heartbeat()
        task = asyncio.create_task(self._run_session(session, sub))
        self.session_tasks.add(task)
        task.add_done_callback(self.session_tasks.discard)

    async def _on_attach(self, msg: Msg) -> None:
        try:
            req = AttachSession.model_validate_json(msg.data)
        except ValidationError as err:
            await msg.respond(AttachSessionReply(attached=False, reason=f"Expected an AttachSession: {err}")
                              .model_dump_json().encode())
            return
        session = self.sessions.get(req.session_id)
        reason = ("unknown" if session is None or session.over else
                  "not_yours" if session.open.participant_id != req.participant_id else "")
        await msg.respond(AttachSessionReply(attached=not reason, reason=reason).model_dump_json().encode())
        if session is not None and not reason:
            log.info("session %s: attached again", req.session_id)
            session.link.heard()
            session.inputs.put_nowait(Reattached())

    def _publisher(self) -> RecordingPublisher:
        assert self.nc is not None
        s = self.settings
        return RecordingPublisher(self.nc.jetstream(), self.subjects, max_steps=s.chunk_max_steps,
                                  max_age=s.chunk_max_age, max_payload=self.nc.max_payload)

    def _create_session(self, req: OpenSession) -> PlaySession | SeatSession:
        assert self.nc is not None
        nc, sid, s = self.nc, req.session_id, self.settings
        frame_subject, event_subject = self.subjects.session_out(sid, "frame"), self.subjects.session_out(sid, "event")

        async def send_frame(data: bytes) -> None:
            await nc.publish(frame_subject, data)

        async def send_event(event: object) -> None:
            await nc.publish(event_subject, event.model_dump_json().encode())  # type: ignore[attr-defined]

        def link(session: PlaySession | SeatSession) -> ClientLink:
            return ClientLink(session, s.client_timeout, s.resume_grace,  # type: ignore[arg-type]
                              lambda: nc.is_connected, self.link_watch)

        if req.game is not None:
            game = self.games.get(req.game.game_id)
            if game is None:
                game = self.games[req.game.game_id] = Game(
                    req, s.worker_id, self.executor, nc, self.subjects, self.trials.access, self._publisher,
                    lambda g: self.games.pop(g.id, None))
            return SeatSession(req, game, send_frame, send_event, link)
        return PlaySession(req, s.worker_id, self.executor, self._publisher(), send_frame, send_event, link,
                           self.play_loop)

    @staticmethod
    def _input_handler(session: PlaySession) -> Callable[[Msg], Awaitable[None]]:
        async def on_input(msg: Msg) -> None:
            session.link.heard()
            if msg.data == _KEEPALIVE:  # most of what a session hears: no parsing needed
                return
            try:
                message = gateway_input.validate_json(msg.data)
            except ValidationError as err:  # the gateway validated it; a mismatch means mixed versions
                log.warning("session %s: dropped invalid input from gateway: %s", session.open.session_id, err)
                return
            if isinstance(message, CloseSession):
                session.over = True  # at once: a resume asked for meanwhile must not attach to a session ending
            if isinstance(message, Detach):
                session.link.detached()
            elif not isinstance(message, Keepalive):
                session.inputs.put_nowait(message)

        return on_input

    async def _run_session(self, session: PlaySession, sub: Subscription) -> None:
        sid = session.open.session_id
        try:
            await session.run()
        except Exception:
            log.exception("session %s failed", sid)
        finally:
            await sub.unsubscribe()
            self.sessions.pop(sid, None)
            await self._heartbeat()
