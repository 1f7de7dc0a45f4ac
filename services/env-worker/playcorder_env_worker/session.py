"""One play session: its episodes' lifecycle and state, frames out to the client, steps to the recorder.

An episode starts paused (see SessionState); a session paused past its expiry ends and its episode is abandoned.
On a draining worker (draining.py) a session starts no new episode: once it has none it ends (worker_draining),
and at the drain's end its episode is interrupted.
Control messages are handled in handlers.py, stepping is paced in pacing.py, whether a client is still there is
watched in liveness.py, and the environment is called through the thread pool (env_calls.py).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from playcorder import frames
from playcorder.gym_spaces import space_spec
from playcorder.messages import (
    WORKER_DRAINING,
    CloseSession,
    EndState,
    EpisodeBegin,
    EpisodeEnd,
    EpisodeEnded,
    EpisodeFinished,
    EpisodeStarted,
    ErrorEvent,
    Notice,
    OpenSession,
    SessionEnded,
    SessionReady,
    SessionState,
    StateChanged,
    StatsEvent,
    WorkerInput,
)
from playcorder.spaces import zeros

from .controls import Controls
from .draining import Draining, Interrupt, draining
from .env_calls import EnvCalls
from .episode import Episode
from .handlers import HANDLERS, Handler
from .liveness import ClientLink, ClientLost, Reattached, client_lost, reattached
from .mapping import touch_controls
from .metrics import STEPS
from .pacing import Pacer
from .play_loop import PlayLoop, StepResult
from .publisher import RecordingPublisher
from .statistics import EpisodeStatistics, Factory, load_custom

log = logging.getLogger(__name__)
_HANDLERS: dict[type[Any], Handler] = {**HANDLERS, ClientLost: client_lost, Reattached: reattached,
                                       Draining: draining}
STATS_INTERVAL = 1.0  # seconds between an episode's stats events
MAX_PENDING_INPUTS = 1000  # client messages waiting for the session; the gateway's WS_MAX_RATE keeps play far below
SessionInput = WorkerInput | ClientLost | Reattached | Draining | Interrupt
_OWN = (ClientLost, Reattached, Draining, Interrupt, CloseSession)  # never dropped


class InputQueue(asyncio.Queue[SessionInput]):
    """The session's inbox: client messages beyond `limit` pending are dropped (logged); the worker's own
    (a lost or returning client, the drain, the close that ends the session) always get in."""

    def __init__(self, session_id: str, limit: int = MAX_PENDING_INPUTS) -> None:
        super().__init__()
        self.session_id, self.limit, self.dropped = session_id, limit, 0

    def put_nowait(self, item: SessionInput) -> None:
        if self.qsize() >= self.limit and not isinstance(item, _OWN):
            self.dropped += 1
            if self.dropped == 1 or self.dropped % self.limit == 0:  # a flood logs a line per `limit` dropped
                log.warning("session %s: dropped a %s message, %d client messages already pending (%d dropped)",
                            self.session_id, getattr(item, "type", type(item).__name__), self.qsize(), self.dropped)
            return
        super().put_nowait(item)


class PlaySession:
    def __init__(
        self, open_msg: OpenSession, worker_id: str, executor: Executor, publisher: RecordingPublisher,
        send_frame: Callable[[bytes], Any], send_event: Callable[[Any], Any], link: Callable[[PlaySession], ClientLink],
        play_loop: PlayLoop,
    ) -> None:
        self.open, self.worker_id, self.executor = open_msg, worker_id, executor
        self.spec = open_msg.environment
        self.publisher = publisher
        self.send_frame, self.send_event = send_frame, send_event
        self.inputs = InputQueue(open_msg.session_id)
        self.env: EnvCalls | None = None
        self.controls: Controls | None = None
        self.episode: Episode | None = None
        self.state, self.reason = SessionState.IDLE, ""
        self.fps, self.quality = self.spec.fps, self.spec.render.jpeg_quality
        self.camera: str | None = None
        self.episodes_started = 0
        self.obs_spec: dict[str, Any] = {}
        self.act_spec: dict[str, Any] = {}
        self.lock = asyncio.Lock()  # one env operation at a time: ticks and control messages interleave
        self.loop = asyncio.get_running_loop()
        self.pacer = Pacer(self, play_loop)
        self.link = link(self)
        self.ready: SessionReady | None = None  # the `session` event, sent again when a client resumes
        self.over = False  # ending: no longer resumable
        self.finished: EpisodeFinished | None = None  # while awaiting the participant's answer
        self.notice: Notice | None = None  # the worker is draining: no new episode (draining.py)
        self.noop: Any = None  # the action with nothing held (active playtime counts others)
        self.custom_stats: list[tuple[str, Factory]] = []
        self.stats: EpisodeStatistics | None = None
        self.stats_sent = 0.0  # loop time of the last stats event

    # ---------------------------------------------------------------- session
    async def run(self) -> None:
        """Runs until the client closes or the session expires; a failure reaches the client as an error event."""
        try:
            self.env = await EnvCalls.make(self.spec, self.executor)
        except Exception as err:
            await self.send_event(ErrorEvent(code="env_failed", message=str(err)))
            await self.publisher.close()
            return
        tasks: list[asyncio.Task[None]] = []
        try:
            await self._open(self.env)
            tasks = [asyncio.create_task(c) for c in (self.pacer.ticker(), self.pacer.watchdog(), self.link.watch())]
            reader = asyncio.create_task(self._read_inputs())
            done, _ = await asyncio.wait([reader, *tasks], return_when=asyncio.FIRST_COMPLETED)
            tasks.append(reader)
            for t in done:
                t.result()
        except Exception as err:
            log.exception("session %s failed", self.open.session_id)
            await self.send_event(ErrorEvent(code="session_failed", message=f"{type(err).__name__}: {err}"))
            if self.episode is not None:
                self._publish_end("interrupted", "session_failed")
        finally:
            self.over = True
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.publisher.close()
            await self.env.close()

    async def _open(self, env: EnvCalls) -> None:
        prepared = env.prepared
        input_map = self.spec.input_map or prepared.default_input_map
        self.controls = Controls(input_map, prepared.env.action_space)
        self.noop = Controls(input_map, prepared.env.action_space).action(0.0)
        # one missing or broken: play goes on without it (the study's trial refuses a spec naming one)
        self.custom_stats, failures = await self.loop.run_in_executor(self.executor, load_custom, self.spec)
        for message in failures:
            await self.send_event(ErrorEvent(code="statistic_failed", message=message))
        self.obs_spec = space_spec(prepared.env.observation_space)
        self.act_spec = space_spec(prepared.env.action_space)
        if self.spec.render.camera is not None:
            await env.set_camera(self.spec.render.camera)
            self.camera = str(self.spec.render.camera)
        self.ready = SessionReady(
            session_id=self.open.session_id, worker_id=self.worker_id, env=self.spec.id, env_id=self.spec.env_id,
            family=prepared.family, mode=self.spec.mode, step_while_held=self.spec.step_while_held, fps=self.fps,
            instructions=self.spec.instructions, action_space=self.act_spec, observation_space=self.obs_spec,
            input_map=input_map.model_dump(), touch_controls=touch_controls(input_map), cameras=prepared.cameras,
            jpeg_quality=self.quality,
        )
        await self.send_event(self.ready)
        await self.start_episode()

    async def _read_inputs(self) -> None:
        while True:
            msg = await self.inputs.get()
            async with self.lock:
                if isinstance(msg, CloseSession):
                    self.over = True
                    await self.abandon("disconnected")
                    return
                if isinstance(msg, Interrupt):
                    await self.interrupt()
                    return
                await _HANDLERS[type(msg)](self, msg)
                if self.notice is not None and self.episode is None:  # its last episode on this worker is over
                    self.over = True
                    await self.send_event(SessionEnded(reason=WORKER_DRAINING))
                    return

    async def interrupt(self) -> None:
        """The worker stops: the episode ends interrupted after its last step; the gateway moves the client on."""
        self.over = True
        if self.episode is not None:
            await self._end("interrupted", WORKER_DRAINING)
        await self.send_event(SessionEnded(reason=WORKER_DRAINING))

    # ---------------------------------------------------------------- state and events
    async def error(self, code: str, message: str) -> None:
        await self.send_event(ErrorEvent(code=code, message=message))

    async def announce(self) -> None:
        await self.send_event(StateChanged(state=self.state, reason=self.reason, fps=self.fps,
                                           jpeg_quality=self.quality, camera=self.camera))

    async def set_state(self, state: SessionState, reason: str) -> None:
        now = self.loop.time()
        if self.episode is not None:
            (self.episode.run if state == SessionState.RUNNING else self.episode.stop)(now)
        self.pacer.state_changed(state, now)
        self.state, self.reason = state, reason
        await self.announce()

    # ---------------------------------------------------------------- episodes
    async def start_episode(self) -> None:
        """A new episode, unless the worker is draining (the session then ends, see _read_inputs)."""
        assert self.env is not None and self.controls is not None
        if self.notice is not None:
            return
        seed = secrets.randbits(31)
        obs, info, image = await self.env.reset(seed, self.quality)
        ep = Episode(index=self.episodes_started, seed=seed, observation=obs, info=info, image=image)
        self.episode, self.episodes_started = ep, self.episodes_started + 1
        self.stats, self.stats_sent = EpisodeStatistics(self.fps, self.noop, self.custom_stats, self.spec), 0.0
        self.controls.reset()
        self.publisher.begin(EpisodeBegin(
            episode_id=ep.id, session_id=self.open.session_id, study_id=self.open.study_id,
            participant_id=self.open.participant_id, env=self.spec.id, env_id=self.spec.env_id,
            worker_id=self.worker_id, seed=seed, started_at=datetime.now(UTC),
            observation_spec=self.obs_spec, action_spec=self.act_spec, study_version=self.open.study_version,
            campaign_id=self.open.campaign_id, condition=self.open.condition,
        ))
        await self.send_event(self.episode_started())
        await self.set_state(SessionState.PAUSED, "start")
        await self.send_frame(frames.pack(0, 0.0, 0.0, frames.IS_FIRST, image))

    def episode_started(self) -> EpisodeStarted:
        assert self.episode is not None
        return EpisodeStarted(episode_id=self.episode.id, index=self.episode.index)

    async def show_current(self) -> None:
        assert self.env is not None
        if self.episode is not None:
            image = await self.env.render(self.quality)
            await self.send_frame(frames.pack(self.episode.step, 0.0, self.episode.total_reward, 0, image))

    async def step(self, action: Any) -> None:
        """One step now (turn-based input, on its own executor hop); realtime ticks come from the play loop."""
        assert self.env is not None
        await self.stepped(action, await self.env.step(action, self.quality))
        STEPS.inc()

    async def stepped(self, action: Any, result: StepResult) -> None:
        """What follows a step of the environment: the recorded step, the frame shown, an episode's end."""
        ep, controls = self.episode, self.controls
        assert ep is not None and controls is not None
        obs, reward, terminated, truncated, info, image = result
        self.publisher.add(ep.transition(action, reward, controls.raw(), obs, info, image))
        await self._count(action, reward, obs, info)
        done = terminated or truncated
        flags = (frames.IS_LAST if done else 0) | (frames.IS_TERMINAL if terminated else 0)
        await self.send_frame(frames.pack(ep.step, reward, ep.total_reward, flags, image))
        if done:
            limit = self.spec.max_episode_steps
            at_limit = limit is not None and ep.step >= limit
            reason = "terminated" if terminated else "step_limit" if at_limit else "truncated"
            await self._finish_by_env(terminated, reason)

    async def _count(self, action: Any, reward: float, obs: Any, info: dict[str, Any]) -> None:
        """The step in the episode's statistics; about once a second the client is told them."""
        stats, ep = self.stats, self.episode
        assert stats is not None and ep is not None
        stats.update(action, reward, obs, info)
        while stats.failures:
            await self.send_event(ErrorEvent(code="statistic_failed", message=stats.failures.pop(0)))
        now = self.loop.time()
        if now - self.stats_sent >= STATS_INTERVAL:
            self.stats_sent = now
            await self.send_event(StatsEvent(episode_id=ep.id, values=stats.values(ep.running_s(now))))

    def _record_last(self, terminated: bool) -> None:
        assert self.episode is not None
        last = self.episode.last(zeros(self.act_spec), terminated)
        if last is not None:
            self.publisher.add(last)

    async def _finish_by_env(self, terminated: bool, reason: str) -> None:
        """The environment ended the episode: keep the final observation, then ask the participant."""
        ep = self.episode
        assert ep is not None
        self._record_last(terminated)
        self.finished = EpisodeFinished(episode_id=ep.id, reason=reason, num_steps=ep.step,
                                        total_reward=ep.total_reward)
        await self.set_state(SessionState.AWAITING_SAVE, reason)
        await self.send_event(self.finished)

    async def decide(self, save: bool) -> None:
        """The participant's answer to a finished episode."""
        assert self.finished is not None
        await self._end("completed" if save else "rejected", self.finished.reason if save else "rejected")

    async def finish_by_participant(self, state: EndState, reason: str) -> None:
        if self.episode is None:
            return
        if self.state == SessionState.AWAITING_SAVE:  # finished but unanswered: the participant moved on without it
            state = "rejected"
        await self._end(state, reason)

    async def abandon(self, reason: str) -> None:
        if self.episode is not None:
            await self._end("abandoned", reason)

    async def _end(self, state: EndState, reason: str) -> None:
        ep = self.episode
        if ep is None:
            return
        self._record_last(terminated=False)  # stopped mid-way: truncated at its current observation
        ep.stop(self.loop.time())
        values = self._publish_end(state, reason)
        self.episode, self.finished = None, None
        await self.send_event(StatsEvent(episode_id=ep.id, values=values))
        await self.send_event(EpisodeEnded(episode_id=ep.id, state=state, reason=reason, num_steps=ep.step,
                                           total_reward=ep.total_reward))
        await self.set_state(SessionState.IDLE, state)

    def _publish_end(self, state: EndState, reason: str) -> dict[str, float]:
        """The episode's end to the recorder, with its statistics (returned)."""
        ep = self.episode
        assert ep is not None
        running_s = ep.running_s(self.loop.time())  # a failed session ends it still running
        values = self.stats.values(running_s) if self.stats is not None else {}
        self.publisher.end(EpisodeEnd(
            episode_id=ep.id, state=state, reason=reason, num_steps=ep.step, num_chunks=0,
            total_reward=ep.total_reward, active_s=round(running_s, 3), ended_at=datetime.now(UTC), stats=values,
        ))
        return values
