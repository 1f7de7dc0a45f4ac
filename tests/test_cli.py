"""The CLI as a user runs it against the stack: a table or --json, and a user error as a line or a few, never a
traceback."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from playcorder.sdk import Client
from tests.factories import cartpole_study
from tests.stored import stored_episode
from tests.wsclient import Player

pytestmark = pytest.mark.e2e


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "playcorder.cli", *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=120)


def printed(env: dict[str, str], *args: str) -> Any:
    out = run(env, *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def refused(out: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines of a user error: exit status 1, each line on stderr an "error: ...", nothing on stdout."""
    assert out.returncode == 1 and not out.stdout, out
    lines = out.stderr.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), out.stderr
    return [line.removeprefix("error: ") for line in lines]


@pytest.fixture(scope="module")
def played(client: Client) -> dict[str, Any]:
    """A CartPole study with one episode kept (tagged "good") and one cancelled (ended unsaved)."""
    created = client.create_study(cartpole_study())
    token = client.create_participant(created["id"])["token"]

    async def episode(save: bool) -> str:
        player = await Player.join(client.url, token, "cartpole")
        started = await player.until("episode_started")
        await player.send(type="action", action=1)
        await player.until("frame")
        await player.send(type="end_episode", save=save)
        await player.until("episode_ended")
        await player.close()
        return str(started["episode_id"])

    kept, cancelled = asyncio.run(episode(True)), asyncio.run(episode(False))
    for eid in (kept, cancelled):
        stored_episode(client, eid)
    client.add_tag(kept, "good")
    return {"study": created["id"], "kept": kept, "cancelled": cancelled}


def test_every_list_command_prints_json_or_a_table(cli_env: dict[str, str], played: dict[str, Any]) -> None:
    study = played["study"]
    assert study in {s["id"] for s in printed(cli_env, "studies", "list")}
    assert [e["id"] for e in printed(cli_env, "episodes", "list", "--study", study)] == [played["kept"],
                                                                                         played["cancelled"]]
    assert [s["episodes"] for s in printed(cli_env, "sessions", "list", "--study", study)] == [1, 1]
    assert printed(cli_env, "exports", "list", "--study", study) == []
    tables = {
        ("studies", "list"): ["id", "name", "environments", study],
        ("episodes", "list", "--study", study): ["state", "reward", played["kept"], played["cancelled"], "good"],
        ("sessions", "list", "--study", study): ["participant", "episodes"],
        ("exports", "list", "--study", study): ["format", "state"],
    }
    for args, expected in tables.items():
        out = run(cli_env, *args)
        assert out.returncode == 0 and not out.stderr, out
        assert all(text in out.stdout for text in expected), out.stdout
        with pytest.raises(ValueError):
            json.loads(out.stdout)


def test_repeated_options_are_all_honoured(cli_env: dict[str, str], played: dict[str, Any]) -> None:
    def listed(*args: str) -> list[str]:
        return [e["id"] for e in printed(cli_env, "episodes", "list", "--study", played["study"], *args)]

    both = [played["kept"], played["cancelled"]]
    assert listed("--state", "completed", "--state", "cancelled") == both
    assert listed("--state", "cancelled", "--state", "completed") == both
    assert listed("--state", "cancelled") == [played["cancelled"]]
    assert listed("--state", "cancelled", "--state", "completed", "--tag", "good") == [played["kept"]]
    assert listed("--tag", "good", "--tag", "other") == []


@pytest.mark.parametrize("spec,expected", [
    ("name: s\nenviroments: []\n", ["environments: Field required",
                                    "enviroments: Extra inputs are not permitted; did you mean 'environments'?"]),
    ("name: s\nenvironments:\n  - {id: c, env_id: CartPole-v1, fpss: 10, render: {jpeg_qualty: 50}}\n",
     ["environments.0.fpss: Extra inputs are not permitted; did you mean 'fps'?",
      "environments.0.render.jpeg_qualty: Extra inputs are not permitted; did you mean 'jpeg_quality'?"]),
    ("name: s\nenvironments:\n  - {id: c, env_id: CartPole-v1, input_map: {kind: discrete, bindigs: {}}}\n",
     ["environments.0.input_map.discrete.bindigs: Extra inputs are not permitted; did you mean 'bindings'?"]),
    ("name: s\nenvironments:\n  - {id: c, env_id: CartPole-v1, max_episode_steps: 0}\n",
     ["environments.0.max_episode_steps: Input should be greater than or equal to 1"]),
])
def test_a_bad_spec_is_explained_field_by_field(cli_env: dict[str, str], tmp_path: Path, spec: str,
                                                expected: list[str]) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(spec)
    assert sorted(refused(run(cli_env, "studies", "create", str(path)))) == sorted(expected)


