"""One play session: a Gymnasium environment stepped on client input, frames out, steps to the recorder.

RLDS alignment: step i holds o_i, the action a_i the participant took at o_i, and its reward r_i; the last step
holds the final observation with a placeholder action. env.step, rendering and JPEG encoding run in the pool.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import gymnasium as gym

from playcorder import frames
from playcorder.messages import (
    ActionInput, CloseSession, EndEpisode, EpisodeBegin, EpisodeEnd, EpisodeEnded, EpisodeStarted, ErrorEvent,
    NewEpisode, OpenSession, SessionReady, WorkerInput,
)
from playcorder.records import Step
from playcorder.spaces import space_spec

from .envs import encode_jpeg, make_env, placeholder_action, to_action
from .publisher import RecordingPublisher

log = logging.getLogger(__name__)


@dataclass
class _Episode:
    id: str
    index: int
    seed: int
    observation: Any
    info: dict[str, Any]
    image: bytes
    step: int = 0
    total_reward: float = 0.0
    closed: bool = False  # the last step (final observation) has been recorded


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
        self.env: gym.Env | None = None
        self.episode: _Episode | None = None
        self.episodes_started = 0
        self.obs_spec: dict[str, Any] = {}
        self.act_spec: dict[str, Any] = {}

    async def _off_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    # ---------------------------------------------------------------- lifecycle
    async def run(self) -> None:
        """Runs until the client closes; any failure reaches the client as a final error event."""
        try:
            self.env = await self._off_loop(make_env, self.spec)
        except Exception as err:
            await self.send_event(ErrorEvent(code="env_failed", message=str(err)))
            return
        try:
            await self._serve()
        except Exception as err:
            log.exception("session %s failed", self.open.session_id)
            await self.send_event(ErrorEvent(code="session_failed", message=f"{type(err).__name__}: {err}"))
            if self.episode is not None:
                self.publisher.end(EpisodeEnd(
                    episode_id=self.episode.id, state="interrupted", reason="session_failed", num_steps=self.episode.step,
                    num_chunks=0, total_reward=self.episode.total_reward, ended_at=datetime.now(timezone.utc)))
        finally:
            await self.publisher.close()
            await self._off_loop(self.env.close)

    async def _serve(self) -> None:
        assert self.env is not None
        self.obs_spec = space_spec(self.env.observation_space)
        self.act_spec = space_spec(self.env.action_space)
        await self.send_event(
            SessionReady(
                session_id=self.open.session_id, worker_id=self.worker_id, env=self.spec.id,
                env_id=self.spec.env_id, instructions=self.spec.instructions,
                action_space=self.act_spec, observation_space=self.obs_spec,
            )
        )
        await self._start_episode()
        while True:
            msg = await self.inputs.get()
            if isinstance(msg, CloseSession):
                await self._end_episode("abandoned", "disconnected")
                return
            await self._handle(msg)

    async def _handle(self, msg: WorkerInput) -> None:
        if isinstance(msg, ActionInput):
            if self.episode is None:
                await self.send_event(ErrorEvent(code="no_episode", message="Expected new_episode after an episode ended, got action"))
                return
            try:
                action = to_action(self.env.action_space, msg.action)  # type: ignore[union-attr]
            except ValueError as err:
                await self.send_event(ErrorEvent(code="bad_action", message=str(err)))
                return
            await self._step(action, msg)
        elif isinstance(msg, NewEpisode):
            await self._end_episode("cancelled", "restarted")
            await self._start_episode()
        elif isinstance(msg, EndEpisode):
            if self.episode is not None:
                await self._end_episode("completed" if msg.save else "cancelled",
                                        "ended_by_participant" if msg.save else "cancelled")

    # ---------------------------------------------------------------- episodes
    def _reset(self, seed: int) -> tuple[Any, dict[str, Any], bytes]:
        assert self.env is not None
        obs, info = self.env.reset(seed=seed)
        return obs, info, encode_jpeg(self.env.render(), self.spec.jpeg_quality)

    async def _start_episode(self) -> None:
        seed = secrets.randbits(31)
        obs, info, image = await self._off_loop(self._reset, seed)
        ep = _Episode(id=uuid.uuid4().hex, index=self.episodes_started, seed=seed, observation=obs, info=info, image=image)
        self.episode, self.episodes_started = ep, self.episodes_started + 1
        self.publisher.begin(
            EpisodeBegin(
                episode_id=ep.id, session_id=self.open.session_id, study_id=self.open.study_id,
                participant_id=self.open.participant_id, env=self.spec.id, env_id=self.spec.env_id,
                worker_id=self.worker_id, seed=seed, started_at=datetime.now(timezone.utc),
                observation_spec=self.obs_spec, action_spec=self.act_spec,
            )
        )
        await self.send_event(EpisodeStarted(episode_id=ep.id, index=ep.index))
        await self.send_frame(frames.pack(0, 0.0, 0.0, frames.IS_FIRST, image))

    def _env_step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any], bytes]:
        assert self.env is not None
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, float(reward), bool(terminated), bool(truncated), info, encode_jpeg(self.env.render(), self.spec.jpeg_quality)

    async def _step(self, action: Any, msg: ActionInput) -> None:
        ep = self.episode
        assert ep is not None
        obs, reward, terminated, truncated, info, image = await self._off_loop(self._env_step, action)
        self.publisher.add(
            Step(index=ep.step, observation=ep.observation, action=action, reward=reward, discount=1.0,
                 is_first=ep.step == 0, is_last=False, is_terminal=False, time=time.time(), image=ep.image,
                 input={"keys": msg.keys}, info=ep.info)
        )
        ep.step += 1
        ep.total_reward += reward
        ep.observation, ep.info, ep.image = obs, info, image
        done = terminated or truncated
        flags = (frames.IS_LAST if done else 0) | (frames.IS_TERMINAL if terminated else 0)
        await self.send_frame(frames.pack(ep.step, reward, ep.total_reward, flags, image))
        if done:
            await self._finish_last_step(truncated=truncated, terminated=terminated)
            reason = "terminated" if terminated else "truncated"
            await self._end_episode("completed", reason)

    async def _finish_last_step(self, *, truncated: bool, terminated: bool) -> None:
        ep = self.episode
        assert ep is not None and self.env is not None
        if ep.closed:
            return
        ep.closed = True
        self.publisher.add(
            Step(index=ep.step, observation=ep.observation, action=placeholder_action(self.env.action_space),
                 reward=0.0, discount=0.0 if terminated else 1.0, is_first=ep.step == 0, is_last=True,
                 is_terminal=terminated, time=time.time(), image=ep.image, input={}, info=ep.info)
        )
        ep.step += 1  # the last step is a step of the episode, as RLDS counts them

    async def _end_episode(self, state: str, reason: str) -> None:
        ep = self.episode
        if ep is None:
            return
        # An episode stopped mid-way ends with its current observation as a truncated last step.
        await self._finish_last_step(truncated=True, terminated=False)
        self.episode = None
        self.publisher.end(
            EpisodeEnd(episode_id=ep.id, state=state, reason=reason, num_steps=ep.step, num_chunks=0,  # type: ignore[arg-type]
                       total_reward=ep.total_reward, ended_at=datetime.now(timezone.utc))
        )
        await self.send_event(EpisodeEnded(episode_id=ep.id, state=state, reason=reason, num_steps=ep.step, total_reward=ep.total_reward))
