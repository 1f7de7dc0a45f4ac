"""A preference experiment's labels and segments, read through the SDK, as training data.

Thin on purpose: the SDK calls of issue 15's contract (client.preference_labels long-polls labels after a
cursor, client.segment_arrays returns a segment's observation/action/reward arrays) feed `build`, a pure function
from label dicts and arrays to a SegmentSet and Preferences; everything after that is plain numpy."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .features import FeatureSpec
from .preferences import TARGETS, Preferences
from .segments import SegmentSet

Arrays = Mapping[str, np.ndarray]


class PreferenceClient(Protocol):
    """What this module needs of playcorder.sdk.Client."""

    def preference_labels(self, experiment_id: str, after: int = 0, wait: float = 0.0,
                          limit: int = 500) -> dict[str, Any]: ...

    def segment_arrays(self, experiment_id: str, segment_id: str) -> dict[str, np.ndarray]: ...


class LabelFeed:
    """Labels of one experiment in arrival order (by seq), from a cursor that only moves forward."""

    def __init__(self, client: PreferenceClient, experiment_id: str, after: int = 0) -> None:
        self.client, self.experiment_id, self.cursor = client, experiment_id, after

    def read(self, wait: float = 0.0, limit: int = 500) -> list[dict[str, Any]]:
        """The labels after the cursor (up to `limit`); with `wait` > 0, waits up to that long for one to arrive."""
        answer = self.client.preference_labels(self.experiment_id, after=self.cursor, wait=wait, limit=limit)
        labels = list(answer.get("labels") or [])
        self.cursor = int(answer.get("next", self.cursor))
        return labels

    def read_all(self, limit: int = 500) -> list[dict[str, Any]]:
        """Every label there is now, page by page."""
        labels: list[dict[str, Any]] = []
        while page := self.read(limit=limit):
            labels += page
        return labels


class ArrayCache:
    """Each segment's arrays fetched once: a segment never changes, labels of it keep arriving."""

    def __init__(self, client: PreferenceClient, experiment_id: str) -> None:
        self.client, self.experiment_id = client, experiment_id
        self._arrays: dict[str, dict[str, np.ndarray]] = {}

    def __call__(self, segment_id: str) -> dict[str, np.ndarray]:
        if segment_id not in self._arrays:
            self._arrays[segment_id] = self.client.segment_arrays(self.experiment_id, segment_id)
        return self._arrays[segment_id]


@dataclass(frozen=True)
class Dataset:
    segments: SegmentSet
    segment_ids: list[str]  # segment i of `segments`
    preferences: Preferences
    pair_ids: list[str]  # the pair of each preference (a pair labelled twice appears twice)
    true_returns: np.ndarray | None  # (N,) summed "reward" arrays, when every segment came with rewards
    cant_tell: int  # labels dropped: no preference to learn from


def _arrays_of(segment_id: str, arrays: Arrays) -> tuple[np.ndarray, np.ndarray]:
    missing = [k for k in ("observation", "action") if k not in arrays]
    if missing:
        raise ValueError(f"Expected segment {segment_id}'s arrays to hold 'observation' and 'action' (post them "
                         f"with the segment), got keys {sorted(arrays)}")
    return np.asarray(arrays["observation"]), np.asarray(arrays["action"])


def build(labels: Sequence[Mapping[str, Any]], arrays: Callable[[str], Arrays], spec: FeatureSpec | None = None,
          action_classes: int | None = None) -> Dataset:
    """Training data from labels (the API's Label dicts: pair_id, left, right, response) and a segment's arrays."""
    for label in labels:
        missing = [k for k in ("pair_id", "left", "right", "response") if k not in label]
        if missing:
            raise ValueError(f"Expected labels with pair_id, left, right and response, got one without {missing}")
    kept = [label for label in labels if label["response"] in TARGETS]
    unknown = sorted({str(label["response"]) for label in labels if label["response"] not in (*TARGETS, "cant_tell")})
    if unknown:
        raise ValueError(f"Expected responses among left, right, tie, cant_tell, got {unknown}")
    if not kept:
        got = f"{len(labels)} labels, all cant_tell" if labels else "no labels"
        raise ValueError(f"Expected at least one label answered left, right or tie, got {got}")
    ids = list(dict.fromkeys(str(s) for label in kept for s in (label["left"], label["right"])))
    index = {segment_id: i for i, segment_id in enumerate(ids)}
    fetched = {segment_id: arrays(segment_id) for segment_id in ids}
    pairs = [_arrays_of(segment_id, fetched[segment_id]) for segment_id in ids]
    segments = SegmentSet.from_arrays([o for o, _ in pairs], [a for _, a in pairs], spec, action_classes)
    preferences = Preferences.from_responses([index[str(label["left"])] for label in kept],
                                             [index[str(label["right"])] for label in kept],
                                             [str(label["response"]) for label in kept])
    rewards = [fetched[s].get("reward") for s in ids]
    known = [r for r in rewards if r is not None and len(r)]
    true_returns = np.array([float(np.sum(r)) for r in known]) if len(known) == len(ids) else None
    return Dataset(segments, ids, preferences, [str(label["pair_id"]) for label in kept], true_returns,
                   len(labels) - len(kept))


def holdout_mask(keys: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """True for the keys held out: a hash of (seed, key) below `fraction`, so a pair stays on its side however
    many labels arrive later, and every label of one pair lands on the same side."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"Expected holdout in [0, 1), got {fraction}")
    def unit(key: str) -> float:
        digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64
    return np.array([unit(k) < fraction for k in keys], dtype=bool)


def split(dataset: Dataset, fraction: float, seed: int) -> tuple[Preferences, Preferences]:
    """(train, held out) preferences, held out by pair."""
    held = holdout_mask(dataset.pair_ids, fraction, seed)
    return dataset.preferences.take(np.flatnonzero(~held)), dataset.preferences.take(np.flatnonzero(held))
