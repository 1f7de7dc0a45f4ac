"""`playcorder studies`: create, list, show and edit studies (each edit a new version); enable, disable, archive
or delete one."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from .errors import UserError, api_error_lines
from .gateway import connect
from .options import Json
from .output import Column, print_json, print_rows, when

app = typer.Typer(help="Create, list, edit, enable, disable, archive and delete studies.", no_args_is_help=True)
StudyId = Annotated[str, typer.Argument(metavar="STUDY_ID")]
Envs = Annotated[list[str] | None, typer.Option("--env", metavar="KEY",
                                                help="only this environment of the study (repeatable)")]
COLUMNS = (
    Column("id", lambda s: s["id"], no_wrap=True),
    Column("name", lambda s: s["name"]),
    Column("version", lambda s: s["version"], justify="right"),
    Column("environments", lambda s: ", ".join(
        e["id"] + (" (disabled)" if e["id"] in s["disabled_environments"] else "") for e in s["spec"]["environments"])),
    Column("enabled", lambda s: "yes" if s["enabled"] else "no"),
    Column("episodes", lambda s: s["episode_count"], justify="right"),
    Column("created", lambda s: when(s["created_at"])),
)
VERSION_COLUMNS = (
    Column("version", lambda v: v["version"], justify="right"),
    Column("name", lambda v: v["spec"]["name"]),
    Column("environments", lambda v: ", ".join(f"{e['id']} ({e['env_id']})" for e in v["spec"]["environments"])),
    Column("created", lambda v: when(v["created_at"])),
)


def load_spec(path: str, what: str = "study") -> dict[str, Any]:
    """The mapping in a YAML or JSON spec file ('-': stdin); `what` names the spec in the errors ("campaign")."""
    import yaml

    source = "stdin" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else str(err)
        raise UserError(f"Expected a readable {what} spec file, got {source!r}: {reason}") from None
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"Expected a YAML or JSON {what} spec in {source}, got {err.problem}{where}") from None
    except yaml.YAMLError as err:
        raise UserError(f"Expected a YAML or JSON {what} spec in {source}, got {err}") from None
    if not isinstance(data, dict):
        raise UserError(f"Expected a mapping at the top of {source}, got {type(data).__name__}")
    plain: dict[str, Any] = _plain(data)
    return plain


def _plain(data: Any) -> Any:
    """YAML's timestamps (an unquoted `starts_at: 2026-12-10T09:00:00Z`) as the ISO strings JSON carries."""
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data.isoformat() if isinstance(data, date) else data


def _send_spec(call: Callable[[dict[str, Any]], dict[str, Any]], file: str) -> None:
    from ..sdk import ApiError

    spec = load_spec(file)
    try:
        print_json(call(spec))
    except ApiError as err:
        from ..specs import StudySpec  # pydantic: only to suggest the field a misspelled one meant

        raise UserError(*api_error_lines(err, StudySpec)) from None


SpecFile = Annotated[str, typer.Argument(metavar="FILE")]


@app.command()
def create(ctx: typer.Context, file: SpecFile) -> None:
    """Create a study from a YAML or JSON spec file ('-' for stdin)."""
    _send_spec(connect(ctx).create_study, file)


@app.command()
def update(ctx: typer.Context, study_id: StudyId, file: SpecFile) -> None:
    """Replace a study's spec from a YAML or JSON file ('-' for stdin): a new version when it differs from the
    current one. Episodes keep the version they were played with."""
    client = connect(ctx)
    _send_spec(lambda spec: client.update_study(study_id, spec), file)


@app.command("list")
def list_(ctx: typer.Context, as_json: Json = False,
          archived: Annotated[bool, typer.Option("--archived", help="only the archived studies")] = False) -> None:
    """List your studies (the archived ones are hidden unless --archived)."""
    rows = connect(ctx).list_studies(archived=archived)
    print_rows(rows, COLUMNS, as_json)


@app.command()
def get(ctx: typer.Context, study_id: StudyId,
        version: Annotated[int | None, typer.Option(metavar="N", min=1, help="this version's spec")] = None) -> None:
    """Show one study (or one version of its spec)."""
    client = connect(ctx)
    print_json(client.get_study(study_id) if version is None else client.get_study_version(study_id, version))


@app.command()
def versions(ctx: typer.Context, study_id: StudyId, as_json: Json = False) -> None:
    """List the versions of a study's spec, oldest first."""
    print_rows(connect(ctx).list_study_versions(study_id), VERSION_COLUMNS, as_json)


def _switch(ctx: typer.Context, study_id: str, on: bool, envs: list[str] | None) -> None:
    client = connect(ctx)
    if not envs:
        print_json(client.set_study(study_id, enabled=on))
        return
    disabled = client.get_study(study_id)["disabled_environments"]
    changed = [k for k in disabled if k not in envs] if on else list(dict.fromkeys([*disabled, *envs]))
    print_json(client.set_study(study_id, disabled_environments=changed))


@app.command()
def enable(ctx: typer.Context, study_id: StudyId, env: Envs = None) -> None:
    """Let participants start sessions of the study again (or, with --env, play these environments again)."""
    _switch(ctx, study_id, True, env)


@app.command()
def disable(ctx: typer.Context, study_id: StudyId, env: Envs = None) -> None:
    """Stop participants from starting sessions of the study (or, with --env, from picking these environments);
    sessions already running go on."""
    _switch(ctx, study_id, False, env)


@app.command()
def archive(ctx: typer.Context, study_id: StudyId,
            undo: Annotated[bool, typer.Option("--undo", help="unarchive it")] = False) -> None:
    """Archive a study: hidden from the list and closed to participants; its episodes stay."""
    print_json(connect(ctx).set_study(study_id, archived=not undo))


@app.command()
def delete(ctx: typer.Context, study_id: StudyId) -> None:
    """Delete a study without episodes (one with episodes is archived instead: `studies archive`)."""
    connect(ctx).delete_study(study_id)
    print_json({"study_id": study_id, "deleted": True})
