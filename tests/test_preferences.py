"""Preference experiments on the real stack: segments sampled from recorded episodes, clips rendered by the exporter
and played back (both files, every frame, the freeze at the end), the label queue (one lease per pair, re-offered
after it lapses, answers checked), labels read as they arrive, 20 labellers at once never sharing a leased pair,
and a clip that fails to render never offered."""

from __future__ import annotations

import asyncio
import base64
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import av
import httpx
import numpy as np
import pytest
import simplejpeg

from playcorder.sdk import ApiError, Client
from playcorder.sdk.bot import play
from tests.factories import cartpole_study, pong_study
from tests.stored import all_steps, stored_episode

FPS = 15


@pytest.fixture(scope="module")
def recorded(services: Any, client: Client) -> dict[str, Any]:
    """A Pong study with three recorded episodes of 40 steps (turn-based: the bot plays as fast as the stack goes)."""
    study = client.create_study(pong_study(fps=FPS))
    participant = client.create_participant(study["id"])
    summary = asyncio.run(play(services.url, participant["token"], "pong", episodes=3, max_steps=40, seed=3))
    ids = [e["episode_id"] for e in summary.episode_details]
    for episode_id in ids:
        stored_episode(client, episode_id)
    return {"study": study, "episodes": ids}


def labeller(services: Any, client: Client, study_id: str) -> Client:
    return Client(services.url, client.create_participant(study_id)["token"])


def experiment(client: Client, study_id: str, **spec: Any) -> dict[str, Any]:
    body = {"name": "which-is-better", "instructions": "Which player returns the ball better?",
            "clip": {"seconds": 1.0, "freeze_seconds": 0.2}, "pairs": {"count": 10, "seed": 1}, **spec}
    return client.create_preference_experiment(study_id, body)


def test_clips_of_recorded_segments_play_every_frame_and_hold_the_last(client: Client, recorded: dict[str, Any],
                                                                       services: Any) -> None:
    made = experiment(client, recorded["study"]["id"], source={"kind": "episodes", "segments_per_episode": 2})
    assert (made["env"], made["fps"], made["counts"]["pairs"]["total"]) == ("pong", FPS, 10)
    done = client.wait_clips(made["id"])
    segments = client.preference_segments(made["id"])
    assert done["counts"]["segments"] == {"pending": 0, "ready": 6, "failed": 0}, done
    steps = {e: all_steps(client, e) for e in recorded["episodes"]}
    person = labeller(services, client, recorded["study"]["id"])
    pair = person.lease_pair(made["id"])["pair"]
    for side in ("left", "right"):
        clip = pair[side]
        segment = next(s for s in segments if s["id"] == clip["segment_id"])
        assert segment["num_steps"] == FPS and segment["first_step"] + FPS < 40  # never the final observation
        recorded_steps = steps[segment["episode_id"]][segment["first_step"]:segment["first_step"] + FPS]
        assert segment["reward_sum"] == pytest.approx(sum(s["reward"] for s in recorded_steps))
        assert clip["frames"] == FPS + 3 and clip["seconds"] == pytest.approx((FPS + 3) / FPS)  # 0.2 s at 15 fps
        for fmt in ("webm", "mp4"):
            data = httpx.get(clip[fmt], timeout=10).raise_for_status().content
            with av.open(io.BytesIO(data)) as container:
                decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
            assert len(decoded) == FPS + 3, fmt
            assert decoded[-1].shape == (clip["height"], clip["width"], 3)
            first = simplejpeg.decode_jpeg(client.episode_image(segment["episode_id"], segment["first_step"]))
            h, w = first.shape[:2]
            assert np.abs(decoded[0][:h, :w].astype(int) - first).mean() < 8, fmt  # the recorded frame, re-encoded
            assert all(np.abs(decoded[-1].astype(int) - decoded[-k].astype(int)).mean() < 2 for k in (2, 3, 4))
        arrays = client.segment_arrays(made["id"], segment["id"])
        assert arrays["observation"].shape == (FPS, 210, 160, 3) and arrays["action"].shape == (FPS,)
        assert arrays["reward"].tolist() == [s["reward"] for s in recorded_steps]
        assert arrays["action"].tolist() == [s["action"] for s in recorded_steps]


