"""Keeps tokens out of the gateway's logs: uvicorn's access and error lines print each request's path with its query
string (`/ws/play?token=pcp_...`), so the values of secret query parameters and anything shaped like a Playcorder
token are replaced before a record is written."""

from __future__ import annotations

import logging
import re
from typing import Any

from playcorder.auth import DESIGNER_PREFIX, PARTICIPANT_PREFIX

SECRET_PARAMS = ("token", "access_token", "api_key", "key", "password", "secret", "signature")
REDACTED = "[redacted]"
# name=value in a query string (any case), up to the next parameter, quote or space
_PARAM = re.compile(r"(?i)([?&;](?:" + "|".join(SECRET_PARAMS) + r")=)[^&;\s\"']*")
_TOKEN = re.compile("(" + DESIGNER_PREFIX + "|" + PARTICIPANT_PREFIX + r")[A-Za-z0-9_\-%]{8,}")


def redact(text: str) -> str:
    return _TOKEN.sub(r"\1" + REDACTED, _PARAM.sub(r"\1" + REDACTED, text))


def _clean(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def _redacted(record: logging.LogRecord) -> logging.LogRecord:
    """The record with its message and string arguments redacted in place, keeping the arguments' shape (uvicorn's
    access formatter unpacks them)."""
    record.msg = _clean(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_clean(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: _clean(v) for k, v in record.args.items()}
    return record


def install() -> None:
    """Redact every log record of this process as it is created: a record factory, unlike a filter, covers all
    loggers and handlers, including those uvicorn's logging config creates later."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _redacted(make_record(*args, **kwargs))

    factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
