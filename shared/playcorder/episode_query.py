"""The metadata engine's grammar: comparisons over an episode's numbers (`score >= 50`, `active_minutes > 5`) and
sort keys (`-score`), parsed strictly here, once, so that the SQL built from them only ever sees a known name form,
one of six operators and a finite float (bound as a parameter, never spelled into the SQL)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

MAX_WHERE = 10  # comparisons in one filter
WHERE_MAX = 120  # characters of one comparison
Operator = Literal[">=", "<=", ">", "<", "==", "!="]
OPERATORS: tuple[Operator, ...] = (">=", "<=", ">", "<", "==", "!=")
# Episode columns a comparison or a sort may name; any other name is a key of the episode's statistics (a column
# wins over a statistic of the same name).
COLUMNS = ("total_reward", "num_steps", "active_s")
SORT_COLUMNS = ("started_at", *COLUMNS)

_NAME = r"[a-z][a-z0-9_]{0,63}"  # as campaigns.StatisticName
_NUMBER = r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
_OPERATOR = "|".join(OPERATORS)
WHERE_PATTERN = f"{_NAME} *({_OPERATOR}) *{_NUMBER}"
SORT_PATTERN = f"-?{_NAME}"
_NAME_RE, _NUMBER_RE = re.compile(_NAME), re.compile(_NUMBER)
_PARTS = re.compile(r"([^ <>=!]*) *([<>=!]*) *(.*)", re.DOTALL)  # always matches: which part is wrong?
_NAME_HELP = "a statistic name of lowercase letters, digits and '_' (starting with a letter, at most 64)"
_SORT_HELP = (f"a sort key: {', '.join(SORT_COLUMNS)} or a statistic's name (e.g. 'score'), with '-' before it "
              "for descending order")


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:60] + "...")


def _error(kind: str, expected: str, got: str, text: str) -> PydanticCustomError:
    return PydanticCustomError(kind, "Expected {expected}, got {got} in {text}",
                               {"expected": expected, "got": _shown(got), "text": _shown(text)})


@dataclass(frozen=True)
class Comparison:
    """`name op value`: `name` an episode column of COLUMNS or a key of its statistics."""

    name: str
    op: Operator
    value: float

    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.value!r}"


def comparison(text: str) -> Comparison:
    """The comparison `text` spells ("score >= 50"); a PydanticCustomError (a ValueError) naming the part that is
    not what was expected: the name, the operator or the number (which must be finite)."""
    name, op, number = cast(re.Match[str], _PARTS.fullmatch(text)).groups()
    if _NAME_RE.fullmatch(name) is None:
        raise _error("where_name", f"{_NAME_HELP} first", name, text)
    if op not in OPERATORS:
        raise _error("where_operator", f"an operator ({', '.join(OPERATORS)}) after {name!r}", op, text)
    value = float(number) if _NUMBER_RE.fullmatch(number) else math.nan
    if not math.isfinite(value):
        raise _error("where_number", f"a finite number (like 50, -1.5 or 2e3) after {op!r}", number, text)
    return Comparison(name, cast(Operator, op), value)


@dataclass(frozen=True)
class Sort:
    """Order by `name` (a column of SORT_COLUMNS or a statistic; episodes without that statistic come last)."""

    name: str
    descending: bool = False

    @property
    def column(self) -> bool:
        return self.name in SORT_COLUMNS

    def __str__(self) -> str:
        return f"-{self.name}" if self.descending else self.name


def sort(text: str) -> Sort:
    if re.fullmatch(SORT_PATTERN, text) is None:
        raise PydanticCustomError("sort_form", "Expected {expected}, got {got}",
                                  {"expected": _SORT_HELP, "got": _shown(text)})
    return Sort(text.removeprefix("-"), text.startswith("-"))


@dataclass(frozen=True)
class _Grammar:
    """A string checked by `parse` (its own messages), with `pattern` in the JSON schema for schema-led clients."""

    parse: Any
    pattern: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def check(value: str) -> str:
            self.parse(value)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        out["pattern"] = f"^{self.pattern}$"
        return out


Where = Annotated[str, Field(min_length=1, max_length=WHERE_MAX), _Grammar(comparison, WHERE_PATTERN)]
SortKey = Annotated[str, Field(max_length=65), _Grammar(sort, SORT_PATTERN)]
