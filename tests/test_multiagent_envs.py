"""Multi-agent environments (issue 16): PettingZoo parallel envs, including two-player Atari, and Gymnasium envs with
per-agent Dict spaces, each built with per-agent spaces, default input maps and frames; agents whose episode ended
drop out of the steps; seats named otherwise than the env's agents, unknown ids and kwargs are refused at their
field, in make_game and in a study's trial."""

from __future__ import annotations

import base64
import time
from typing import Any

import numpy as np
import pytest
import simplejpeg

import tests.envs.race  # noqa: F401  (registers 'pettingzoo/tests/race_v0')
from playcorder.inputs import DiscreteMap
from playcorder.sdk import ApiError, Client
from playcorder.specs import EnvironmentSpec
from playcorder_env_worker.families import make_env
from playcorder_env_worker.families.access import EnvAccess
from playcorder_env_worker.families.problems import EnvProblem
from playcorder_env_worker.multiagent.envs import PreparedGame, make_game
from playcorder_env_worker.trial import try_environment
from tests.factories import study

INVADERS = "pettingzoo/atari/space_invaders_v2"
PONG = "pettingzoo/butterfly/cooperative_pong_v6"
DUO = "tests.envs.duo:Duo-v0"
TESTS = EnvAccess(modules=frozenset({"tests.envs.duo"}))


def spec(env_id: str, seats: list[str] | None = None, **fields: Any) -> EnvironmentSpec:
    agents = {"seats": {s: {} for s in seats}} if seats is not None else None
    return EnvironmentSpec.model_validate({"id": "g", "env_id": env_id, "agents": agents, **fields})


def _play(game: PreparedGame, seed: int, steps: int, actions: list[dict[str, int]]) -> list[np.ndarray]:
    game.reset(seed)
    frames = []
    for t in range(steps):
        game.step(actions[t % len(actions)])
        frames.append(game.render())
    return frames


def test_two_player_space_invaders_has_each_players_spaces_and_single_player_atari_keys() -> None:
    game = make_game(spec(INVADERS, ["first_0", "second_0"]))
    single = make_env(EnvironmentSpec(id="si", env_id="ALE/SpaceInvaders-v5"))
    try:
        assert game.family == "pettingzoo" and game.agents == ["first_0", "second_0"]
        assert {a: int(s.n) for a, s in game.action_spaces.items()} == {"first_0": 6, "second_0": 6}
        assert game.observation_spaces["first_0"].shape == (210, 160, 3)
        meanings = ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]
        assert game.action_meanings == {"first_0": meanings, "second_0": meanings} == {
            "first_0": single.action_meanings, "second_0": single.action_meanings}
        assert game.default_input_maps["first_0"] == game.default_input_maps["second_0"] == single.default_input_map
        observations, infos = game.reset(3)
        assert set(observations) == set(infos) == {"first_0", "second_0"} == set(game.live)
        frame = game.render()
        assert frame.shape == (210, 160, 3) and frame.dtype == np.uint8 and frame.std() > 5
        assert np.array_equal(game.render("second_0"), frame) and not game.own_views  # one shared screen
        observations, rewards, terminations, truncations, _ = game.step({"first_0": 1, "second_0": 0})
        assert set(rewards) == {"first_0", "second_0"} and not any(terminations.values())
        assert all(isinstance(r, float) for r in rewards.values()) and not any(truncations.values())
    finally:
        game.close()
        single.close()


def test_the_same_seed_and_actions_give_the_same_frames() -> None:
    actions = [{"first_0": 1, "second_0": 4}, {"first_0": 3, "second_0": 1}, {"first_0": 2, "second_0": 0}]
    games = [make_game(spec(INVADERS)) for _ in range(2)]
    try:
        one, two = (_play(g, 7, 60, actions) for g in games)
        assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))
        assert not np.array_equal(one[0], one[-1])  # it moved
    finally:
        for g in games:
            g.close()


