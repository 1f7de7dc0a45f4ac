"""Operator commands: `dev` runs the whole stack locally, `db upgrade` migrates, `accounts token` makes tokens,
`accounts password` sets the password for signing in in the browser, and `accounts revoke` revokes tokens and
browser sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from .errors import UserError, message
from .output import print_json

db = typer.Typer(help="Database administration.", no_args_is_help=True)
accounts = typer.Typer(help="Designer accounts.", no_args_is_help=True)
DatabaseUrl = Annotated[str | None, typer.Option(metavar="URL", envvar="DATABASE_URL", show_envvar=False,
                                                 help="PostgreSQL URL (default: $DATABASE_URL)")]


@contextmanager
def _server_extras(command: str) -> Iterator[None]:
    """Operator commands run server code, which a researcher's `pip install playcorder` leaves out."""
    try:
        yield
    except ModuleNotFoundError as err:
        raise UserError(f"Expected the server packages for `playcorder {command}` (pip install 'playcorder[dev]'), "
                        f"got no module named {err.name!r}") from None


def _database(url: str | None) -> str:
    from pydantic import ValidationError

    from ..settings import DatabaseSettings

    if not url:
        raise UserError("Expected a database: pass --database-url or set DATABASE_URL, got neither")
    try:
        return DatabaseSettings(url=url).url
    except ValidationError as err:
        raise UserError(*(message(e["msg"]) for e in err.errors())) from None


def dev(
    root: Annotated[Path, typer.Option(metavar="DIR", help="directory for data and logs")] = Path(".run"),
    port: Annotated[int, typer.Option(metavar="PORT", help="gateway port")] = 8000,
    database_url: Annotated[str | None, typer.Option(
        metavar="URL", envvar="DATABASE_URL", show_envvar=False,
        help="use this PostgreSQL instead of an embedded one (default: $DATABASE_URL)")] = None,
    workers: Annotated[int | None, typer.Option(
        metavar="N", help="env-worker processes, 1 to 256 (default: $WORKER_PROCESSES, else one per core)")] = None,
) -> None:
    """Run the whole stack on embedded servers, as `make run` does."""
    with _server_extras("dev"):
        from ..devstack.launcher import run_dev
    run_dev(root, port=port, database_url=database_url, workers=workers)


@db.command()
def upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply migrations."""
    with _server_extras("db upgrade"):
        from ..db.migrate import upgrade
        url = _database(database_url)
    upgrade(url)
    print("database schema is up to date")


@accounts.command()
def token(
    name: Annotated[str, typer.Argument(metavar="NAME")], database_url: DatabaseUrl = None,
    days: Annotated[float, typer.Option(metavar="DAYS", min=0.001, max=3650, envvar="DESIGNER_TOKEN_DAYS",
                                        show_envvar=False,
                                        help="days the token stays valid (default: $DESIGNER_TOKEN_DAYS or 90)")] = 90,
) -> None:
    """Create a designer account if needed and print a new token and when it expires."""
    import asyncio
    from datetime import timedelta

    with _server_extras("accounts token"):
        from ..admin import issue_designer_token
        url = _database(database_url)
    token, expires_at = asyncio.run(issue_designer_token(url, name, timedelta(days=days)))
    print_json({"account": name, "token": token, "expires_at": expires_at.isoformat(timespec="seconds")})


@accounts.command()
def revoke(name: Annotated[str, typer.Argument(metavar="NAME")], database_url: DatabaseUrl = None) -> None:
    """Revoke all designer tokens of an account (at once: the gateway checks tokens on every request)."""
    import asyncio

    with _server_extras("accounts revoke"):
        from ..admin import UnknownAccount, revoke_designer_tokens
        url = _database(database_url)
    try:
        revoked = asyncio.run(revoke_designer_tokens(url, name))
    except UnknownAccount:
        raise UserError(f"Expected the name of an existing account, got {name!r}") from None
    print_json({"account": name, "revoked_tokens": revoked.tokens, "revoked_sessions": revoked.sessions})


def _read_password(from_stdin: bool) -> str:
    import sys

    if from_stdin:
        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        raise UserError("Expected a terminal to ask for the password, got none: pass --password-stdin (one line on "
                        "stdin) or --generate")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return password


@accounts.command()
def password(
    name: Annotated[str, typer.Argument(metavar="NAME")], database_url: DatabaseUrl = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from the first line "
                                                                          "of stdin")] = False,
    generate: Annotated[bool, typer.Option("--generate", help="make up a random password and print it")] = False,
) -> None:
    """Set the password a designer signs in with in the browser (8 to 256 characters), creating the account if
    needed; asks for it twice unless --password-stdin or --generate. The account's browser sessions end."""
    import asyncio

    with _server_extras("accounts password"):
        from ..admin import set_password
        from ..passwords import check
        from ..passwords import generate as make_password
        url = _database(database_url)
    if password_stdin and generate:
        raise UserError("Expected at most one of --password-stdin and --generate, got both")
    secret = make_password() if generate else _read_password(password_stdin)
    try:
        check(secret)
    except ValueError as err:
        raise UserError(str(err)) from None
    done = asyncio.run(set_password(url, name, secret))
    out: dict[str, object] = {"account": name, "created": done.created, "signed_out_sessions": done.signed_out}
    if generate:
        out["password"] = secret
    print_json(out)
