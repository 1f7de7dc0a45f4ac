"""The keyword arguments an environment (or a wrapper) accepts, from its constructors' signatures: a class's
__init__ and, while one passes **kwargs on, those of the classes above it in the MRO."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _params(fn: Callable[..., Any], skip_first: bool) -> tuple[set[str], bool] | None:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature
        return None
    if skip_first and params and params[0].kind is not inspect.Parameter.VAR_KEYWORD:
        params = params[1:]
    names = {p.name for p in params if p.kind in _NAMED}
    return names, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def accepted_kwargs(target: Any) -> tuple[set[str], bool]:
    """(names of the keyword arguments `target` takes, whether it takes others too: a **kwargs that reaches no
    signature). A class may say itself, with a classmethod `accepted_kwargs()` returning the names."""
    own = getattr(target, "accepted_kwargs", None)
    if isinstance(target, type) and callable(own):
        return set(own()), False
    if not isinstance(target, type):
        found = _params(target, skip_first=False)
        return found if found is not None else (set(), True)
    names: set[str] = set()
    for klass in target.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        found = _params(init, skip_first=True)
        if found is None:
            return names, True
        more, open_ended = found
        names |= more
        if not open_ended:
            return names, False
    return names, True