def test_a_lease_holds_a_pair_for_one_labeller_and_answers_are_checked(client: Client, recorded: dict[str, Any],
                                                                       services: Any) -> None:
    made = experiment(client, recorded["study"]["id"], pairs={"count": 1, "seed": 2}, lease_seconds=5)
    client.wait_clips(made["id"])
    ann, bob = (labeller(services, client, recorded["study"]["id"]) for _ in range(2))
    first = ann.lease_pair(made["id"])
    assert first["instructions"] == "Which player returns the ball better?" and first["progress"]["open"] == 1
    assert ann.lease_pair(made["id"])["pair"]["id"] == first["pair"]["id"]  # a reloaded page: the same pair
    refused = bob.lease_pair(made["id"])
    assert refused["pair"] is None and 2 <= refused["retry_after"] <= 5, refused  # leased to ann for ~5 s
    with pytest.raises(ApiError) as lost:
        bob.answer_pair(first["pair"]["id"], "left")
    assert (lost.value.status, lost.value.code) == (409, "lease_lost")
    with pytest.raises(ApiError) as bad:
        ann.answer_pair(first["pair"]["id"], "up")
    assert bad.value.status == 422 and "left" in str(bad.value.detail)
    time.sleep(5.5)  # ann's lease lapses: bob is given the pair, ann can no longer answer it
    assert bob.lease_pair(made["id"])["pair"]["id"] == first["pair"]["id"]
    with pytest.raises(ApiError) as late:
        ann.answer_pair(first["pair"]["id"], "right")
    assert (late.value.status, late.value.code) == (409, "lease_lost")
    label = bob.answer_pair(first["pair"]["id"], "tie")
    assert label["response"] == "tie" and label["labeller"].startswith("participant:") and label["duration_ms"] >= 0
    with pytest.raises(ApiError) as twice:
        bob.answer_pair(first["pair"]["id"], "left")
    assert twice.value.status == 409
    done = bob.lease_pair(made["id"])
    assert done["pair"] is None and done["retry_after"] is None and done["progress"]["answered"] == 1
    assert [p["state"] for p in client.preference_pairs(made["id"])] == ["answered"]
    other = client.create_study(cartpole_study())
    stranger = labeller(services, client, other["id"])
    with pytest.raises(ApiError) as foreign:
        stranger.lease_pair(made["id"])
    assert foreign.value.status == 404
    with pytest.raises(ApiError) as designer:
        client.lease_pair(made["id"])
    assert designer.value.status == 401


def test_labels_arrive_at_a_long_poll_as_they_are_stored(client: Client, recorded: dict[str, Any],
                                                        services: Any) -> None:
    made = experiment(client, recorded["study"]["id"], pairs={"count": 3, "seed": 4})
    client.wait_clips(made["id"])
    person = labeller(services, client, recorded["study"]["id"])
    assert client.preference_labels(made["id"]) == {"labels": [], "next": 0}
    got: dict[str, Any] = {}

    def follow() -> None:
        started = time.monotonic()
        got["page"] = client.preference_labels(made["id"], after=0, wait=20)
        got["after_s"] = time.monotonic() - started

    waiter = threading.Thread(target=follow)
    waiter.start()
    time.sleep(1.5)
    pair = person.lease_pair(made["id"])["pair"]
    person.answer_pair(pair["id"], "right")
    waiter.join(25)
    assert [label["response"] for label in got["page"]["labels"]] == ["right"]
    assert 1.5 <= got["after_s"] < 8, got  # woken by the answer, not by the 20 s timeout
    for response in ("left", "cant_tell"):
        person.answer_pair(person.lease_pair(made["id"])["pair"]["id"], response)
    rest = client.preference_labels(made["id"], after=got["page"]["next"])
    assert [label["seq"] for label in rest["labels"]] == [2, 3] and rest["next"] == 3
    assert [label["response"] for label in rest["labels"]] == ["left", "cant_tell"]


