"""The order of a study's episode list (`?sort=`): by start time, a column or a statistic, either way, in keyset
pages. A cursor carries the sort it was made for, the last episode's sort value and its id, so that a walk through
the pages neither repeats nor skips an episode whatever the order; episodes without the statistic come last (by id).
The default order (started_at) keeps the cursors every other list hands out (paging.py)."""

from __future__ import annotations

import base64
import binascii
import json
import math
import operator
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from fastapi import HTTPException, status
from sqlalchemy import ColumnElement, and_, or_, tuple_
from sqlmodel import col
from sqlmodel.sql.expression import Select

from playcorder.db.models import Episode
from playcorder.episode_query import Sort
from playcorder.fields import INT32_MAX

from . import paging
from .queries import number

Q = TypeVar("Q", bound=Select[Any])
RECORDING_ORDER = Sort("started_at")


def key(order: Sort) -> ColumnElement[Any]:
    """What `order` sorts by: NULL for an episode without the statistic."""
    return cast(ColumnElement[Any], col(Episode.started_at)) if order.name == "started_at" else number(order.name)


def _encode(order: Sort, value: Any, id: str) -> str:
    if order == RECORDING_ORDER:
        return paging.encode(value, id)
    shown = value.isoformat() if isinstance(value, datetime) else value
    return base64.urlsafe_b64encode(json.dumps([str(order), shown, id]).encode()).decode().rstrip("=")


def _value(order: Sort, value: Any) -> Any:
    """The sort value a cursor carries, as the column compares it; ValueError for anything a page did not hand out."""
    if order.name == "started_at":
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError(value)
        return moment.astimezone(UTC)
    if value is None and not order.column:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(value)
    if order.name == "num_steps":
        if not isinstance(value, int) or not -INT32_MAX - 1 <= value <= INT32_MAX:
            raise ValueError(value)
        return value
    if not math.isfinite(value):
        raise ValueError(value)
    return float(value)


def _decode(order: Sort, cursor: str) -> tuple[Any, str]:
    if order == RECORDING_ORDER:
        return paging.decode(cursor)
    try:
        made_for, value, id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(id, str) or "\x00" in id:
            raise ValueError(id)
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError) as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"Expected the next_cursor of a previous page, got {cursor[:40]!r}") from err
    if made_for != str(order):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"Expected the next_cursor of a page sorted by {str(order)!r}, got one of a page sorted "
                            f"by {str(made_for)[:70]!r}; pass the same sort with its cursors")
    try:
        return _value(order, value), id
    except (ValueError, TypeError, OverflowError) as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"Expected the next_cursor of a previous page, got {cursor[:40]!r}") from err


def _beyond(order: Sort, value: Any, last: str) -> ColumnElement[bool]:
    """The episodes after (value, last) in `order`, NULLs last."""
    k, i = key(order), col(Episode.id)
    later = operator.lt if order.descending else operator.gt
    if order.column:  # never NULL: a row comparison, which an index on (key, id) serves
        return later(tuple_(k, i), tuple_(value, last))  # type: ignore[no-any-return]
    if value is None:
        return and_(k.is_(None), later(i, last))
    return or_(later(k, value), and_(k == value, later(i, last)), k.is_(None))


def after(query: Q, order: Sort, cursor: str | None, limit: int) -> Q:
    """`query` (a select of Episode and key(order)) from the episode after `cursor` in `order`, one more than a
    page (to know if one follows)."""
    if cursor:  # none, or empty: the first page
        query = query.where(_beyond(order, *_decode(order, cursor)))
    k, i = key(order), col(Episode.id)
    if order.descending:
        by = [k.desc(), i.desc()] if order.column else [k.desc().nulls_last(), i.desc()]
    else:
        by = [k.asc(), i.asc()] if order.column else [k.asc().nulls_last(), i.asc()]
    return query.order_by(None).order_by(*by).limit(limit + 1)


def page(rows: Sequence[Any], limit: int, order: Sort) -> tuple[list[Episode], str | None]:
    """The episodes of this page (rows of (episode, sort value)), and the cursor of the next (None: these are the
    last)."""
    episodes = [row[0] for row in rows[:limit]]
    if len(rows) <= limit:
        return episodes, None
    last, value = rows[limit - 1][0], rows[limit - 1][1]
    return episodes, _encode(order, value, last.id)
