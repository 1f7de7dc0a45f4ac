"""Processed trajectories (playcorder.processing) against episodes computed by hand: frame skip, max-pooling over
RGB frames before grayscale, stacking order (oldest first, zeros before the episode), reward sums over each skip,
actions at the first frame of each skip, and how episodes end (terminal, or a final-observation row on timeout)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from playcorder.processing import ProcessingOptions, action_size, limits, observation_shape, rows, trajectory
from playcorder.records import Step

ACTIONS = {"type": "discrete", "n": 6}
IMAGE = {"type": "box", "dtype": "uint8", "shape": [168, 168, 3], "low": 0, "high": 255}
# One gray level per recorded frame, R = G = B (so grayscale keeps it) and uniform (so resizing keeps it).
LEVELS = [50, 10, 200, 30, 20, 90, 70, 60, 5, 40, 120]


def frame(level: int | tuple[int, int, int], side: int = 168) -> np.ndarray:
    return np.broadcast_to(np.array(level, np.uint8), (side, side, 3)).copy()


def episode(frames: list[np.ndarray], terminal: bool = False, last: bool = True) -> list[Step]:
    """RLDS steps: step j holds frame j, action j % 6 and reward j + 1; the last holds the final frame, reward 0."""
    n = len(frames)
    return [Step(index=j, observation=f, action=np.int64(j % 6), reward=0.0 if last and j == n - 1 else j + 1.0,
                 discount=1.0, is_first=j == 0, is_last=last and j == n - 1,
                 is_terminal=terminal and j == n - 1, time=j / 60) for j, f in enumerate(frames)]


def stacked(*levels: int) -> np.ndarray:
    """An expected (4, 84, 84) observation of uniform frames, oldest first."""
    return np.stack([np.full((84, 84), v, np.uint8) for v in levels])


def process(steps: list[Step], **options: object) -> tuple[np.ndarray, ...]:
    return tuple(trajectory(rows(steps, ACTIONS, ProcessingOptions(**options)), ACTIONS))  # type: ignore[arg-type]


def test_a_truncated_episode_by_hand() -> None:
    # 11 steps: transitions 0..9, step 10 holds the final frame. Rows at steps 0, 4, 8, then the final frame.
    obs, actions, rewards, terminals, timeouts = process(episode([frame(v) for v in LEVELS]))
    # frame(j) = max(level[j-1], level[j]): f0 = max(0, 50), f4 = max(30, 20), f8 = max(60, 5), f10 = max(40, 120)
    expected = [stacked(0, 0, 0, 50), stacked(0, 0, 50, 30), stacked(0, 50, 30, 60), stacked(50, 30, 60, 120)]
    assert obs.shape == (4, 4, 84, 84) and obs.dtype == np.uint8
    for t, want in enumerate(expected):
        np.testing.assert_array_equal(obs[t], want, err_msg=f"row {t}")
    # a_0, a_4, a_8, then the placeholder of the final row
    assert actions.tolist() == [0, 4, 2, 0] and actions.dtype == np.int64
    # r_0..r_3 = 1+2+3+4, r_4..r_7 = 5+6+7+8, the short last skip r_8 + r_9 = 9+10, the final row 0
    assert rewards.tolist() == [10.0, 26.0, 19.0, 0.0] and rewards.dtype == np.float32
    assert terminals.tolist() == [0, 0, 0, 0] and timeouts.tolist() == [0, 0, 0, 1]


def test_a_terminated_episode_ends_on_its_last_real_row() -> None:
    obs, actions, rewards, terminals, timeouts = process(episode([frame(v) for v in LEVELS], terminal=True))
    assert len(obs) == 3 and actions.tolist() == [0, 4, 2] and rewards.tolist() == [10.0, 26.0, 19.0]
    assert terminals.tolist() == [0, 0, 1] and timeouts.tolist() == [0, 0, 0]
    np.testing.assert_array_equal(obs[2], stacked(0, 50, 30, 60))


def test_an_episode_cut_short_ends_as_truncated_at_its_last_stored_step() -> None:
    # The worker died after step 6: step 6 is the final frame; its action and reward are dropped.
    steps = episode([frame(v) for v in LEVELS[:7]], last=False)
    obs, actions, rewards, _, timeouts = process(steps)
    assert actions.tolist() == [0, 4, 0] and rewards.tolist() == [10.0, 5.0 + 6.0, 0.0]
    assert timeouts.tolist() == [0, 0, 1]
    np.testing.assert_array_equal(obs[-1], stacked(0, 50, 30, max(LEVELS[5], LEVELS[6])))


def test_other_skips_pools_and_stacks() -> None:
    # Skip 2, the max of 3 frames, 2 stacked: rows at 0, 2, 4, 6, 8, then the final frame 10.
    obs, actions, rewards, _, _ = process(episode([frame(v) for v in LEVELS]), frame_skip=2, max_pool=3, stack=2)
    pooled = [max(LEVELS[max(0, j - 2) : j + 1]) for j in (0, 2, 4, 6, 8, 10)]
    assert pooled == [50, 200, 200, 90, 70, 120]
    for t in range(6):
        np.testing.assert_array_equal(obs[t], stacked(pooled[t - 1] if t else 0, pooled[t]), err_msg=f"row {t}")
    assert actions.tolist() == [0, 2, 4, 0, 2, 0] and rewards.tolist() == [3.0, 7.0, 11.0, 15.0, 19.0, 0.0]
    # No skip, no pooling, no stack: the recorded frames one for one.
    obs, actions, rewards, _, _ = process(episode([frame(v) for v in LEVELS]), frame_skip=1, max_pool=1, stack=1)
    assert obs[:, 0, 0, 0].tolist() == LEVELS and obs.shape == (11, 1, 84, 84)
    assert rewards.tolist() == [j + 1.0 for j in range(10)] + [0.0]


def test_pooling_takes_the_rgb_maximum_before_grayscale() -> None:
    # Red 200 then green 200: the maximum is (200, 200, 0), whose gray is 0.299*200 + 0.587*200 = 177.2 (pooling
    # gray frames instead would give max(60, 117) = 117).
    steps = episode([frame((200, 0, 0)), frame((0, 200, 0)), frame((0, 0, 0))])
    obs = process(steps, frame_skip=1, stack=1)[0]
    assert obs[:, 0, 0, 0].tolist() == [60, 177, 117]  # red 59.8, then the pool, then green's 117.4 alone
    colour = process(steps, frame_skip=1, stack=2, grayscale=False)[0]
    assert colour.shape == (3, 6, 84, 84)  # two RGB frames, channels first, oldest first
    assert colour[1, :, 0, 0].tolist() == [200, 0, 0, 200, 200, 0]


def test_resizing_averages_areas() -> None:
    # 2x2 blocks of one bright pixel (255) and three dark (0 or 1): area interpolation averages each block.
    image = np.zeros((168, 168), np.uint8)
    image[::2, ::2] = 255
    image[1::2, 1::2] = np.arange(84, dtype=np.uint8)[None, :] % 2
    steps = [Step(0, image, np.int64(0), 0.0, 1.0, True, True, False, 0.0)]
    obs = process(steps, stack=1)[0]
    blocks = image.reshape(84, 2, 84, 2).astype(np.float64).mean(axis=(1, 3))
    assert obs.shape == (1, 1, 84, 84)
    np.testing.assert_array_equal(obs[0, 0], np.round(blocks).astype(np.uint8))
    assert set(np.unique(obs)) == {64}  # 255/4 = 63.75 and 256/4 = 64


def test_frames_from_the_jpeg_shown() -> None:
    import cv2

    shown = [cv2.imencode(".jpg", frame(v, 96))[1].tobytes() for v in (40, 160, 100)]
    steps = episode([np.zeros(2, np.float32)] * 3)  # observations that are no frames
    for step, jpeg in zip(steps, shown, strict=True):
        step.image = jpeg
    obs = process(steps, source="image", frame_skip=1, max_pool=1, stack=1)[0]
    assert obs.shape == (3, 1, 84, 84)
    assert np.abs(obs[:, 0].astype(int) - np.array([40, 160, 100])[:, None, None]).max() <= 1  # JPEG is lossy
    steps[1].image = b"not a jpeg"
    with pytest.raises(ValueError, match="Expected the JPEG shown at step 1"):
        process(steps, source="image")


def test_refusals_name_what_was_expected() -> None:
    with pytest.raises(ValueError, match="Expected step 1 of the episode, got step 2"):
        process([episode([frame(1)] * 3)[i] for i in (0, 2)])
    with pytest.raises(ValueError, match="Expected a uint8 frame"):
        process(episode([np.zeros((4, 4, 3), np.float32)] * 2))
    with pytest.raises(ValidationError, match="Expected size"):
        ProcessingOptions(size=(0, 84))
    with pytest.raises(ValidationError):
        ProcessingOptions(frame_skip=0)
    vector = {"type": "box", "dtype": "float32", "shape": [4]}
    assert "Expected observations that are frames" in str(limits(vector, ACTIONS, ProcessingOptions()))
    assert limits(vector, ACTIONS, ProcessingOptions(source="image")) is None
    assert "Expected a Discrete or Box action space" in str(limits(IMAGE, {"type": "multi_binary", "n": 3},
                                                                   ProcessingOptions()))
    assert limits(IMAGE, ACTIONS, ProcessingOptions()) is None


def test_shapes_and_sizes() -> None:
    assert observation_shape(IMAGE, ProcessingOptions()) == (4, 84, 84)
    assert observation_shape(IMAGE, ProcessingOptions(grayscale=False, size=None, stack=2)) == (6, 168, 168)
    assert observation_shape(IMAGE, ProcessingOptions(source="image", size=None)) is None
    assert action_size(ACTIONS) == 6 and action_size({"type": "discrete", "n": 3, "start": 2}) == 5
    assert action_size({"type": "box", "dtype": "float32", "shape": [2, 3]}) == 6
    empty = trajectory([], ACTIONS, (4, 84, 84))
    assert empty.observations.shape == (0, 4, 84, 84) and empty.actions.shape == (0,)
