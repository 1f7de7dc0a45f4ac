"""`playcorder participants`: play tokens (create, revoke), and what a participant played."""

from __future__ import annotations

from typing import Annotated

import typer

from .gateway import connect
from .options import Study
from .output import print_json

ParticipantId = Annotated[str, typer.Argument(metavar="PARTICIPANT_ID")]
app = typer.Typer(help="Participants' play tokens.", no_args_is_help=True)


@app.command()
def create(ctx: typer.Context, study: Study,
           external_id: Annotated[str | None, typer.Option(metavar="ID", help="your own id for them")] = None,
           expires_in: Annotated[int | None, typer.Option(
               metavar="SECONDS", min=60, help="seconds the token stays valid (default: the gateway's maximum, "
                                               "30 days unless its operator set PARTICIPANT_TOKEN_TTL)")] = None,
           ) -> None:
    """Create a participant and print their play token, when it expires and their play link."""
    client = connect(ctx)
    created = client.create_participant(study, external_id, expires_in)
    print_json(created | {"play_url": f"{client.url}/?token={created['token']}"})  # the page reads ?token=


@app.command()
def get(ctx: typer.Context, participant_id: ParticipantId) -> None:
    """A participant's sessions and episodes."""
    print_json(connect(ctx).get_participant(participant_id))


@app.command()
def revoke(ctx: typer.Context, participant_id: ParticipantId) -> None:
    """Revoke a participant's play tokens; their live sessions end (the unfinished episode is abandoned)."""
    print_json({"participant_id": participant_id} | connect(ctx).revoke_participant(participant_id))
