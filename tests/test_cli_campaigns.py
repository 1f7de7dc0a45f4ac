"""`playcorder campaigns` as a designer runs it against the stack: a campaign made from a YAML file, listed, shown
with the URL the platform is given, its participants after real arrivals (one of them played to completion), the
dashboard, the bonus table written to a file, an edit, closing; bad spec files and refusals as one line each."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from playcorder.sdk import ApiError, Client
from playcorder.sdk.bot import play
from tests.conftest import Services
from tests.factories import study
from tests.test_cli import printed, refused, run

pytestmark = pytest.mark.e2e

CARTPOLE = {"id": "cartpole", "env_id": "CartPole-v1", "mode": "turn_based", "max_episode_steps": 20}
# Unquoted times, as people write them in YAML (PyYAML reads them as datetimes; the CLI sends ISO strings).
SPEC = """\
name: {name}
channel: prolific
starts_at: 2020-01-01T00:00:00Z
conditions:
  - id: cart
    environment: cartpole
    quota: {{target: 10}}
bonus: {{formula: "0.5 * episodes", max: 2.0, currency: GBP}}
pages:
  consent: You agree to be recorded.
  questionnaire:
    - {{id: age, text: Your age group, kind: choice, options: ["18-30", "31+"]}}
"""


def ok(env: dict[str, str], *args: str) -> Any:
    out = run(env, *args)
    assert out.returncode == 0 and not out.stderr, out
    return json.loads(out.stdout)


def _progress(url: str, token: str, path: str = "", **kw: Any) -> dict[str, Any]:
    r = httpx.request("POST" if path else "GET", f"{url}/api/enrollment{path}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=30, **kw)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _completed(url: str, token: str) -> dict[str, Any]:
    """Progress once the recorder stored the episode just played (the bot returns at the worker's episode_ended)."""
    deadline = time.monotonic() + 30
    while (progress := _progress(url, token))["stage"] != "complete" and time.monotonic() < deadline:
        time.sleep(0.2)
    return progress


def test_a_campaign_from_set_up_to_bonus_csv(cli_env: dict[str, str], services: Services, client: Client,
                                              tmp_path: Path) -> None:
    study_id = client.create_study(study(CARTPOLE, name="cli-campaign"))["id"]
    name = f"cli-{uuid.uuid4().hex[:6]}"
    spec = tmp_path / "campaign.yaml"
    spec.write_text(SPEC.format(name=name))

    made = ok(cli_env, "campaigns", "create", "--study", study_id, str(spec))
    cid = made["id"]
    assert made["name"] == name and made["channel"] == "prolific" and made["closed"] is False
    assert made["spec"]["starts_at"].startswith("2020-01-01T00:00:00")
    link = (f"{services.url}/c/{cid}?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}&STUDY_ID={{{{%STUDY_ID%}}}}"
            f"&SESSION_ID={{{{%SESSION_ID%}}}}")
    assert made["participant_url"] == link
    assert ok(cli_env, "campaigns", "get", cid)["participant_url"] == link
    listed = printed(cli_env, "campaigns", "list", "--study", study_id)
    assert [(c["id"], c["participant_url"]) for c in listed] == [(cid, link)]
    table = run(cli_env, "campaigns", "list", "--study", study_id)
    assert table.returncode == 0 and all(t in table.stdout for t in ("channel", cid, name, "prolific", "cart"))

    # Two arrivals through the public route, as Prolific sends them: one plays to completion, one only arrives.
    player, visitor = f"P{uuid.uuid4().hex[:12]}", f"P{uuid.uuid4().hex[:12]}"
    arrivals = Client(services.url, None)
    token = arrivals.enroll(cid, {"PROLIFIC_PID": player, "STUDY_ID": "s1", "SESSION_ID": "a"})["token"]
    arrivals.enroll(cid, {"PROLIFIC_PID": visitor, "STUDY_ID": "s1", "SESSION_ID": "b"})
    _progress(services.url, token, "/consent")
    assert _progress(services.url, token, "/answers", json={"answers": {"age": "31+"}})["stage"] == "play"
    asyncio.run(play(services.url, token, "cartpole", episodes=1))
    done = _completed(services.url, token)
    assert done["stage"] == "complete" and done["bonus"] == 0.5, done

    people = printed(cli_env, "campaigns", "participants", cid)
    assert [(p["stage"], p["bonus"], p["answers"]) for p in people] == [("complete", 0.5, {"age": "31+"}),
                                                                        ("consent", None, None)]
    assert people[1]["condition"] == "cart" and people[1]["values"] == {"episodes": 0}
    assert player not in json.dumps(people) and visitor not in json.dumps(people)  # ids hashed, never shown
    table = run(cli_env, "campaigns", "participants", cid)
    assert table.returncode == 0 and all(t in table.stdout for t in ("stage", "complete", "100%", "0.50", "consent"))
    out = run(cli_env, "campaigns", "participants", cid, "--csv")
    assert out.returncode == 0, out
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [(r["participant_id"], r["stage"], r["bonus"], r["answers.age"]) for r in rows] == [
        (people[0]["participant_id"], "complete", "0.5", "31+"), (people[1]["participant_id"], "consent", "", "")]
    assert float(rows[1]["episodes"]) == 0

    board = run(cli_env, "campaigns", "dashboard", cid)
    assert board.returncode == 0, board
    assert "arrived 2, active 1, completed 1" in board.stdout, board.stdout
    assert "cart (cartpole): 2 of 10 participants (20%, 1 reserved)" in board.stdout, board.stdout
    assert "episodes: 2 participants, median 0.5, min 0, max 1" in board.stdout, board.stdout
    assert printed(cli_env, "campaigns", "dashboard", cid)["completed"] == 1

    bonus_file = tmp_path / "out" / "bonuses.csv"
    refusal = refused(run(cli_env, "campaigns", "bonuses", cid, "-o", str(bonus_file)))
    assert refusal == [f"Expected a writable file for the bonus table, got {str(bonus_file)!r}: "
                       "No such file or directory"]
    bonus_file.parent.mkdir()
    out = run(cli_env, "campaigns", "bonuses", cid, "-o", str(bonus_file))
    assert out.returncode == 0 and out.stdout == f"1 line written to {bonus_file}\n", out
    assert bonus_file.read_text() == f"{player},0.50\n"  # Prolific's bulk bonus: the raw id, the amount
    assert run(cli_env, "campaigns", "bonuses", cid).stdout == f"{player},0.50\n"

    spec.write_text(SPEC.format(name=name).replace("target: 10", "target: 12"))
    assert ok(cli_env, "campaigns", "edit", cid, str(spec))["spec"]["conditions"][0]["quota"]["target"] == 12
    spec.write_text(SPEC.format(name=name).replace("id: cart", "id: other"))
    assert refused(run(cli_env, "campaigns", "edit", cid, str(spec))) == [
        "HTTP 409: Expected every condition that has participants in the spec, got ['cart'] left out"]

    closed = ok(cli_env, "campaigns", "close", cid)
    assert closed["closed"] is True and closed["participant_url"] == link
    with pytest.raises(ApiError) as err:
        arrivals.enroll(cid, {"PROLIFIC_PID": f"P{uuid.uuid4().hex[:12]}", "STUDY_ID": "s1", "SESSION_ID": "c"})
    assert err.value.status == 410 and err.value.code == "campaign_closed"


def test_each_channel_gets_its_url(cli_env: dict[str, str], services: Services, client: Client,
                                   tmp_path: Path) -> None:
    study_id = client.create_study(study(CARTPOLE, name="cli-channels"))["id"]
    for channel, params in (("mturk", ""), ("link", "?participant=<id>")):
        path = tmp_path / f"{channel}.json"
        path.write_text(json.dumps({"name": channel, "channel": channel, "conditions": [
            {"id": "cart", "environment": "cartpole", "quota": {"unit": "episodes", "target": 3}}]}))
        made = ok(cli_env, "campaigns", "create", "--study", study_id, str(path))
        assert made["participant_url"] == f"{services.url}/c/{made['id']}{params}"
    empty = run(cli_env, "campaigns", "bonuses", made["id"])
    assert empty.returncode == 0 and empty.stdout == ""  # a link's table has no header and no one completed
    assert printed(cli_env, "campaigns", "participants", made["id"]) == []


@pytest.mark.parametrize(("spec", "expected"), [
    ("name: c\nconditons: []\n", ["conditions: Field required",
                                   "conditons: Extra inputs are not permitted; did you mean 'conditions'?"]),
    ("name: c\nconditions:\n  - {id: a, environment: cartpole, quota: {targt: 5}}\n",
     ["conditions.0.quota.target: Field required",
      "conditions.0.quota.targt: Extra inputs are not permitted; did you mean 'target'?"]),
    ("name: c\nchannel: email\nconditions:\n  - {id: a, environment: cartpole, quota: {target: 5}}\n",
     ["channel: Input should be 'prolific', 'mturk' or 'link'"]),
    ("name: c\nconditions:\n  - {id: a, environment: pong, quota: {target: 5}}\n",
     ["HTTP 422: Expected conditions the study can play or label, got: condition 'a': Expected one of the study's "
      "environments ['cartpole'], got 'pong'"]),
])
def test_a_bad_campaign_spec_is_explained(cli_env: dict[str, str], client: Client, tmp_path: Path, spec: str,
                                          expected: list[str]) -> None:
    study_id = client.create_study(study(CARTPOLE, name="cli-bad"))["id"]
    path = tmp_path / "campaign.yaml"
    path.write_text(spec)
    assert sorted(refused(run(cli_env, "campaigns", "create", "--study", study_id, str(path)))) == sorted(expected)


def test_files_ids_and_options_that_cannot_work_are_one_line(cli_env: dict[str, str], client: Client,
                                                             tmp_path: Path) -> None:
    study_id = client.create_study(study(CARTPOLE, name="cli-refusals"))["id"]
    missing = tmp_path / "missing.yaml"
    assert refused(run(cli_env, "campaigns", "create", "--study", study_id, str(missing))) == [
        f"Expected a readable campaign spec file, got {str(missing)!r}: No such file or directory"]
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: c\nconditions: [a\n")
    [line] = refused(run(cli_env, "campaigns", "create", "--study", study_id, str(broken)))
    assert line.startswith(f"Expected a YAML or JSON campaign spec in {broken}, got ") and "line 3" in line
    assert refused(run(cli_env, "campaigns", "create", "--study", study_id, "-", stdin="[1]")) == [
        "Expected a mapping at the top of stdin, got list"]
    assert refused(run(cli_env, "campaigns", "get", "nope")) == [
        "HTTP 404: Expected the id (32 hex digits) of a campaign of your studies, got 'nope'"]
    assert refused(run(cli_env, "campaigns", "participants", "nope", "--json", "--csv")) == [
        "Expected --json or --csv, got both"]
    usage = run(cli_env, "campaigns", "create", str(missing))
    assert usage.returncode == 2 and "Missing option '--study'" in usage.stderr, usage
