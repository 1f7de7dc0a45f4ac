"""Queries several routes share: the episodes matching a filter (listing them, exporting them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import exists
from sqlmodel import col
from sqlmodel.sql.expression import SelectOfScalar

from playcorder.db.models import Episode, EpisodeTag
from playcorder.exports import EpisodeFilter

T = TypeVar("T")


def filtered(query: SelectOfScalar[T], f: EpisodeFilter, states: Sequence[str] | None) -> SelectOfScalar[T]:
    """`query` (a select of Episode) narrowed to the episodes matching `f`, in any of `states` (None: all), in
    recording order."""
    if states is not None:
        query = query.where(col(Episode.state).in_(states))
    if f.env is not None:
        query = query.where((Episode.env == f.env) | (Episode.env_id == f.env))
    if f.participant is not None:
        query = query.where(Episode.participant_id == f.participant)
    if f.study_version is not None:
        query = query.where(Episode.study_version == f.study_version)
    if f.started_after is not None:
        query = query.where(Episode.started_at >= f.started_after)
    if f.started_before is not None:
        query = query.where(Episode.started_at < f.started_before)
    if f.min_reward is not None:
        query = query.where(Episode.total_reward >= f.min_reward)
    if f.max_reward is not None:
        query = query.where(Episode.total_reward <= f.max_reward)
    for label in dict.fromkeys(f.tags):
        query = query.where(exists().where(col(EpisodeTag.episode_id) == Episode.id, col(EpisodeTag.label) == label))
    return query.order_by(col(Episode.started_at), col(Episode.id))
