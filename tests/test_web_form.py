"""The study form's logic (frontend/src/views/studies/specForm.ts), run in node (tests/webform_check.mjs): what the
designer sees of a refused spec (each problem at its field, "did you mean" filling it in), text fields that do not
parse, the spec the form sends, which the gateway's own model accepts, and a NetHack or RoboDesk id bringing its
family's mode, fps and step_while_held."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from playcorder.specs import EnvironmentSpec, StudySpec

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def checked() -> dict[str, Any]:
    assert shutil.which("node"), "Expected node (20+) on the PATH for the web app, got none"
    modules = ROOT / "frontend" / "node_modules"
    assert (modules / "esbuild").is_dir(), f"Expected the app packages in {modules}, got none: run `make frontend`"
    out = subprocess.run(["node", str(ROOT / "tests" / "webform_check.mjs")], capture_output=True, text=True,
                         timeout=60, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_the_spec_the_form_sends_is_one_the_gateway_accepts(checked: dict[str, Any]) -> None:
    spec = checked["roundtrip"]
    if "wrappers" not in EnvironmentSpec.model_fields:  # before the wrappers of the trial work
        spec["environments"][0].pop("wrappers")
    parsed = StudySpec.model_validate(spec)
    assert [e.id for e in parsed.environments] == ["pong", "grid"]
    assert parsed.environments[0].kwargs == {"frameskp": 4}
    assert parsed.environments[1].input_map is not None


def test_each_problem_of_a_refused_spec_is_shown_at_its_field(checked: dict[str, Any]) -> None:
    assert checked["at_env_id"] == ["Expected a registered id, got 'ALE/Pongg-v5'"]
    assert checked["at_kwargs"] == ["frameskp"]  # shown at kwargs, naming the key
    assert checked["unplaced"] == ["environments.1.observation_space"]  # no field of its own: listed above the form
    assert checked["trial"] == ["environments.1.input_map.bindings.Left"]  # a trial's problem, by the env's key


def test_did_you_mean_fills_the_field(checked: dict[str, Any]) -> None:
    fixed = checked["fixed"]
    assert fixed["env_id"] == "ALE/Pong-v5"
    assert fixed["kwargs"] == {"frameskip": 4}  # the key renamed, its value kept
    assert fixed["wrappers"][0]["name"] == "ImgObsWrapper"


def test_text_that_does_not_parse_is_named_at_its_field(checked: dict[str, Any]) -> None:
    assert checked["broken"] == [["environments.0.kwargs", "Expected kwargs as JSON or YAML, got tex"]]
    assert checked["list"] == ["Expected an input map as an object ({...}), got a list"]
    assert checked["yaml"] == {"frameskip": 4, "repeat_action_probability": 0.25}  # YAML is taken as well as JSON


def test_a_nethack_or_robodesk_id_brings_its_familys_play(checked: dict[str, Any]) -> None:
    """Typed key by key into a blank environment, a NetHack id makes it turn-based (a realtime NetHack is refused)
    and a RoboDesk id turn-based, stepping while held, 3 fps; another id afterwards brings the form's own back; what
    the designer chose (fps 30, a mode within the family) stays."""
    form_default = {"mode": "realtime", "fps": 15, "step_while_held": False}
    robodesk = {"mode": "turn_based", "fps": 3, "step_while_held": True}
    assert checked["nethack"] == form_default | {"mode": "turn_based"}
    assert checked["robodesk"] == robodesk
    assert checked["back"] == form_default
    assert checked["chosen"] == robodesk | {"fps": 30}
    assert checked["family"] == checked["suggested"] == checked["nethack"]  # the Family select, "did you mean"
    assert checked["unchanged"]["mode"] == "realtime"
    parsed = StudySpec.model_validate(checked["nethack_spec"])  # the realtime refusal does not come
    assert parsed.environments[0].mode == "turn_based"
