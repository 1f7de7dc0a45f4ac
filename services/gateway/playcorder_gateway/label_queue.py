"""The label queue: which pair a labeller gets, held by an expiring lease, and what their answer stores.

Safe for many labellers on many gateways at once: a lease is taken on a row locked `FOR UPDATE SKIP LOCKED`, so two
labellers asking together get two different pairs (or one gets none) and nobody waits on another's lock. A pair
is offered only while (RL-Teacher's rules, with readiness in place of its 2-second upload grace):
- both its segments' clips are stored and decoded back (`ready`): a failed render is never offered;
- it wants more labels than it has (one, or two for the agreement share), and not one from this labeller;
- nobody holds its lease (none, or expired), the experiment is open;
in order of priority (highest first), then newest. A labeller holding an unexpired lease on an unanswered pair gets
that pair again (a reloaded page shows the same clips). An answer is taken from the lease holder, or from a
labeller whose lease expired while nobody else took the pair; labels are numbered under the experiment's row
lock, so a reader following `seq` never skips one that commits later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, exists, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import PreferenceExperiment, PreferenceLabel, PreferencePair, PreferenceSegment

from .errors import CodedError as Refusal

_LEFT, _RIGHT = aliased(PreferenceSegment), aliased(PreferenceSegment)


def participant_labeller(participant_id: str | None) -> str:
    """The labeller a participant's labels are stored under."""
    return f"participant:{participant_id}"


@dataclass(frozen=True)
class Leased:
    pair: PreferencePair
    left: PreferenceSegment
    right: PreferenceSegment


def _answered_by(labeller: str):  # type: ignore[no-untyped-def]
    return exists().where(PreferenceLabel.pair_id == PreferencePair.id, PreferenceLabel.labeller == labeller)


def _wanting(experiment_id: str):  # type: ignore[no-untyped-def]
    return and_(PreferencePair.experiment_id == experiment_id,
                col(PreferencePair.labels) < col(PreferencePair.labels_wanted))


def _offerable(experiment_id: str, labeller: str, now: datetime):  # type: ignore[no-untyped-def]
    return and_(_wanting(experiment_id),
                or_(col(PreferencePair.lease_until).is_(None), col(PreferencePair.lease_until) < now),
                _LEFT.state == "ready", _RIGHT.state == "ready", ~_answered_by(labeller))


def _sides(query):  # type: ignore[no-untyped-def]
    """`query` over pairs joined with their two segments (_LEFT, _RIGHT)."""
    return (query.join(_LEFT, _LEFT.id == PreferencePair.left_id)  # type: ignore[arg-type]
            .join(_RIGHT, _RIGHT.id == PreferencePair.right_id))  # type: ignore[arg-type]


def _joined():  # type: ignore[no-untyped-def]
    return _sides(select(PreferencePair, _LEFT, _RIGHT))


def _counted():  # type: ignore[no-untyped-def]
    return _sides(select(func.count()).select_from(PreferencePair))


async def lease(db: AsyncSession, experiment: PreferenceExperiment, labeller: str, lease_s: float) -> Leased | None:
    """The pair this labeller should label now, leased to them until now + lease_s (None: none offerable)."""
    now = datetime.now(UTC)
    held = (await db.exec(_joined().where(
        _wanting(experiment.id), PreferencePair.leased_by == labeller, col(PreferencePair.lease_until) >= now,
        ~_answered_by(labeller))
        .limit(1))).first()
    if held is not None:
        return Leased(*held)
    if experiment.closed_at is not None:
        return None
    row = (await db.exec(_joined().where(_offerable(experiment.id, labeller, now))
                         .order_by(col(PreferencePair.priority).desc(), col(PreferencePair.created_at).desc(),
                                   col(PreferencePair.id))
                         .limit(1).with_for_update(skip_locked=True, of=PreferencePair))).first()
    if row is None:
        return None
    pair, left, right = row
    pair.leased_by, pair.leased_at, pair.lease_until = labeller, now, now + timedelta(seconds=lease_s)
    db.add(pair)
    await db.commit()
    return Leased(pair, left, right)


async def open_count(db: AsyncSession, experiment_id: str, labeller: str) -> int:
    """Pairs this labeller could still be given now or once their leases lapse (ready, wanting labels, not theirs)."""
    query = _counted().where(_wanting(experiment_id), _LEFT.state == "ready", _RIGHT.state == "ready",
                             ~_answered_by(labeller))
    return int((await db.exec(query)).one())


async def pending_count(db: AsyncSession, experiment_id: str) -> int:
    """Pairs waiting for a clip still being rendered (neither side failed): worth asking again for."""
    query = _counted().where(_wanting(experiment_id), or_(_LEFT.state == "pending", _RIGHT.state == "pending"),
                             _LEFT.state != "failed", _RIGHT.state != "failed")
    return int((await db.exec(query)).one())


async def wanting_count(db: AsyncSession, experiment_id: str) -> int:
    """Pairs some labeller could still label (or soon: clips rendering), neither side failed."""
    query = _counted().where(_wanting(experiment_id), _LEFT.state != "failed", _RIGHT.state != "failed")
    return int((await db.exec(query)).one())


async def answer(db: AsyncSession, pair_id: str, labeller: str, response: str,
                 shown_at: datetime | None) -> tuple[PreferenceLabel, PreferencePair]:
    """Store the labeller's answer to the pair they hold; 409 lease_lost or already_answered otherwise."""
    pair = await db.get(PreferencePair, pair_id, with_for_update=True)
    if pair is None:
        raise Refusal(404, "no_such_pair", f"Expected the id of a pair you were given, got {pair_id!r}")
    now = datetime.now(UTC)
    mine = pair.leased_by == labeller
    if not mine:
        raise Refusal(409, "lease_lost", "Expected an answer to the pair you hold, got one to a pair "
                                         + ("leased to another labeller since your lease expired"
                                            if pair.leased_by else "not leased to you: ask for a pair first"))
    previous = (await db.exec(select(PreferenceLabel).where(PreferenceLabel.pair_id == pair_id,
                                                            PreferenceLabel.labeller == labeller))).first()
    if previous is not None:
        raise Refusal(409, "already_answered", f"Expected one answer per pair, got a second one (you answered "
                                               f"{previous.response!r} at {previous.answered_at.isoformat()})")
    experiment = await db.get(PreferenceExperiment, pair.experiment_id, with_for_update=True)
    assert experiment is not None
    leased_at = pair.leased_at or now
    shown = min(max(shown_at, leased_at), now) if shown_at is not None else leased_at
    experiment.labels_count += 1
    label = PreferenceLabel(experiment_id=experiment.id, seq=experiment.labels_count, pair_id=pair.id,
                            labeller=labeller, response=response, shown_at=shown, answered_at=now,
                            duration_ms=int((now - shown).total_seconds() * 1000))
    pair.labels += 1
    pair.leased_by = pair.leased_at = pair.lease_until = None
    db.add_all([label, pair, experiment])
    await db.commit()
    return label, pair


async def release(db: AsyncSession, pair_id: str, labeller: str) -> bool:
    """Give a held pair back without answering (False: it was not held by this labeller)."""
    pair = await db.get(PreferencePair, pair_id, with_for_update=True)
    if pair is None or pair.leased_by != labeller:
        await db.commit()
        return False
    pair.leased_by = pair.leased_at = pair.lease_until = None
    db.add(pair)
    await db.commit()
    return True
