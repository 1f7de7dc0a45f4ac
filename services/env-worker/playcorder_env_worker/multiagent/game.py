"""One multi-agent game on this worker: its seats, the lobby before it, its one episode per agent, and who controls
each agent at every step.

The gateway's lobby (playcorder_gateway.lobby) picks the game, this worker and each participant's seat; the game
waits for its human seats until `fill_at`, then fills the empty ones with their fallback policy (a seat without
one calls the game off: `no_partner`), counts down and plays at the environment's fps. A human seat's action is
the one its participant holds; a policy's comes within its deadline or the agent repeats its previous action
(recorded as late). A player who leaves is replaced by the seat's fallback policy from the next step (the switch is
recorded at that step), or, with none, the game ends for the others (`partner_left`). Stepping, rendering and
encoding run on the worker's threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nats.aio.client import Client as NATS

from playcorder import frames
from playcorder.gym_spaces import space_spec
from playcorder.messages import (
    ControlEvent,
    CountdownEvent,
    EndState,
    EpisodeBegin,
    EpisodeEnd,
    LobbyEvent,
    OpenSession,
)
from playcorder.multiagent import AgentSpec, Controller
from playcorder.records import Step
from playcorder.spaces import zeros
from playcorder.subjects import Subjects

from ..envs import encode_jpeg
from ..episode import Episode
from ..families.access import EnvAccess
from ..publisher import RecordingPublisher
from .envs import PreparedGame, make_game
from .policies import Policy, decide, open_policy

if TYPE_CHECKING:
    from .seat_session import SeatSession

log = logging.getLogger(__name__)
AI_PARTICIPANT = "ai:{agent}"  # the participant id recorded for a seat no person ever held


@dataclass(eq=False)
class Seat:
    agent: str
    spec: AgentSpec
    publisher: RecordingPublisher
    session: SeatSession | None = None  # the participant's session while they are in the seat
    participant_id: str | None = None  # the person who took the seat (kept after they leave)
    policy: Policy | None = None
    policy_kind: str | None = None
    controller: Controller = "none"
    action: Any = None  # the action held now (a person's) or last chosen (a policy's)
    raw: dict[str, Any] = field(default_factory=dict)
    late: bool = False  # the policy missed its deadline this step
    episode: Episode | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"human_steps": 0, "ai_steps": 0, "none_steps": 0,
                                                            "late_steps": 0, "policy_errors": 0})

    def view(self, you: str | None) -> str:
        if self.agent == you:
            return "you"
        if self.controller == "ai":
            return "ai"
        return "human" if self.session is not None else "waiting"


class Game:
    """Created by the first seat's session to arrive; over when its episode ends, it was called off, or the worker
    stops. `on_over` removes it from the worker once its recordings are flushed."""

    def __init__(self, first: OpenSession, worker_id: str, executor: Executor, nc: NATS, subjects: Subjects,
                 access: EnvAccess, make_publisher: Callable[[], RecordingPublisher],
                 on_over: Callable[[Game], None]) -> None:
        assert first.game is not None and first.environment.agents is not None
        self.id, self.spec, self.open = first.game.game_id, first.environment, first
        self.agents_spec = first.environment.agents
        self.fill_at = first.game.fill_at
        self.worker_id, self.executor, self.nc = worker_id, executor, nc
        self.subjects, self.access = subjects, access
        self.on_over = on_over
        self.seats = {name: Seat(name, spec, make_publisher()) for name, spec in self.agents_spec.seats.items()}
        self.state = "lobby"  # lobby, countdown, running, over
        self.env: PreparedGame | None = None
        self.step_index = 0
        self.loop = asyncio.get_running_loop()
        self.changed = asyncio.Event()  # a seat was taken or left
        self.quality = first.environment.render.jpeg_quality
        self._task: asyncio.Task[None] | None = None
        self.ended_reason = ""

    # ---------------------------------------------------------------- seats
    def take(self, session: SeatSession) -> str | None:
        """Seat a participant's session; the reason it cannot sit, or None."""
        assert session.open.game is not None
        agent = session.open.game.agent
        seat = self.seats.get(agent)
        if seat is None:
            return f"Expected a seat of this game, one of {sorted(self.seats)}, got {agent!r}"
        if seat.spec.always is not None:
            return f"Expected a seat a person plays, got {agent!r}, always played by a {seat.spec.always.kind} policy"
        if self.state == "over":
            return "Expected a game still open, got one that is over"
        if seat.session is not None or seat.controller == "ai":
            return f"Expected a free seat, got {agent!r} taken (the lobby filled it)"
        seat.session, seat.participant_id, seat.controller = session, session.open.participant_id, "human"
        self.changed.set()
        if self.env is not None:  # the game's environment is made: this seat's session event now
            asyncio.create_task(session.ready(self.env))
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        return None

    def left(self, session: SeatSession, reason: str) -> None:
        """A participant's session is gone (closed, or its client away past the grace)."""
        for seat in self.seats.values():
            if seat.session is session:
                seat.session = None
                if self.state in ("lobby", "countdown"):
                    seat.controller, seat.participant_id = "none", None
                else:
                    asyncio.create_task(self._replace(seat, reason))
                self.changed.set()

    def set_action(self, session: SeatSession, action: Any, raw: dict[str, Any]) -> None:
        for seat in self.seats.values():
            if seat.session is session and seat.controller == "human":
                seat.action, seat.raw = action, raw

    async def _replace(self, seat: Seat, reason: str) -> None:
        """A player left mid-game: the fallback policy from the next step, or the game ends for the others."""
        if self.state != "running":
            return
        if seat.spec.fallback is None:
            await self.end("interrupted", "partner_left")
            return
        await self._seat_policy(seat, seat.spec.fallback)
        await self.broadcast(ControlEvent(agent=seat.agent, controller="ai", reason=reason, step=self.step_index))

    async def _seat_policy(self, seat: Seat, spec: Any) -> None:
        assert self.env is not None
        seat.policy = await open_policy(spec, agent=seat.agent, action_space=self.env.action_spaces[seat.agent],
                                        game_id=self.id, executor=self.executor, nc=self.nc, access=self.access,
                                        subjects=self.subjects)
        seat.policy_kind, seat.controller = spec.kind, "ai"
        seat.policy.reset()

    # ---------------------------------------------------------------- events
    async def broadcast(self, event: Any) -> None:
        for seat in self.seats.values():
            if seat.session is not None:
                await seat.session.send_event(event)

    async def _announce_lobby(self) -> None:
        left = max(0.0, (self.fill_at - datetime.now(UTC)).total_seconds())
        for seat in self.seats.values():
            if seat.session is not None:
                await seat.session.send_event(LobbyEvent(
                    game_id=self.id, agent=seat.agent, seconds_left=round(left, 2),
                    seats={a: s.view(seat.agent) for a, s in self.seats.items()}))

    # ---------------------------------------------------------------- the game
    async def _run(self) -> None:
        try:
            self.env = await self.loop.run_in_executor(self.executor, make_game, self.spec)
            for seat in self.seats.values():
                if seat.spec.always is not None:
                    await self._seat_policy(seat, seat.spec.always)
            for seat in list(self.seats.values()):
                if seat.session is not None:
                    await seat.session.ready(self.env)  # (once: a seat taken from now on is told by take())
            if not await self._lobby():
                return
            await self._countdown()
            await self._play()
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.exception("game %s failed", self.id)
            await self.end("interrupted", f"game_failed: {type(err).__name__}: {err}")
        finally:
            await self._close()

    async def _lobby(self) -> bool:
        """Wait for the human seats until fill_at; fill the rest with fallbacks. False when called off."""
        while True:
            await self._announce_lobby()
            waiting = [s for s in self.seats.values() if s.controller == "none"]
            if not waiting:
                return True
            if not any(s.session is not None for s in self.seats.values()):
                await self.end("abandoned", "lobby_empty")
                return False
            left = (self.fill_at - datetime.now(UTC)).total_seconds()
            if left <= 0:
                break
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), timeout=min(left, 1.0))
            except TimeoutError:
                pass
        missing = [s.agent for s in self.seats.values() if s.controller == "none" and s.spec.fallback is None]
        if missing:
            await self.end("abandoned", "no_partner", detail=f"no participant came for {missing} within "
                                                             f"{self.agents_spec.lobby_seconds:g} s and they have "
                                                             "no fallback policy")
            return False
        for seat in self.seats.values():
            if seat.controller == "none":
                assert seat.spec.fallback is not None
                await self._seat_policy(seat, seat.spec.fallback)
        return True

    async def _countdown(self) -> None:
        self.state = "countdown"
        for seat in self.seats.values():
            if seat.session is not None:
                await seat.session.send_event(CountdownEvent(
                    game_id=self.id, seconds=self.agents_spec.countdown_seconds,
                    seats={a: s.view(seat.agent) for a, s in self.seats.items()}))
        await asyncio.sleep(self.agents_spec.countdown_seconds)

    def _begin(self, seed: int, observations: dict[str, Any], infos: dict[str, Any],
               images: dict[str, bytes]) -> None:
        assert self.env is not None
        for agent, seat in self.seats.items():
            seat.episode = Episode(index=0, seed=seed, observation=observations.get(agent),
                                   info=dict(infos.get(agent) or {}), image=images[agent])
            seat.action = zeros(space_spec(self.env.action_spaces[agent]))
            seat.publisher.begin(EpisodeBegin(
                episode_id=seat.episode.id, session_id=seat.session.open.session_id if seat.session else self.id,
                study_id=self.open.study_id, participant_id=seat.participant_id or AI_PARTICIPANT.format(agent=agent),
                env=self.spec.id, env_id=self.spec.env_id, worker_id=self.worker_id, seed=seed,
                started_at=datetime.now(UTC), observation_spec=space_spec(self.env.observation_spaces[agent]),
                action_spec=space_spec(self.env.action_spaces[agent]), study_version=self.open.study_version,
                campaign_id=self.open.campaign_id, condition=self.open.condition, game_id=self.id, agent=agent))

    async def _play(self) -> None:
        assert self.env is not None
        period = 1.0 / self.spec.fps
        seed = secrets.randbits(31)
        observations, infos, images = await self.loop.run_in_executor(self.executor, self._reset, seed)
        self._begin(seed, observations, infos, images)
        self.state = "running"
        for seat in self.seats.values():
            if seat.session is not None:
                await seat.session.started(seat)
                await seat.session.send_frame(frames.pack(0, 0.0, 0.0, frames.IS_FIRST, images[seat.agent]))
        next_at = self.loop.time()
        while self.state == "running":
            actions, controls = await self._actions()
            playing = set(self.env.live)
            result = await self.loop.run_in_executor(self.executor, self._step, actions)
            if self.state != "running":
                return
            await self._record(playing, actions, controls, *result)
            if self.env.done:
                limit = self.env.max_steps
                reason = "step_limit" if limit is not None and self.env.steps >= limit else "terminated"
                await self.end("completed", reason)
                return
            next_at += period
            delay = next_at - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                next_at = self.loop.time()  # late: no burst of catch-up steps

    async def _actions(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Every agent's action for this step and who chose it: policies asked at once, each within its deadline."""
        asked = [(s, s.policy) for s in self.seats.values() if s.controller == "ai" and s.policy is not None]
        decisions = await asyncio.gather(*(
            decide(policy, s.episode.observation if s.episode else None, self.step_index, s.action,
                   self._deadline(s)) for s, policy in asked))
        for (seat, _), decision in zip(asked, decisions, strict=True):
            seat.action, seat.late = decision.action, decision.late
            if decision.error is not None:
                seat.counts["policy_errors"] += 1
                if seat.counts["policy_errors"] == 1:  # a broken policy errs every step: its first error logged
                    log.warning("game %s: %s's %s policy failed at step %d (it repeats its previous action): %s",
                                self.id, seat.agent, seat.policy_kind, self.step_index, decision.error)
        actions, controls = {}, {}
        for agent, seat in self.seats.items():
            late = seat.late if seat.controller == "ai" else False
            actions[agent] = seat.action
            controls[agent] = {"controller": seat.controller, "participant": seat.participant_id
                               if seat.controller == "human" else None,
                               "policy": seat.policy_kind if seat.controller == "ai" else None, "late": late}
        return actions, controls

    def _deadline(self, seat: Seat) -> float:
        spec = seat.spec.always or seat.spec.fallback
        return (spec.deadline_ms if spec is not None else 100) / 1000

    # ---------------------------------------------------------------- on a pool thread
    def _frames(self) -> dict[str, bytes]:
        """Each agent's frame as JPEG: its own view where the environment has them, else one shared frame
        encoded once (two-player Atari: half the encoding)."""
        assert self.env is not None
        if not self.env.own_views:
            shared = encode_jpeg(self.env.render(), self.quality)
            return dict.fromkeys(self.seats, shared)
        return {agent: encode_jpeg(self.env.render(agent), self.quality) for agent in self.seats}

    def _reset(self, seed: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, bytes]]:
        assert self.env is not None
        observations, infos = self.env.reset(seed)
        return observations, infos, self._frames()

    def _step(self, actions: dict[str, Any]) -> tuple[Any, ...]:
        """Every seat's action goes in: the environment ignores those of agents whose episode has ended."""
        assert self.env is not None
        observations, rewards, terminations, truncations, infos = self.env.step(actions)
        return observations, rewards, terminations, truncations, infos, self._frames()

    # ---------------------------------------------------------------- recording
    async def _record(self, playing: set[str], actions: dict[str, Any], controls: dict[str, dict[str, Any]],
                      observations: Any, rewards: Any, terminations: Any, truncations: Any, infos: Any,
                      images: dict[str, bytes]) -> None:
        """The step of each agent that was still playing recorded (an agent whose episode ended gets its final
        observation as its last step at once), and every participant's frame sent."""
        for agent, seat in self.seats.items():
            ep = seat.episode
            assert ep is not None
            if agent not in playing:
                if seat.session is not None:  # still watching the others play
                    await seat.session.send_frame(frames.pack(ep.step, 0.0, ep.total_reward, 0, images[agent]))
                continue
            reward = float(rewards.get(agent, 0.0))
            record = ep.transition(actions[agent], reward, seat.raw if seat.controller == "human" else {},
                                   observations.get(agent, ep.observation), dict(infos.get(agent) or {}),
                                   images[agent])
            self._controlled(record, controls[agent])
            seat.publisher.add(record)
            seat.counts[f"{controls[agent]['controller']}_steps"] += 1
            seat.counts["late_steps"] += bool(controls[agent]["late"])
            terminated, truncated = bool(terminations.get(agent, False)), bool(truncations.get(agent, False))
            if terminated or truncated:
                self._last(seat, terminated)
            if seat.session is not None:
                flags = (frames.IS_LAST if terminated or truncated else 0) | (frames.IS_TERMINAL if terminated else 0)
                await seat.session.send_frame(frames.pack(ep.step, reward, ep.total_reward, flags, images[agent]))
        self.step_index += 1

    def _last(self, seat: Seat, terminated: bool) -> None:
        """The agent's final observation as its episode's last step (once)."""
        assert self.env is not None and seat.episode is not None
        last = seat.episode.last(zeros(space_spec(self.env.action_spaces[seat.agent])), terminated)
        if last is not None:
            self._controlled(last, {"controller": seat.controller, "participant": None, "policy": None,
                                    "late": False})
            seat.publisher.add(last)

    @staticmethod
    def _controlled(record: Step, control: dict[str, Any]) -> None:
        record.control = control

    async def end(self, state: EndState, reason: str, detail: str = "") -> None:
        """The game is over for everyone: each agent's episode ends (its final observation kept), each
        participant is told why, and their sessions end."""
        if self.state == "over":
            return
        was_running, self.state, self.ended_reason = self.state == "running", "over", reason
        for seat in self.seats.values():
            ep = seat.episode
            if was_running and ep is not None:
                self._last(seat, terminated=False)  # stopped mid-way: truncated at its current observation
                seat.publisher.end(EpisodeEnd(
                    episode_id=ep.id, state=state, reason=reason, num_steps=ep.step, num_chunks=0,
                    total_reward=ep.total_reward, active_s=round(ep.step / self.spec.fps, 3),
                    ended_at=datetime.now(UTC), stats={**{k: float(v) for k, v in seat.counts.items()},
                                                       "score": ep.total_reward, "steps": float(ep.step)}))
            if seat.session is not None:
                await seat.session.game_over(seat, state, reason, detail)

    async def _close(self) -> None:
        if self.state != "over":
            await self.end("interrupted", "game_closed")
        for seat in self.seats.values():
            if seat.policy is not None:
                await seat.policy.close()
            await seat.publisher.close()
        if self.env is not None:
            await self.loop.run_in_executor(self.executor, self.env.close)
        self.on_over(self)  # only now: the heartbeat lists its episodes until their last chunks are out

    async def interrupt(self) -> None:
        """The worker stops: the game ends interrupted, every step recorded."""
        await self.end("interrupted", "worker_draining")

    def publishers(self) -> list[RecordingPublisher]:
        return [seat.publisher for seat in self.seats.values()]
