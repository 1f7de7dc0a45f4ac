"""The NetHack family (NLE) on the real game: the terminal drawn as the frame, NetHack's keys as the default map,
copied and reproducible observations, and the errors a designer gets."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pytest
from pydantic import ValidationError

from playcorder.inputs import InputState
from playcorder.specs import EnvironmentSpec
from playcorder_env_worker.families import PreparedEnv, make_env, resolve_family
from playcorder_env_worker.families.nethack import DEFAULT_OBSERVATION_KEYS
from playcorder_env_worker.families.nethack_keys import key_of, nethack_map
from playcorder_env_worker.families.problems import EnvProblem
from playcorder_env_worker.families.terminal import TerminalRenderer
from playcorder_env_worker.mapping import DiscreteMapper


def spec(env_id: str = "NetHackScore-v0", **kw) -> EnvironmentSpec:
    return EnvironmentSpec(id="nethack", env_id=env_id, mode="turn_based", **kw)


@pytest.fixture
def score() -> Iterator[PreparedEnv]:
    prepared = make_env(spec())
    yield prepared
    prepared.close()


def text(row: np.ndarray) -> str:
    return bytes(row).decode("latin-1")


def test_family_and_observations(score: PreparedEnv) -> None:
    assert resolve_family(spec()) == "nethack" and score.family == "nethack"
    space = score.env.observation_space
    assert sorted(space) == sorted(DEFAULT_OBSERVATION_KEYS) and "screen_descriptions" not in space
    assert space["tty_chars"].shape == (24, 80) and space["message"].shape == (256,)
    obs, _ = score.env.reset(seed=3)
    assert "Dlvl:1" in text(obs["tty_chars"][23]) and "HP:" in text(obs["tty_chars"][23])


def test_frame_is_the_terminal(score: PreparedEnv) -> None:
    obs, _ = score.env.reset(seed=3)
    frame = score.render()
    renderer = TerminalRenderer()
    h, w = renderer.cell_height, renderer.cell_width
    assert frame.shape == (24 * h, 80 * w, 3) == (408, 640, 3) and frame.dtype == np.uint8
    cells = frame.reshape(24, h, 80, w, 3).max(axis=(1, 3, 4))  # brightest pixel of each cell
    chars, cursor = obs["tty_chars"], tuple(int(x) for x in obs["tty_cursor"])
    drawn = (chars > 32) & (chars < 127)
    assert drawn.sum() > 100  # the map and two status lines
    lit = drawn.copy()
    lit[cursor] = True  # the cursor's underline
    assert np.array_equal(cells > 0, lit)
    # the player's '@' is drawn from the '@' glyph: its cell matches another '@' drawn in the same colour
    at = renderer.render(np.full((1, 1), ord("@"), np.uint8), obs["tty_colors"][cursor][None, None])
    r, c = cursor
    player = frame[r * h:(r + 1) * h - 2, c * w:(c + 1) * w]  # above the cursor's underline
    assert np.array_equal(player, at[:-2]) and not np.array_equal(player, renderer.render(
        np.full((1, 1), ord("#"), np.uint8), obs["tty_colors"][cursor][None, None])[:-2])
    assert np.all(frame[r * h + h - 2:(r + 1) * h, c * w:(c + 1) * w] == 255)  # the cursor's underline


def test_default_keys_are_nethack_commands(score: PreparedEnv) -> None:
    bindings = score.default_input_map.bindings
    meanings = score.action_meanings
    assert meanings is not None and len(meanings) == score.env.action_space.n == 23
    named = {combo: meanings[action] for combo, action in bindings.items()}
    assert {k: named[k] for k in ("K", "J", "H", "L", "Y", "U", "B", "N")} == {
        "K": "N", "J": "S", "H": "W", "L": "E", "Y": "NW", "U": "NE", "B": "SW", "N": "SE"}
    assert {k: named[k] for k in ("Up", "Down", "Left", "Right", "Shift+K", "Shift+Up", "Shift+B")} == {
        "Up": "N", "Down": "S", "Left": "W", "Right": "E", "Shift+K": "FAR_N", "Shift+Up": "FAR_N",
        "Shift+B": "FAR_SW"}
    assert {k: named[k] for k in ("Enter", "Space", "<", ">", ".", "S", "E", "Control+D", "Alt+Shift+D")} == {
        "Enter": "MORE", "Space": "MORE", "<": "UP", ">": "DOWN", ".": "WAIT", "S": "SEARCH", "E": "EAT",
        "Control+D": "KICK", "Alt+Shift+D": "KICK"}
    assert meanings[score.default_input_map.noop] == "MORE"
    # what the browser sends: 'k' as held key, Shift then 'K', Shift then '>' (Shift+. on a US keyboard)
    mapper = DiscreteMapper(score.default_input_map, 23)
    assert [meanings[mapper.action(InputState(keys=keys))] for keys in (["k"], ["Shift", "K"], ["Shift", ">"])] == [
        "N", "FAR_N", "DOWN"]
    assert mapper.pressed_new(InputState(keys=["Shift"]), InputState(keys=["Shift", "K"]))


def test_every_action_of_the_full_set_has_a_key() -> None:
    prepared = make_env(spec("NetHackChallenge-v0"))
    try:
        codes = [int(a) for a in prepared.env.unwrapped.actions]
        input_map, unbound = nethack_map(codes)
        assert len(codes) == 121 and unbound == []
        named = {combo: prepared.action_meanings[a] for combo, a in input_map.bindings.items()}
        assert {k: named[k] for k in ("Alt+P", "Alt+Shift+A", "Alt+?", "#", ":", "Plus", "\"", "Escape",
                                      "Backspace", "Alt+Shift+X", "Control+R", "Alt+Shift+R", "5")} == {
            "Alt+P": "PRAY", "Alt+Shift+A": "ANNOTATE", "Alt+?": "EXTLIST", "#": "EXTCMD", ":": "LOOK",
            "Plus": "SEESPELLS", "\"": "SEEAMULET", "Escape": "ESC", "Backspace": "ESC", "Alt+Shift+X": "ATTRIBUTES",
            "Control+R": "REDRAW", "Alt+Shift+R": "RIDE", "5": "NUM_5"}  # M-R (ride) keeps Alt+Shift+R
    finally:
        prepared.close()
    assert (key_of(ord("k")), key_of(ord("K")), key_of(4), key_of(0x80 | ord("p")), key_of(ord("\r"))) == (
        "K", "Shift+K", "Control+D", "Alt+P", "Enter")


def test_recorded_observations_are_copies_and_replay_from_the_seed(score: PreparedEnv) -> None:
    first, _ = score.env.reset(seed=11)
    kept = {k: v.copy() for k, v in first.items()}
    steps = [score.env.step(a)[0] for a in (1, 2, 3, 4, 22)]  # N, E, S, W, search
    assert all(np.array_equal(first[k], kept[k]) for k in first)  # later steps did not write into it
    assert not np.shares_memory(steps[0]["tty_chars"], steps[1]["tty_chars"])
    again = make_env(spec())
    try:
        replayed, _ = again.env.reset(seed=11)
        assert all(np.array_equal(replayed[k], kept[k]) for k in kept)
        for a, expected in zip((1, 2, 3, 4, 22), steps, strict=True):
            obs = again.env.step(a)[0]
            assert all(np.array_equal(obs[k], expected[k]) for k in expected)
    finally:
        again.close()


def test_observation_keys_can_be_chosen() -> None:
    prepared = make_env(spec(kwargs={"observation_keys": ["message", "blstats", "screen_descriptions"]}))
    try:
        # the terminal's keys are always there: the frame is drawn from them
        assert sorted(prepared.env.observation_space) == ["blstats", "message", "screen_descriptions", "tty_chars",
                                                          "tty_colors", "tty_cursor"]
        prepared.env.reset(seed=0)
        assert prepared.render().shape == (408, 640, 3)
    finally:
        prepared.close()
    with pytest.raises(EnvProblem, match=r"Expected NLE observation keys among \[.*'tty_chars'.*\], got "
                                         r"'tty_char'; did you mean 'tty_chars'") as err:
        make_env(spec(kwargs={"observation_keys": ["tty_char"]}))
    assert err.value.field == "kwargs.observation_keys"
    with pytest.raises(EnvProblem, match="Expected a list of NLE observation keys"):
        make_env(spec(kwargs={"observation_keys": "glyphs"}))


def test_unknown_keys_in_an_input_map_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"Expected key names like 'Up', 'A', 'Space'.*got 'Kick' in 'Kick'"):
        spec(input_map={"kind": "discrete", "bindings": {"Kick": 20}})
    with pytest.raises(ValidationError, match=re.escape("got '<<' in 'Shift+<<'")):
        spec(input_map={"kind": "discrete", "bindings": {"Shift+<<": 17}})
    accepted = spec(input_map={"kind": "discrete", "bindings": {"<": 17, ">": 18, "#": 3, ":": 4}})
    assert accepted.input_map is not None and accepted.input_map.bindings == {"<": 17, ">": 18, "#": 3, ":": 4}


def test_renderer_falls_back_to_pillows_bitmap_font() -> None:
    renderer = TerminalRenderer(font_path="/nonexistent/font.ttf")
    frame = renderer.render(np.frombuffer(b"@ ab", np.uint8)[None], np.full((1, 4), 7, np.int8))
    assert frame.shape == (renderer.cell_height, 4 * renderer.cell_width, 3)
    cells = frame.reshape(renderer.cell_height, 4, renderer.cell_width, 3).max(axis=(0, 2, 3))
    assert list(cells > 0) == [True, False, True, True]
