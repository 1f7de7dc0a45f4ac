"""Segments sampled from recorded episodes, and random pairs of them: where an experiment's first clips come from.

Each episode gives up to `per_episode` stretches of `length` steps that do not overlap and never hold its last
step (RLDS keeps the final observation there, with a placeholder action and reward). Start positions are drawn
from a seeded generator, so the same spec over the same episodes samples the same segments. Pairs are distinct
unordered pairs of distinct segments, each side drawn at random (RL-Teacher pairs random recent segments).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Stretch:
    episode_id: str
    first_step: int
    num_steps: int


def stretches(episodes: list[tuple[str, int]], length: int, per_episode: int, seed: int) -> list[Stretch]:
    """(episode id, its steps) -> up to per_episode non-overlapping stretches of `length` steps from each."""
    if length < 1:
        raise ValueError(f"Expected segments of at least 1 step, got {length}")
    rng = random.Random(seed)
    out = []
    for episode_id, num_steps in episodes:
        usable = num_steps - 1  # the last step is the final observation
        slots = usable // length
        if slots < 1:
            continue
        # k stretches in `usable` steps: choose k slots of the slots, then spread the slack between them at random
        k = min(per_episode, slots)
        slack = usable - k * length
        cuts = sorted(rng.randint(0, slack) for _ in range(k))
        out += [Stretch(episode_id, cut + i * length, length) for i, cut in enumerate(cuts)]
    return out


def random_pairs(n_segments: int, count: int, seed: int) -> list[tuple[int, int]]:
    """Up to `count` distinct pairs (i, j), i != j, none repeated in either order, sides in random order."""
    possible = n_segments * (n_segments - 1) // 2
    count = min(count, possible)
    rng = random.Random(seed)
    seen: set[tuple[int, int]] = set()
    pairs = []
    if count > possible / 2:  # dense: shuffle every pair instead of drawing until enough distinct ones
        every = [(i, j) for i in range(n_segments) for j in range(i + 1, n_segments)]
        rng.shuffle(every)
        chosen = every[:count]
    else:
        chosen = []
        while len(chosen) < count:
            i, j = rng.sample(range(n_segments), 2)
            key = (min(i, j), max(i, j))
            if key not in seen:
                seen.add(key)
                chosen.append(key)
    for i, j in chosen:
        pairs.append((i, j) if rng.random() < 0.5 else (j, i))
    return pairs


def doubled(count: int, share: float, seed: int) -> set[int]:
    """Which of `count` pairs are shown to two labellers (round(share * count) of them, at random)."""
    rng = random.Random(seed + 1)
    return set(rng.sample(range(count), min(count, math.floor(share * count + 0.5))))
