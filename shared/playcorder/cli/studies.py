"""`playcorder studies`: create, list and show studies."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .errors import UserError, api_error_lines
from .gateway import connect
from .options import Json
from .output import Column, print_json, print_rows, when

app = typer.Typer(help="Create and list studies.", no_args_is_help=True)
COLUMNS = (
    Column("id", lambda s: s["id"], no_wrap=True),
    Column("name", lambda s: s["name"]),
    Column("environments", lambda s: ", ".join(e["id"] for e in s["spec"]["environments"])),
    Column("created", lambda s: when(s["created_at"])),
)


def load_spec(path: str) -> dict[str, Any]:
    import yaml

    source = "stdin" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else str(err)
        raise UserError(f"Expected a readable study spec file, got {source!r}: {reason}") from None
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"Expected a YAML or JSON study spec in {source}, got {err.problem}{where}") from None
    except yaml.YAMLError as err:
        raise UserError(f"Expected a YAML or JSON study spec in {source}, got {err}") from None
    if not isinstance(data, dict):
        raise UserError(f"Expected a mapping at the top of {source}, got {type(data).__name__}")
    return data


@app.command()
def create(ctx: typer.Context, file: Annotated[str, typer.Argument(metavar="FILE")]) -> None:
    """Create a study from a YAML or JSON spec file ('-' for stdin)."""
    from ..sdk import ApiError

    spec = load_spec(file)
    try:
        print_json(connect(ctx).create_study(spec))
    except ApiError as err:
        from ..specs import StudySpec  # pydantic: only to suggest the field a misspelled one meant

        raise UserError(*api_error_lines(err, StudySpec)) from None


@app.command("list")
def list_(ctx: typer.Context, as_json: Json = False) -> None:
    """List your studies."""
    rows = connect(ctx).list_studies()
    print_rows(rows, COLUMNS, as_json)


@app.command()
def get(ctx: typer.Context, study_id: Annotated[str, typer.Argument(metavar="STUDY_ID")]) -> None:
    """Show one study."""
    print_json(connect(ctx).get_study(study_id))
