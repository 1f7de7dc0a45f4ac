"""Enrolling a participant who arrives through a campaign's link with their channel's URL parameters: no token
made by hand. The channel's participant id is keyed with the deployment's secret (external_ids.py); the same id
returning resumes the same enrollment (a new play token, the same participant and progress). A new arrival is
assigned a condition (assignment.py) in the same transaction, under the campaign's lock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.auth import expiry, new_token, token_hash
from playcorder.campaigns import CHANNEL_PARAMS, MTURK_PREVIEW, CampaignSpec
from playcorder.db.models import ApiToken, Assignment, Campaign, Enrollment, Participant

from . import assignment
from .campaign_schemas import MAX_PARAM
from .errors import CodedError
from .security_headers import MTURK_HOSTS

# Where MTurk sends workers' submissions (turkSubmitTo): production and the sandbox; nothing else is posted to.
MTURK_SUBMIT_HOSTS = MTURK_HOSTS
_PARAM = re.compile(rf"[A-Za-z0-9_.:@+=-]{{1,{MAX_PARAM}}}")
EXTRA_PARAMS = {"mturk": ("turkSubmitTo",)}


class ArrivalError(CodedError):
    """A refused arrival: the web app shows a page per code."""


@dataclass(frozen=True)
class Arrival:
    participant: str  # the channel's id of the person (PROLIFIC_PID, workerId, participant)
    external: dict[str, str]  # every channel parameter they brought, raw (for the bonus table and the redirect)


def arrival(channel: str, params: dict[str, str]) -> Arrival:
    """The channel's parameters out of what the participant's URL had; 422 naming what is missing or malformed,
    409 mturk_preview while an MTurk worker only previews the HIT."""
    names = CHANNEL_PARAMS[channel]
    known = names + EXTRA_PARAMS.get(channel, ())
    external = {}
    for name in known:
        value = params.get(name)
        if value is None or value == "":
            continue
        if name == "turkSubmitTo":
            external[name] = _submit_host(value)
            continue
        if not _PARAM.fullmatch(value):
            raise ArrivalError(422, "bad_params", f"Expected URL parameter {name} of 1-{MAX_PARAM} letters, digits "
                                                  f"or _.:@+=-, got {value[:MAX_PARAM]!r}")
        external[name] = value
    if channel == "mturk" and external.get("assignmentId") == MTURK_PREVIEW:
        raise ArrivalError(409, "mturk_preview", "Expected an accepted HIT, got a preview "
                                                 f"(assignmentId={MTURK_PREVIEW}): accept the HIT to take part")
    if missing := [n for n in names[:1] if n not in external]:
        raise ArrivalError(422, "missing_params", f"Expected the {channel} URL parameters {list(names)}, got "
                                                  f"{sorted(params)[:10]} without {missing[0]}")
    return Arrival(external[names[0]], external)


def _submit_host(value: str) -> str:
    parts = urlsplit(value)
    host = f"{parts.scheme}://{parts.netloc}"
    if host not in MTURK_SUBMIT_HOSTS or parts.path not in ("", "/"):
        raise ArrivalError(422, "bad_params", f"Expected turkSubmitTo one of {list(MTURK_SUBMIT_HOSTS)}, got "
                                              f"{value[:MAX_PARAM]!r}")
    return host


def refusal(campaign: Campaign, spec: CampaignSpec, now: datetime) -> ArrivalError | None:
    """Why the campaign takes no one new now, or None."""
    if campaign.closed_at is not None:
        return ArrivalError(410, "campaign_closed", f"Expected an open campaign, got {campaign.name!r}, closed by "
                                                    "its designer")
    why = spec.open_at(now)
    if why == "not_started":
        assert spec.starts_at is not None
        return ArrivalError(409, "not_started", f"Expected a campaign that has started, got {campaign.name!r}, "
                                                f"which starts at {spec.starts_at.isoformat()}")
    if why == "ended":
        assert spec.ends_at is not None
        return ArrivalError(410, "campaign_ended", f"Expected a running campaign, got {campaign.name!r}, which "
                                                   f"ended at {spec.ends_at.isoformat()}")
    return None


@dataclass
class Enrolled:
    enrollment: Enrollment
    token: str
    resumed: bool
    assignment: Assignment | None = None  # a new one's


async def enroll(db: AsyncSession, campaign_id: str, came: Arrival, key: str, token_ttl: int) -> Enrolled:
    """Enroll (or resume) the participant keyed `key`; the caller commits. Raises ArrivalError when the campaign
    takes no one new (a returning participant is let back in, to finish or read their code)."""
    campaign = await assignment.lock(db, campaign_id)
    if campaign is None:
        raise ArrivalError(404, "unknown_campaign", f"Expected the id of a campaign, got {campaign_id!r}")
    spec = CampaignSpec.model_validate(campaign.spec)
    now = datetime.now(UTC)
    found = (await db.exec(select(Enrollment).where(Enrollment.campaign_id == campaign.id,
                                                    Enrollment.external_key == key))).first()
    if found is not None:
        found.last_seen_at = now
        found.external = {**found.external, **came.external}  # a new MTurk assignment of the same worker, say
        db.add(found)
        return Enrolled(found, await _token(db, campaign, found.participant_id, token_ttl), True)
    if (refused := refusal(campaign, spec, now)) is not None:
        raise refused
    chosen = assignment.choose(spec, await assignment.fills(db, campaign.id, spec, now), set())
    if chosen is None:
        raise ArrivalError(409, "campaign_full", f"Expected a condition of {campaign.name!r} below its quota, got "
                                                 "every one full: the campaign takes no one more")
    participant = Participant(study_id=campaign.study_id, external_id=key)
    db.add(participant)
    await db.flush()
    enrollment = Enrollment(campaign_id=campaign.id, participant_id=participant.id, external_key=key,
                            external=came.external)
    db.add(enrollment)
    await db.flush()
    made = Assignment(campaign_id=campaign.id, enrollment_id=enrollment.id, participant_id=participant.id,
                      condition=chosen.condition.id, reserved_until=now)
    assignment.reserve(made, spec, now)
    db.add(made)
    return Enrolled(enrollment, await _token(db, campaign, participant.id, token_ttl), False, made)


async def _token(db: AsyncSession, campaign: Campaign, participant_id: str, ttl: int) -> str:
    token = new_token("participant")
    db.add(ApiToken(token_hash=token_hash(token), kind="participant", participant_id=participant_id,
                    study_id=campaign.study_id, expires_at=expiry(timedelta(seconds=ttl))))
    return token
