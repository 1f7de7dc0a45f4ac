"""`playcorder episodes`: browse recorded episodes, tag them, annotate them, delete them."""

from __future__ import annotations

from typing import Annotated

import typer

from . import filters
from .gateway import connect
from .options import Json, Study
from .output import Column, print_json, print_rows, when

app = typer.Typer(help="Recorded episodes.", no_args_is_help=True)
EpisodeId = Annotated[str, typer.Argument(metavar="EPISODE_ID")]
COLUMNS = (
    Column("id", lambda e: e["id"], no_wrap=True),
    Column("env", lambda e: e["env"]),
    Column("state", lambda e: e["state"]),
    Column("steps", lambda e: e["num_steps"], justify="right"),
    Column("reward", lambda e: f"{e['total_reward']:.2f}", justify="right"),
    Column("started", lambda e: when(e["started_at"])),
    Column("tags", lambda e: ", ".join(e["tags"])),
)


@app.command("list")
def list_(ctx: typer.Context, study: Study, env: filters.Env = None, state: filters.States = None,
          participant: filters.Participant = None, tag: filters.Tags = None, since: filters.Since = None,
          until: filters.Until = None, min_reward: filters.MinReward = None, max_reward: filters.MaxReward = None,
          study_version: filters.StudyVersion = None, as_json: Json = False) -> None:
    """List a study's episodes, filtered."""
    f = filters.Filter.of(env, state, participant, tag, since, until, min_reward, max_reward, study_version)
    print_rows(connect(ctx).list_episodes(study, **f.query()), COLUMNS, as_json)


@app.command()
def get(ctx: typer.Context, episode_id: EpisodeId) -> None:
    """One episode's metadata, tags, step tags and notes."""
    print_json(connect(ctx).get_episode(episode_id))


@app.command()
def steps(ctx: typer.Context, episode_id: EpisodeId,
          start: Annotated[int, typer.Option(metavar="N", help="first step")] = 0,
          stop: Annotated[int | None, typer.Option(metavar="N", help="end before this step")] = None) -> None:
    """An episode's recorded steps start..stop-1 (at most 1000)."""
    print_json(connect(ctx).get_steps(episode_id, start, stop))


@app.command()
def tag(ctx: typer.Context, episode_id: EpisodeId, label: Annotated[str, typer.Argument(metavar="LABEL")],
        step: Annotated[int | None, typer.Option(metavar="N", help="tag this step instead of the episode")] = None,
        remove: Annotated[bool, typer.Option("--remove", help="remove the tag instead")] = False) -> None:
    """Tag an episode, or one of its steps with --step."""
    client = connect(ctx)
    change = client.remove_tag if remove else client.add_tag
    print_json(change(episode_id, label, step))


@app.command()
def notes(ctx: typer.Context, episode_id: EpisodeId, text: Annotated[str, typer.Argument(metavar="TEXT")]) -> None:
    """Set an episode's notes ('' removes them)."""
    print_json(connect(ctx).edit_notes(episode_id, text))


@app.command()
def delete(ctx: typer.Context, episode_id: EpisodeId) -> None:
    """Delete a finished episode: its metadata and stored steps."""
    connect(ctx).delete_episode(episode_id)
    print_json({"deleted": episode_id})
