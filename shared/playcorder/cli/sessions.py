"""`playcorder sessions`: who played which environment of a study, and when."""

from __future__ import annotations

import typer

from . import filters
from .gateway import connect
from .options import Json, Study
from .output import Column, print_rows, when

app = typer.Typer(help="Play sessions.", no_args_is_help=True)
COLUMNS = (
    Column("id", lambda s: s["id"], no_wrap=True),
    Column("participant", lambda s: s["participant_id"], no_wrap=True),
    Column("env", lambda s: s["env"]),
    Column("worker", lambda s: s["worker_id"]),
    Column("started", lambda s: when(s["started_at"])),
    Column("ended", lambda s: when(s["ended_at"])),
    Column("episodes", lambda s: s["episodes"], justify="right"),
)


@app.command("list")
def list_(ctx: typer.Context, study: Study, participant: filters.Participant = None, env: filters.Env = None,
          as_json: Json = False) -> None:
    """Who played which environment of a study, and when."""
    rows = connect(ctx).list_sessions(study, participant=participant, env=env)
    print_rows(rows, COLUMNS, as_json)
