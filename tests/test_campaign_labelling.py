"""Campaign conditions that label preference pairs, on the real stack: an arrival assigned one labels its
experiment's pairs (and no other experiment's, nor plays) after the pages, completes with the channel's code and
redirect at the task's pair count, or early when the experiment has no more pairs (which then takes no one new);
one participant plays a condition and labels another in turn; specs naming a foreign experiment, both or neither
task, or a play-only quota unit are refused naming why."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import numpy as np
import pytest
import simplejpeg

from playcorder.sdk import ApiError, Client
from playcorder.sdk.bot import play
from tests.conftest import Services
from tests.factories import cartpole_study
from tests.test_campaigns import _after_play, _arrive, _first_error, _me

pytestmark = pytest.mark.e2e


def _jpeg(value: int) -> bytes:
    frame = np.full((48, 64, 3), value, np.uint8)
    frame[:, : value % 64] = 255 - value
    return simplejpeg.encode_jpeg(frame, colorspace="RGB")


def posted_experiment(client: Client, study_id: str, pairs: int) -> dict[str, Any]:
    """An experiment of `pairs` pairs over four posted segments, every clip rendered."""
    made = client.create_preference_experiment(study_id, {
        "name": f"judge-{uuid.uuid4().hex[:6]}", "instructions": "Which cart keeps the pole up longer?",
        "source": {"kind": "posted"}, "clip": {"seconds": 0.5, "fps": 10}, "pairs": {"count": 0}})
    segments = [client.post_segment(made["id"], [_jpeg(v + i) for i in range(5)])["id"] for v in (10, 60, 110, 160)]
    combos = [(a, b) for i, a in enumerate(segments) for b in segments[i + 1:]][:pairs]
    client.post_pairs(made["id"], [{"left": a, "right": b} for a, b in combos])
    assert client.wait_clips(made["id"])["counts"]["segments"]["ready"] == 4
    return made


def label_campaign(client: Client, study_id: str, experiment_id: str, pairs: int, **spec: Any) -> dict[str, Any]:
    body = {"name": f"judges-{uuid.uuid4().hex[:6]}", "conditions": [
        {"id": "judges", "label": {"experiment": experiment_id, "pairs": pairs}, "instructions": "Watch both clips.",
         "quota": {"unit": "participants", "target": 5}}]} | spec
    return client.create_campaign(study_id, body)


def _refused(call: Any) -> ApiError:
    with pytest.raises(ApiError) as err:
        call()
    return err.value


def test_a_prolific_arrival_labels_its_pairs_and_gets_the_completion_code(services: Services,
                                                                          client: Client) -> None:
    s = client.create_study(cartpole_study())
    made = posted_experiment(client, s["id"], pairs=5)
    other = posted_experiment(client, s["id"], pairs=1)
    c = label_campaign(client, s["id"], made["id"], pairs=3, channel="prolific", completion_code="LABEL123",
                       pages={"consent": "You agree.", "after": "Thanks for judging!"},
                       bonus={"formula": "0.1 * pairs", "max": 1.0, "currency": "GBP"})
    ids = {"PROLIFIC_PID": f"P{uuid.uuid4().hex[:20]}", "STUDY_ID": "st", "SESSION_ID": "se"}
    enrolled = _arrive(services.url, c["id"], ids).json()
    token, progress = enrolled["token"], enrolled["progress"]
    assert progress["stage"] == "consent"
    judge = Client(services.url, token)
    early = _refused(lambda: judge.lease_pair(made["id"]))
    assert (early.status, early.code) == (409, "pages_first")

    progress = _me(services.url, token, "/consent").json()
    assert progress["stage"] == "play" and progress["condition"] == "judges" and progress["environment"] is None
    assert progress["label"] == {"experiment": made["id"], "pairs": 3}
    assert progress["instructions"] == "Watch both clips."
    assert [(r["statistic"], r["target"], r["value"]) for r in progress["requirements"]] == [("pairs", 3, 0)]
    error = asyncio.run(_first_error(services.url, token, "cartpole"))
    assert error["code"] == "not_your_condition" and "labels preference pairs" in error["message"]
    wrong = _refused(lambda: judge.lease_pair(other["id"]))
    assert (wrong.status, wrong.code) == (409, "not_your_condition") and made["id"] in str(wrong.detail)

    for n in range(3):
        lease = judge.lease_pair(made["id"])
        assert lease["instructions"] == "Which cart keeps the pole up longer?" and lease["pair"] is not None
        judge.answer_pair(lease["pair"]["id"], ("left", "right", "tie")[n])
        progress = _me(services.url, token).json()
        if n < 2:
            assert progress["stage"] == "play" and progress["completion"] == pytest.approx((n + 1) / 3)
    assert progress["stage"] == "complete" and progress["completion_code"] == "LABEL123"
    assert progress["redirect"] == {"method": "GET", "url": "https://app.prolific.com/submissions/complete?cc=LABEL123",
                                    "fields": {}}
    assert progress["after"] == "Thanks for judging!" and progress["bonus"] == pytest.approx(0.3)
    done = _refused(lambda: judge.lease_pair(made["id"]))
    assert (done.status, done.code) == (409, "campaign_complete")

    rows = client.campaign_participants(c["id"])
    assert [(p["stage"], p["condition"], p["values"]["pairs"]) for p in rows] == [("complete", "judges", 3)]
    labels = client.preference_labels(made["id"])["labels"]
    assert [label["response"] for label in labels] == ["left", "right", "tie"]
    assert {label["labeller"] for label in labels} == {f"participant:{enrolled['participant_id']}"}
    board = client.campaign_dashboard(c["id"])
    assert [(x["id"], x["environment"], x["experiment"], x["filled"], x["full"]) for x in board["conditions"]] == [
        ("judges", None, made["id"], 1, False)]
    assert board["histograms"]["pairs"] == [3.0]


def test_a_participant_plays_one_condition_and_labels_another_in_turn(services: Services, client: Client) -> None:
    s = client.create_study(cartpole_study(max_episode_steps=20))
    made = posted_experiment(client, s["id"], pairs=3)
    c = client.create_campaign(s["id"], {"name": f"mixed-{uuid.uuid4().hex[:6]}", "conditions_per_participant": 2,
                                         "conditions": [
        {"id": "cart", "environment": "cartpole", "quota": {"target": 5}},
        {"id": "judges", "label": {"experiment": made["id"], "pairs": 2}, "quota": {"target": 5}}]})
    token = _arrive(services.url, c["id"], {"participant": "both"}).json()["token"]
    judge = Client(services.url, token)
    seen = []
    for _ in range(2):
        progress = _me(services.url, token).json()
        seen.append(progress["condition"])
        if progress["label"] is not None:
            assert progress["environment"] is None
            for response in ("left", "right"):
                judge.answer_pair(judge.lease_pair(made["id"])["pair"]["id"], response)
        else:
            assert progress["environment"] == "cartpole"
            refused = _refused(lambda: judge.lease_pair(made["id"]))
            assert (refused.status, refused.code) == (409, "not_your_condition") and "cartpole" in str(refused.detail)
            asyncio.run(play(services.url, token, "cartpole", episodes=1))
            _after_play(services.url, token, lambda p: p["conditions_done"] == 1 or p["stage"] == "complete")
    assert sorted(seen) == ["cart", "judges"]
    done = _me(services.url, token).json()
    assert done["stage"] == "complete" and done["conditions_done"] == 2 and len(done["completion_code"]) == 32


def test_an_experiment_out_of_pairs_completes_its_labellers_and_takes_no_one_new(services: Services,
                                                                                 client: Client) -> None:
    s = client.create_study(cartpole_study())
    made = posted_experiment(client, s["id"], pairs=2)
    c = label_campaign(client, s["id"], made["id"], pairs=5)
    token = _arrive(services.url, c["id"], {"participant": "few"}).json()["token"]
    judge = Client(services.url, token)
    for response in ("left", "right"):
        judge.answer_pair(judge.lease_pair(made["id"])["pair"]["id"], response)
    progress = _me(services.url, token).json()
    assert progress["stage"] == "complete" and len(progress["completion_code"]) == 32  # a link's own code
    assert client.campaign_participants(c["id"])[0]["values"] == {"pairs": 2, "pairs_left": 0}
    late = _arrive(services.url, c["id"], {"participant": "late"})
    assert late.status_code == 409 and late.json()["code"] == "campaign_full"
    assert client.campaign_dashboard(c["id"])["conditions"][0]["full"] is True


def test_labelling_conditions_are_checked(services: Services, client: Client) -> None:
    s = client.create_study(cartpole_study())
    foreign_study = client.create_study(cartpole_study())
    foreign = posted_experiment(client, foreign_study["id"], pairs=1)
    ours = posted_experiment(client, s["id"], pairs=1)

    def create(**condition: Any) -> ApiError:
        return _refused(lambda: client.create_campaign(s["id"], {"name": "bad", "conditions": [
            {"id": "j", "quota": {"target": 1}} | condition]}))

    err = create(label={"experiment": foreign["id"], "pairs": 2})
    assert err.status == 422 and foreign["id"] in str(err.detail) and s["id"] in str(err.detail)
    err = create(label={"experiment": "0" * 32, "pairs": 2})
    assert err.status == 422 and "preference experiment" in str(err.detail)
    err = create(environment="cartpole", label={"experiment": ours["id"], "pairs": 2})
    assert err.status == 422 and "exactly one of 'environment' (play) or 'label'" in str(err.detail)
    assert "got both" in str(err.detail)
    err = create()
    assert err.status == 422 and "got neither" in str(err.detail)
    err = create(label={"experiment": ours["id"], "pairs": 2}, quota={"unit": "episodes", "target": 1})
    assert err.status == 422 and "'participants'" in str(err.detail) and "'episodes'" in str(err.detail)
    err = create(label={"experiment": ours["id"], "pairs": 0})
    assert err.status == 422 and "pairs" in str(err.detail)
    err = create(label={"experiment": ours["id"], "pairs": 2}, variant={"fps": 10})
    assert err.status == 422 and "variant" in str(err.detail)
    c = label_campaign(client, s["id"], ours["id"], pairs=1)
    err = _refused(lambda: client.update_campaign(c["id"], {"name": "x", "conditions": [
        {"id": "judges", "label": {"experiment": foreign["id"], "pairs": 1}, "quota": {"target": 1}}]}))
    assert err.status == 422 and foreign["id"] in str(err.detail)
