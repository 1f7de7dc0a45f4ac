"""`playcorder`: the command-line tool for designers and operators (talks to the gateway; `dev` runs a local stack)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from .sdk import ApiError, Client, load_credentials


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _client(args: argparse.Namespace) -> Client:
    url, token = load_credentials(args.url, args.token)
    if not token:
        raise SystemExit(f"error: no designer token for {url}: pass --token, set PLAYCORDER_TOKEN, or run `make run` "
                         "(it stores the local designer's token)")
    return Client(url, token)


def _load_spec(path: str) -> dict[str, Any]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as err:
        raise SystemExit(f"error: expected a YAML or JSON study spec in {path}: {err}") from None
    if not isinstance(data, dict):
        raise SystemExit(f"error: expected a mapping at the top of {path}, got {type(data).__name__}")
    return data


# ------------------------------------------------------------------------------------------- commands
def cmd_studies_create(args: argparse.Namespace) -> None:
    _print(_client(args).create_study(_load_spec(args.file)))


def cmd_studies_list(args: argparse.Namespace) -> None:
    _print(_client(args).list_studies())


def cmd_studies_get(args: argparse.Namespace) -> None:
    _print(_client(args).get_study(args.study_id))


def cmd_participants_create(args: argparse.Namespace) -> None:
    client = _client(args)
    created = client.create_participant(args.study, args.external_id)
    _print(created | {"play_url": f"{client.url}/?token={created['token']}"})  # the page reads ?token=


def cmd_episodes_list(args: argparse.Namespace) -> None:
    rows = _client(args).list_episodes(
        args.study, state=args.state, env=args.env, participant=args.participant, started_after=args.since,
        started_before=args.until, min_reward=args.min_reward, max_reward=args.max_reward, tag=args.tag or None)
    if args.json:
        _print(rows)
        return
    print(f"{'id':32}  {'env':12}  {'state':11}  {'steps':>6}  {'reward':>8}  {'started':27}  tags")
    for e in rows:
        print(f"{e['id']:32}  {e['env'][:12]:12}  {e['state']:11}  {e['num_steps']:>6}  {e['total_reward']:>8.2f}  "
              f"{e['started_at']:27}  {','.join(e['tags'])}")


def cmd_episodes_get(args: argparse.Namespace) -> None:
    _print(_client(args).get_episode(args.episode_id))


def cmd_episodes_steps(args: argparse.Namespace) -> None:
    _print(_client(args).get_steps(args.episode_id, args.start, args.stop))


def cmd_episodes_tag(args: argparse.Namespace) -> None:
    client = _client(args)
    change = client.remove_tag if args.remove else client.add_tag
    _print(change(args.episode_id, args.label, args.step))


def cmd_episodes_notes(args: argparse.Namespace) -> None:
    _print(_client(args).edit_notes(args.episode_id, args.text))


def cmd_episodes_delete(args: argparse.Namespace) -> None:
    _client(args).delete_episode(args.episode_id)
    _print({"deleted": args.episode_id})


def cmd_sessions_list(args: argparse.Namespace) -> None:
    _print(_client(args).list_sessions(args.study, participant=args.participant, env=args.env))


def cmd_participants_get(args: argparse.Namespace) -> None:
    _print(_client(args).get_participant(args.participant_id))


def cmd_bot(args: argparse.Namespace) -> None:
    from .sdk.bot import BotError, play

    client = _client(args)
    participant = client.create_participant(args.study, external_id="bot")
    try:
        summary = asyncio.run(play(client.url, participant["token"], args.env, args.episodes, args.max_steps, args.seed))
    except BotError as err:
        raise SystemExit(f"error: {err}") from None
    _print(summary.to_dict() | {"study_id": args.study, "env": args.env, "participant_id": participant["participant_id"]})


def _filter(args: argparse.Namespace) -> dict[str, Any] | None:
    f = {"env": args.env, "states": args.state, "participant": args.participant, "tags": args.tag,
         "started_after": args.since, "started_before": args.until, "min_reward": args.min_reward,
         "max_reward": args.max_reward}
    f = {k: v for k, v in f.items() if v is not None and v != []}  # a bound of 0 is a bound
    return f or None


def cmd_export(args: argparse.Namespace) -> None:
    client = _client(args)
    options = {"format": args.format, "keep_metadata": args.keep_metadata, "end_tags": args.end_tag or None,
               "archive": not args.tree, "name": args.name, "version": args.version, "test_split": args.test_split}
    export = client.create_export(args.study, args.episode or None, args.expires_in, filter=_filter(args),
                                  **{k: v for k, v in options.items() if v is not None})
    if args.wait or args.download:
        show = not args.json or sys.stderr.isatty()

        def progress(e: dict[str, Any]) -> None:
            if show and e["steps_total"]:
                done = e["steps_done"] / e["steps_total"]
                bar = "#" * int(done * 30)
                print(f"\r[{bar:30}] {e['steps_done']}/{e['steps_total']} steps  {e['state']}", end="", file=sys.stderr)

        export = client.wait_export(export["id"], timeout=args.timeout, on_progress=progress)
        if show:
            print(file=sys.stderr)
        if export["state"] == "failed":
            raise SystemExit(f"error: export {export['id']} failed: {export['error']}")
    if args.download:
        files = client.download_export(export, Path(args.download))
        export = export | {"downloaded": [str(f) for f in files]}
    if args.json:
        _print(export)
        return
    print(f"export {export['id']}: {export['state']}")
    if export.get("url"):
        print(f"url (valid until {export['expires_at']}):\n{export['url']}")
    for f in export.get("files") or []:
        print(f"{f['path']} ({f['size']} bytes): {f['url']}")
    if args.download:
        print(f"downloaded {len(export['downloaded'])} files into {args.download}")


def cmd_exports_list(args: argparse.Namespace) -> None:
    _print(_client(args).list_exports(args.study))


def cmd_dev(args: argparse.Namespace) -> None:
    from .devstack.launcher import run_dev

    run_dev(Path(args.root), port=args.port, database_url=args.database_url or os.environ.get("DATABASE_URL"))


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    from .db.migrate import upgrade
    from .settings import DatabaseSettings

    upgrade(DatabaseSettings(url=args.database_url or os.environ.get("DATABASE_URL", "")).url)
    print("database schema is up to date")


def cmd_accounts_token(args: argparse.Namespace) -> None:
    from .admin import create_designer_token
    from .settings import DatabaseSettings

    url = DatabaseSettings(url=args.database_url or os.environ.get("DATABASE_URL", "")).url
    _print({"account": args.name, "token": asyncio.run(create_designer_token(url, args.name))})


# ------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="playcorder", description=__doc__)
    parser.add_argument("--url", help="gateway URL (default: $PLAYCORDER_URL or the one `make run` stored)")
    parser.add_argument("--token", help="designer token (default: $PLAYCORDER_TOKEN or the stored one)")
    sub = parser.add_subparsers(dest="command", required=True)

    studies = sub.add_parser("studies", help="create and list studies").add_subparsers(dest="action", required=True)
    p = studies.add_parser("create", help="create a study from a YAML or JSON spec file ('-' for stdin)")
    p.add_argument("file")
    p.set_defaults(fn=cmd_studies_create)
    studies.add_parser("list", help="list your studies").set_defaults(fn=cmd_studies_list)
    p = studies.add_parser("get", help="show one study")
    p.add_argument("study_id")
    p.set_defaults(fn=cmd_studies_get)

    parts = sub.add_parser("participants", help="participant play tokens").add_subparsers(dest="action", required=True)
    p = parts.add_parser("create", help="create a participant and print their play token")
    p.add_argument("--study", required=True)
    p.add_argument("--external-id")
    p.set_defaults(fn=cmd_participants_create)
    p = parts.add_parser("get", help="a participant's sessions and episodes")
    p.add_argument("participant_id")
    p.set_defaults(fn=cmd_participants_get)

    sess = sub.add_parser("sessions", help="play sessions").add_subparsers(dest="action", required=True)
    p = sess.add_parser("list", help="who played which environment of a study, and when")
    p.add_argument("--study", required=True)
    p.add_argument("--participant")
    p.add_argument("--env")
    p.set_defaults(fn=cmd_sessions_list)

    eps = sub.add_parser("episodes", help="recorded episodes").add_subparsers(dest="action", required=True)
    p = eps.add_parser("list", help="list a study's episodes, filtered")
    p.add_argument("--study", required=True)
    p.add_argument("--state", help="recording, completed, rejected, cancelled, abandoned or interrupted")
    p.add_argument("--env", help="environment key or Gymnasium id")
    p.add_argument("--participant", help="participant id")
    p.add_argument("--since", help="started at or after this ISO time")
    p.add_argument("--until", help="started before this ISO time")
    p.add_argument("--min-reward", type=float)
    p.add_argument("--max-reward", type=float)
    p.add_argument("--tag", action="append", help="carrying this tag (repeat: all of them)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(fn=cmd_episodes_list)
    p = eps.add_parser("get", help="one episode's metadata, tags, step tags and notes")
    p.add_argument("episode_id")
    p.set_defaults(fn=cmd_episodes_get)
    p = eps.add_parser("steps", help="an episode's recorded steps start..stop-1 (at most 1000)")
    p.add_argument("episode_id")
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--stop", type=int)
    p.set_defaults(fn=cmd_episodes_steps)
    p = eps.add_parser("tag", help="tag an episode, or one of its steps with --step")
    p.add_argument("episode_id")
    p.add_argument("label")
    p.add_argument("--step", type=int, help="tag this step instead of the episode")
    p.add_argument("--remove", action="store_true", help="remove the tag instead")
    p.set_defaults(fn=cmd_episodes_tag)
    p = eps.add_parser("notes", help="set an episode's notes ('' removes them)")
    p.add_argument("episode_id")
    p.add_argument("text")
    p.set_defaults(fn=cmd_episodes_notes)
    p = eps.add_parser("delete", help="delete a finished episode: its metadata and stored steps")
    p.add_argument("episode_id")
    p.set_defaults(fn=cmd_episodes_delete)

    p = sub.add_parser("bot", help="play episodes with a random policy over the browser's WebSocket protocol")
    p.add_argument("--study", required=True)
    p.add_argument("--env", required=True, help="environment key in the study, or its Gymnasium id")
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--max-steps", type=int, help="end (and save) each episode after this many actions "
                   "(a realtime env may tick once or twice more before the end reaches it)")
    p.add_argument("--seed", type=int, help="seed of the random policy")
    p.set_defaults(fn=cmd_bot)

    p = sub.add_parser("export", help="export episodes as a dataset (RLDS, envlogger, Minari, LeRobot) and print its "
                                      "presigned link(s)")
    p.add_argument("--study", required=True)
    p.add_argument("--episode", action="append", help="episode id (repeat); default: the filter below")
    p.add_argument("--env", help="filter: environment key or Gymnasium id")
    p.add_argument("--state", action="append", help="filter: episode state (repeat; default: completed)")
    p.add_argument("--participant", help="filter: participant id")
    p.add_argument("--tag", action="append", help="filter: carrying this tag (repeat: all of them)")
    p.add_argument("--since", help="filter: started at or after this ISO time")
    p.add_argument("--until", help="filter: started before this ISO time")
    p.add_argument("--min-reward", type=float, help="filter: total reward at least")
    p.add_argument("--max-reward", type=float, help="filter: total reward at most")
    # the names of playcorder.exports.Format, spelled out: importing it (pydantic models) slows every command
    p.add_argument("--format", choices=["rlds", "envlogger", "minari", "lerobot"], help="default: rlds")
    p.add_argument("--keep-metadata", action="store_true",
                   help="keep the image shown, raw input, info, tags and notes (stripped by default)")
    p.add_argument("--end-tag", action="append", help="end each episode at its first step with this tag (repeat)")
    p.add_argument("--tree", action="store_true", help="the dataset's directory tree, file by file, not one ZIP")
    p.add_argument("--name", help="dataset name (default: from the study's name)")
    p.add_argument("--version", help="dataset version, x.y.z (default 1.0.0)")
    p.add_argument("--test-split", type=float, help="share of the episodes in a 'test' split, e.g. 0.2")
    p.add_argument("--expires-in", type=int, help="seconds the download links stay valid")
    p.add_argument("--wait", action="store_true", help="wait until the export is built (progress bar on stderr)")
    p.add_argument("--download", metavar="DIR", help="wait, then download it into DIR (a ZIP is unpacked)")
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(fn=cmd_export)

    exps = sub.add_parser("exports", help="a study's exports").add_subparsers(dest="action", required=True)
    p = exps.add_parser("list", help="a study's exports with their state and links")
    p.add_argument("--study", required=True)
    p.set_defaults(fn=cmd_exports_list)

    p = sub.add_parser("dev", help="run the whole stack locally on embedded servers (what `make run` does)")
    p.add_argument("--root", default=".run", help="directory for data and logs")
    p.add_argument("--port", type=int, default=8000, help="gateway port")
    p.add_argument("--database-url", help="use this PostgreSQL instead of an embedded one")
    p.set_defaults(fn=cmd_dev)

    db = sub.add_parser("db", help="database administration").add_subparsers(dest="action", required=True)
    p = db.add_parser("upgrade", help="apply migrations ($DATABASE_URL)")
    p.add_argument("--database-url")
    p.set_defaults(fn=cmd_db_upgrade)

    acc = sub.add_parser("accounts", help="designer accounts").add_subparsers(dest="action", required=True)
    p = acc.add_parser("token", help="create a designer account if needed and print a new token ($DATABASE_URL)")
    p.add_argument("name")
    p.add_argument("--database-url")
    p.set_defaults(fn=cmd_accounts_token)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.fn(args)
    except ApiError as err:
        raise SystemExit(f"error: {err}") from None
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
    except (httpx.HTTPError, ConnectionError) as err:
        raise SystemExit(f"error: cannot reach the gateway: {err}") from None


if __name__ == "__main__":
    main()
