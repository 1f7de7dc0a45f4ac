"""Trying a study spec's environments on the env-workers before it is saved (`Subjects.trial`, any one worker of
the queue group answers each): a study whose environments cannot be built, stepped, controlled with their input
map or recorded is refused with a 422 naming each problem at its field, instead of failing when a participant
plays. No worker answering is a 503 with Retry-After."""

from __future__ import annotations

import asyncio
import base64

from fastapi import HTTPException, status
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import ValidationError

from playcorder.messages import TrialProblem, TrialReply, TrialRequest
from playcorder.specs import StudySpec
from playcorder.storage import ObjectStore, preview_key
from playcorder.subjects import Subjects

from .errors import MAX_ERRORS
from .settings import Settings

MAX_CONCURRENT = 8  # environments of one spec tried at once
REPLY_MARGIN_S = 5.0  # beyond the worker's own limit: for the request and answer to travel


class NoTrialWorker(Exception):
    """No env-worker answered a trial request in time."""

    def __init__(self, waited: float) -> None:
        super().__init__(f"Expected an env-worker to try the environments, got no answer within {waited:g} s")
        self.waited = waited


async def _try_one(nc: NATS, subjects: Subjects, request: TrialRequest, limit: asyncio.Semaphore) -> TrialReply:
    waited = request.timeout_s + REPLY_MARGIN_S
    async with limit:
        try:
            msg = await nc.request(subjects.trial, request.model_dump_json().encode(), timeout=waited)
        except (NoRespondersError, NatsTimeout):
            raise NoTrialWorker(waited) from None
    try:
        return TrialReply.model_validate_json(msg.data)
    except ValidationError as err:  # a worker of another version: its answer is no trial of this spec
        raise NoTrialWorker(waited) from err


async def try_spec(nc: NATS, subjects: Subjects, spec: StudySpec, timeout: float = 30.0) -> list[TrialReply]:
    """One TrialReply per environment of `spec`, in its order (all tried concurrently, MAX_CONCURRENT at once);
    NoTrialWorker when no worker answers one of them within `timeout` and a margin."""
    limit = asyncio.Semaphore(MAX_CONCURRENT)
    tasks = [asyncio.ensure_future(_try_one(nc, subjects, TrialRequest(environment=env, timeout_s=timeout), limit))
             for env in spec.environments]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()


def loc_of(field: str) -> list[str | int]:
    """A problem's dotted field as a loc: 'kwargs.a.b' keeps the kwarg whole, 'wrappers.0.name' has an int."""
    head, _, rest = field.partition(".")
    if not rest:
        return [head] if head else []
    if head == "kwargs":
        return [head, rest]
    if head == "input_map" and rest.startswith("bindings."):
        return [head, "bindings", rest.removeprefix("bindings.")]
    if head == "wrappers":
        index, _, tail = rest.partition(".")
        out: list[str | int] = [head, int(index) if index.isdigit() else index]
        return out + loc_of(tail) if tail else out
    return [int(p) if p.isdigit() else p for p in field.split(".")]


def _detail(index: int, problem: TrialProblem) -> dict[str, object]:
    return {"loc": ["body", "environments", index, *loc_of(problem.field)], "msg": problem.message,
            "type": "environment_trial", "suggestions": problem.suggestions}


async def tried(spec: StudySpec, nc: NATS, subjects: Subjects, settings: Settings) -> list[TrialReply]:
    """try_spec within the gateway's TRIAL_TIMEOUT; HTTPException 503 with Retry-After when no env-worker answers."""
    try:
        return await try_spec(nc, subjects, spec, settings.trial_timeout)
    except NoTrialWorker as err:
        seconds = max(1, round(settings.no_capacity_retry))
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"{err}; retry in {seconds} s",
                            headers={"Retry-After": str(seconds)}) from None


async def checked(spec: StudySpec, nc: NATS, subjects: Subjects, settings: Settings) -> list[TrialReply]:
    """The trial replies of a spec with no problem; else HTTPException 422 (FastAPI's detail shape, one entry per
    problem at its field, with suggestions), or 503 with Retry-After when no env-worker answers."""
    replies = await tried(spec, nc, subjects, settings)
    detail = [_detail(i, p) for i, reply in enumerate(replies) for p in reply.problems]
    if len(detail) > MAX_ERRORS:  # as many as a validation error lists
        more = len(detail) - MAX_ERRORS
        detail = detail[:MAX_ERRORS] + [{"loc": [], "msg": f"and {more} more problems", "type": "too_many_errors"}]
    if detail:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail)
    return replies


async def store_previews(objects: ObjectStore, study_id: str, version: int, replies: list[TrialReply]) -> None:
    """Each environment's trial frame, at `preview_key` (what GET .../environments/{env}/preview.jpg serves)."""
    frames = [(r.env, base64.b64decode(r.preview_jpeg)) for r in replies if r.preview_jpeg]
    await asyncio.gather(*(objects.put_bytes(preview_key(study_id, version, env), data, "image/jpeg")
                           for env, data in frames))
