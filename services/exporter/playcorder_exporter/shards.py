"""How a sharded export is cut into shard tasks: pure functions of the plan (no I/O).

Each split's episodes, in plan order, are cut into contiguous runs of about `shard_steps` steps; each run is one
task writing one file of that split (`...-{index}-of-{count}`), so reading the files in order gives the episodes
in the order a one-process build writes them, with the same episode_index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .plan import Planned


@dataclass(frozen=True)
class ShardPlan:
    split: str
    file_index: int
    file_count: int
    episodes: list[tuple[int, Planned]]  # (episode_index in the export, planned episode)

    @property
    def steps(self) -> int:
        return sum(p.num_steps for _, p in self.episodes)


def shard_plan(planned: list[Planned], shard_steps: int, max_shards: int = 1000) -> list[ShardPlan]:
    """Shards of about `shard_steps` steps each (at least one episode each, at most `max_shards` per split),
    train first, then test; one shard in all means the export needs no sharding."""
    indexed = list(enumerate(planned))
    shards: list[ShardPlan] = []
    for split in dict.fromkeys(p.split for p in planned):
        episodes = [(i, p) for i, p in indexed if p.split == split]
        total = sum(p.num_steps for _, p in episodes)
        count = max(1, min(len(episodes), max_shards, math.ceil(total / max(1, shard_steps))))
        runs: list[list[tuple[int, Planned]]] = [[] for _ in range(count)]
        seen = 0
        for k, (i, p) in enumerate(episodes):
            # The run an episode goes to: by the steps before its middle, but leaving an episode for each later run.
            by_steps = int((seen + p.num_steps / 2) * count / max(1, total))
            first_free = max((r for r in range(count) if runs[r]), default=0)
            run = min(max(by_steps, first_free), count - 1, k)
            run = max(run, count - (len(episodes) - k))
            runs[run].append((i, p))
            seen += p.num_steps
        runs = [r for r in runs if r]
        shards.extend(ShardPlan(split, j, len(runs), r) for j, r in enumerate(runs))
    return shards
