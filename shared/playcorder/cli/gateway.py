"""The gateway a command talks to: the root's --url and --token, completed by the SDK's stored credentials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from .errors import UserError

if TYPE_CHECKING:
    from ..sdk import Client


@dataclass(frozen=True)
class Gateway:
    url: str | None = None
    token: str | None = None


def connect(ctx: typer.Context) -> Client:
    """A client of the gateway with the designer's token; a UserError saying how to get one when there is none."""
    from ..sdk import Client, load_credentials

    gateway = ctx.ensure_object(Gateway)
    url, token = load_credentials(gateway.url, gateway.token)
    if not token:
        raise UserError(f"Expected a designer token for {url}, got none: pass --token, set PLAYCORDER_TOKEN, "
                        "or run `make run` (it stores the local designer's token)")
    return Client(url, token)
