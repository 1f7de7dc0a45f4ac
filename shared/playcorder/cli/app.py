"""The `playcorder` command: the global options, its command groups, and user errors shown without a traceback."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from . import admin, bot, campaigns, episodes, exports, load, participants, sessions, studies
from .errors import explain
from .gateway import Gateway

app = typer.Typer(
    help="Playcorder: record people playing environments, browse the episodes, export them as datasets.",
    # Click's plain help: rich's help formatter costs ~0.15 s of start-up, and `--help` has 0.4 s.
    rich_markup_mode=None, pretty_exceptions_enable=False, add_completion=False, no_args_is_help=True,
)
app.add_typer(studies.app, name="studies")
app.add_typer(participants.app, name="participants")
app.add_typer(campaigns.app, name="campaigns")
app.add_typer(sessions.app, name="sessions")
app.add_typer(episodes.app, name="episodes")
app.command()(bot.bot)
app.command()(load.load)
app.command()(exports.export)
app.add_typer(exports.app, name="exports")
app.command()(admin.dev)
app.add_typer(admin.db, name="db")
app.add_typer(admin.accounts, name="accounts")


@app.callback()
def _gateway(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(metavar="URL", help="gateway URL (default: $PLAYCORDER_URL or the "
                                                                "one `make run` stored)")] = None,
    token: Annotated[str | None, typer.Option(metavar="TOKEN", help="designer token (default: $PLAYCORDER_TOKEN "
                                                                    "or the stored one)")] = None,
) -> None:
    ctx.obj = Gateway(url, token)


def main() -> None:
    """The entry point: a user error prints its lines on stderr and exits 1; a bug keeps its traceback."""
    try:
        app(prog_name="playcorder")
    except Exception as err:
        lines = explain(err)
        if lines is None:
            raise
        for line in lines:
            print(f"error: {line}", file=sys.stderr)
        raise SystemExit(1) from None
