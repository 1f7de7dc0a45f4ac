"""Preference experiments, for their designer or an external trainer with the designer's token: create one over a
study's recorded episodes (segments sampled, random pairs made, clips queued), list, read, close; post pairs; read
labels as they arrive (long-poll)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from nats.aio.client import Client as NATS
from sqlalchemy import case, distinct, func
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import (
    Episode,
    PreferenceExperiment,
    PreferenceLabel,
    PreferencePair,
    PreferenceSegment,
    Study,
)
from playcorder.fields import PathId, is_id
from playcorder.messages import ClipRender
from playcorder.preferences import MAX_EPISODES, MAX_SEGMENTS_SAMPLED, EpisodeSource, ExperimentSpec
from playcorder.specs import StudySpec
from playcorder.subjects import Subjects

from ..deps import Bus, BusSubjects, DbSession, DbSessions, Designer, OwnedStudy, not_found
from ..errors import ErrorOut, ValidationErrorOut
from ..preference_schemas import (
    Agreement,
    Counts,
    ExperimentOut,
    LabelOut,
    LabelsOut,
    PairCounts,
    PairOut,
    PairsIn,
    PairsOut,
    SegmentCounts,
)
from ..segment_sampling import doubled, random_pairs, stretches

router = APIRouter(tags=["preferences"])
MAX_WAIT_S = 30.0  # a labels long-poll answers within this
MAX_LABELS_READ = 1000
MAX_PAIRS_LISTED = 20_000


async def owned_experiment(experiment_id: PathId, db: DbSession, designer: Designer) -> PreferenceExperiment:
    experiment = await db.get(PreferenceExperiment, experiment_id) if is_id(experiment_id) else None
    study = await db.get(Study, experiment.study_id) if experiment is not None else None
    if experiment is None or study is None or study.owner_id != designer.id:
        raise not_found("a preference experiment of your studies", experiment_id)
    return experiment


OwnedExperiment = Annotated[PreferenceExperiment, Depends(owned_experiment)]


async def counts(db: AsyncSession, experiment_id: str) -> Counts:
    segments = SegmentCounts(**{state: n for state, n in await db.exec(
        select(PreferenceSegment.state, func.count()).where(PreferenceSegment.experiment_id == experiment_id)
        .group_by(col(PreferenceSegment.state)))})
    left, right = aliased(PreferenceSegment), aliased(PreferenceSegment)
    failed = (left.state == "failed") | (right.state == "failed")
    done = col(PreferencePair.labels) >= col(PreferencePair.labels_wanted)
    ready = (left.state == "ready") & (right.state == "ready")
    row = (await db.exec(
        select(func.count(), func.coalesce(func.sum(case((done, 1), else_=0)), 0),
               func.coalesce(func.sum(case((failed & ~done, 1), else_=0)), 0),
               func.coalesce(func.sum(case((ready & ~done, 1), else_=0)), 0))
        .select_from(PreferencePair)
        .join(left, left.id == PreferencePair.left_id)  # type: ignore[arg-type]
        .join(right, right.id == PreferencePair.right_id)  # type: ignore[arg-type]
        .where(PreferencePair.experiment_id == experiment_id))).one()
    labels = (await db.exec(select(func.count()).select_from(PreferenceLabel)
                            .where(PreferenceLabel.experiment_id == experiment_id))).one()
    total, answered, blocked, open_ = (int(v) for v in row)
    return Counts(segments=segments, pairs=PairCounts(total=total, answered=answered, blocked=blocked, open=open_),
                  labels=int(labels), agreement=await _agreement(db, experiment_id))


async def _agreement(db: AsyncSession, experiment_id: str) -> Agreement:
    """Of the pairs labelled twice or more, how many got one answer from everyone who labelled them."""
    per_pair = (select(func.count(distinct(PreferenceLabel.response)).label("answers"))
                .where(PreferenceLabel.experiment_id == experiment_id)
                .group_by(col(PreferenceLabel.pair_id)).having(func.count() >= 2).subquery())
    pairs, agreed = (int(v) for v in (await db.exec(
        select(func.count(), func.coalesce(func.sum(case((per_pair.c.answers == 1, 1), else_=0)), 0))
        .select_from(per_pair))).one())
    return Agreement(pairs=pairs, agreed=agreed, share=round(agreed / pairs, 4) if pairs else None)


async def out(db: AsyncSession, experiment: PreferenceExperiment) -> ExperimentOut:
    return ExperimentOut.of(experiment, await counts(db, experiment.id))


async def queue_clips(nc: NATS, subjects: Subjects, segment_ids: list[str]) -> None:
    js = nc.jetstream()
    for segment_id in segment_ids:
        await js.publish(subjects.export_task("clip"), ClipRender(segment_id=segment_id).model_dump_json().encode(),
                         headers={"Nats-Msg-Id": f"clip.{segment_id}"})


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, message)


async def _episodes(db: AsyncSession, study: Study, source: EpisodeSource, env: str) -> list[tuple[str, int]]:
    query = select(Episode.id, Episode.num_steps, Episode.env).where(Episode.study_id == study.id)
    if source.episode_ids is not None:
        rows = {i: (n, e) for i, n, e in await db.exec(query.where(col(Episode.id).in_(source.episode_ids)))}
        if missing := [i for i in source.episode_ids if i not in rows]:
            raise _unprocessable(f"Expected episodes of study {study.id}, got unknown ids {missing[:5]}")
        if other := [i for i in source.episode_ids if rows[i][1] != env]:
            raise _unprocessable(f"Expected episodes of environment {env!r} (pairs never mix environments), got "
                                 f"{other[:5]} of {sorted({rows[i][1] for i in other})}")
        return [(i, rows[i][0]) for i in source.episode_ids]
    return [(i, n) for i, n, _ in await db.exec(
        query.where(Episode.env == env, Episode.state == "completed")
        .order_by(col(Episode.started_at).desc()).limit(MAX_EPISODES))]


async def _environment(db: AsyncSession, study: Study, source: EpisodeSource) -> str:
    spec = StudySpec.model_validate(study.spec)
    if source.env is not None:
        if (environment := spec.environment(source.env)) is None:
            raise _unprocessable(f"Expected an environment of the study ({[e.id for e in spec.environments]}), "
                                 f"got {source.env!r}")
        return environment.id
    if source.episode_ids:
        first = await db.get(Episode, source.episode_ids[0])
        if first is not None and first.study_id == study.id:
            return first.env
    recorded = list(await db.exec(select(Episode.env).where(Episode.study_id == study.id,
                                                            Episode.state == "completed").distinct()))
    if len(recorded) != 1:
        raise _unprocessable(f"Expected source.env naming the environment to sample (pairs never mix "
                             f"environments), got none while the study has completed episodes of {sorted(recorded)}")
    return recorded[0]


@router.post("/api/studies/{study_id}/preferences", status_code=status.HTTP_201_CREATED,
             response_model=ExperimentOut,
             responses={422: {"model": ValidationErrorOut, "description": "not an experiment spec, an environment "
                                                                          "or episodes the study lacks, or no "
                                                                          "segment to sample"}})
async def create_experiment(spec: ExperimentSpec, study: OwnedStudy, db: DbSession, designer: Designer, nc: Bus,
                            subjects: BusSubjects) -> ExperimentOut:
    """An experiment over the study's recorded episodes (segments sampled, `pairs.count` random pairs made, their
    clips queued for rendering), or one a trainer posts segments and pairs to (`source.kind: posted`)."""
    env, fps = None, spec.clip.fps or 15
    experiment = PreferenceExperiment(study_id=study.id, name=spec.name, spec=spec.model_dump(mode="json"),
                                      created_by=designer.id)
    segments: list[PreferenceSegment] = []
    if isinstance(spec.source, EpisodeSource):
        env = await _environment(db, study, spec.source)
        environment = StudySpec.model_validate(study.spec).environment(env)
        fps = spec.clip.fps or (environment.fps if environment is not None else 15)
        length = max(1, round(spec.clip.seconds * fps))
        found = stretches(await _episodes(db, study, spec.source, env), length, spec.source.segments_per_episode,
                          spec.source.seed)[:MAX_SEGMENTS_SAMPLED]
        if not found:
            raise _unprocessable(f"Expected recorded episodes of {env!r} with more than {length} steps (segments "
                                 f"of {spec.clip.seconds:g} s at {fps} fps), got none")
        segments = [PreferenceSegment(experiment_id=experiment.id, source="episode", episode_id=s.episode_id,
                                      first_step=s.first_step, num_steps=s.num_steps) for s in found]
    experiment.env, experiment.fps = env, fps
    pairs = random_pairs(len(segments), spec.pairs.count, spec.pairs.seed)
    twice = doubled(len(pairs), spec.agreement_share, spec.pairs.seed)
    db.add(experiment)
    await db.flush()  # rows in the order their foreign keys need (no relationships tell the session)
    db.add_all(segments)
    await db.flush()
    db.add_all([PreferencePair(experiment_id=experiment.id, left_id=segments[i].id, right_id=segments[j].id,
                               labels_wanted=2 if n in twice else 1) for n, (i, j) in enumerate(pairs)])
    await db.commit()
    await queue_clips(nc, subjects, [s.id for s in segments])
    return await out(db, experiment)


@router.get("/api/studies/{study_id}/preferences", response_model=list[ExperimentOut])
async def list_experiments(study: OwnedStudy, db: DbSession) -> list[ExperimentOut]:
    rows = await db.exec(select(PreferenceExperiment).where(PreferenceExperiment.study_id == study.id)
                         .order_by(col(PreferenceExperiment.created_at)))
    return [await out(db, e) for e in rows]


@router.get("/api/preferences/{experiment_id}", response_model=ExperimentOut)
async def get_experiment(experiment: OwnedExperiment, db: DbSession) -> ExperimentOut:
    return await out(db, experiment)


@router.post("/api/preferences/{experiment_id}/close", response_model=ExperimentOut)
async def close_experiment(experiment: OwnedExperiment, db: DbSession) -> ExperimentOut:
    """No pair is offered any more (labels given stay; a pair leased now may still be answered)."""
    if experiment.closed_at is None:
        experiment.closed_at = datetime.now(UTC)
        db.add(experiment)
        await db.commit()
    return await out(db, experiment)


@router.post("/api/preferences/{experiment_id}/pairs", status_code=status.HTTP_201_CREATED, response_model=PairsOut,
             responses={422: {"model": ValidationErrorOut, "description": "a segment that is not the experiment's, "
                                                                          "or a pair of a segment with itself"}})
async def post_pairs(body: PairsIn, experiment: OwnedExperiment, db: DbSession) -> PairsOut:
    """Pairs of the experiment's segments to be labelled, by priority (a trainer's choice: e.g. those its reward
    models disagree on most). Offered once both clips are ready."""
    ids = {p.left for p in body.pairs} | {p.right for p in body.pairs}
    known = set(await db.exec(select(PreferenceSegment.id).where(PreferenceSegment.experiment_id == experiment.id,
                                                                 col(PreferenceSegment.id).in_(ids))))
    if unknown := sorted(ids - known):
        raise _unprocessable(f"Expected segments of experiment {experiment.id}, got unknown ids {unknown[:5]}")
    if same := [p.left for p in body.pairs if p.left == p.right]:
        raise _unprocessable(f"Expected two different segments in a pair, got {same[0]} with itself")
    share = float(experiment.spec.get("agreement_share", 0.0))
    twice = doubled(len(body.pairs), share, experiment.labels_count + len(ids))
    rows = [PreferencePair(experiment_id=experiment.id, left_id=p.left, right_id=p.right, priority=p.priority,
                           labels_wanted=2 if n in twice else 1) for n, p in enumerate(body.pairs)]
    db.add_all(rows)
    await db.commit()
    return PairsOut(pairs=[PairOut.of(p, "waiting_clips") for p in rows])


@router.get("/api/preferences/{experiment_id}/pairs", response_model=PairsOut)
async def list_pairs(experiment: OwnedExperiment, db: DbSession,
                     limit: Annotated[int, Query(ge=1, le=MAX_PAIRS_LISTED)] = 1000,
                     offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> PairsOut:
    left, right = aliased(PreferenceSegment), aliased(PreferenceSegment)
    now = datetime.now(UTC)
    rows = await db.exec(
        select(PreferencePair, left.state, right.state)
        .join(left, left.id == PreferencePair.left_id)  # type: ignore[arg-type]
        .join(right, right.id == PreferencePair.right_id)  # type: ignore[arg-type]
        .where(PreferencePair.experiment_id == experiment.id)
        .order_by(col(PreferencePair.created_at), col(PreferencePair.id)).offset(offset).limit(limit))

    def state(p: PreferencePair, a: str, b: str) -> str:
        if p.labels >= p.labels_wanted:
            return "answered"
        if "failed" in (a, b):
            return "blocked"
        if "pending" in (a, b):
            return "waiting_clips"
        return "leased" if p.lease_until is not None and p.lease_until >= now else "open"

    return PairsOut(pairs=[PairOut.of(p, state(p, a, b)) for p, a, b in rows])


async def _labels_after(sessions: DbSessions, experiment_id: str, after: int, limit: int) -> list[LabelOut]:
    async with sessions() as db:
        rows = await db.exec(select(PreferenceLabel, PreferencePair)
                             .join(PreferencePair, PreferencePair.id == PreferenceLabel.pair_id)  # type: ignore[arg-type]
                             .where(PreferenceLabel.experiment_id == experiment_id, col(PreferenceLabel.seq) > after)
                             .order_by(col(PreferenceLabel.seq)).limit(limit))
        return [LabelOut.of(label, pair) for label, pair in rows]


@router.get("/api/preferences/{experiment_id}/labels", response_model=LabelsOut,
            responses={404: {"model": ErrorOut, "description": "no such experiment among yours"}})
async def read_labels(experiment: OwnedExperiment, sessions: DbSessions, nc: Bus, subjects: BusSubjects,
                      after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
                      limit: Annotated[int, Query(ge=1, le=MAX_LABELS_READ)] = 500,
                      wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0.0) -> LabelsOut:
    """The experiment's labels numbered above `after`, in order. With `wait`, a long-poll: when there are none yet
    it answers as soon as one is stored (on any gateway), or with none after `wait` seconds."""
    arrived = asyncio.Event()

    async def woken(_: object) -> None:
        arrived.set()

    sub = await nc.subscribe(subjects.preference_labels(experiment.id), cb=woken) if wait > 0 else None
    try:
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            arrived.clear()  # before looking: a label stored from now on wakes the wait below
            labels = await _labels_after(sessions, experiment.id, after, limit)
            left = deadline - asyncio.get_running_loop().time()
            if labels or left <= 0:
                return LabelsOut(labels=labels, next=labels[-1].seq if labels else after)
            try:  # woken by a label stored anywhere; looking again every second covers a lost notice
                await asyncio.wait_for(arrived.wait(), timeout=min(left, 1.0))
            except TimeoutError:
                pass
    finally:
        if sub is not None:
            await sub.unsubscribe()
