"""One play session: the episode lifecycle, realtime or turn-based stepping, frames out, steps to the recorder.

States: paused (an episode starts paused; Escape, idle time), running, awaiting_save (the environment ended the
episode; the participant keeps it or not), idle (no episode). A session paused past its expiry ends and its
episode is abandoned. env.step, rendering and JPEG encoding run in the worker's thread pool.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from concurrent.futures import Executor
from datetime import datetime, timezone
from typing import Any, Callable

from playcorder import frames
from playcorder.messages import (
    ActionInput, CancelEpisode, CloseSession, EndEpisode, EpisodeBegin, EpisodeEnd, EpisodeEnded, EpisodeFinished,
    EpisodeStarted, ErrorEvent, InputMsg, NewEpisode, OpenSession, Pause, Resume, Resync, SaveEpisode, SessionEnded,
    SessionReady, SetCamera, SetFps, SetQuality, StateChanged, WorkerInput,
)
from playcorder.spaces import space_spec, zeros

from .controls import Controls
from .envs import encode_jpeg
from .episode import Episode
from .families import PreparedEnv, make_env
from .mapping import touch_controls
from .publisher import RecordingPublisher

log = logging.getLogger(__name__)


class PlaySession:
    def __init__(
        self, open_msg: OpenSession, worker_id: str, executor: Executor, publisher: RecordingPublisher,
        send_frame: Callable[[bytes], Any], send_event: Callable[[Any], Any],
    ) -> None:
        self.open, self.worker_id, self.executor = open_msg, worker_id, executor
        self.spec = open_msg.environment
        self.publisher = publisher
        self.send_frame, self.send_event = send_frame, send_event
        self.inputs: asyncio.Queue[WorkerInput] = asyncio.Queue()
        self.prepared: PreparedEnv | None = None
        self.controls: Controls | None = None
        self.episode: Episode | None = None
        self.state, self.reason = "idle", ""
        self.fps, self.quality = self.spec.fps, self.spec.render.jpeg_quality
        self.camera: str | None = None
        self.episodes_started = 0
        self.obs_spec: dict[str, Any] = {}
        self.act_spec: dict[str, Any] = {}
        self.lock = asyncio.Lock()  # one env operation at a time: ticks and control messages interleave
        self.loop = asyncio.get_running_loop()
        self.last_input = self.paused_since = self.loop.time()
        self.last_tick = self.loop.time()
        self.finished: EpisodeFinished | None = None  # while awaiting the participant's answer
        self._wake = asyncio.Event()

    async def _off_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.loop.run_in_executor(self.executor, fn, *args)

    # ---------------------------------------------------------------- session
    async def run(self) -> None:
        """Runs until the client closes or the session expires; a failure reaches the client as an error event."""
        try:
            self.prepared = await self._off_loop(make_env, self.spec)
        except Exception as err:
            await self.send_event(ErrorEvent(code="env_failed", message=str(err)))
            await self.publisher.close()
            return
        tasks: list[asyncio.Task[None]] = []
        try:
            await self._open()
            tasks = [asyncio.create_task(self._ticker()), asyncio.create_task(self._watchdog())]
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
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.publisher.close()
            await self._off_loop(self.prepared.close)

    async def _open(self) -> None:
        prepared = self.prepared
        assert prepared is not None
        input_map = self.spec.input_map or prepared.default_input_map
        self.controls = Controls(input_map, prepared.env.action_space)
        self.obs_spec = space_spec(prepared.env.observation_space)
        self.act_spec = space_spec(prepared.env.action_space)
        if self.spec.render.camera is not None:
            await self._off_loop(prepared.set_camera, self.spec.render.camera)
            self.camera = str(self.spec.render.camera)
        await self.send_event(SessionReady(
            session_id=self.open.session_id, worker_id=self.worker_id, env=self.spec.id, env_id=self.spec.env_id,
            family=prepared.family, mode=self.spec.mode, step_while_held=self.spec.step_while_held, fps=self.fps, instructions=self.spec.instructions,
            action_space=self.act_spec, observation_space=self.obs_spec, input_map=input_map.model_dump(),
            touch_controls=touch_controls(input_map), cameras=prepared.cameras, jpeg_quality=self.quality,
        ))
        await self._start_episode()

    async def _read_inputs(self) -> None:
        while True:
            msg = await self.inputs.get()
            async with self.lock:
                if isinstance(msg, CloseSession):
                    await self._abandon("disconnected")
                    return
                await self._handle(msg)

    # ---------------------------------------------------------------- control messages
    async def _handle(self, msg: WorkerInput) -> None:  # noqa: C901 - one branch per message type
        assert self.controls is not None and self.prepared is not None
        now = self.loop.time()
        if isinstance(msg, InputMsg):
            self.last_input = now
            pressed = self.controls.update(msg)
            if self.state == "paused" and pressed:
                await self._set_state("running", "input")
            if self.state == "running" and pressed and self.spec.mode == "turn_based":
                await self._step(self.controls.action(0.0))
        elif isinstance(msg, ActionInput):
            self.last_input = now
            if self.episode is None or self.state == "awaiting_save":
                await self._error("no_episode", f"Expected new_episode or save in state {self.state}, got action")
                return
            try:
                action = self.controls.set_explicit(msg.action)
            except ValueError as err:
                await self._error("bad_action", str(err))
                return
            if msg.keys:
                self.controls.state = self.controls.state.model_copy(update={"keys": msg.keys})
            if self.state == "paused":
                await self._set_state("running", "input")
            if self.spec.mode == "turn_based":
                await self._step(action)
        elif isinstance(msg, Pause):
            if self.state == "running":
                await self._set_state("paused", "participant")
        elif isinstance(msg, Resume):
            if self.state == "paused":
                self.last_input = now
                await self._set_state("running", "participant")
        elif isinstance(msg, NewEpisode):
            if self.state == "awaiting_save":
                await self._error("awaiting_save", "Expected save (true or false) for the finished episode, got new_episode")
                return
            await self._finish_by_participant("cancelled", "restarted")
            await self._start_episode()
        elif isinstance(msg, CancelEpisode):
            await self._finish_by_participant("cancelled", "cancelled")
        elif isinstance(msg, EndEpisode):
            if self.state == "awaiting_save":
                await self._decide(msg.save)
            else:
                await self._finish_by_participant("completed" if msg.save else "cancelled",
                                                  "ended_by_participant" if msg.save else "cancelled")
        elif isinstance(msg, SaveEpisode):
            if self.state != "awaiting_save":
                await self._error("not_finished", f"Expected save only after an episode finished, state is {self.state}")
                return
            await self._decide(msg.save)
        elif isinstance(msg, SetFps):
            self.fps = msg.fps
            await self._announce()
        elif isinstance(msg, SetQuality):
            self.quality = msg.jpeg_quality
            await self._announce()
        elif isinstance(msg, Resync):
            await self._announce()
            if self.finished is not None:
                await self.send_event(self.finished)
        elif isinstance(msg, SetCamera):
            try:
                await self._off_loop(self.prepared.set_camera, msg.camera)
            except ValueError as err:
                await self._error("bad_camera", str(err))
                return
            self.camera = str(msg.camera)
            await self._announce()
            await self._show_current()

    async def _error(self, code: str, message: str) -> None:
        await self.send_event(ErrorEvent(code=code, message=message))

    async def _announce(self) -> None:
        await self.send_event(StateChanged(state=self.state, reason=self.reason, fps=self.fps, jpeg_quality=self.quality,  # type: ignore[arg-type]
                                           camera=self.camera))

    async def _set_state(self, state: str, reason: str) -> None:
        now = self.loop.time()
        if self.episode is not None:
            (self.episode.run if state == "running" else self.episode.stop)(now)
        if state != "running":
            self.paused_since = now
        self.state, self.reason = state, reason
        if state == "running":
            self.last_tick = now
            self._wake.set()
        await self._announce()

    # ---------------------------------------------------------------- episodes
    def _render(self) -> bytes:
        """The frame shown, as JPEG at the current quality."""
        assert self.prepared is not None
        return encode_jpeg(self.prepared.render(), self.quality)

    def _reset(self, seed: int) -> tuple[Any, dict[str, Any], bytes]:
        assert self.prepared is not None
        obs, info = self.prepared.env.reset(seed=seed)
        return obs, info, self._render()

    async def _start_episode(self) -> None:
        assert self.controls is not None
        seed = secrets.randbits(31)
        obs, info, image = await self._off_loop(self._reset, seed)
        ep = Episode(index=self.episodes_started, seed=seed, observation=obs, info=info, image=image)
        self.episode, self.episodes_started = ep, self.episodes_started + 1
        self.controls.reset()
        self.publisher.begin(EpisodeBegin(
            episode_id=ep.id, session_id=self.open.session_id, study_id=self.open.study_id,
            participant_id=self.open.participant_id, env=self.spec.id, env_id=self.spec.env_id,
            worker_id=self.worker_id, seed=seed, started_at=datetime.now(timezone.utc),
            observation_spec=self.obs_spec, action_spec=self.act_spec,
        ))
        await self.send_event(EpisodeStarted(episode_id=ep.id, index=ep.index))
        await self._set_state("paused", "start")
        await self.send_frame(frames.pack(0, 0.0, 0.0, frames.IS_FIRST, image))

    async def _show_current(self) -> None:
        if self.episode is not None:
            image = await self._off_loop(self._render)
            await self.send_frame(frames.pack(self.episode.step, 0.0, self.episode.total_reward, 0, image))

    def _env_step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any], bytes]:
        assert self.prepared is not None
        obs, reward, terminated, truncated, info = self.prepared.env.step(action)
        return obs, float(reward), bool(terminated), bool(truncated), info, self._render()

    async def _step(self, action: Any) -> None:
        ep, controls = self.episode, self.controls
        assert ep is not None and controls is not None
        obs, reward, terminated, truncated, info, image = await self._off_loop(self._env_step, action)
        self.publisher.add(ep.transition(action, reward, controls.raw(), obs, info, image))
        done = terminated or truncated
        flags = (frames.IS_LAST if done else 0) | (frames.IS_TERMINAL if terminated else 0)
        await self.send_frame(frames.pack(ep.step, reward, ep.total_reward, flags, image))
        if done:
            limit = self.spec.max_episode_steps
            reason = "terminated" if terminated else ("step_limit" if limit is not None and ep.step >= limit else "truncated")
            await self._finish_by_env(terminated, reason)

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
        self.finished = EpisodeFinished(episode_id=ep.id, reason=reason, num_steps=ep.step, total_reward=ep.total_reward)
        await self._set_state("awaiting_save", reason)
        await self.send_event(self.finished)

    async def _decide(self, save: bool) -> None:
        assert self.finished is not None
        await self._end("completed" if save else "rejected", self.finished.reason if save else "rejected")

    async def _finish_by_participant(self, state: str, reason: str) -> None:
        if self.episode is None:
            return
        if self.state == "awaiting_save":  # finished but unanswered: the participant moved on without keeping it
            state = "rejected"
        await self._end(state, reason)

    async def _abandon(self, reason: str) -> None:
        if self.episode is not None:
            await self._end("abandoned", reason)

    async def _end(self, state: str, reason: str) -> None:
        ep = self.episode
        if ep is None:
            return
        self._record_last(terminated=False)  # stopped mid-way: truncated at its current observation
        ep.stop(self.loop.time())
        self._publish_end(state, reason)
        self.episode, self.finished = None, None
        await self.send_event(EpisodeEnded(episode_id=ep.id, state=state, reason=reason, num_steps=ep.step, total_reward=ep.total_reward))
        await self._set_state("idle", state)

    def _publish_end(self, state: str, reason: str) -> None:
        ep = self.episode
        assert ep is not None
        self.publisher.end(EpisodeEnd(
            episode_id=ep.id, state=state, reason=reason, num_steps=ep.step, num_chunks=0,  # type: ignore[arg-type]
            total_reward=ep.total_reward, active_s=round(ep.active_s, 3), ended_at=datetime.now(timezone.utc),
        ))

    # ---------------------------------------------------------------- pacing
    def _ticking(self) -> bool:
        assert self.controls is not None
        if self.state != "running":
            return False
        return self.spec.mode == "realtime" or (self.spec.step_while_held and self.controls.held())

    async def _ticker(self) -> None:
        """Steps at fps while running (realtime, or turn-based while held); late ticks are skipped, not bunched."""
        assert self.controls is not None
        next_t = self.loop.time()
        while True:
            if not self._ticking():
                self._wake.clear()
                await self._wake.wait()
                next_t = self.loop.time() + (0 if self.spec.mode == "realtime" else 1.0 / self.fps)
            now = self.loop.time()
            if next_t < now - 1.0 / self.fps:
                next_t = now
            await asyncio.sleep(max(0.0, next_t - now))
            next_t += 1.0 / self.fps
            async with self.lock:
                if self._ticking():
                    now = self.loop.time()
                    dt, self.last_tick = now - self.last_tick, now
                    await self._step(self.controls.action(min(dt, 0.25)))

    async def _watchdog(self) -> None:
        """Auto-pause after idle time; end the session once paused longer than its expiry."""
        period = max(0.05, min(self.spec.idle_pause_s, self.spec.pause_expiry_s) / 4)
        while True:
            await asyncio.sleep(period)
            now = self.loop.time()
            async with self.lock:
                assert self.controls is not None
                idle = now - self.last_input > self.spec.idle_pause_s and not self.controls.input_held()
                if self.state == "running" and idle:
                    await self._set_state("paused", "idle")
                elif self.state in ("paused", "awaiting_save", "idle") and now - max(self.paused_since, self.last_input) > self.spec.pause_expiry_s:
                    await self._abandon("expired")
                    await self.send_event(SessionEnded(reason="expired"))
                    return
