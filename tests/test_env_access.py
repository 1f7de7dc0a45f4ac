"""Which code an env id can make the env-worker load: only the families the operator enabled (ENV_FAMILIES) and
the modules it allowed (ENV_MODULES); Gymnasium's 'module:EnvId' syntax imports nothing else, neither in our
resolution nor in gym.make."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import websockets
from pydantic import ValidationError

from playcorder.sdk import ApiError, Client
from playcorder.sdk.bot import ws_url
from playcorder.specs import EnvironmentSpec
from playcorder_env_worker.families import make_env
from playcorder_env_worker.families.access import EnvAccess
from playcorder_env_worker.settings import Settings
from tests.factories import study, untried_study


def spec(env_id: str, **kw) -> EnvironmentSpec:  # type: ignore[no-untyped-def]
    return EnvironmentSpec(id="e", env_id=env_id, **kw)


def in_fresh_worker(code: str, **env: str) -> dict:  # type: ignore[type-arg]
    """Run `code` in a new interpreter with the worker's settings from `env` (nothing imported yet); it prints JSON."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env={**os.environ, **env},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


MAKE = """
    import json, sys
    from playcorder.specs import EnvironmentSpec
    from playcorder_env_worker.families import make_env
    try:
        make_env(EnvironmentSpec(id="e", env_id={env_id!r}))
        error = None
    except ValueError as err:
        error = str(err)
    print(json.dumps({{"error": error, "imported": {module!r} in sys.modules}}))
"""


def test_module_prefix_outside_env_modules_is_refused_without_importing_it() -> None:
    # `this` prints the Zen of Python on import: a worker importing what a study names would show it
    seen = in_fresh_worker(MAKE.format(env_id="this:CartPole-v1", module="this"), ENV_MODULES="minigrid")
    assert seen["imported"] is False
    assert seen["error"] == ("Expected a 'module:EnvId' id with a module this worker may import (ENV_MODULES: "
                             "['minigrid']), got module 'this' in 'this:CartPole-v1'")
    seen = in_fresh_worker(MAKE.format(env_id="this:CartPole-v1", module="this"), ENV_MODULES="")
    assert "(ENV_MODULES: none)" in seen["error"] and seen["imported"] is False


def test_allowed_module_prefix_and_plugin_work() -> None:
    pytest.importorskip("minigrid")
    seen = in_fresh_worker(MAKE.format(env_id="minigrid:MiniGrid-Empty-5x5-v0", module="minigrid"))
    assert seen == {"error": None, "imported": True}
    seen = in_fresh_worker(MAKE.format(env_id="MiniGrid-Empty-5x5-v0", module="minigrid"), ENV_MODULES="minigrid")
    assert seen == {"error": None, "imported": True}


def test_plugin_outside_env_modules_is_not_imported() -> None:
    pytest.importorskip("minigrid")
    seen = in_fresh_worker(MAKE.format(env_id="MiniGrid-Empty-5x5-v0", module="minigrid"), ENV_MODULES="")
    assert seen["imported"] is False
    assert seen["error"].startswith("Expected a registered Gymnasium environment id, got 'MiniGrid-Empty-5x5-v0'")
    assert seen["error"].endswith("MiniGrid- ids need the module 'minigrid' in ENV_MODULES")


def test_gym_make_is_never_given_a_module_to_import() -> None:
    """Even where an allowed module prefixes an id, gym.make gets the registry entry: it would import the module
    itself, a second route around the check."""
    seen = in_fresh_worker("""
        import json, sys
        import gymnasium as gym
        from playcorder.specs import EnvironmentSpec
        from playcorder_env_worker.families import make_gym
        env = make_gym(EnvironmentSpec(id="e", env_id="this:CartPole-v1"))
        print(json.dumps({"made": env.spec.id, "imported": "this" in sys.modules}))
    """)
    assert seen == {"made": "CartPole-v1", "imported": False}


def test_families_the_operator_did_not_enable_are_refused() -> None:
    only_classic = EnvAccess(families=frozenset({"gymnasium"}))
    with pytest.raises(ValueError, match=r"^Expected an environment of the families this worker runs \(ENV_FAMILIES: "
                                         r"\['gymnasium'\]\), got 'ALE/Pong-v5' of family 'atari'$"):
        make_env(spec("ALE/Pong-v5"), only_classic)
    with pytest.raises(ValueError, match="got 'procgen/coinrun' of family 'procgen'"):
        make_env(spec("procgen/coinrun"), only_classic)
    # declaring another family does not get around it: the registry's entry point says what code runs
    with pytest.raises(ValueError, match="got 'HalfCheetah-v5' of family 'mujoco'"):
        make_env(spec("HalfCheetah-v5", family="gymnasium"), only_classic)
    prepared = make_env(spec("CartPole-v1"), only_classic)
    try:
        assert prepared.family == "gymnasium"
    finally:
        prepared.close()


def test_settings_name_what_they_expected() -> None:
    assert Settings().enabled_families == {"atari", "procgen", "mujoco", "gymnasium", "pettingzoo", "robosuite",
                                           "robodesk", "nethack"}
    assert Settings().allowed_modules == {"minigrid"}
    with pytest.raises(ValidationError, match="Expected ENV_FAMILIES to be a comma-separated list of atari, procgen, "
                                              "mujoco, gymnasium, pettingzoo, robosuite, robodesk, nethack, "
                                              "got 'atari,doom'"):
        Settings(env_families="atari,doom")
    with pytest.raises(ValidationError, match=r"Expected ENV_MODULES to be comma-separated module names .*'os; rm'"):
        Settings(env_modules="minigrid,os; rm")


def test_study_env_id_must_look_like_a_gymnasium_id() -> None:
    for bad in ("a:b:CartPole-v1", "__import__('os')", "Cart Pole", "x\x00y", ""):
        # NUL and empty ids are refused by the shared text type first, with its own message
        refused = "Expected a Gymnasium id of letters|Expected text without NUL|at least 1 character"
        with pytest.raises(ValidationError, match=refused):
            spec(bad)


@pytest.mark.e2e
async def test_study_naming_a_module_gets_env_failed_from_the_stack(client: Client, services, stack) -> None:  # type: ignore[no-untyped-def]
    spec = study({"id": "zen", "env_id": "this:CartPole-v1", "mode": "turn_based"})
    with pytest.raises(ApiError) as refused:  # its trial refuses it when it is created
        client.create_study(spec)
    (problem,) = refused.value.detail
    assert problem["loc"] == ["body", "environments", 0, "env_id"] and "ENV_MODULES" in problem["msg"]
    # and one stored before studies were tried is refused when played
    token = client.create_participant(await untried_study(stack.database_url, client, spec))["token"]
    async with websockets.connect(ws_url(client.url, token)) as ws:
        await ws.send(json.dumps({"type": "select_env", "env": "zen"}))
        event = json.loads(await ws.recv())
        assert event["type"] == "error" and event["code"] == "env_failed"
        assert "ENV_MODULES" in event["message"] and "'this'" in event["message"]
    assert "Beautiful is better than ugly" not in services.worker.log_path.read_text()