def test_cooperative_pong_paddles_move_up_and_down_with_the_arrows() -> None:
    game = make_game(spec(PONG, ["paddle_0", "paddle_1"]))
    try:
        assert game.agents == ["paddle_0", "paddle_1"]
        assert game.action_meanings["paddle_0"] == ["NOOP", "UP", "DOWN"]
        keys = game.default_input_maps["paddle_1"]
        assert isinstance(keys, DiscreteMap) and (keys.bindings["Up"], keys.bindings["Down"], keys.noop) == (1, 2, 0)
        game.reset(0)
        first = game.render()
        assert first.shape == (280, 480, 3) and first.dtype == np.uint8
    finally:
        game.close()


def test_pistonball_pistons_get_continuous_keys_each() -> None:
    game = make_game(spec("pettingzoo/butterfly/pistonball_v6", kwargs={"n_pistons": 3}))
    try:
        assert game.agents == ["piston_0", "piston_1", "piston_2"]
        keys = game.default_input_maps["piston_2"]
        assert keys.kind == "continuous" and {(k.key, k.direction) for k in keys.keys} >= {("Right", 1), ("Left", -1)}
        game.reset(0)
        game.step({a: np.array([1.0], dtype=np.float32) for a in game.agents})
        assert game.render().shape == (560, 200, 3)
    finally:
        game.close()


def test_agents_whose_episode_ended_drop_out_and_their_actions_are_ignored() -> None:
    game = make_game(spec("pettingzoo/tests/race_v0", ["fast", "slow"]))
    env = game.backend.env  # type: ignore[attr-defined]
    try:
        game.reset(0)
        both = {"fast": 1, "slow": 2}
        _, _, ended, _, _ = game.step(both)
        assert ended == {"fast": False, "slow": False}
        observations, rewards, ended, cut, _ = game.step(both)
        assert ended == {"fast": True, "slow": False} and set(observations) == set(rewards) == set(cut)
        assert game.live == ["slow"]
        observations, rewards, ended, _, _ = game.step(both)  # 'fast' ended: its action is not passed on
        assert set(observations) == set(rewards) == set(ended) == {"slow"} and env.seen[-1] == {"slow": 2}
        _, _, ended, _, _ = game.step(both)
        assert ended == {"slow": True} and game.done
        assert game.step(both) == ({}, {}, {}, {}, {})  # until the next reset
        game.reset(1)
        assert game.live == ["fast", "slow"]
        with pytest.raises(ValueError, match=r"Expected an action for each agent still in the episode "
                                             r"\['fast', 'slow'\], got none for \['slow'\]"):
            game.step({"fast": 0})
        with pytest.raises(ValueError, match=r"Expected actions for the game's agents \['fast', 'slow'\], got ones "
                                             r"for \['third'\]"):
            game.step({**both, "third": 0})
    finally:
        game.close()


def test_max_episode_steps_truncates_every_live_agent() -> None:
    game = make_game(spec(INVADERS, max_episode_steps=3))
    try:
        game.reset(0)
        idle = {"first_0": 0, "second_0": 0}
        assert [game.step(idle)[3] for _ in range(3)][-1] == {"first_0": True, "second_0": True}
        assert game.done
    finally:
        game.close()


def test_seats_named_otherwise_than_the_agents_are_refused_naming_both() -> None:
    with pytest.raises(EnvProblem) as caught:
        make_game(spec(INVADERS, ["first_0", "second"]))
    assert caught.value.field == "agents.seats" and caught.value.suggestions == ["second_0"]
    assert ("Expected seats named after 'pettingzoo/atari/space_invaders_v2''s agents ['first_0', 'second_0'], "
            "got ['first_0', 'second'] (missing ['second_0'], unknown ['second'])") in str(caught.value)


@pytest.mark.parametrize("env_id,meant", [
    ("pettingzoo/atari/space_invader_v2", "pettingzoo/atari/space_invaders_v2"),
    ("pettingzoo/butterfly/cooperative_pong_v5", "pettingzoo/butterfly/cooperative_pong_v6"),
])
def test_an_unknown_pettingzoo_id_names_the_one_meant(env_id: str, meant: str) -> None:
    with pytest.raises(EnvProblem, match="Expected a registered PettingZoo parallel environment") as caught:
        make_game(spec(env_id))
    assert caught.value.field == "env_id" and caught.value.suggestions[:1] == [meant]
    assert len(str(caught.value)) < 400  # not PettingZoo's whole registry


