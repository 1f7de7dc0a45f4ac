"""Pages of the REST lists: `limit` items after an opaque `cursor`, a keyset on (time, id) so that a walk through
the pages neither repeats nor skips an item while others are inserted."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import tuple_
from sqlmodel.sql.expression import SelectOfScalar

DEFAULT_LIMIT, MAX_LIMIT, CURSOR_MAX = 100, 1000, 200
T = TypeVar("T")
Q = TypeVar("Q", bound=SelectOfScalar[Any])


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="pass it as ?cursor= for the next page; null on the last one")


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"items per page (at most {MAX_LIMIT})")]
Cursor = Annotated[str | None, Query(max_length=CURSOR_MAX, pattern="^[A-Za-z0-9_-]*$",
                                     description="next_cursor of the previous page; none for the first page")]


def encode(at: datetime, id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), id]).encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, str]:
    """The (time, id) of the last item of the previous page; 422 for anything a page did not hand out."""
    try:
        at, id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(at)
        if not isinstance(id, str) or "\x00" in id or moment.tzinfo is None:
            raise ValueError(id)
        return moment.astimezone(UTC), id
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError) as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"Expected the next_cursor of a previous page, got {cursor[:40]!r}") from err


def after(query: Q, cursor: str | None, at: Any, id: Any, limit: int) -> Q:
    """`query` from the item after `cursor`, in (at, id) order, one item more than a page (to know if one follows)."""
    if cursor:  # none, or empty: the first page
        query = query.where(tuple_(at, id) > tuple_(*decode(cursor)))
    return query.order_by(None).order_by(at, id).limit(limit + 1)


def page(rows: Sequence[T], limit: int, key: Callable[[T], tuple[datetime, str]]) -> tuple[list[T], str | None]:
    """The rows of this page, and the cursor of the next one (None when these are the last)."""
    if len(rows) <= limit:
        return list(rows), None
    return list(rows[:limit]), encode(*key(rows[limit - 1]))