def test_twenty_labellers_at_once_never_hold_the_same_pair(client: Client, recorded: dict[str, Any],
                                                           services: Any) -> None:
    made = experiment(client, recorded["study"]["id"], source={"kind": "episodes", "segments_per_episode": 2},
                      pairs={"count": 15, "seed": 5}, agreement_share=0.4)
    client.wait_clips(made["id"])
    people = [labeller(services, client, recorded["study"]["id"]) for _ in range(20)]
    wanted = {p["id"]: p["labels_wanted"] for p in client.preference_pairs(made["id"])}
    assert sorted(wanted.values()).count(2) == 6  # 40% of 15 are shown to two labellers
    answered: list[tuple[str, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(people))

    def work(n: int) -> list[str]:
        person, held = people[n], []
        barrier.wait()
        while True:
            pair = person.lease_pair(made["id"])["pair"]
            if pair is None:
                return held
            held.append(pair["id"])
            time.sleep(0.05)
            person.answer_pair(pair["id"], ("left", "right", "tie")[n % 3])
            with lock:
                answered.append((pair["id"], f"p{n}"))

    with ThreadPoolExecutor(len(people)) as pool:
        rounds = list(pool.map(work, range(len(people))))
    assert sum(len(r) for r in rounds) == sum(wanted.values())  # every label wanted, given once
    assert len(set(answered)) == len(answered)  # nobody answered a pair twice
    for pair_id, n in wanted.items():
        assert sum(1 for p, _ in answered if p == pair_id) == n
    labels = client.preference_labels(made["id"], limit=100)["labels"]
    assert [label["seq"] for label in labels] == list(range(1, len(answered) + 1))
    assert len({label["labeller"] for label in labels}) > 1
    twice = [[label["response"] for label in labels if label["pair_id"] == p] for p, n in wanted.items() if n == 2]
    agreement = client.preference_experiment(made["id"])["counts"]["agreement"]
    assert agreement["pairs"] == 6 and agreement["agreed"] == sum(a == b for a, b in twice), (agreement, twice)


def _jpeg(value: int) -> bytes:
    frame = np.full((48, 64, 3), value, np.uint8)
    frame[:, : value % 64] = 255 - value
    return simplejpeg.encode_jpeg(frame, colorspace="RGB")


def test_a_clip_that_fails_to_render_is_never_offered(client: Client, recorded: dict[str, Any],
                                                      services: Any) -> None:
    made = experiment(client, recorded["study"]["id"], source={"kind": "posted"}, pairs={"count": 0},
                      clip={"seconds": 1.0, "fps": 10})
    good = [client.post_segment(made["id"], [_jpeg(v + i) for i in range(10)], observations=np.eye(10)[:, :3],
                                actions=list(range(10)), rewards=[0.5] * 10) for v in (10, 90)]
    truncated = _jpeg(200)[:120]  # a JPEG's start: accepted as one, undecodable
    broken = client.post_segment(made["id"], [_jpeg(40)] * 5 + [truncated] * 5)
    client.post_pairs(made["id"], [{"left": good[0]["id"], "right": broken["id"], "priority": 10},
                                   {"left": good[1]["id"], "right": good[0]["id"], "priority": 1}])
    done = client.wait_clips(made["id"])
    assert done["counts"]["segments"] == {"pending": 0, "ready": 2, "failed": 1}
    failed = next(s for s in client.preference_segments(made["id"]) if s["id"] == broken["id"])
    assert failed["state"] == "failed" and "JPEG" in failed["error"], failed
    person = labeller(services, client, recorded["study"]["id"])
    offered = person.lease_pair(made["id"])["pair"]
    assert {offered["left"]["segment_id"], offered["right"]["segment_id"]} == {good[0]["id"], good[1]["id"]}
    person.answer_pair(offered["id"], "left")
    after = person.lease_pair(made["id"])
    assert after["pair"] is None and after["retry_after"] is None  # nothing left it could be given
    assert sorted(p["state"] for p in client.preference_pairs(made["id"])) == ["answered", "blocked"]
    assert client.preference_experiment(made["id"])["counts"]["pairs"]["blocked"] == 1
    arrays = client.segment_arrays(made["id"], good[0]["id"])
    assert arrays["observation"].shape == (10, 3) and arrays["reward"].sum() == pytest.approx(5.0)
    assert good[0]["reward_sum"] == pytest.approx(5.0)


def test_posted_segments_and_pairs_are_checked(client: Client, recorded: dict[str, Any]) -> None:
    posted = experiment(client, recorded["study"]["id"], source={"kind": "posted"}, pairs={"count": 0})
    path = f"/api/preferences/{posted['id']}/segments"
    cases = [({"frames": ["not base64!"]}, "base64"),
             ({"frames": [base64.b64encode(b"GIF89a....").decode()]}, "JPEG or PNG"),
             ({"frames": [base64.b64encode(_jpeg(1)).decode()], "rewards": [1.0, 2.0]}, "one entry per frame"),
             ({"frames": [base64.b64encode(_jpeg(1)).decode()], "observations": [["a"]]}, "numbers"),
             ({"frames": []}, "at least 1")]
    for body, expected in cases:
        r = client._http.post(path, json=body)
        assert r.status_code == 422 and expected in r.text, (body, r.text)
    sampled = experiment(client, recorded["study"]["id"], pairs={"count": 0})
    r = client._http.post(f"/api/preferences/{sampled['id']}/segments",
                          json={"frames": [base64.b64encode(_jpeg(1)).decode()]})
    assert r.status_code == 409 and "posted" in r.text
    one = client.post_segment(posted["id"], [_jpeg(5)])
    with pytest.raises(ApiError) as same:
        client.post_pairs(posted["id"], [{"left": one["id"], "right": one["id"]}])
    assert same.value.status == 422 and "itself" in str(same.value.detail)
    with pytest.raises(ApiError) as foreign:
        client.post_pairs(posted["id"], [{"left": one["id"], "right": sampled["id"]}])
    assert foreign.value.status == 422 and "unknown" in str(foreign.value.detail)
    with pytest.raises(ApiError) as env:
        experiment(client, recorded["study"]["id"], source={"kind": "episodes", "env": "cartpole"})
    assert env.value.status == 422 and "pong" in str(env.value.detail)
