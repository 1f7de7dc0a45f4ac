"""Draining: how an env-worker told to stop (SIGTERM, as Kubernetes sends before it removes a pod) lets its players
finish instead of cutting them off.

At the first SIGTERM the worker at once stops taking sessions (its heartbeat says draining, so no gateway places
there; an OpenSession that still arrives is refused "draining") and sends each of its sessions `Draining`: the
session tells its participant with a `notice` event (kind maintenance, "your episode continues up to N minutes",
its deadline) and starts no new episode. A session whose episode ends meanwhile (completed, rejected, cancelled),
or that had none, ends at once with `session_ended` (reason worker_draining), which its gateway does not relay:
it opens a new session for the participant on another worker, on the same socket (routes/play.py). After
DRAIN_TIMEOUT seconds, or at a second SIGTERM, every session left gets `Interrupt`: its episode ends as
`interrupted` (reason worker_draining) after its last step, the recording is flushed to JetStream (each
session's publisher is closed, every chunk acknowledged), and the gateways move those players too. Then the
worker exits. DRAIN_TIMEOUT=0 ends everything at once, as a second SIGTERM does.

A session whose client is away when the drain begins or during it (its socket dropped) is waited for only
AWAY_GRACE seconds, not its whole resume grace: a client that comes back within it (a gateway restarting) plays
on; one that does not cannot finish its episode anyway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from playcorder.messages import WORKER_DRAINING, Notice

if TYPE_CHECKING:
    from .session import PlaySession

log = logging.getLogger(__name__)
AWAY_GRACE = 3.0  # seconds a draining session waits for a client that went away (a gateway restart takes less)


@dataclass(frozen=True)
class Draining:
    """Internal input: the worker is draining; tell the participant, start no new episode."""

    notice: Notice


@dataclass(frozen=True)
class Interrupt:
    """Internal input: end the session now, its episode interrupted (the drain is over, or was cut short)."""


def _span(seconds: float) -> str:
    if seconds >= 90:
        return f"{round(seconds / 60):g} minutes"
    return "1 second" if round(seconds) == 1 else f"{round(seconds):g} seconds"


def maintenance(timeout: float, now: float | None = None) -> Notice:
    """The notice a draining worker sends each of its players."""
    now = time.time() if now is None else now
    return Notice(kind="maintenance", deadline=round(now + timeout, 3),
                  message=f"maintenance: your episode continues up to {_span(timeout)}; after it you play on "
                          "another server")


async def draining(s: PlaySession, msg: Draining) -> None:
    """The session's handler of Draining (session.py ends the session once it has no episode)."""
    s.notice = msg.notice
    s.link.grace = min(s.link.grace, AWAY_GRACE)
    await s.send_event(msg.notice)


class Drain:
    """The worker's drain: `begin` once, then `run` until every session ended or the timeout (or `hurry`)."""

    def __init__(self, sessions: dict[str, PlaySession], tasks: set[asyncio.Task[None]], timeout: float) -> None:
        self.sessions, self.tasks, self.timeout = sessions, tasks, timeout
        self._hurry = asyncio.Event()

    def hurry(self) -> None:
        """A second SIGTERM: end every session now."""
        self._hurry.set()

    def begin(self) -> None:
        """Each session is told (without a timeout, nobody: run() ends them at once)."""
        if self.timeout <= 0:
            return
        notice = maintenance(self.timeout)
        log.info("draining: %d sessions may finish their episodes within %g s", len(self.sessions), self.timeout)
        for session in list(self.sessions.values()):
            session.inputs.put_nowait(Draining(notice))

    async def run(self, end_wait: float = 10.0) -> None:
        """Wait for the sessions to end by themselves, up to the timeout; then interrupt the rest and wait for them
        (their recordings flushed) at most `end_wait` seconds."""
        if self.timeout > 0 and self.tasks:
            loop = asyncio.get_running_loop()
            until = loop.time() + self.timeout
            hurried = asyncio.create_task(self._hurry.wait())
            try:
                while self.tasks and not self._hurry.is_set() and (left := until - loop.time()) > 0:
                    await asyncio.wait([*self.tasks, hurried], timeout=left, return_when=asyncio.FIRST_COMPLETED)
            finally:
                hurried.cancel()
        if self.sessions:
            log.info("drain over: interrupting %d sessions (%s)", len(self.sessions), WORKER_DRAINING)
        for session in list(self.sessions.values()):
            session.inputs.put_nowait(Interrupt())
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=end_wait)
