"""Queries several routes share: the episodes matching a filter (listing them, exporting them), and the numbers a
filter compares and a list sorts by (an episode column, or a key of its statistics)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, and_, case, exists, func, true
from sqlmodel import col
from sqlmodel.sql.expression import SelectOfScalar

from playcorder.db.models import Campaign, Episode, EpisodeTag
from playcorder.episode_query import COLUMNS, comparison
from playcorder.exports import EpisodeFilter

T = TypeVar("T")
_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq, "!=": operator.ne}


def number(name: str) -> ColumnElement[Any]:
    """The episode's column `name` (one of COLUMNS), or its statistic `name` as a float: NULL where the episode has
    no such statistic or a value that is no JSON number (so a comparison excludes it and a sort puts it last).
    The key is a bound parameter; CASE keeps the cast from ever seeing a non-number."""
    if name in COLUMNS:
        return cast(ColumnElement[Any], col(getattr(Episode, name)))
    element = col(Episode.stats)[name]
    return case((func.json_typeof(element) == "number", element.as_float()), else_=None)


def _campaign_conditions(f: EpisodeFilter) -> list[ColumnElement[bool]]:
    out = []
    if f.campaign is not None:
        out.append(col(Episode.campaign_id) == f.campaign)
    if f.condition is not None:
        out.append(col(Episode.condition) == f.condition)
    if f.channel is not None:
        out.append(exists().where(col(Campaign.id) == col(Episode.campaign_id), col(Campaign.channel) == f.channel))
    return out


def conditions(f: EpisodeFilter, states: Sequence[str] | None) -> list[ColumnElement[bool]]:
    """What an episode of the study must satisfy to match `f`, in any of `states` (None: all)."""
    given: list[tuple[Any, Callable[[], ColumnElement[bool]]]] = [
        (states, lambda: col(Episode.state).in_(states or ())),
        (f.env, lambda: (col(Episode.env) == f.env) | (col(Episode.env_id) == f.env)),
        (f.participant, lambda: col(Episode.participant_id) == f.participant),
        (f.study_version, lambda: col(Episode.study_version) == f.study_version),
        (f.started_after, lambda: col(Episode.started_at) >= f.started_after),
        (f.started_before, lambda: col(Episode.started_at) < f.started_before),
        (f.min_reward, lambda: col(Episode.total_reward) >= f.min_reward),
        (f.max_reward, lambda: col(Episode.total_reward) <= f.max_reward),
        (f.game_id, lambda: col(Episode.game_id) == f.game_id),
        (f.agent, lambda: col(Episode.agent) == f.agent),
    ]
    out = [make() for value, make in given if value is not None]
    out += [exists().where(col(EpisodeTag.episode_id) == col(Episode.id), col(EpisodeTag.label) == label)
            for label in dict.fromkeys(f.tags)]
    out += _campaign_conditions(f)
    for c in map(comparison, dict.fromkeys(f.where)):
        out.append(_COMPARE[c.op](number(c.name), c.value))
    return out


def filtered(query: SelectOfScalar[T], f: EpisodeFilter, states: Sequence[str] | None) -> SelectOfScalar[T]:
    """`query` (a select of Episode) narrowed to the episodes matching `f`, in any of `states` (None: all), in
    recording order."""
    return query.where(and_(true(), *conditions(f, states))).order_by(col(Episode.started_at), col(Episode.id))
