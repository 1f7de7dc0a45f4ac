"""Clip rendering and segment sampling, without servers: every frame comes back from both files with the freeze
held at the end, odd sizes play, bad frames are refused naming why; sampled stretches never overlap nor hold an
episode's last step; pairs are distinct."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from playcorder_exporter.clips import ClipError, decoded_frames, freeze_frames, render
from playcorder_gateway.segment_sampling import doubled, random_pairs, stretches


def _frames(n: int, h: int = 50, w: int = 81) -> list[np.ndarray]:
    out = []
    for i in range(n):
        frame = np.zeros((h, w, 3), np.uint8)
        frame[:, : (i * 7) % w] = (40 + i * 9) % 256
        out.append(frame)
    return out


def test_a_clip_plays_every_frame_then_holds_the_last() -> None:
    frames = _frames(20)
    clip = render(frames, fps=20, freeze_s=0.2)
    assert clip.frames == 24 and (clip.width, clip.height) == (82, 50)  # odd width padded by one edge pixel
    for name, data in clip.files.items():
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        assert len(decoded) == 24, name
        for original, got in zip(frames, decoded[:20], strict=True):
            assert np.abs(got[:, :81].astype(int) - original).mean() < 6, name
        assert np.abs(decoded[-1].astype(int) - frames[-1][:, [*range(81), 80]]).mean() < 6, name  # the last
        assert np.abs(decoded[20].astype(int) - decoded[23].astype(int)).mean() < 2, name


def test_freeze_frames_round_up_to_whole_frames() -> None:
    assert [freeze_frames(15, 0.2), freeze_frames(20, 0.2), freeze_frames(60, 0.2), freeze_frames(30, 0)] == \
        [3, 4, 12, 0]


@pytest.mark.parametrize(("frames", "message"), [
    ([], "at least one frame"),
    ([np.zeros((4, 4), np.uint8)], "HxWx3 uint8"),
    ([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 6, 3), np.uint8)], "at frame 1"),
    ([np.zeros((2000, 4, 3), np.uint8)], "at most 1280"),
])
def test_frames_that_cannot_make_a_clip_are_refused(frames: list[np.ndarray], message: str) -> None:
    with pytest.raises(ClipError, match=message):
        render(frames, fps=10, freeze_s=0.2)


def test_bytes_that_are_no_video_decode_to_nothing() -> None:
    assert decoded_frames(b"\x1aE\xdf\xa3 not really webm") == 0


def test_stretches_never_overlap_nor_hold_the_final_step() -> None:
    found = stretches([("a", 100), ("b", 31), ("c", 30), ("d", 5)], length=15, per_episode=4, seed=7)
    by_episode: dict[str, list[tuple[int, int]]] = {}
    for s in found:
        by_episode.setdefault(s.episode_id, []).append((s.first_step, s.first_step + s.num_steps))
    assert sorted(by_episode) == ["a", "b", "c"] and len(by_episode["a"]) == 4 and len(by_episode["b"]) == 2
    assert len(by_episode["c"]) == 1  # 29 usable steps: one stretch of 15
    lengths = {"a": 100, "b": 31, "c": 30}
    for episode, spans in by_episode.items():
        spans.sort()
        assert all(stop <= lengths[episode] - 1 for _, stop in spans)  # the last step is never in a segment
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert found == stretches([("a", 100), ("b", 31), ("c", 30), ("d", 5)], 15, 4, seed=7)  # seeded


def test_random_pairs_are_distinct_and_doubled_share_is_exact() -> None:
    for n, count in ((6, 15), (6, 40), (50, 30)):
        pairs = random_pairs(n, count, seed=3)
        assert len(pairs) == min(count, n * (n - 1) // 2)
        assert all(i != j for i, j in pairs)
        assert len({frozenset(p) for p in pairs}) == len(pairs)
    assert len(doubled(15, 0.4, seed=1)) == 6 and doubled(10, 0.0, seed=1) == set()
