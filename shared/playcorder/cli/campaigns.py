"""`playcorder campaigns`: crowd campaigns of a study (docs/campaigns.md): create, list, show, edit and close one,
with the URL to give the platform; its participants (a table, JSON or CSV), a dashboard summary and the bonus
table."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from .errors import UserError, api_error_lines
from .gateway import connect
from .options import Json
from .output import Column, Row, print_json, print_rows, when
from .studies import SpecFile, load_spec

app = typer.Typer(help="Crowd campaigns: recruit on Prolific, MTurk or a link; participants, dashboard, bonuses.",
                  no_args_is_help=True)
CampaignId = Annotated[str, typer.Argument(metavar="CAMPAIGN_ID")]
StudyOption = Annotated[str, typer.Option("--study", metavar="STUDY_ID", help="the study it recruits for")]
Csv = Annotated[bool, typer.Option("--csv", help="print CSV (one column per field, statistic and answer)")]
# What each platform is given after /c/<id>: Prolific replaces its {{%...%}} placeholders with the participant's
# ids; MTurk appends workerId, assignmentId, hitId and turkSubmitTo to an ExternalQuestion's URL by itself; a plain
# link's participant id is yours to fill in (1-128 of A-Za-z0-9_.:@+=-).
URL_PARAMS = {"prolific": "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}",
              "mturk": "", "link": "?participant=<id>"}
COLUMNS = (
    Column("id", lambda c: c["id"], no_wrap=True),
    Column("name", lambda c: c["name"]),
    Column("channel", lambda c: c["channel"]),
    Column("conditions", lambda c: ", ".join(k["id"] for k in c["spec"]["conditions"])),
    Column("closed", lambda c: "yes" if c["closed"] else "no"),
    Column("created", lambda c: when(c["created_at"])),
)
PARTICIPANT_COLUMNS = (
    Column("participant", lambda p: p["participant_id"], no_wrap=True),
    Column("condition", lambda p: p["condition"] or ""),
    Column("stage", lambda p: p["stage"]),
    Column("completion", lambda p: f"{p['completion']:.0%}", justify="right"),
    Column("bonus", lambda p: "" if p["bonus"] is None else f"{p['bonus']:.2f}", justify="right"),
    Column("arrived", lambda p: when(p["created_at"])),
    Column("last seen", lambda p: when(p["last_seen_at"])),
)
# The gateway's EnrollmentOut fields, in its order (values and answers become columns of their own in the CSV).
PARTICIPANT_FIELDS = ("id", "participant_id", "condition", "stage", "completion", "bonus", "completion_code",
                      "created_at", "last_seen_at", "completed_at")


def participant_url(gateway: str, campaign: Row) -> str:
    """The URL participants arrive at: the web app's /c/<id> with the URL parameters of the campaign's channel."""
    return f"{gateway.rstrip('/')}{campaign['link']}{URL_PARAMS.get(campaign['channel'], '')}"


def _shown(gateway: str, campaign: Row) -> Row:
    return {**campaign, "participant_url": participant_url(gateway, campaign)}


def _send(call: Callable[[dict[str, Any]], Row], file: str, gateway: str) -> None:
    from ..sdk import ApiError

    spec = load_spec(file, "campaign")
    try:
        print_json(_shown(gateway, call(spec)))
    except ApiError as err:
        from ..campaigns import CampaignSpec  # pydantic: only to suggest the field a misspelled one meant

        raise UserError(*api_error_lines(err, CampaignSpec)) from None


@app.command()
def create(ctx: typer.Context, file: SpecFile, study: StudyOption) -> None:
    """Create a campaign from a YAML or JSON spec file ('-' for stdin); prints it with `participant_url`, the URL
    to give the platform."""
    client = connect(ctx)
    _send(lambda spec: client.create_campaign(study, spec), file, client.url)


@app.command()
def edit(ctx: typer.Context, campaign_id: CampaignId, file: SpecFile) -> None:
    """Replace a campaign's spec from a YAML or JSON file ('-' for stdin); conditions that have participants must
    stay, and so must the channel once anyone arrived."""
    client = connect(ctx)
    _send(lambda spec: client.update_campaign(campaign_id, spec), file, client.url)


@app.command("list")
def list_(ctx: typer.Context, study: StudyOption, as_json: Json = False) -> None:
    """List a study's campaigns, oldest first."""
    client = connect(ctx)
    print_rows([_shown(client.url, c) for c in client.list_campaigns(study)], COLUMNS, as_json)


