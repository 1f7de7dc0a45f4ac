"""`playcorder export` builds a dataset of episodes and prints its links; `playcorder exports` lists them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from . import filters
from .errors import UserError
from .gateway import connect
from .options import Json, Study
from .output import Column, print_json, print_rows, size, when
from .progress import progress_bar

if TYPE_CHECKING:
    from ..sdk import Client

app = typer.Typer(help="A study's exports.", no_args_is_help=True)
# playcorder.exports.Format spelled out: importing it (pydantic models) would slow every command down
Format = Literal["rlds", "envlogger", "minari", "lerobot", "d3rlpy"]
Source = Literal["observation", "image"]
COLUMNS = (
    Column("id", lambda e: e["id"], no_wrap=True),
    Column("format", lambda e: e["format"]),
    Column("state", lambda e: e["state"]),
    Column("episodes", lambda e: e["episodes"], justify="right"),
    Column("steps", lambda e: f"{e['steps_done']}/{e['steps_total']}", justify="right"),
    Column("size", lambda e: size(e["size_bytes"]), justify="right"),
    Column("created", lambda e: when(e["created_at"])),
    Column("links until", lambda e: when(e["expires_at"])),
)


def finished(client: Client, export: dict[str, Any], timeout: float) -> dict[str, Any]:
    with progress_bar("steps") as update:
        export = client.wait_export(export["id"], timeout=timeout, on_progress=lambda e: update(
            e["steps_done"], e["steps_total"] or None, f"export {e['state']}"))
    if export["state"] == "failed":
        raise UserError(f"export {export['id']} failed: {export['error']}")
    return export


def downloaded(client: Client, export: dict[str, Any], directory: Path) -> list[str]:
    total = sum(f["size"] for f in export["files"]) if export.get("files") else export["size_bytes"]
    received = 0
    with progress_bar("bytes") as update:
        def advance(n: int) -> None:
            nonlocal received
            received += n
            update(received, total, "download")

        files = client.download_export(export, directory, on_bytes=advance)
    return [str(f) for f in files]


def show(export: dict[str, Any], directory: Path | None) -> None:
    print(f"export {export['id']}: {export['state']}")
    if export.get("url"):
        print(f"url (valid until {export['expires_at']}):\n{export['url']}")
    for f in export.get("files") or []:
        print(f"{f['path']} ({f['size']} bytes): {f['url']}")
    if directory:
        print(f"downloaded {len(export['downloaded'])} files into {directory}")


def export(
    ctx: typer.Context, study: Study,
    episode: Annotated[list[str] | None, typer.Option(
        metavar="ID", help="episode id (repeat); default: the episodes the filter options pick")] = None,
    env: filters.Env = None, state: filters.States = None, participant: filters.Participant = None,
    tag: filters.Tags = None, since: filters.Since = None, until: filters.Until = None,
    min_reward: filters.MinReward = None, max_reward: filters.MaxReward = None,
    study_version: filters.StudyVersion = None, campaign: filters.Campaign = None,
    condition: filters.Condition = None, channel: filters.Channel = None, where: filters.Where = None,
    game_id: filters.GameId = None,
    agent: Annotated[str | None, typer.Option(
        metavar="AGENT", help="only the episodes (of those picked) recording this agent of multi-agent games")] = None,
    dataset_format: Annotated[Format | None, typer.Option("--format", help="default: rlds")] = None,
    keep_metadata: Annotated[bool, typer.Option(
        "--keep-metadata", help="keep the image shown, raw input, info, tags and notes (stripped by default)")] = False,
    end_tag: Annotated[list[str] | None, typer.Option(
        metavar="TAG", help="end each episode at its first step with this tag (repeat)")] = None,
    tree: Annotated[bool, typer.Option(
        "--tree", help="the dataset's directory tree, file by file, not one ZIP")] = False,
    name: Annotated[str | None, typer.Option(
        metavar="NAME", help="dataset name (default: from the study's name)")] = None,
    version: Annotated[str | None, typer.Option(metavar="X.Y.Z", help="dataset version (default 1.0.0)")] = None,
    test_split: Annotated[float | None, typer.Option(
        metavar="SHARE", help="share of the episodes in a 'test' split, e.g. 0.2")] = None,
    frame_skip: Annotated[int | None, typer.Option(
        metavar="N", help="d3rlpy: recorded steps per row (default 4)")] = None,
    max_pool: Annotated[int | None, typer.Option(
        metavar="N", help="d3rlpy: max over this many frames (default 2)")] = None,
    stack: Annotated[int | None, typer.Option(metavar="N", help="d3rlpy: frames stacked (default 4)")] = None,
    frame_size: Annotated[str | None, typer.Option(
        "--size", metavar="HxW", help="d3rlpy: frames resized to HxW (default 84x84; 'none': as recorded)")] = None,
    color: Annotated[bool, typer.Option("--color", help="d3rlpy: RGB frames, not grayscale")] = False,
    frames: Annotated[Source | None, typer.Option(
        help="d3rlpy: frames from the observations (default) or the image shown")] = None,
    expires_in: Annotated[int | None, typer.Option(metavar="SECONDS", help="how long the links stay valid")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="wait until the export is built (progress bar)")] = False,
    download: Annotated[Path | None, typer.Option(
        metavar="DIR", help="wait, then download it into DIR (a ZIP is unpacked)")] = None,
    timeout: Annotated[float, typer.Option(metavar="SECONDS", help="longest wait")] = 3600,
    as_json: Json = False,
) -> None:
    """Export episodes as a dataset and print its download links.

    Formats: RLDS (TFDS layout), envlogger, Minari, LeRobot, d3rlpy (processed frames: --frame-skip, --max-pool,
    --stack, --size, --color, --frames). Without --episode, the filter options pick the episodes (by default every
    completed one). The links are presigned: they need no token, and they expire.
    """
    client = connect(ctx)
    given = {"frame_skip": frame_skip, "max_pool": max_pool, "stack": stack, "source": frames}
    processing: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if color:
        processing["grayscale"] = False
    if frame_size is not None:
        processing["size"] = _size(frame_size)
    options = {"format": dataset_format, "keep_metadata": keep_metadata, "end_tags": end_tag or None,
               "archive": not tree, "name": name, "version": version, "test_split": test_split,
               "processing": processing or None, "agent": agent}
    f = filters.Filter.of(env, state, participant, tag, since, until, min_reward, max_reward, study_version,
                          filters.Campaigns.of(campaign, condition, channel, where), game_id=game_id)
    created = client.create_export(study, episode or None, expires_in, filter=f.for_export(),
                                   **{k: v for k, v in options.items() if v is not None})
    if wait or download:
        created = finished(client, created, timeout)
    if download:
        created |= {"downloaded": downloaded(client, created, download)}
    if as_json:
        print_json(created)
    else:
        show(created, download)


def _size(text: str) -> list[int] | None:
    """'84x84' -> [84, 84]; 'none' (frames as recorded) -> None."""
    if text.lower() == "none":
        return None
    height, sep, width = text.lower().partition("x")
    if not (sep and height.isdigit() and width.isdigit()):
        raise UserError(f"Expected --size HxW (e.g. 84x84) or 'none', got {text!r}")
    return [int(height), int(width)]


@app.command("list")
def list_(ctx: typer.Context, study: Study, as_json: Json = False) -> None:
    """A study's exports with their state (--json: with their fresh links)."""
    print_rows(connect(ctx).list_exports(study), COLUMNS, as_json)
