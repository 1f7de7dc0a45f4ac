"""User errors: what went wrong, in a line or a few "field: message" lines, never a traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..sdk import ApiError

# FastAPI's first loc element says where the value came from, not which field it is.
_SOURCES = ("body", "query", "path", "header")


class UserError(Exception):
    """A mistake the user can fix; each argument is one line of explanation."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


def message(pydantic_msg: str) -> str:
    """A pydantic error message without the prefix it gives a validator's own ("Value error, Expected ...")."""
    return pydantic_msg.removeprefix("Value error, ")


def explain(err: Exception) -> list[str] | None:
    """The lines shown for a user error; None for anything else (a bug, which keeps its traceback)."""
    if isinstance(err, UserError):
        return err.lines
    import httpx

    from ..sdk import ApiError

    if isinstance(err, ApiError):
        return api_error_lines(err)
    if isinstance(err, httpx.RequestError):
        url = err.request.url
        return [f"Expected an answer from {url.scheme}://{url.netloc.decode()}, got {type(err).__name__}: {err}"]
    if isinstance(err, (OSError, TimeoutError)):  # unreachable database, unwritable directory, ...
        return [str(err)]
    return None


def api_error_lines(err: ApiError, model: type[BaseModel] | None = None) -> list[str]:
    """One line per problem of a 422 ("field.path: message"), suggesting the field meant when `model` (the one
    the request body was made of) has a close one, or the values the gateway's trial of an environment suggests;
    other errors in one line with their status."""
    from .suggest import closest_field  # pydantic: only when there is something to explain

    if not err.field_errors:
        return [f"HTTP {err.status}: {err.detail}"]
    lines = []
    for problem in err.field_errors:
        loc = problem.loc[1:] if problem.loc and problem.loc[0] in _SOURCES else problem.loc
        line = f"{'.'.join(map(str, loc))}: {message(problem.msg)}" if loc else message(problem.msg)
        meant = list(problem.suggestions[:3])  # a trial of the environments names what was probably meant
        if not meant and model and loc and problem.type == "extra_forbidden":
            meant = [field] if (field := closest_field(model, loc)) else []
        lines.append(f"{line}; did you mean {' or '.join(map(repr, meant))}?" if meant else line)
    return lines
