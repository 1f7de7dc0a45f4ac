"""Whether a session still has a client: a gateway relays it (keepalives or input within CLIENT_TIMEOUT) over a
connected NATS. Lost, the running episode pauses at once (reason client_lost) and the session waits RESUME_GRACE
seconds for the client to resume it before it ends (its episode abandoned, reason disconnected)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from playcorder.inputs import InputState
from playcorder.messages import SessionEnded, SessionState

if TYPE_CHECKING:
    from .session import PlaySession

log = logging.getLogger(__name__)
_CHECK_S = 0.1


@dataclass(frozen=True)
class ClientLost:
    """Internal input: the session's client went away (no gateway, or no NATS)."""


@dataclass(frozen=True)
class Reattached:
    """Internal input: a gateway attached to the session again; the client needs the whole picture once more."""


class ClientLink:
    def __init__(self, session: PlaySession, timeout: float, grace: float, connected: Callable[[], bool],
                 watch: LinkWatch | None = None) -> None:
        self.session, self.timeout, self.grace, self.connected = session, timeout, grace, connected
        self.loop = session.loop
        self.last_heard = self.loop.time()
        self.lost_since: float | None = None
        self.watcher = watch or LinkWatch()
        self._gone: asyncio.Future[None] | None = None

    @property
    def lost(self) -> bool:
        return self.lost_since is not None

    def heard(self) -> None:
        """Any message from a gateway on the session's input subject."""
        self.last_heard = self.loop.time()
        if self.lost_since is not None and self.connected():
            log.info("session %s: a gateway relays it again", self.session.open.session_id)
            self.lost_since = None
            self.session.pacer.input_seen()  # a pause expiry counts from the client's return

    def detached(self) -> None:
        """The gateway saw the client's socket drop: do not wait for the timeout."""
        self.last_heard = self.loop.time() - self.timeout
        self._lose("its socket dropped")

    def _lose(self, why: str) -> None:
        if self.lost_since is None:
            self.lost_since = self.loop.time()
            log.info("session %s: client lost (%s); pausing, resumable for %g s", self.session.open.session_id,
                     why, self.grace)
            self.session.inputs.put_nowait(ClientLost())

    def check(self, now: float) -> None:
        """Called every _CHECK_S by the worker's LinkWatch."""
        if not self.connected():
            self._lose("NATS disconnected")
        elif now - self.last_heard > self.timeout:
            self._lose(f"no gateway heard for {now - self.last_heard:.2f} s")
        if self.lost_since is not None and now - self.lost_since > self.grace and self._gone is not None:
            if not self._gone.done():
                self._gone.set_result(None)

    async def watch(self) -> None:
        """Returns once the session has waited for its client longer than the grace (the session then ends)."""
        s = self.session
        self._gone = self.loop.create_future()
        self.watcher.add(self)
        try:
            await self._gone
        finally:
            self.watcher.discard(self)
        async with s.lock:
            await s.abandon("disconnected")
            await s.send_event(SessionEnded(reason="disconnected"))


class LinkWatch:
    """One timer checking every session's client link of a worker every _CHECK_S: a task per session woke the
    process ten times a second for each, more often than a 15 fps session steps."""

    def __init__(self, period: float = _CHECK_S) -> None:
        self.period = period
        self.links: set[ClientLink] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, link: ClientLink) -> None:
        self.links.add(link)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    def discard(self, link: ClientLink) -> None:
        self.links.discard(link)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.links:
            await asyncio.sleep(self.period)
            now = loop.time()
            for link in list(self.links):
                try:
                    link.check(now)
                except Exception:  # one session's bug must not blind the watch of the others
                    log.exception("client link check of session %s failed", link.session.open.session_id)


async def client_lost(s: PlaySession, msg: ClientLost) -> None:
    """Pause a running episode and release every held input: nobody is there to hold it."""
    assert s.controls is not None
    s.controls.update(InputState())
    if s.state == SessionState.RUNNING:
        await s.set_state(SessionState.PAUSED, "client_lost")


async def reattached(s: PlaySession, msg: Reattached) -> None:
    """Send what a client needs to continue: the session, the episode, its state and its current frame."""
    if s.ready is None:  # still opening: the events come when it is open
        return
    s.pacer.input_seen()  # the pause expiry counts from now
    await s.send_event(s.ready)
    if s.episode is not None:
        await s.send_event(s.episode_started())
    await s.announce()
    if s.finished is not None:
        await s.send_event(s.finished)
    if s.notice is not None:  # the worker is draining
        await s.send_event(s.notice)
    await s.show_current()