@pytest.mark.parametrize("kwargs,field,says,meant", [
    ({"max_cycle": 10}, "kwargs.max_cycle", "Expected kwargs that 'pettingzoo/atari/space_invaders_v2' accepts",
     ["max_cycles"]),
    ({"auto_rom_install_path": "/etc"}, "kwargs.auto_rom_install_path", "name no file or folder", []),
    ({"render_mode": "human"}, "kwargs.render_mode", "Expected kwargs without 'render_mode'", []),
])
def test_kwargs_the_game_does_not_take_or_the_worker_sets_are_refused(kwargs: dict[str, Any], field: str,
                                                                      says: str, meant: list[str]) -> None:
    with pytest.raises(EnvProblem, match=says) as caught:
        make_game(spec(INVADERS, kwargs=kwargs))
    assert caught.value.field == field and caught.value.suggestions[:1] == meant


def test_game_kwargs_reach_the_game() -> None:
    game = make_game(spec(INVADERS, kwargs={"obs_type": "ram"}))
    try:
        assert game.observation_spaces["first_0"].shape == (128,)
    finally:
        game.close()


def test_pettingzoo_needs_its_family_enabled() -> None:
    with pytest.raises(ValueError, match=r"ENV_FAMILIES: \['atari'\]\), got 'pettingzoo/atari/space_invaders_v2' "
                                         r"of family 'pettingzoo'"):
        make_game(spec(INVADERS), EnvAccess(families=frozenset({"atari"})))


# ---------------------------------------------------------------- Gymnasium envs with per-agent Dict spaces
def test_a_gymnasium_env_with_per_agent_dict_spaces_is_a_game() -> None:
    game = make_game(spec(DUO, ["left", "right"]), TESTS)
    try:
        assert game.family == "gymnasium" and game.agents == ["left", "right"]
        assert {a: int(s.n) for a, s in game.action_spaces.items()} == {"left": 3, "right": 3}
        assert isinstance(game.default_input_maps["left"], DiscreteMap)
        observations, infos = game.reset(0)
        start = int(observations["left"][0])
        assert infos["right"]["start"] == start
        observations, rewards, ended, _, infos = game.step({"left": 2, "right": 0})
        assert rewards == {"left": start + 1.0, "right": start - 1.0}  # info["rewards"], per agent
        assert ended == {"left": False, "right": False} and infos["left"] == {"t": 1}
        left, right, shared = game.render("left"), game.render("right"), game.render()
        assert shared.shape == (32, 64, 3) and left[0, 0, 0] == 255 and right[0, 0, 0] == 40  # each its own view
        assert game.own_views
        for _ in range(4):
            *_, ended, _, _ = game.step({"left": 1, "right": 1})
        assert ended == {"left": True, "right": True} and game.done
    finally:
        game.close()


def test_a_scalar_reward_is_every_agents() -> None:
    game = make_game(spec(DUO, kwargs={"shared_reward": True}), TESTS)
    try:
        observations, _ = game.reset(0)
        start = int(observations["left"][0])
        _, rewards, *_ = game.step({"left": 2, "right": 1})
        assert rewards == {"left": 2 * start + 1.0, "right": 2 * start + 1.0}
    finally:
        game.close()


def test_an_env_without_per_agent_spaces_is_refused() -> None:
    with pytest.raises(EnvProblem, match=r"Expected a multi-agent environment: .* got 'CartPole-v1' with action "
                                         r"space Discrete\(2\)") as caught:
        make_game(spec("CartPole-v1", ["a"]))
    assert caught.value.field == "env_id"


