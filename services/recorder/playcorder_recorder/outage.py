"""PostgreSQL or S3 going away and coming back, as the recorder sees it: one warning when a backend becomes
unreachable (naming it and the retry delay), a delay doubling while it stays away, one info once it is back.
Meanwhile nothing is acknowledged, so JetStream keeps every message and redelivers it: no step is lost."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import asyncpg
from sqlalchemy.exc import DBAPIError

from playcorder import storage

log = logging.getLogger(__name__)

DATABASE, OBJECTS = "PostgreSQL", "S3"
FIRST_DELAY_S, LONGEST_DELAY_S = 0.5, 10.0


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__, getattr(e, "orig", None)]


def unreachable(err: BaseException) -> str | None:
    """The backend `err` says cannot be reached (DATABASE or OBJECTS), or None for any other failure."""
    chain = list(_chain(err))
    if any(storage.unreachable(e) for e in chain):  # the one S3 check, which the gateway's 503s use too
        return OBJECTS
    if any(isinstance(e, OSError | asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError
                      | asyncpg.OperatorInterventionError | asyncpg.ConnectionDoesNotExistError) or
           (isinstance(e, DBAPIError) and e.connection_invalidated) for e in chain):
        return DATABASE
    return None


class Outages:
    """The backends down right now, each with its current retry delay; shared by the consumer and the reaper."""

    def __init__(self, first: float = FIRST_DELAY_S, longest: float = LONGEST_DELAY_S) -> None:
        self.first, self.longest = first, longest
        self._delays: dict[str, float] = {}

    def is_down(self, backend: str) -> bool:
        return backend in self._delays

    def failed(self, backend: str, err: BaseException) -> float:
        """Note a failure to reach `backend`; returns how long to wait before the next try."""
        previous = self._delays.get(backend)
        delay = self.first if previous is None else min(self.longest, previous * 2)
        self._delays[backend] = delay
        if previous is None:
            log.warning("%s is unreachable (%s); recording pauses, retrying after %g s, doubling up to %g s; "
                        "messages wait in JetStream until it is back", backend, _short(err), delay, self.longest)
        else:
            log.debug("%s still unreachable (%s); next try in %g s", backend, _short(err), delay)
        return delay

    def reached(self, *backends: str) -> None:
        for backend in backends:
            if self._delays.pop(backend, None) is not None:
                log.info("%s is back; recording resumes", backend)


def _short(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__
