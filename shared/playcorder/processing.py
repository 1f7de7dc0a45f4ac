"""Processed trajectories for offline RL: recorded frame-by-frame steps turned into the rows Atari agents train on,
with CrowdPlay's processing and defaults (its `get_processed_trajectory`, after DeepMind's Atari wrappers).

Row t stands for the frame_skip recorded steps k*t .. k*t+k-1 (k = frame_skip), as if the episode had been played
through MaxAndSkip -> grayscale -> resize -> frame stack wrappers:
    pooled(j)       = max(o_{j-max_pool+1}, ..., o_j), pixel by pixel, in RGB (frames before the episode: zeros)
    frame(j)        = pooled(j) to grayscale (cv2 RGB2GRAY), resized to `size` with area interpolation
                      (cv2.INTER_AREA), channels first: (1, H, W), or (3, H, W) in colour
    observation_t   = frame(k*(t-stack+1)), ..., frame(k*(t-1)), frame(k*t) stacked on axis 0, oldest first
                      (frames before the episode: zeros), so (stack, 84, 84) uint8 by default: d3rlpy's layout
    action_t        = a_{k*t}, the action recorded at the first frame of the skip (CrowdPlay's choice)
    reward_t        = r_{k*t} + ... + r_{k*t+k-1}, what the skip's frames earned (CrowdPlay sums the k frames that
                      end at k*t instead, crediting a row with rewards of the row before)
CrowdPlay sets the rows' spacing apart (`downsample_frequency`, 1 by default: a row at every frame, its stack still
spaced skip_n = 4 apart; its d3rlpy example passes 4); here both are frame_skip, as a MaxAndSkip + FrameStack
environment would produce them, so that rewards sum over each skip. The last skip of an episode may be shorter.
A terminated episode's last row has terminal 1. Any other (truncated by a step limit or an end tag, abandoned,
interrupted) gets one more row: the stacked frames of the final observation, a placeholder action (zeros) and
reward 0, with timeout 1; d3rlpy uses it only as the last transition's next observation. So
`d3rlpy.dataset.MDPDataset(*trajectory)` splits and ends episodes correctly.

The frames are the observations (an image Box: uint8 (H, W, 3), (H, W, 1) or (H, W)), or with source="image" the
JPEG shown to the participant, decoded (for environments whose observations are not images). OpenCV
(opencv-python-headless, the `processing` extra) is imported only when frames are processed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .records import Step
from .spaces import Spec, leaf_dtype, leaf_shape, zeros

ACTION_KINDS = ("discrete", "box")  # d3rlpy's discrete and continuous action spaces
MAX_SIDE = 1024  # pixels of a resized frame's side


class ProcessingOptions(BaseModel):
    """CrowdPlay's options, with its defaults (DeepMind's Atari processing)."""

    model_config = ConfigDict(extra="forbid")

    frame_skip: int = Field(4, ge=1, le=64, description="recorded steps per row (1: every step)")
    max_pool: int = Field(2, ge=1, le=64, description="each frame is the pixel-wise maximum of this many recorded "
                                                      "frames ending at it (1: no pooling)")
    grayscale: bool = Field(True, description="frames to grayscale (1 channel); false: RGB (3 channels)")
    size: tuple[int, int] | None = Field((84, 84), description="(height, width) frames are resized to, area "
                                                               "interpolation; null: as recorded")
    stack: int = Field(4, ge=1, le=32, description="frames stacked into one observation, on axis 0, oldest first")
    source: Literal["observation", "image"] = Field(
        "observation", description="observation: the observations (an image space); image: the JPEG shown")

    @field_validator("size")
    @classmethod
    def _sides(cls, size: tuple[int, int] | None) -> tuple[int, int] | None:
        if size is not None and not all(1 <= side <= MAX_SIDE for side in size):
            raise ValueError(f"Expected size (height, width) each in 1..{MAX_SIDE}, got {list(size)}")
        return size


class Row(NamedTuple):
    observation: np.ndarray  # (channels * stack, H, W) uint8
    action: np.ndarray
    reward: float
    terminal: bool
    timeout: bool


class Trajectory(NamedTuple):
    """Arrays of processed rows, in the order d3rlpy.dataset.MDPDataset takes them."""

    observations: np.ndarray  # (N, channels * stack, H, W) uint8
    actions: np.ndarray  # (N,) int64 for a Discrete space, (N, *shape) for a Box
    rewards: np.ndarray  # (N,) float32
    terminals: np.ndarray  # (N,) float32, 1 on the last row of a terminated episode
    timeouts: np.ndarray  # (N,) float32, 1 on the final-observation row of any other episode


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as err:
        raise ImportError("Expected OpenCV to process frames (pip install 'playcorder[processing]', which installs "
                          "opencv-python-headless), got no cv2 module") from err
    return cv2


def image_space(spec: Spec) -> bool:
    """Whether values of the spec are frames: uint8 (H, W), (H, W, 1) or (H, W, 3)."""
    if spec.get("type") != "box" or leaf_dtype(spec) != np.uint8:
        return False
    shape = leaf_shape(spec)
    return len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3))


def limits(observation_spec: Spec, action_spec: Spec, options: ProcessingOptions) -> str | None:
    """Why episodes of these spaces cannot be processed so (None: they can)."""
    if action_spec.get("type") not in ACTION_KINDS:
        return (f"Expected a Discrete or Box action space (d3rlpy's discrete or continuous actions), got a "
                f"{action_spec.get('type')} space")
    if options.source == "observation" and not image_space(observation_spec):
        kind = observation_spec.get("type")
        what = f"{observation_spec.get('dtype')} {list(leaf_shape(observation_spec))}" if kind == "box" else kind
        return (f"Expected observations that are frames (a uint8 Box of shape (H, W, 3), (H, W, 1) or (H, W)), got a "
                f"{what} space; source 'image' processes the frames shown to the participant instead")
    return None


def action_size(action_spec: Spec) -> int:
    """d3rlpy's action_size: the number of discrete actions (start + n), or a Box's dimension."""
    if action_spec.get("type") == "discrete":
        return int(action_spec.get("start", 0)) + int(action_spec["n"])
    return int(np.prod(leaf_shape(action_spec), dtype=np.int64))


def _frames(options: ProcessingOptions) -> Callable[[Step], np.ndarray]:
    """step -> its frame, uint8 (H, W) or (H, W, C)."""
    if options.source == "observation":
        return lambda step: np.asarray(step.observation)
    cv2 = _cv2()

    def shown(step: Step) -> np.ndarray:
        data = np.frombuffer(step.image or b"", np.uint8)
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if bgr is None:
            raise ValueError(f"Expected the JPEG shown at step {step.index}, got {data.size} bytes that do not decode "
                             "as one")
        return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    return shown


def warp(frame: np.ndarray, options: ProcessingOptions) -> np.ndarray:
    """A pooled frame to (channels, H, W) uint8: grayscale, then resized with area interpolation."""
    cv2 = _cv2()
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if options.grayscale and frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if options.size is not None and frame.shape[:2] != options.size:
        height, width = options.size
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    return frame[None] if frame.ndim == 2 else np.ascontiguousarray(frame.transpose(2, 0, 1))


class _Stacker:
    """The last `max_pool` recorded frames and the last `stack` processed ones."""

    def __init__(self, options: ProcessingOptions) -> None:
        self.options = options
        self.recent: deque[np.ndarray] = deque(maxlen=options.max_pool)
        self.stacked: deque[np.ndarray] = deque(maxlen=options.stack)

    def see(self, frame: np.ndarray, index: int) -> None:
        if frame.dtype != np.uint8 or not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] in (1, 3))):
            raise ValueError(f"Expected a uint8 frame of shape (H, W, 3), (H, W, 1) or (H, W) at step {index}, got "
                             f"{frame.dtype} {list(frame.shape)}")
        if self.recent and frame.shape != self.recent[-1].shape:
            raise ValueError(f"Expected frames of one shape, got {list(self.recent[-1].shape)} then "
                             f"{list(frame.shape)} at step {index}")
        self.recent.append(frame)

    def push(self) -> np.ndarray:
        """The observation at the latest frame: its pooled, warped frame stacked after the earlier ones."""
        pooled = self.recent[0].copy()
        for frame in list(self.recent)[1:]:
            np.maximum(pooled, frame, out=pooled)
        current = warp(pooled, self.options)
        if not self.stacked:
            self.stacked.extend([np.zeros_like(current)] * self.options.stack)
        self.stacked.append(current)
        return np.concatenate(self.stacked, axis=0)


def _with_end(steps: Iterable[Step]) -> Iterator[tuple[Step, bool]]:
    """(step, whether it is the last one given)."""
    it = iter(steps)
    previous = next(it, None)
    for step in it:
        assert previous is not None
        yield previous, False
        previous = step
    if previous is not None:
        yield previous, True


def rows(steps: Iterable[Step], action_spec: Spec, options: ProcessingOptions) -> Iterator[Row]:
    """The processed rows of one episode's recorded steps (RLDS alignment: step i holds o_i, a_i, r_i; the last
    holds the final observation), streamed. Steps must be indexed 0, 1, ...; steps after one marked last are
    ignored, and steps that stop before one is (an episode cut short) end as if the final one were last."""
    frame_of, stacker = _frames(options), _Stacker(options)
    skip, pending = options.frame_skip, None
    for j, (step, final) in enumerate(_with_end(steps)):
        if step.index != j:
            raise ValueError(f"Expected step {j} of the episode, got step {step.index} (steps missing or reordered)")
        stacker.see(frame_of(step), j)
        if step.is_last or final:
            observation = stacker.push()
            if step.is_last and step.is_terminal:
                if pending is not None:
                    yield pending._replace(terminal=True)
            else:
                if pending is not None:
                    yield pending
                yield Row(observation, np.asarray(zeros(action_spec)), 0.0, False, True)
            return
        if j % skip == 0:
            if pending is not None:
                yield pending
            pending = Row(stacker.push(), np.array(step.action), 0.0, False, False)
        assert pending is not None
        pending = pending._replace(reward=pending.reward + float(step.reward))


def trajectory(processed: Iterable[Row], action_spec: Spec, observation_shape: tuple[int, ...] = ()) -> Trajectory:
    """Rows as arrays; `observation_shape` gives an episode of no rows its observations' shape."""
    kept = list(processed)
    if kept:
        observations = np.stack([r.observation for r in kept])
    else:
        observations = np.zeros((0, *observation_shape), np.uint8)
    return Trajectory(observations, action_array([r.action for r in kept], action_spec),
                      np.array([r.reward for r in kept], np.float32),
                      np.array([r.terminal for r in kept], np.float32), np.array([r.timeout for r in kept], np.float32))


def action_array(actions: list[np.ndarray], action_spec: Spec) -> np.ndarray:
    """Rows' actions as one array: (N,) int64 for a Discrete space (d3rlpy's discrete actions), else (N, *shape)
    of the Box's dtype."""
    dtype = np.int64 if action_spec.get("type") == "discrete" else leaf_dtype(action_spec)
    return np.array(actions, dtype).reshape(len(actions), *leaf_shape(action_spec))


def observation_shape(observation_spec: Spec, options: ProcessingOptions) -> tuple[int, ...] | None:
    """The shape of a processed observation, when the spec and options fix it (None for the JPEG shown at its
    recorded size, known only once decoded)."""
    if options.source == "image":
        channels, size = (1 if options.grayscale else 3), options.size
    else:
        shape = leaf_shape(observation_spec)
        channels = 1 if options.grayscale or len(shape) == 2 or shape[2] == 1 else 3
        size = options.size or (shape[0], shape[1])
    return None if size is None else (channels * options.stack, *size)
