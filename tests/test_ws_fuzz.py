"""The play WebSocket under hostile input, on the real stack: every client message type with wrong types, huge values,
overflowing numbers, NUL bytes, huge key lists, binary frames and oversized messages each get an `error` event; the
socket stays open, the session goes on, and an episode played in between still records every step."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable
from typing import Any

import pytest
import websockets

from playcorder.sdk import Client
from playcorder.sdk.bot import ws_url
from tests.factories import study
from tests.stored import all_steps, stored_episode
from tests.wsclient import Player

pytestmark = pytest.mark.e2e

MAX_MESSAGE = 65536  # the gateway's default WS_MAX_MESSAGE
RAW = "__raw__"  # json.dumps placeholder for a bare JSON token (NaN, 1e400) that Python would not write itself
HUGE: list[Any] = [2 ** 63, -(2 ** 63) - 1, 2 ** 64, 10 ** 30, 1e308, -1e308]
TOKENS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "9" * 5000]
Fuzz = tuple[str | bytes, str]  # what is sent, the error code it must get
KEYS = ["ArrowLeft", "ArrowRight"]  # recorded with CartPole's actions 0 and 1


def raw_json(message: dict[str, Any], token: str | None = None) -> str:
    text = json.dumps(message)
    return text.replace(f'"{RAW}"', token) if token is not None else text


def bad_string(rng: random.Random) -> Any:
    return rng.choice(["\x00", "a\x00b", "pong\x00", "\x1b[2J", "\x7f", "\u0085", "x" * rng.randint(257, 20_000),
                       None, 1, 2 ** 63, 1e308, [], {}, ["pong"]])


def bad_number(rng: random.Random, valid: range) -> tuple[Any, str | None]:
    """A value for an int field: out of range, overflowing, not a number at all, or a bare NaN/1e400 token."""
    if rng.random() < 0.3:
        return RAW, rng.choice(TOKENS)
    return rng.choice([*HUGE, valid.start - 1, valid.stop, 1.5, "NaN", "ten", "\x00", None, [], {}]), None


def bad_names(rng: random.Random) -> Any:
    """A keys or touch list beyond the limits, that still fits in one message."""
    return rng.choice([
        ["A"] * rng.randint(33, 9000), [f"K{i}" for i in range(rng.randint(33, 5000))], ["A\x00"], ["Up", "\x00"],
        ["x" * rng.randint(33, 30_000)], [rng.choice("abc") * 40], "Up", [1], [None], {"0": "A"},
    ])


def bad_input(rng: random.Random) -> Fuzz:
    field = rng.choice(["keys", "touch", "buttons", "axes", "sixdof", "mouse"])
    if field in ("keys", "touch"):
        return raw_json({"type": "input", field: bad_names(rng)}), "bad_message"
    if field == "sixdof":
        value = rng.choice([[0.0] * 5, [0.0] * 7, [2.0, 0, 0, 0, 0, 0], [1e308] * 6, ["NaN"] * 6])
        return raw_json({"type": "input", "sixdof": value}), "bad_message"
    if field == "mouse":
        return raw_json({"type": "input", "mouse": [1, 2]}), "bad_message"
    if rng.random() < 0.3:
        return raw_json({"type": "input", field: [RAW]}, rng.choice(TOKENS)), "bad_message"
    value = rng.choice([[2 ** 63], [1e308], [-1e308], ["NaN"], [None], [0.0] * 65, [1.5], [-1.5], "0.5", [[0.5]]])
    return raw_json({"type": "input", field: value}), "bad_message"


def bad_action_message(rng: random.Random) -> Fuzz:
    """Malformed at the gateway (not numbers, too deep or large, bad keys): bad_message."""
    choice = rng.randrange(5)
    if choice == 0:
        return raw_json({"type": "action", "action": RAW}, rng.choice(TOKENS[:5])), "bad_message"
    if choice == 1:
        depth = rng.randint(9, 5000)
        return '{"type": "action", "action": ' + "[" * depth + "]" * depth + "}", "bad_message"
    if choice == 2:
        return raw_json({"type": "action", "action": [0.5] * rng.randint(4097, 9000)}), "bad_message"
    if choice == 3:
        return raw_json({"type": "action", "action": 0, "keys": bad_names(rng)}), "bad_message"
    return raw_json({"type": "action", "action": rng.choice([None, {"\x00": 1}, [1, None], "x\x00", "x" * 1025])}), \
        "bad_message"


def bad_action_value(rng: random.Random) -> Fuzz:
    """Well-formed JSON, outside CartPole's Discrete(2): the worker's bad_action, naming the space."""
    action = rng.choice([*HUGE, 2, -1, 1.5, True, [0, 1], [[0]], {"a": 1}, [2 ** 63] * rng.randint(1, 50), "NaN", "1",
                         [1, "x"]])  # texts are well-formed (Text action spaces), not CartPole's
    return raw_json({"type": "action", "action": action}), "bad_action"


def bad_setting(rng: random.Random) -> Fuzz:
    kind, field, valid = rng.choice([("set_fps", "fps", range(1, 61)), ("set_quality", "jpeg_quality", range(1, 101))])
    value, token = bad_number(rng, valid)
    return raw_json({"type": kind, field: value}, token), "bad_message"


def bad_camera(rng: random.Random) -> Fuzz:
    if rng.random() < 0.3:  # well-formed, but CartPole has a single camera: the worker's bad_camera
        return raw_json({"type": "set_camera", "camera": rng.choice([0, 3, 255, "top", "NaN"])}), "bad_camera"
    value, token = bad_number(rng, range(0, 256))
    value = rng.choice(["c" * 65, "top\x00", "\x1b"]) if isinstance(value, str) and value != "\x00" else value
    return raw_json({"type": "set_camera", "camera": value}, token), "bad_message"


def bad_save(rng: random.Random) -> Fuzz:
    kind = rng.choice(["save", "end_episode"])
    value = rng.choice([2, -1, 1, 0, "true", "maybe", "", [], {}, 1e308, 2 ** 63, "\x00",
                        None if kind == "save" else [True]])
    return raw_json({"type": kind, "save": value}), "bad_message"


def bad_plain(rng: random.Random) -> Fuzz:
    """A message type without fields, with one that does not belong (a `close` among them must not close)."""
    kind = rng.choice(["pause", "resume", "new_episode", "cancel", "resync", "close"])
    return raw_json({"type": kind, rng.choice(["x", "save", "\x00", "type2"]): bad_string(rng)}), "bad_message"


def bad_envelope(rng: random.Random) -> Fuzz:
    text = rng.choice([
        "", "{", "}", "[]", "null", "1", '"close"', "{}", '{"type": null}', '{"type": "close\\u0000"}',
        '{"type": "Pause"}', '{"type": "nope"}', '{"type": ["close"]}', '{"type": "pause", "type": 1}',
        '{"type": "pause"} trailing', "\x00", '{"type": "pause\x00"}', '{"type": "select_env", "env": "\\ud800"}',
        '{"type": 9223372036854775808}', '{"type": "set_fps", "fps": 1' + "0" * 5000 + "}",
    ])
    return text, "bad_message"


def binary_frame(rng: random.Random) -> Fuzz:
    data = rng.choice([b"", b"\x00", b'{"type": "close"}', rng.randbytes(rng.choice([17, 4096, 70_000, 500_000]))])
    return data, "bad_message"


def oversized(rng: random.Random) -> Fuzz:
    """Above WS_MAX_MESSAGE, below the transport limit: an error event, not a close."""
    size = rng.randint(MAX_MESSAGE + 1, 900_000)
    text = rng.choice([
        lambda: raw_json({"type": "input", "keys": ["A"] * (size // 5)}),
        lambda: raw_json({"type": "action", "action": 0, "keys": ["x" * size]}),
        lambda: raw_json({"type": "select_env", "env": "\x00" * (size // 6)}),
        lambda: "[" * size,
    ])()
    return text, "message_too_large"


def selecting_again(rng: random.Random) -> Fuzz:
    if rng.random() < 0.3:
        return raw_json({"type": "resume_session", "session_id": rng.randbytes(16).hex()}), "already_playing"
    return raw_json({"type": "select_env", "env": rng.choice(["game", "other"])}), "already_playing"


def bad_resume(rng: random.Random) -> Fuzz:
    """resume_session with what is not a session id (well-formed unknown ones are unknown_session, not read)."""
    value = rng.choice(["", "x", "0" * 31, "0" * 33, "G" * 32, "\x00" * 32, "A" * 32, 7, None, [], 2 ** 63,
                        rng.randbytes(16).hex().upper(), bad_string(rng)])
    return raw_json({"type": "resume_session", "session_id": value}), "bad_message"


IDLE: list[Callable[[random.Random], Fuzz]] = [  # without an episode, a well-formed action gets no_episode instead
    bad_input, bad_action_message, bad_setting, bad_camera, bad_save, bad_plain, bad_envelope, binary_frame, oversized,
    selecting_again, bad_resume,
]
IN_SESSION = [*IDLE, bad_action_value]


def before_session(rng: random.Random) -> Fuzz:
    if rng.random() < 0.2:  # valid, but not select_env
        return raw_json({"type": rng.choice(["pause", "resync", "new_episode"])}), "no_session"
    if rng.random() < 0.2:
        return raw_json({"type": "select_env", "env": bad_string(rng)}), "bad_message"
    if rng.random() < 0.1:  # well formed, but no session of this participant
        return raw_json({"type": "resume_session", "session_id": rng.randbytes(16).hex()}), "unknown_session"
    return rng.choice([bad_input, bad_action_message, bad_setting, bad_envelope, binary_frame, oversized,
                       bad_resume])(rng)


async def expect_error(player: Player, sent: str | bytes, code: str) -> None:
    shown = sent[:120]
    try:
        event = await player.until("error", timeout=10)
    except TimeoutError:
        raise AssertionError(f"no error event for {shown!r}") from None
    assert event["code"] == code, f"{shown!r} got {event}"
    assert len(event["message"]) <= 1000, f"{shown!r}: the error echoes too much ({len(event['message'])} chars)"


async def fuzz(player: Player, rng: random.Random, make: Callable[[random.Random], Fuzz], count: int) -> None:
    """Send `count` bad messages one by one, each answered by its error; no state change, no step."""
    events, frames = len(player.events), len(player.frames)
    for _ in range(count):
        sent, code = make(rng)
        await player.ws.send(sent)
        await expect_error(player, sent, code)
    assert {e["type"] for e in player.events[events:]} == {"error"}
    assert len(player.frames) == frames, "a bad message made the environment step or render"


async def test_bad_messages_get_errors_and_an_episode_records_every_step(client: Client) -> None:
    rng = random.Random(20261202)
    created = client.create_study(study({"id": "game", "env_id": "CartPole-v1", "mode": "turn_based"}, name="fuzz"))
    token = client.create_participant(created["id"])["token"]
    player = Player(await websockets.connect(ws_url(client.url, token), max_size=None))

    await fuzz(player, rng, before_session, 60)  # binary frames used to close the socket here
    await player.send(type="select_env", env="game")
    await player.until("session")
    episode_id = (await player.until("episode_started"))["episode_id"]
    await player.until("frame")

    await fuzz(player, rng, lambda r: r.choice(IN_SESSION)(r), 240)
    await player.send(type="resync")
    assert (await player.until("state"))["state"] == "paused"  # the session survived, its episode untouched

    # A normal episode, with more bad input between its steps: every step is recorded.
    actions: list[int] = []
    while len(actions) < 30:
        actions.append(len(actions) % 2)
        await player.send(type="action", action=actions[-1], keys=[KEYS[actions[-1]]])
        frame = await player.until("frame")
        assert frame.step == len(actions)
        if frame.is_last:  # the pole fell: the environment ended the episode, the participant keeps it
            await player.until("episode_finished")
            await player.send(type="save", save=True)
            break
        sent, code = rng.choice(IN_SESSION)(rng)
        await player.ws.send(sent)
        await expect_error(player, sent, code)
    else:
        await player.send(type="end_episode", save=True)
    ended = await player.until("episode_ended", episode_id=episode_id)
    await player.until("state", state="idle")
    await fuzz(player, rng, lambda r: r.choice(IDLE)(r), 20)  # between episodes
    await player.send(type="close")
    await player.close()

    assert ended["state"] == "completed" and ended["num_steps"] == len(actions) + 1  # + the final observation
    episode = stored_episode(client, episode_id)
    assert episode["state"] == "completed" and episode["num_steps"] == len(actions) + 1
    steps = all_steps(client, episode_id)
    assert [s["action"] for s in steps[:-1]] == actions
    assert [s["input"] for s in steps[:-1]] == [{"keys": [KEYS[a]], "explicit": True} for a in actions]


async def test_box_actions_are_checked_against_the_space(client: Client) -> None:
    """Pendulum's Box(-2, 2, (1,)): overflowing, non-finite, misshapen actions get bad_action naming the space."""
    rng = random.Random(7)
    created = client.create_study(study({"id": "game", "env_id": "Pendulum-v1", "mode": "turn_based"}, name="box"))
    token = client.create_participant(created["id"])["token"]
    player = await Player.join(client.url, token, "game")
    await player.until("session")
    episode_id = (await player.until("episode_started"))["episode_id"]
    await player.until("frame")
    bad = [[2 ** 63], [1e308], [-1e308], [2 ** 2000], [2.5], [0, 0], [[0]], 0.5, [True], {"a": [0]}, []]
    for action in bad:
        await player.send(type="action", action=action)
        event = await player.until("error")
        assert event["code"] == "bad_action" and event["message"].startswith(
            "Expected an action in Box(-2.0, 2.0, (1,), float32), got "), event
    for _ in range(40):
        sent, code = bad_action_message(rng)
        await player.ws.send(sent)
        await expect_error(player, sent, code)
    for value in (-2, 0.5, 2):
        await player.send(type="action", action=[value])
        await player.until("frame")
    await player.send(type="end_episode", save=True)
    ended = await player.until("episode_ended")
    await player.close()
    steps = all_steps(client, episode_id)
    assert ended["num_steps"] == 4 and [s["action"] for s in steps[:-1]] == [[-2.0], [0.5], [2.0]]


async def test_a_message_beyond_the_transport_limit_closes_the_socket(client: Client) -> None:
    """Above WS_MAX_SIZE (1 MiB) the server does not read a message at all: it closes with 1009 (message too big).
    The client may see a reset instead when the server closes while it is still sending."""
    created = client.create_study(study({"id": "game", "env_id": "CartPole-v1"}, name="transport"))
    token = client.create_participant(created["id"])["token"]
    ws = await websockets.connect(ws_url(client.url, token), max_size=None)
    try:
        with pytest.raises((websockets.ConnectionClosed, ConnectionResetError)) as closed:
            await ws.send("x" * (2 << 20))
            while True:  # a server that read the message would answer with an error event and wait for more
                await asyncio.wait_for(ws.recv(), 10)
    finally:
        with contextlib.suppress(Exception):
            await ws.close()
    if isinstance(closed.value, websockets.ConnectionClosed) and closed.value.rcvd is not None:
        assert closed.value.rcvd.code == 1009