def test_a_spec_file_that_cannot_be_read_is_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    assert refused(run(cli_env, "studies", "create", str(missing))) == [
        f"Expected a readable study spec file, got {str(missing)!r}: No such file or directory"]
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: s\nenvironments: [a\n")
    [line] = refused(run(cli_env, "studies", "create", str(broken)))
    assert line.startswith(f"Expected a YAML or JSON study spec in {broken}, got ") and "line 3" in line
    assert refused(run(cli_env, "studies", "create", "-", stdin="[1, 2]")) == [
        "Expected a mapping at the top of stdin, got list"]


def test_a_refused_request_is_one_line(cli_env: dict[str, str], played: dict[str, Any]) -> None:
    assert refused(run(cli_env, "studies", "get", "nope")) == [
        "HTTP 404: Expected the id (32 hex digits) of one of your studies, got 'nope'"]
    [line] = refused(run(cli_env, "export", "--study", played["study"], "--state", "cancelled", "--version", "1.0"))
    assert line.startswith("version: Expected a version like '1.0.0', got '1.0'"), line
    [line] = refused(run(cli_env, "export", "--study", played["study"], "--tag", "nowhere"))
    assert line.startswith("HTTP 422: ") and "none of study" in line, line


def test_no_token_or_no_gateway_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYCORDER_")}
    env |= {"PLAYCORDER_URL": f"http://127.0.0.1:{port}", "PLAYCORDER_CONFIG": str(tmp_path / "none.json")}
    [line] = refused(run(env, "studies", "list"))
    assert line.startswith(f"Expected a designer token for http://127.0.0.1:{port}, got none") and "make run" in line
    [line] = refused(run(env | {"PLAYCORDER_TOKEN": "pcd_x"}, "studies", "list"))
    assert line.startswith(f"Expected an answer from http://127.0.0.1:{port}, got ConnectError: "), line


def test_help_imports_no_http_yaml_rich_or_sdk() -> None:
    code = ("import sys\nfrom playcorder.cli.app import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'httpx', 'yaml', 'rich', 'pydantic'}),"
            " 'playcorder.sdk' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines()[-1] == "[] False", out


def test_a_study_is_edited_disabled_archived_and_deleted(cli_env: dict[str, str], played: dict[str, Any],
                                                         client: Client, tmp_path: Path) -> None:
    def record(*args: str) -> Any:
        out = run(cli_env, *args)
        assert out.returncode == 0 and not out.stderr, out
        return json.loads(out.stdout)

    study = played["study"]  # with episodes
    path = tmp_path / "edited.json"
    path.write_text(json.dumps({**client.get_study(study)["spec"], "instructions": "Keep it up."}))
    assert record("studies", "update", study, str(path))["version"] == 2
    assert record("studies", "update", study, str(path))["version"] == 2  # unchanged: no new version
    assert [v["version"] for v in printed(cli_env, "studies", "versions", study)] == [1, 2]
    table = run(cli_env, "studies", "versions", study)
    assert all(text in table.stdout for text in ("version", "created", "cartpole (CartPole-v1)")), table
    assert record("studies", "get", study, "--version", "1")["spec"]["instructions"] == ""
    played_with = {v: [e["id"] for e in printed(cli_env, "episodes", "list", "--study", study, "--study-version", v)]
                   for v in ("1", "2")}
    assert played_with == {"1": [played["kept"], played["cancelled"]], "2": []}
    path.write_text(json.dumps({"name": "s", "environments": [{"id": "c", "env_id": "CartPole-v1", "fpss": 1}]}))
    assert refused(run(cli_env, "studies", "update", study, str(path))) == [
        "environments.0.fpss: Extra inputs are not permitted; did you mean 'fps'?"]

    assert record("studies", "disable", study, "--env", "cartpole")["disabled_environments"] == ["cartpole"]
    assert "cartpole (disabled)" in run(cli_env, "studies", "list").stdout
    assert record("studies", "enable", study, "--env", "cartpole")["disabled_environments"] == []
    assert record("studies", "disable", study)["enabled"] is False
    assert record("studies", "enable", study)["enabled"] is True

    assert refused(run(cli_env, "studies", "delete", study)) == [
        "HTTP 409: Expected a study without episodes to delete, got 2 episodes: archive it instead (PATCH "
        "archived=true)"]
    assert record("studies", "archive", study)["archived"] is True
    assert study not in {s["id"] for s in printed(cli_env, "studies", "list")}
    assert study in {s["id"] for s in printed(cli_env, "studies", "list", "--archived")}
    assert record("studies", "archive", study, "--undo")["archived"] is False
    assert study in {s["id"] for s in printed(cli_env, "studies", "list")}

    empty = client.create_study(cartpole_study())["id"]
    assert record("studies", "delete", empty) == {"study_id": empty, "deleted": True}
    assert refused(run(cli_env, "studies", "get", empty)) == [
        f"HTTP 404: Expected the id (32 hex digits) of one of your studies, got '{empty}'"]
