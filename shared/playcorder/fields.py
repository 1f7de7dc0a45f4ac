"""Annotated types for what clients send, one set for the API edge and the specs: text that PostgreSQL can store
(no NUL) within a length, integers within the column they reach, ids and labels of a known form. Each rejects
bad input with a message naming what was expected, and shows its rule in the JSON schema (OpenAPI)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
ID_LENGTH = 32  # uuid4().hex
NAME_MAX = 200  # names, external ids, environment keys and ids, filters
LABEL_MAX = 64
NOTES_MAX = 10_000
TEXT_MAX = 20_000  # descriptions, instructions


@dataclass(frozen=True)
class Matching:
    """A string rule: `pattern` (a regex valid in Python and ECMA-262, so that schema-driven clients and fuzzers
    read it too) must match the whole value, else the error says `expected`."""

    pattern: str
    expected: str
    error: str = "string_form"

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        regex = re.compile(self.pattern)

        def check(value: str) -> str:
            if regex.fullmatch(value) is None:
                raise PydanticCustomError(self.error, "Expected {expected}, got {got}",
                                          {"expected": self.expected, "got": _shown(value)})
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        out["pattern"] = f"^{self.pattern}$"
        return out


def _shown(value: str) -> str:
    """The value as an error message quotes it: repr, NUL visible, at most ~60 characters."""
    return repr(value if len(value) <= 60 else value[:60] + "...")


# NUL: PostgreSQL cannot store it; a lone surrogate (a JSON "\\ud800" escape without its pair): no UTF-8 encodes it,
# so it could be stored but never answered again.
NO_NUL = Matching(r"[^\x00\ud800-\udfff]*", "text without NUL characters (\\u0000) or lone surrogates "
                  "(\\ud800-\\udfff)", "string_nul")


Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX), NO_NUL]
ShortText = Annotated[str, Field(max_length=NAME_MAX), NO_NUL]  # a filter value, an external id, an env id
Notes = Annotated[str, Field(max_length=NOTES_MAX), NO_NUL]
LongText = Annotated[str, Field(max_length=TEXT_MAX), NO_NUL]  # descriptions, instructions
# Ids the gateway made (uuid4 hex). A path id of another form (a NUL included) is the id of nothing: the routes
# answer 404 naming the form (is_id) without a lookup.
Id = Annotated[str, Matching(f"[0-9a-f]{{{ID_LENGTH}}}", f"an id of {ID_LENGTH} lowercase hex digits", "id_form")]
PathId = Annotated[str, Field(max_length=NAME_MAX)]
# Tags become RLDS feature names (`tag:<label>`) in exports.
Label = Annotated[str, Matching(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
                                "a tag of letters, digits, '_', '.', '-' (1-64, starting with a letter or digit)",
                                "tag_form")]
Key = Annotated[str, Matching(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
                              "an environment id of letters, digits, '_', '.', '-' (max 64)", "key_form")]

Int32 = Annotated[int, Field(ge=-INT32_MAX - 1, le=INT32_MAX)]
NonNegativeInt32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
PositiveInt32 = Annotated[int, Field(ge=1, le=INT32_MAX)]
Int64 = Annotated[int, Field(ge=-INT64_MAX - 1, le=INT64_MAX)]
NonNegativeInt64 = Annotated[int, Field(ge=0, le=INT64_MAX)]



def _utc(value: datetime) -> datetime:
    """In UTC (a time without zone is taken as UTC); beyond what UTC can hold, the earliest or latest time."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}.*")


def _iso(value: Any) -> Any:
    """An ISO 8601 date and time, not the Unix timestamps (numbers) or bare dates pydantic would also read."""
    if not isinstance(value, datetime) and not (isinstance(value, str) and _ISO_TIME.fullmatch(value)):
        raise PydanticCustomError("datetime_form", "Expected an ISO 8601 time like '2026-01-31T12:00:00Z', got {got}",
                                  {"got": _shown(str(value))})
    return value


# A bound of a time range (a filter), in UTC.
Moment = Annotated[datetime, BeforeValidator(_iso), AfterValidator(_utc)]

_ID = re.compile(f"[0-9a-f]{{{ID_LENGTH}}}")


def is_id(value: str) -> bool:
    """Whether `value` has the form of the ids the gateway makes (checked before a lookup)."""
    return _ID.fullmatch(value) is not None
