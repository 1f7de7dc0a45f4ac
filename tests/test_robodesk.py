"""RoboDesk (robodesk/<task>): the family on real RoboDesk envs (spaces, seeding against RoboDesk's own, the success
flag, the arrow keys as the camera shows the desk, two envs on changing threads), then a study played with keys
through the real stack and exported to RLDS, Minari and LeRobot with its dict observation and image intact.

Each RoboDesk step renders (~0.3 s on the CPU renderer): the tests take few steps."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from playcorder.inputs import InputState
from playcorder.sdk import Client
from playcorder.specs import EnvironmentSpec
from playcorder_env_worker.families import PreparedEnv, make_env
from playcorder_env_worker.families import robodesk as family
from playcorder_env_worker.families.problems import EnvProblem
from playcorder_env_worker.mapping import ContinuousMapper
from tests import tensorflow_side
from tests.factories import study
from tests.stored import all_steps, stored_episode
from tests.wsclient import Player

FLOATS = ("end_effector", "qpos_objects", "qpos_robot", "qvel_objects", "qvel_robot")


def desk(task: str = "open_slide", **fields: Any) -> PreparedEnv:
    return make_env(EnvironmentSpec(id="desk", env_id=f"robodesk/{task}", **fields))


@pytest.fixture(scope="module")
def slide() -> Any:
    prepared = desk()
    yield prepared
    prepared.close()


def test_every_task_of_robodesk_is_an_id() -> None:
    prepared = desk("lift_ball")
    try:
        robodesk_env = prepared.env.unwrapped.desk
        assert family.TASKS == tuple(robodesk_env.all_tasks) and len(family.TASKS) == 18
        assert robodesk_env.task == "lift_ball" and prepared.family == "robodesk"
    finally:
        prepared.close()
    import gymnasium as gym

    assert all(f"robodesk/{task}" in gym.registry for task in family.TASKS)


def test_spaces_agree_with_what_reset_and_step_return(slide: PreparedEnv) -> None:
    env = slide.env
    obs, info = env.reset(seed=0)
    assert info == {"success": False}
    assert list(obs) == list(env.observation_space.spaces)  # the space's key order
    assert env.action_space.shape == (5,) and env.action_space.dtype == np.float32
    for _ in range(2):
        obs, reward, terminated, truncated, info = env.step(np.zeros(5, np.float32))
        assert isinstance(reward, float) and 0 <= reward <= 1 and not terminated and not truncated
        assert info == {"success": False}
        for key, space in env.observation_space.spaces.items():
            assert (obs[key].dtype, obs[key].shape) == (space.dtype, space.shape), key
        assert env.observation_space.contains(obs)
    assert obs["image"].shape == (64, 64, 3) and obs["image"].std() > 20  # the desk, not a blank image
    assert {k: obs[k].dtype for k in FLOATS} == dict.fromkeys(FLOATS, np.float32)
    frame = slide.render()
    assert frame.shape == (120, 120, 3) and frame.dtype == np.uint8 and frame.std() > 20


def test_a_seeded_reset_is_robodesks_own_and_leaves_numpys_global_rng_alone(slide: PreparedEnv,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import robodesk
    from PIL import Image

    monkeypatch.setattr(Image, "ANTIALIAS", Image.LANCZOS, raising=False)  # RoboDesk's own render needs it
    original = robodesk.RoboDesk(task="open_slide")
    np.random.seed(7)
    expected = {k: np.array(v) for k, v in original.reset().items()}  # its end_effector is a view of live data
    expected_step = original.step(np.array([0.5, -0.5, 0.2, 0.1, 1.0]))[0]
    state = np.random.get_state()[1].copy()
    obs, _ = slide.env.reset(seed=7)
    assert np.array_equal(np.random.get_state()[1], state)  # drew from its own RandomState
    assert np.array_equal(obs["image"], expected["image"])  # RoboDesk's image, bit for bit, from one render
    for key in FLOATS:
        np.testing.assert_allclose(obs[key], expected[key], rtol=1e-6, atol=1e-6, err_msg=key)
    stepped = slide.env.step(np.array([0.5, -0.5, 0.2, 0.1, 1.0], np.float32))[0]
    assert np.array_equal(stepped["image"], expected_step["image"])
    original.physics.free()
    again, _ = slide.env.reset(seed=7)
    other, _ = slide.env.reset(seed=8)
    assert np.array_equal(again["qpos_robot"], obs["qpos_robot"]) and not np.array_equal(other["qpos_robot"],
                                                                                          obs["qpos_robot"])


def test_success_is_in_info_and_may_end_the_episode() -> None:
    prepared = desk(kwargs={"reward": "success", "end_on_success": True, "episode_length": 50})
    try:
        env = prepared.env
        env.reset(seed=1)
        *_, terminated, truncated, info = env.step(np.zeros(5, np.float32))
        assert info == {"success": False} and not terminated
        physics = env.unwrapped.desk.physics
        physics.named.data.qpos["slide_joint"] = 0.6  # the slide pushed open
        physics.forward()
        _, reward, terminated, truncated, info = env.step(np.zeros(5, np.float32))
        assert info == {"success": True} and reward == 1.0 and terminated and not truncated
    finally:
        prepared.close()


def test_episode_length_truncates() -> None:
    prepared = desk("push_red", kwargs={"episode_length": 2})
    try:
        prepared.env.reset(seed=0)
        flags = [prepared.env.step(np.zeros(5, np.float32))[2:4] for _ in range(2)]
        assert flags == [(False, False), (False, True)]
    finally:
        prepared.close()


@pytest.mark.parametrize(("kwargs", "field", "says"), [
    ({"reward": "dens"}, "kwargs.reward",
     r"Expected reward among \['dense', 'sparse', 'success'\], got 'dens'; did you mean 'dense'\?"),
    ({"image_size": 0}, "kwargs.image_size", r"Expected image_size to be an int 16\.\.120, got 0"),
    ({"episode_length": -1}, "kwargs.episode_length",
     r"Expected episode_length \(or null for no limit\) to be an int >= 1, got -1"),
    ({"action_repeat": 1.5}, "kwargs.action_repeat", r"Expected action_repeat to be an int 1\.\.100, got 1\.5"),
    ({"end_on_success": 1}, "kwargs.end_on_success", r"Expected end_on_success to be true or false, got 1"),
    ({"task": "stack"}, "kwargs.task", r"Expected kwargs that 'robodesk/open_slide' accepts \(action_repeat, "),
])
def test_bad_kwargs_are_explained_at_their_field(kwargs: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(EnvProblem, match=says) as caught:
        desk(kwargs=kwargs)
    assert caught.value.field == field


def test_a_bad_action_is_explained(slide: PreparedEnv) -> None:
    slide.env.reset(seed=0)
    with pytest.raises(ValueError, match=r"Expected an action in Box\(-1\.0, 1\.0, \(5,\), float32\)"):
        slide.env.step(np.zeros(4, np.float32))


def _pixel(prepared: PreparedEnv, world: np.ndarray) -> np.ndarray:
    """Where a world point shows in the 120x120 frame: (column, row)."""
    camera = prepared.env.unwrapped._camera(120, 120)
    u, v, w = camera.matrix @ np.append(world, 1.0)
    return np.array([u / w, v / w])


def test_arrow_keys_move_the_arm_the_way_the_camera_shows() -> None:
    slide = desk(render={"shadows": False})  # the same physics, a quarter of the rendering
    mapper = ContinuousMapper(slide.default_input_map, slide.env.action_space.low, slide.env.action_space.high)
    assert mapper.action(InputState(), 0.25)[4] == 1.0  # the gripper starts open (RoboDesk: +1 open)
    moved = {}
    obs, _ = slide.env.reset(seed=3)
    for keys in (["ArrowRight"], ["ArrowLeft"], ["ArrowUp"], ["ArrowDown"], [";"], ["."]):
        mapper.reset()
        before = obs["end_effector"].astype(float)
        for _ in range(4):
            action = mapper.action(InputState(keys=keys), 0.25)
            obs = slide.env.step(action.astype(np.float32))[0]
        moved[keys[0]] = (obs["end_effector"] - before, _pixel(slide, obs["end_effector"]) - _pixel(slide, before))
    (dx, px), (dx_left, px_left) = moved["ArrowRight"], moved["ArrowLeft"]
    # (4 steps move the arm ~5 mm, ~0.4 px of the 120x120 frame: RoboDesk's IK target is 1 cm a step away at
    # most, and its 10 physics substeps a step cover only part of it)
    assert dx[0] > 0.003 and px[0] > 0.2 and dx_left[0] < -0.003 and px_left[0] < -0.2  # right: world and frame
    (dy, py), (dy_down, py_down) = moved["ArrowUp"], moved["ArrowDown"]
    assert dy[1] > 0.003 and py[1] < -0.2 and dy_down[1] < -0.003 and py_down[1] > 0.2  # away: up in the frame
    assert moved[";"][0][2] > 0.002 and moved["."][0][2] < -0.002
    slide.close()


def test_two_envs_render_on_any_thread_beside_mujoco() -> None:
    """The worker steps and renders on whichever pool thread is free, several envs in one process."""
    first, second = desk(), desk("push_red", render={"width": 240, "height": 180, "shadows": False})
    cheetah = make_env(EnvironmentSpec(id="c", env_id="HalfCheetah-v5", render={"width": 64, "height": 64}))
    frames: dict[str, list[np.ndarray]] = {"first": [], "second": [], "cheetah": []}
    try:
        for prepared in (first, second, cheetah):
            prepared.env.reset(seed=2)
        for _ in range(2):
            for name, prepared in (("first", first), ("second", second), ("cheetah", cheetah)):
                def go(prepared: PreparedEnv = prepared, name: str = name) -> None:
                    prepared.env.step(np.zeros(prepared.env.action_space.shape, np.float32))
                    frames[name].append(prepared.render())
                thread = threading.Thread(target=go)  # a new thread each time
                thread.start()
                thread.join()
        assert [len(f) for f in frames.values()] == [2, 2, 2]
        assert frames["first"][-1].shape == (120, 120, 3) and frames["second"][-1].shape == (180, 240, 3)
        assert all(f[-1].std() > 20 for f in frames.values())
        reference = desk()
        try:
            reference.env.reset(seed=2)
            for _ in range(2):
                reference.env.step(np.zeros(5, np.float32))
            assert np.array_equal(reference.render(), frames["first"][-1])  # the same frame as on one thread
        finally:
            reference.close()
        first.close()
        second.env.step(np.zeros(5, np.float32))
        assert second.render().std() > 20 and cheetah.render().std() > 20  # closing one leaves the others drawing
    finally:
        for prepared in (first, second, cheetah):
            prepared.close()


def test_robodesk_and_robosuite_share_a_process() -> None:
    """dm_control's EGL contexts (RoboDesk) beside robosuite's (mujoco.egl), stepped on fresh threads."""
    arm, slide = make_env(EnvironmentSpec(id="l", env_id="robosuite/Lift")), desk(render={"shadows": False})
    try:
        for prepared in (arm, slide):
            prepared.env.reset(seed=0)
        frames: list[np.ndarray] = []
        for prepared in (arm, slide, arm, slide):
            def go(prepared: PreparedEnv = prepared) -> None:
                prepared.env.step(np.zeros(prepared.env.action_space.shape, np.float32))
                frames.append(prepared.render())
            thread = threading.Thread(target=go)
            thread.start()
            thread.join()
        assert len(frames) == 4 and all(f.std() > 20 for f in frames)
        slide.close()
        assert arm.render().std() > 20
    finally:
        slide.close()
        arm.close()


# --- through the real stack -------------------------------------------------------------------------------------

@pytest.mark.e2e
def test_a_robodesk_study_played_with_keys_is_exported_intact(client: Client, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    created = client.create_study(study({"id": "desk", "env_id": "robodesk/open_slide", "mode": "turn_based",
                                         "step_while_held": True, "fps": 4}, name="robodesk"))
    token = client.create_participant(created["id"])["token"]

    async def play() -> tuple[dict[str, Any], str]:
        player = await Player.join(client.url, token, "desk")
        session = await player.until("session")
        started = await player.until("episode_started")
        await player.until("frame")
        for keys in (["ArrowRight"], ["ArrowUp"]):
            await player.send(type="input", keys=keys)
            for _ in range(4):  # held: a step (and its frame) at 4 fps at most, ~0.3 s each here
                await player.until("frame", timeout=30)
            await player.send(type="input", keys=[])
            await player.drain(0.6)
        await player.send(type="end_episode", save=True)
        ended = await player.until("episode_ended", timeout=60)
        await player.close()
        assert ended["episode_id"] == started["episode_id"]
        return session, ended["episode_id"]

    session, episode_id = asyncio.run(play())
    assert session["family"] == "robodesk" and session["input_map"]["kind"] == "continuous"
    stored_episode(client, episode_id, timeout=30)
    steps = all_steps(client, episode_id)
    actions = np.array([s["action"] for s in steps[:-1]])
    right_at = [i for i, s in enumerate(steps[:-1]) if s["input"] == {"keys": ["ArrowRight"]}]
    right = actions[right_at]
    up = actions[[s["input"] == {"keys": ["ArrowUp"]} for s in steps[:-1]]]
    assert len(right) >= 3 and len(up) >= 3, [s["input"] for s in steps]
    # a press steps at once with the key's ramp not yet begun (0), then at 4 fps while held: 0.5, 1, ...
    assert np.all(right[:, 0] >= 0) and right[-1, 0] == 1.0 and np.all(right[:, 1] == 0)
    assert np.all(up[:, 1] >= 0) and up[-1, 1] == 1.0 and np.all(up[-2:, 0] == 0)  # (dx ramps back to 0 first)
    assert np.all(actions[:, 4] == 1.0)  # gripper open throughout
    assert [s["info"].get("success") for s in steps[1:]] == [False] * (len(steps) - 1)
    n = len(steps)

    def check(observations: dict[str, np.ndarray], lossless: bool) -> None:
        assert set(observations) >= {"image", *FLOATS}, sorted(observations)
        image = observations["image"]
        assert image.shape == (n, 64, 64, 3) and image.dtype == np.uint8 and image[0].std() > 20
        for key in FLOATS:
            assert observations[key].dtype == np.float32 and observations[key].shape[0] == n, key
        x = observations["end_effector"][:, 0]
        assert x[right_at[-1] + 1] - x[right_at[0]] > 0.002  # the arm went right
        if lossless:
            assert np.array_equal(image, rlds["image"])

    rlds_export = client.wait_export(client.create_export(created["id"], format="rlds", name="desk",
                                                          keep_metadata=True)["id"], 300)
    assert rlds_export["state"] == "done", rlds_export["error"]
    client.download_export(rlds_export, tmp_path / "rlds")
    _, episodes = tensorflow_side.load(tmp_path / "rlds" / "desk" / "1.0.0")
    rlds_steps = episodes[0]["steps"]
    rlds = {key: np.stack([s["observation"][key] for s in rlds_steps]) for key in ("image", *FLOATS)}
    assert [json.loads(s["info"]).get("success") for s in rlds_steps[1:]] == [False] * (n - 1)  # kept as recorded
    check(rlds, lossless=False)

    minari_export = client.wait_export(client.create_export(created["id"], format="minari")["id"], 300)
    assert minari_export["state"] == "done", minari_export["error"]
    client.download_export(minari_export, tmp_path / "minari")
    import minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    name = next(d.name for d in (tmp_path / "minari" / "playcorder").iterdir() if d.is_dir())
    dataset = minari.load_dataset(f"playcorder/{name}")
    assert isinstance(dataset.observation_space, __import__("gymnasium").spaces.Dict)
    episode = next(iter(dataset))
    check({k: np.asarray(v) for k, v in episode.observations.items()}, lossless=True)

    lerobot_export = client.wait_export(client.create_export(created["id"], format="lerobot")["id"], 300)
    assert lerobot_export["state"] == "done", lerobot_export["error"]
    root = tmp_path / "lerobot"
    client.download_export(lerobot_export, root)
    import av
    import pyarrow.parquet as pq

    info = json.loads((root / "meta" / "info.json").read_text())
    assert info["features"]["observation.images.image"]["shape"][:2] == [64, 64]
    table = pq.read_table(root / "data" / "chunk-000" / "file-000.parquet")
    floats = {key: np.array(table.column(f"observation.{key}").to_pylist(), np.float32) for key in FLOATS}
    assert all(info["features"][f"observation.{key}"]["dtype"] == "float32" for key in FLOATS)
    video = root / info["video_path"].format(video_key="observation.images.image", chunk_index=0, file_index=0)
    with av.open(str(video)) as container:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert decoded.shape == (n, 64, 64, 3)
    assert np.abs(decoded.astype(int) - rlds["image"]).mean() < 8  # the same frames, but for the codec's loss
    check({"image": rlds["image"], **floats}, lossless=False)


def test_the_bot_plays_robodesk(cli_env: dict[str, str], client: Client) -> None:
    """`playcorder bot` on a RoboDesk study left at the family's defaults (turn-based, stepping while held, 3 fps):
    its random 5-D actions are stored with the success flag."""
    from tests.test_play_families import cli

    created = client.create_study(study({"id": "desk", "env_id": "robodesk/push_red"}, name="robodesk-bot"))
    env = created["spec"]["environments"][0]
    assert (env["mode"], env["step_while_held"], env["fps"]) == ("turn_based", True, 3)
    summary = cli(cli_env, "bot", "--study", created["id"], "--env", "desk", "--episodes", "1", "--max-steps", "4",
                  "--seed", "2")
    assert summary["episodes"] == 1 and summary["actions"] == 4, summary
    steps = all_steps(client, summary["episode_details"][0]["episode_id"])
    actions = np.array([s["action"] for s in steps[:-1]])
    assert actions.shape == (len(steps) - 1, 5) and len(steps) >= 5 and np.all(np.abs(actions) <= 1)
    assert all(isinstance(s["info"]["success"], bool) for s in steps)
