"""The SDK's preference calls (mixed into Client): experiments, segments and their arrays, pairs, labels as they
arrive, and labelling as a participant (a Client made with a participant token)."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import httpx
import numpy as np


def _jpeg(frame: np.ndarray | bytes) -> str:
    """A frame as the base64 the API takes: encoded bytes as they are, an HxWx3 uint8 array as a JPEG."""
    if isinstance(frame, bytes):
        return base64.b64encode(frame).decode()
    array = np.asarray(frame)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"Expected a frame as HxWx3 uint8 or encoded JPEG/PNG bytes, got shape {array.shape} "
                         f"{array.dtype}")
    try:
        import simplejpeg  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError("Expected simplejpeg to encode frames given as arrays (pip install 'playcorder[preferences]'"
                          "), got none: install it, or pass JPEG/PNG bytes") from None

    return base64.b64encode(simplejpeg.encode_jpeg(np.ascontiguousarray(array), quality=90,
                                                   colorspace="RGB")).decode()


def _listed(values: Any) -> list[Any] | None:
    return None if values is None else np.asarray(values).tolist()


class PreferenceCalls:
    if TYPE_CHECKING:  # Client's
        def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response: ...
        def _object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]: ...
        def _call(self, method: str, path: str, **kwargs: Any) -> Any: ...

    # ---------------------------------------------------------------- experiments (designer or trainer)
    def create_preference_experiment(self, study_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        """An experiment of the study (playcorder.preferences.ExperimentSpec): sampled from its recorded episodes
        (clips rendered in the background), or `{"source": {"kind": "posted"}}` for a trainer's own segments."""
        return self._object("POST", f"/api/studies/{study_id}/preferences", json=spec)

    def list_preference_experiments(self, study_id: str) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._call("GET", f"/api/studies/{study_id}/preferences"))

    def preference_experiment(self, experiment_id: str) -> dict[str, Any]:
        """The experiment with its counts: segments pending/ready/failed, pairs total/open/answered/blocked, labels."""
        return self._object("GET", f"/api/preferences/{experiment_id}")

    def close_preference_experiment(self, experiment_id: str) -> dict[str, Any]:
        return self._object("POST", f"/api/preferences/{experiment_id}/close")

    def wait_clips(self, experiment_id: str, timeout: float = 120.0, poll: float = 0.5) -> dict[str, Any]:
        """The experiment once no segment's clip is pending any more (ready or failed); TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            experiment = self.preference_experiment(experiment_id)
            if not experiment["counts"]["segments"]["pending"]:
                return experiment
            if time.monotonic() > deadline:
                raise TimeoutError(f"Expected every clip of experiment {experiment_id} rendered within {timeout} s, "
                                   f"got {experiment['counts']['segments']}")
            time.sleep(poll)

    # ---------------------------------------------------------------- segments
    def post_segment(self, experiment_id: str, frames: Sequence[np.ndarray | bytes],
                     observations: Any = None, actions: Any = None, rewards: Any = None,
                     meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """A trainer's segment: frames (HxWx3 uint8 arrays, sent as JPEG, or JPEG/PNG bytes) and, one per frame,
        the observations, actions and true rewards to train on (each optional)."""
        body = {"frames": [_jpeg(f) for f in frames], "observations": _listed(observations),
                "actions": _listed(actions), "rewards": _listed(rewards), "meta": meta or {}}
        return self._object("POST", f"/api/preferences/{experiment_id}/segments", json=body)

    def preference_segments(self, experiment_id: str) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._call("GET", f"/api/preferences/{experiment_id}/segments"))

    def segment_arrays(self, experiment_id: str, segment_id: str) -> dict[str, np.ndarray]:
        """The segment's "observation", "action" and "reward" arrays, one row per step (from the recording, or as
        posted; a dict observation as "observation.<key>" arrays)."""
        data = self._request("GET", f"/api/preferences/{experiment_id}/segments/{segment_id}/arrays").content
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}

    # ---------------------------------------------------------------- pairs and labels
    def post_pairs(self, experiment_id: str, pairs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Pairs to label: [{"left": segment id, "right": segment id, "priority": float}] (higher first)."""
        body = self._object("POST", f"/api/preferences/{experiment_id}/pairs", json={"pairs": list(pairs)})
        return cast(list[dict[str, Any]], body["pairs"])

    def preference_pairs(self, experiment_id: str, limit: int = 20_000) -> list[dict[str, Any]]:
        body = self._object("GET", f"/api/preferences/{experiment_id}/pairs", params={"limit": limit})
        return cast(list[dict[str, Any]], body["pairs"])

    def preference_labels(self, experiment_id: str, after: int = 0, wait: float = 0.0,
                          limit: int = 500) -> dict[str, Any]:
        """{"labels": [...], "next": seq}: the labels numbered above `after`; with `wait` (<= 30 s) it waits for
        the next one when there are none yet (a long-poll: pass "next" back as `after`)."""
        params = {"after": after, "limit": limit, "wait": wait}
        return self._object("GET", f"/api/preferences/{experiment_id}/labels", params=params,
                            timeout=httpx.Timeout(30.0 + wait + 10.0))

    def follow_labels(self, experiment_id: str, after: int = 0, wait: float = 25.0) -> Iterator[dict[str, Any]]:
        """Every label as it arrives, forever (long-polls): `for label in client.follow_labels(e): ...`."""
        while True:
            page = self.preference_labels(experiment_id, after=after, wait=wait)
            yield from page["labels"]
            after = page["next"]

    # ---------------------------------------------------------------- labelling (a participant's client)
    def lease_pair(self, experiment_id: str) -> dict[str, Any]:
        """{"pair": {...} | None, "retry_after", "progress", "instructions"}: the pair to label now, held for you."""
        return self._object("POST", f"/api/preferences/{experiment_id}/lease")

    def answer_pair(self, pair_id: str, response: str, shown_at: datetime | None = None) -> dict[str, Any]:
        """Answer the pair you hold: "left", "right", "tie" or "cant_tell"."""
        body = {"response": response, "shown_at": shown_at.isoformat() if shown_at else None}
        return cast(dict[str, Any], self._object("POST", f"/api/preferences/pairs/{pair_id}/answer",
                                                 json=body)["label"])

    def release_pair(self, pair_id: str) -> None:
        self._request("POST", f"/api/preferences/pairs/{pair_id}/release")
