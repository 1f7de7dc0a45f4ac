"""`playcorder episodes`: browse recorded episodes, tag them, annotate them, delete them."""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Callable
from typing import Annotated

import typer

from . import filters
from .errors import UserError
from .gateway import connect
from .options import Json, Study
from .output import Column, Row, print_json, print_rows, when

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


Sort = Annotated[str | None, typer.Option(
    metavar="KEY", help="order by started_at (the default), total_reward, num_steps, active_s or a statistic (e.g. "
                        "score); '-' first for descending (--sort=-score: the best first)")]
Csv = Annotated[bool, typer.Option("--csv", help="print CSV (one column per field and per statistic)")]
_NAMED = re.compile(r" *-?([a-z][a-z0-9_]*)")
# playcorder.episode_query.SORT_COLUMNS spelled out: importing it (pydantic) would slow every command down
_NOT_STATS = {"started_at", "total_reward", "num_steps", "active_s"}


def _stat_columns(where: list[str] | None, sort: str | None) -> list[Column]:
    """A column for each statistic the query names (in --where, --sort): what it was asked about."""
    named = [m.group(1) for text in [*(where or ()), sort or ""] if (m := _NAMED.match(text))]
    return [Column(name, _stat(name), justify="right") for name in dict.fromkeys(named) if name not in _NOT_STATS]


def _stat(name: str) -> Callable[[Row], object]:
    def shown(episode: Row) -> str:
        value = (episode.get("stats") or {}).get(name)
        return "" if value is None else f"{value:g}"

    return shown


def print_csv(rows: list[Row]) -> None:
    """The episodes as CSV: their fields, then one column per statistic (the SDK's DataFrame columns)."""
    from ..sdk.episodes import flattened

    fields, stats, flat = flattened(rows)
    out = csv.DictWriter(sys.stdout, [*fields, *stats], lineterminator="\n")
    out.writeheader()
    for row in flat:
        out.writerow({k: ";".join(v) if isinstance(v, list) else v for k, v in row.items()})


@app.command("list")
def list_(ctx: typer.Context, study: Study, env: filters.Env = None, state: filters.States = None,
          participant: filters.Participant = None, tag: filters.Tags = None, since: filters.Since = None,
          until: filters.Until = None, min_reward: filters.MinReward = None, max_reward: filters.MaxReward = None,
          study_version: filters.StudyVersion = None, campaign: filters.Campaign = None,
          condition: filters.Condition = None, channel: filters.Channel = None, where: filters.Where = None,
          game_id: filters.GameId = None, agent: filters.Agent = None,
          sort: Sort = None, as_json: Json = False, as_csv: Csv = False) -> None:
    """List a study's episodes, filtered (by statistics too: --where 'score >= 50') and sorted (--sort=-score)."""
    if as_json and as_csv:
        raise UserError("Expected --json or --csv, got both")
    f = filters.Filter.of(env, state, participant, tag, since, until, min_reward, max_reward, study_version,
                          filters.Campaigns.of(campaign, condition, channel, where), game_id=game_id, agent=agent)
    rows = connect(ctx).list_episodes(study, **f.query(), sort=sort)
    if as_csv:
        print_csv(rows)
    else:
        print_rows(rows, [*COLUMNS, *_stat_columns(where, sort)], as_json)


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
