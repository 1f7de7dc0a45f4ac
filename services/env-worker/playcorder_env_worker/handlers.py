"""What a session does with each control message from its client, one handler per message type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from playcorder.messages import (
    ActionInput,
    CancelEpisode,
    EndEpisode,
    InputMsg,
    NewEpisode,
    Pause,
    Resume,
    Resync,
    SaveEpisode,
    SessionState,
    SetCamera,
    SetFps,
    SetQuality,
)

if TYPE_CHECKING:
    from .session import PlaySession

Handler = Callable[["PlaySession", Any], Awaitable[None]]


async def _input(s: PlaySession, msg: InputMsg) -> None:
    assert s.controls is not None
    s.pacer.input_seen()
    pressed = s.controls.update(msg)
    if s.state == SessionState.PAUSED and pressed:
        await s.set_state(SessionState.RUNNING, "input")
    if s.state == SessionState.RUNNING and pressed and s.spec.mode == "turn_based":
        s.pacer.input_pressed()
        await s.step(s.controls.action(0.0))


async def _action(s: PlaySession, msg: ActionInput) -> None:
    assert s.controls is not None
    s.pacer.input_seen()
    if s.episode is None or s.state == SessionState.AWAITING_SAVE:
        await s.error("no_episode", f"Expected new_episode or save in state {s.state}, got action")
        return
    try:
        action = s.controls.set_explicit(msg.action)
    except ValueError as err:
        await s.error("bad_action", str(err))
        return
    if msg.keys:
        s.controls.state = s.controls.state.model_copy(update={"keys": msg.keys})
    if s.state == SessionState.PAUSED:
        await s.set_state(SessionState.RUNNING, "input")
    if s.spec.mode == "turn_based":
        await s.step(action)


async def _pause(s: PlaySession, msg: Pause) -> None:
    if s.state == SessionState.RUNNING:
        await s.set_state(SessionState.PAUSED, "participant")


async def _resume(s: PlaySession, msg: Resume) -> None:
    if s.state == SessionState.PAUSED:
        s.pacer.input_seen()
        await s.set_state(SessionState.RUNNING, "participant")


async def _new_episode(s: PlaySession, msg: NewEpisode) -> None:
    if s.state == SessionState.AWAITING_SAVE:
        await s.error("awaiting_save", "Expected save (true or false) for the finished episode, got new_episode")
        return
    await s.finish_by_participant("cancelled", "restarted")
    await s.start_episode()


async def _cancel(s: PlaySession, msg: CancelEpisode) -> None:
    await s.finish_by_participant("cancelled", "cancelled")


async def _end_episode(s: PlaySession, msg: EndEpisode) -> None:
    if s.state == SessionState.AWAITING_SAVE:
        await s.decide(msg.save)
    elif msg.save:
        await s.finish_by_participant("completed", "ended_by_participant")
    else:
        await s.finish_by_participant("cancelled", "cancelled")


async def _save(s: PlaySession, msg: SaveEpisode) -> None:
    if s.state != SessionState.AWAITING_SAVE:
        await s.error("not_finished", f"Expected save only after an episode finished, state is {s.state}")
        return
    await s.decide(msg.save)


async def _set_fps(s: PlaySession, msg: SetFps) -> None:
    s.fps = msg.fps
    await s.announce()


async def _set_quality(s: PlaySession, msg: SetQuality) -> None:
    s.quality = msg.jpeg_quality
    await s.announce()


async def _resync(s: PlaySession, msg: Resync) -> None:
    await s.announce()
    if s.finished is not None:
        await s.send_event(s.finished)


async def _set_camera(s: PlaySession, msg: SetCamera) -> None:
    assert s.env is not None
    try:
        await s.env.set_camera(msg.camera)
    except ValueError as err:
        await s.error("bad_camera", str(err))
        return
    s.camera = str(msg.camera)
    await s.announce()
    await s.show_current()


# CloseSession is not here: it ends the session's input loop rather than being handled within it
HANDLERS: dict[type[Any], Handler] = {
    InputMsg: _input, ActionInput: _action, Pause: _pause, Resume: _resume, NewEpisode: _new_episode,
    CancelEpisode: _cancel, EndEpisode: _end_episode, SaveEpisode: _save, SetFps: _set_fps, SetQuality: _set_quality,
    Resync: _resync, SetCamera: _set_camera,
}
