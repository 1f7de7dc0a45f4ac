"""The field meant by a misspelled one: a 422's location walked through the model the request was made of."""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel


def closest_field(model: type[BaseModel], loc: Sequence[str | int]) -> str | None:
    """Among the fields of the model that loc's parents lead to, the one closest to loc's last part."""
    *parents, name = loc
    node: Any = model
    for part in parents:
        node = _child(node, part)
    names = [field for m in _models(node) for field in m.model_fields]
    close = difflib.get_close_matches(str(name), names, n=1)
    return close[0] if close else None


def _unwrap(node: Any) -> Any:
    """The type itself: Annotated metadata and Optional taken off (a wider union stays one, None and all)."""
    while True:
        members = [a for a in get_args(node) if a is not type(None)]
        if get_origin(node) is Annotated:
            node = get_args(node)[0]
        elif get_origin(node) in (Union, types.UnionType) and len(members) == 1:
            node = members[0]
        else:
            return node


def _models(node: Any) -> list[type[BaseModel]]:
    """The models a type stands for: itself, or each member of a union."""
    node = _unwrap(node)
    if get_origin(node) in (Union, types.UnionType):
        return [m for member in get_args(node) for m in _models(member)]
    return [node] if isinstance(node, type) and issubclass(node, BaseModel) else []


def _tags(model: type[BaseModel]) -> set[Any]:
    """What pydantic puts in a loc for a union member: its class name or its discriminator's value."""
    literals = [get_args(f.annotation) for f in model.model_fields.values() if get_origin(f.annotation) is Literal]
    return {model.__name__, *(value for values in literals for value in values)}


def _child(node: Any, part: str | int) -> Any:
    """The type at `part` of a loc inside `node`: a union's member, a model's field, a list's item, a dict's value."""
    models = _models(node)
    if len(models) > 1 and (tagged := [m for m in models if part in _tags(m)]):
        return tagged[0]
    if models:
        return next((m.model_fields[part].annotation for m in models if part in m.model_fields), None)
    args = [a for a in get_args(_unwrap(node)) if a is not Ellipsis]
    return args[-1] if args else None  # list[X] and tuple[X, ...] hold X at each index, dict[K, V] holds V