@app.command()
def get(ctx: typer.Context, campaign_id: CampaignId) -> None:
    """Show a campaign: its spec, completion code and `participant_url`, the URL to give the platform."""
    client = connect(ctx)
    print_json(_shown(client.url, client.get_campaign(campaign_id)))


@app.command()
def close(ctx: typer.Context, campaign_id: CampaignId) -> None:
    """Enroll no one new; those enrolled may finish (and those returning resume)."""
    client = connect(ctx)
    print_json(_shown(client.url, client.close_campaign(campaign_id)))


def print_participants_csv(rows: list[Row]) -> None:
    """One line per participant: their fields, then a column per statistic (`values.<name>` where a field has that
    name) and per questionnaire answer (`answers.<question id>`), each sorted by name."""
    stats = sorted({name for r in rows for name in r.get("values") or {}})
    questions = sorted({qid for r in rows for qid in r.get("answers") or {}})
    stat_column = {n: f"values.{n}" if n in PARTICIPANT_FIELDS else n for n in stats}
    out = csv.DictWriter(sys.stdout, [*PARTICIPANT_FIELDS, *stat_column.values(),
                                      *(f"answers.{q}" for q in questions)], lineterminator="\n")
    out.writeheader()
    for r in rows:
        out.writerow({**{f: r.get(f) for f in PARTICIPANT_FIELDS},
                      **{stat_column[n]: v for n, v in (r.get("values") or {}).items()},
                      **{f"answers.{q}": v for q, v in (r.get("answers") or {}).items()}})


@app.command()
def participants(ctx: typer.Context, campaign_id: CampaignId, as_json: Json = False, as_csv: Csv = False) -> None:
    """The campaign's participants (the first 10,000): condition, stage, completion, bonus; --json or --csv with
    their statistics and answers too."""
    if as_json and as_csv:
        raise UserError("Expected --json or --csv, got both")
    rows = connect(ctx).campaign_participants(campaign_id)
    if as_csv:
        print_participants_csv(rows)
    else:
        print_rows(rows, PARTICIPANT_COLUMNS, as_json)


def _counted(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def _summary(name: str, values: list[float]) -> str:
    import statistics

    if not values:
        return f"  {name}: no participant yet"
    return (f"  {name}: {_counted(len(values), 'participant')}, median {statistics.median(values):g}, "
            f"min {min(values):g}, max {max(values):g}")


@app.command()
def dashboard(ctx: typer.Context, campaign_id: CampaignId, as_json: Json = False) -> None:
    """Participants arrived, active (holding a place) and completed; each condition's fill against its quota; the
    participants' statistics. The web app's dashboard shows the same, live."""
    board = connect(ctx).campaign_dashboard(campaign_id)
    if as_json:
        print_json(board)
        return
    print(f"arrived {board['arrived']}, active {board['active']}, completed {board['completed']}, "
          f"playing now {board['live_players']}")
    print("conditions (filled of the quota, counting the places of those playing them):")
    for c in board["conditions"]:
        task = c["environment"] or f"labels {c.get('experiment')}"
        print(f"  {c['id']} ({task}): {c['filled']:g} of {c['target']} {c['unit']} "
              f"({c['filled'] / c['target']:.0%}, {c['reserved']} reserved){', full' if c['full'] else ''}")
    if board["histograms"]:
        print("statistics per participant:")
        for name, values in board["histograms"].items():
            print(_summary(name, values))


@app.command()
def bonuses(ctx: typer.Context, campaign_id: CampaignId,
            output: Annotated[Path | None, typer.Option("-o", "--output", metavar="FILE",
                                                        help="write the CSV here (default: stdout)")] = None) -> None:
    """The bonus table as CSV, in the format the campaign's platform takes (Prolific's bulk bonus:
    `<PROLIFIC_PID>,<amount>`; MTurk: `workerId,assignmentId,amount,reason`; a link: `<participant>,<amount>`)."""
    table = connect(ctx).campaign_bonuses(campaign_id)
    if output is None:
        print(table, end="")
        return
    try:
        output.write_text(table)
    except OSError as err:
        raise UserError(f"Expected a writable file for the bonus table, got {str(output)!r}: {err.strerror}") from None
    print(f"{_counted(len(table.splitlines()), 'line')} written to {output}")
