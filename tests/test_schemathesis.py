"""Schemathesis over the running gateway's OpenAPI schema, every check on, as a designer: no request may get a
server error, and every response must be one the schema declares (status, headers, body). Its config
(tests/schemathesis.toml) points the path ids at a study with a recorded episode, which it may tag, annotate and
delete; a second one keeps the study from being deleted (a study with episodes is only archived)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import simplejpeg

from playcorder.admin import create_designer_token
from playcorder.devstack.stack import DevStack
from playcorder.sdk import Client
from tests.conftest import Services
from tests.factories import cartpole_study
from tests.stored import stored_episode
from tests.wsclient import play_episode

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Bounded so that the run takes two or three minutes on two cores; the seed keeps failures reproducible. One worker:
# with two, hypothesis' lambda descriptions (ast.parse in threads) failed once with an AST recursion-depth error.
MAX_EXAMPLES, SEED, MAX_TIME = 5, 20261202, 150


def test_the_api_conforms_to_its_schema(services: Services, stack: DevStack, tmp_path: Path) -> None:
    # A designer of its own: whatever the run does to its account cannot touch the suite's designer token.
    designer_token = asyncio.run(create_designer_token(stack.database_url, "schemathesis"))
    client = Client(services.url, designer_token)
    study = client.create_study(cartpole_study())["id"]
    participant = client.create_participant(study)
    episode = asyncio.run(play_episode(client.url, participant["token"], "cartpole", [0, 1, 0]))
    stored_episode(client, episode)
    stored_episode(client, asyncio.run(play_episode(client.url, participant["token"], "cartpole", [1])))
    campaign = client.create_campaign(study, {"name": "schemathesis", "conditions": [
        {"id": "cart", "environment": "cartpole", "quota": {"target": 1000}}]})["id"]
    experiment = client.create_preference_experiment(study, {"name": "schemathesis", "source": {"kind": "posted"}})
    jpeg = simplejpeg.encode_jpeg(np.zeros((8, 8, 3), np.uint8))
    segments = [client.post_segment(experiment["id"], [jpeg])["id"] for _ in range(2)]
    pair = client.post_pairs(experiment["id"], [{"left": segments[0], "right": segments[1]}])[0]["id"]
    report = tmp_path / "events.ndjson"
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
         f"{services.url}/openapi.json", "--checks", "all", "-H", f"Authorization: Bearer {designer_token}",
         "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--max-time", str(MAX_TIME), "--workers", "1",
         "--no-color", "--generation-database", "none", "--report", "ndjson", "--report-ndjson-path", str(report)],
        capture_output=True, text=True, timeout=MAX_TIME + 120, cwd=tmp_path,
        env=os.environ | {"PC_STUDY": study, "PC_EPISODE": episode, "PC_PARTICIPANT": participant["participant_id"],
                                 "PC_CAMPAIGN": campaign, "PC_EXPERIMENT": experiment["id"],
                                 "PC_SEGMENT": segments[0], "PC_PAIR": pair},
    )
    (tmp_path / "stdout.txt").write_text(run.stdout)
    events = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    assert events, run.stdout[-4000:] + run.stderr[-4000:]
    assert run.returncode == 0, run.stdout[run.stdout.find("FAILURES"):]
