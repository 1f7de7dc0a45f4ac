"""`playcorder participants`: play tokens, and what a participant played."""

from __future__ import annotations

from typing import Annotated

import typer

from .gateway import connect
from .options import Study
from .output import print_json

app = typer.Typer(help="Participants' play tokens.", no_args_is_help=True)


@app.command()
def create(ctx: typer.Context, study: Study,
           external_id: Annotated[str | None, typer.Option(metavar="ID", help="your own id for them")] = None) -> None:
    """Create a participant and print their play token and link."""
    client = connect(ctx)
    created = client.create_participant(study, external_id)
    print_json(created | {"play_url": f"{client.url}/?token={created['token']}"})  # the page reads ?token=


@app.command()
def get(ctx: typer.Context, participant_id: Annotated[str, typer.Argument(metavar="PARTICIPANT_ID")]) -> None:
    """A participant's sessions and episodes."""
    print_json(connect(ctx).get_participant(participant_id))
