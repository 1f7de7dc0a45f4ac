"""A problem with one field of an environment spec: what was expected, what arrived, and the values probably meant.
It is a ValueError, so a play session reports it like any other; the trial (trial.py) shows it at its field."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence


class EnvProblem(ValueError):
    def __init__(self, field: str, message: str, suggestions: Sequence[str] = ()) -> None:
        meant = f"; did you mean {suggestions[0]!r}?" if suggestions else ""
        super().__init__(message + meant)
        self.field, self.message, self.suggestions = field, message, list(suggestions)


def closest(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The candidates most like `word` (case aside), closest first; [] when none is close."""
    by_folded: dict[str, str] = {}
    for c in candidates:
        by_folded.setdefault(c.casefold(), c)
    return [by_folded[m] for m in difflib.get_close_matches(word.casefold(), list(by_folded), n=n, cutoff=0.6)]


_UNEXPECTED = re.compile(r"unexpected keyword argument '([^']+)'")


def unexpected_keyword(err: TypeError) -> str | None:
    """The keyword a TypeError says a callable did not take."""
    m = _UNEXPECTED.search(str(err))
    return m[1] if m else None