# ---------------------------------------------------------------- the study trial
def test_a_multi_agent_trial_gives_per_agent_spaces_and_a_preview() -> None:
    reply = try_environment(spec(INVADERS, ["first_0", "second_0"]))
    assert reply.ok, reply.problems
    assert reply.family == "pettingzoo"
    assert reply.action_space == {"type": "dict", "spaces": {"first_0": {"type": "discrete", "n": 6},
                                                             "second_0": {"type": "discrete", "n": 6}}}
    assert (reply.width, reply.height) == (160, 210)
    assert reply.preview_jpeg is not None
    assert simplejpeg.decode_jpeg(base64.b64decode(reply.preview_jpeg)).shape == (210, 160, 3)


@pytest.mark.parametrize("agents,field,says,meant", [
    ({"seats": {"first_0": {}, "player2": {}}}, "agents.seats",
     "got ['first_0', 'player2'] (missing ['second_0'], unknown ['player2'])", []),
    ({"seats": {"first_0": {"input_map": {"kind": "discrete", "bindings": {"Space": 9}}}, "second_0": {}}},
     "agents.seats.first_0.input_map.bindings.Space",
     "Expected an action in 0..5 (NOOP, FIRE, RIGHT, LEFT, RIGHTFIRE, LEFTFIRE), got 9", ["1"]),
    (None, "agents", "Expected an 'agents' block with a seat for each agent of "
                     "'pettingzoo/atari/space_invaders_v2' (first_0, second_0), got none", []),
])
def test_a_multi_agent_trial_shows_each_problem_at_its_field(agents: dict[str, Any] | None, field: str, says: str,
                                                             meant: list[str]) -> None:
    reply = try_environment(EnvironmentSpec.model_validate({"id": "g", "env_id": INVADERS, "agents": agents}))
    assert not reply.ok
    assert [p.field for p in reply.problems] == [field], reply.problems
    assert says in reply.problems[0].message and reply.problems[0].suggestions == meant


def test_a_trial_of_agents_on_a_single_agent_env_says_so() -> None:
    reply = try_environment(spec("CartPole-v1", ["a"]))
    assert [p.field for p in reply.problems] == ["env_id"] and "Expected a multi-agent environment" in \
        reply.problems[0].message


@pytest.mark.e2e
def test_creating_a_study_tries_its_multi_agent_env_and_refuses_mismatched_seats(client: Client) -> None:
    seats = {"first_0": {"instructions": "You are the green cannon"}, "second": {}}
    with pytest.raises(ApiError) as caught:
        client.create_study(study({"id": "invaders", "env_id": INVADERS, "agents": {"seats": seats}}, name="refused"))
    assert caught.value.status == 422, caught.value.detail
    [problem] = caught.value.detail
    assert problem["loc"] == ["body", "environments", 0, "agents", "seats"] and problem["suggestions"] == ["second_0"]
    assert "agents ['first_0', 'second_0'], got ['first_0', 'second']" in problem["msg"]
    seats = {"first_0": seats["first_0"], "second_0": {"fallback": {"kind": "random"}}}
    created = client.create_study(study({"id": "invaders", "env_id": INVADERS, "agents": {"seats": seats}}))
    frame = client._http.get(f"/api/studies/{created['id']}/environments/invaders/preview.jpg")
    assert frame.status_code == 200 and simplejpeg.decode_jpeg(frame.content).shape == (210, 160, 3)


# ---------------------------------------------------------------- step times (numbers for docs/multiagent.md)
@pytest.mark.parametrize("env_id,budget_ms", [(INVADERS, 5.0), (PONG, 40.0)])
def test_step_and_render_fit_a_realtime_tick(env_id: str, budget_ms: float) -> None:
    game = make_game(spec(env_id))
    try:
        game.reset(0)
        rng = np.random.default_rng(0)
        n, started = 300, time.perf_counter()
        for _ in range(n):
            if game.done:
                game.reset(1)
            game.step({a: int(rng.integers(game.action_spaces[a].n)) for a in game.live})  # type: ignore[attr-defined]
            game.render()
        per_step_ms = (time.perf_counter() - started) / n * 1000
        assert per_step_ms < budget_ms, per_step_ms  # a 15 fps tick is 66 ms
    finally:
        game.close()
