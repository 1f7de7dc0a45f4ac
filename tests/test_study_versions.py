"""Editing a study on the running stack: each changed spec is a new version and each episode keeps the version it
was played with; a designer disables a study or one environment, archives a study with episodes, deletes one
without; an episode's thumbnail and the image of any step."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest

from playcorder.sdk import ApiError, Client
from playcorder.sdk.bot import connect
from tests.factories import cartpole_study, study
from tests.stored import all_steps, stored_episode
from tests.wsclient import Player, play_episode

pytestmark = pytest.mark.e2e
CARTPOLE = {"id": "cartpole", "env_id": "CartPole-v1", "mode": "turn_based"}


def participant_study(client: Client, token: str) -> dict[str, Any]:
    response = httpx.get(f"{client.url}/api/participant/study", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def refusal(client: Client, token: str, env: str) -> dict[str, Any]:
    """The error event select_env of `env` gets; the socket stays open for another try."""
    player = await Player.join(client.url, token, env)
    event = await player.until("error", timeout=10)
    await player.send(type="select_env", env=env)  # still answered: refused, not closed
    assert (await player.until("error", timeout=10))["code"] == event["code"]
    await player.close()
    return dict(event)


async def test_an_edit_makes_a_version_and_each_episode_keeps_its_own(client: Client) -> None:
    spec = cartpole_study()
    created = client.create_study(spec)
    sid = created["id"]
    assert (created["version"], created["enabled"], created["archived"], created["episode_count"]) == (1, True,
                                                                                                      False, 0)
    token = client.create_participant(sid)["token"]
    first = stored_episode(client, await play_episode(client.url, token, "cartpole", [1, 0]))
    assert first["study_version"] == 1

    # A socket opened before the edit plays the version current when it selects an environment.
    early = Player(await connect(client.url, token))
    edited = {**spec, "instructions": "Balance the pole.", "environments": [{**CARTPOLE, "fps": 20}]}
    after = client.update_study(sid, edited)
    assert (after["version"], after["spec"]["instructions"], after["episode_count"]) == (2, "Balance the pole.", 1)
    assert after["updated_at"] > created["updated_at"]
    assert client.update_study(sid, edited)["version"] == 2  # the same spec again: no new version
    await early.send(type="select_env", env="cartpole")
    session = await early.until("session")
    assert session["fps"] == 20
    second_id = str((await early.until("episode_started"))["episode_id"])
    await early.send(type="action", action=1)
    await early.until("frame")
    await early.send(type="end_episode", save=True)
    await early.until("episode_ended")
    await early.close()
    assert stored_episode(client, second_id)["study_version"] == 2
    assert client.get_episode(first["id"])["study_version"] == 1

    assert [e["id"] for e in client.list_episodes(sid, version=1)] == [first["id"]]
    assert [e["id"] for e in client.list_episodes(sid, version=2)] == [second_id]
    assert client.list_episodes(sid, version=3) == []
    assert client.create_export(sid, filter={"study_version": 2})["episodes"] == 1  # an export picks them alike
    versions = client.list_study_versions(sid)
    assert [(v["version"], v["spec"]["environments"][0]["fps"]) for v in versions] == [(1, 15), (2, 20)]
    assert client.get_study_version(sid, 1)["spec"] == created["spec"]
    page = client.page(f"/api/studies/{sid}/versions", limit=1)
    assert [v["version"] for v in page.items] == [1] and page.next_cursor is not None
    assert [v["version"] for v in client.page(f"/api/studies/{sid}/versions", 1, page.next_cursor).items] == [2]
    with pytest.raises(ApiError) as missing:
        client.get_study_version(sid, 3)
    assert missing.value.status == 404 and "in 1..2, got 3" in missing.value.detail
    assert client.get_study(sid)["episode_count"] == 2


async def test_a_disabled_environment_or_study_cannot_be_picked(client: Client) -> None:
    sid = client.create_study(study(CARTPOLE, {**CARTPOLE, "id": "second"}, name="switches"))["id"]
    token = client.create_participant(sid)["token"]

    off = client.set_study(sid, disabled_environments=["second"])
    assert (off["disabled_environments"], off["version"]) == (["second"], 1)  # no new version
    shown = participant_study(client, token)
    assert shown["enabled"] is True and [e["id"] for e in shown["environments"]] == ["cartpole"]
    event = await refusal(client, token, "second")
    assert event["code"] == "environment_disabled"
    assert event["message"] == ("Expected an enabled environment of the study, one of ['cartpole'], got 'second', "
                                "disabled by its designer")
    with pytest.raises(ApiError) as unknown:
        client.set_study(sid, disabled_environments=["second", "nope"])
    assert unknown.value.status == 422 and "['cartpole', 'second']" in unknown.value.detail
    assert "['nope']" in unknown.value.detail

    client.set_study(sid, enabled=False)
    shown = participant_study(client, token)
    assert shown["enabled"] is False and shown["environments"] == []
    event = await refusal(client, token, "cartpole")
    assert event["code"] == "study_disabled" and "disabled by its designer" in event["message"]

    client.set_study(sid, enabled=True, disabled_environments=[])
    await play_episode(client.url, token, "second", [1])  # enabled again: it plays
    client.set_study(sid, archived=True)
    assert participant_study(client, token)["enabled"] is False
    event = await refusal(client, token, "cartpole")
    assert event["code"] == "study_disabled" and "archived by its designer" in event["message"]


async def test_a_study_with_episodes_is_archived_one_without_deleted(client: Client) -> None:
    kept = client.create_study(cartpole_study())["id"]
    token = client.create_participant(kept)["token"]
    stored_episode(client, await play_episode(client.url, token, "cartpole", [0]))
    with pytest.raises(ApiError) as refused:
        client.delete_study(kept)
    assert refused.value.status == 409
    assert refused.value.detail == ("Expected a study without episodes to delete, got 1 episodes: archive it instead "
                                    "(PATCH archived=true)")

    assert client.set_study(kept, archived=True)["archived"] is True
    assert kept not in {s["id"] for s in client.list_studies()}
    assert kept in {s["id"] for s in client.list_studies(archived=True)}
    assert client.get_study(kept)["archived"] is True  # still readable, with its episodes
    assert len(client.list_episodes(kept)) == 1
    assert client.set_study(kept, archived=False)["archived"] is False
    assert kept in {s["id"] for s in client.list_studies()}
    assert kept not in {s["id"] for s in client.list_studies(archived=True)}

    empty = client.create_study(cartpole_study())["id"]
    empty_token = client.create_participant(empty)["token"]
    client.update_study(empty, cartpole_study())
    client.delete_study(empty)
    with pytest.raises(ApiError) as gone:
        client.get_study(empty)
    assert gone.value.status == 404
    with pytest.raises(ApiError) as versions_gone:
        client.list_study_versions(empty)
    assert versions_gone.value.status == 404
    response = httpx.get(f"{client.url}/api/participant/study", headers={"Authorization": f"Bearer {empty_token}"})
    assert response.status_code == 401  # its participants' tokens went with it


async def test_the_thumbnail_and_step_images_are_the_jpegs_shown(client: Client, designer_token: str) -> None:
    sid = client.create_study(cartpole_study())["id"]
    token = client.create_participant(sid)["token"]
    eid = await play_episode(client.url, token, "cartpole", [1, 1, 0, 1, 0, 0])
    steps = all_steps(client, eid, images=True)
    shown = [base64.b64decode(s["image"]) for s in steps]
    assert len(shown) == 7 and len(set(shown)) > 1  # the cart moves: the frames differ

    for n in (0, 3, 6):
        response = httpx.get(f"{client.url}/api/episodes/{eid}/steps/{n}/image.jpg",
                             headers={"Authorization": f"Bearer {designer_token}"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/jpeg"
        assert response.headers["cache-control"] == "private, max-age=3600"
        assert response.content == shown[n] and response.content[:2] == b"\xff\xd8"
    assert client.episode_image(eid) == shown[len(shown) // 2]
    with pytest.raises(ApiError) as beyond:
        client.episode_image(eid, 7)
    assert beyond.value.status == 404
    assert beyond.value.detail == f"Expected a step of episode {eid} in 0..6 (the steps stored), got 7"
    other = Client(client.url, None)
    with pytest.raises(ApiError) as anonymous:
        other.episode_image(eid)
    assert anonymous.value.status == 401


async def test_edits_racing_a_delete_get_404_never_500(client: Client) -> None:
    bearer = {"Authorization": client._http.headers["Authorization"]}
    for _ in range(2):  # the race lands differently each time
        spec = cartpole_study()
        sid = client.create_study(spec)["id"]
        changed = {**spec, "environments": [{**CARTPOLE, "fps": 20}]}
        async with httpx.AsyncClient(base_url=client.url, headers=bearer, timeout=120) as http:
            responses = await asyncio.gather(
                *(http.delete(f"/api/studies/{sid}") for _ in range(10)),
                *(http.put(f"/api/studies/{sid}", json=changed) for _ in range(3)),
                *(http.patch(f"/api/studies/{sid}", json={"enabled": False}) for _ in range(3)))
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 204, 404, 409}, [r.text for r in responses if r.status_code >= 500]
        assert statuses[:10].count(204) == 1  # deleted once; the other deletes find no study
        gone = [r.json()["detail"] for r in responses if r.status_code == 404]
        assert gone and all(d.startswith("Expected the id") and sid in d for d in gone)
        assert (await asyncio.to_thread(httpx.get, f"{client.url}/api/studies/{sid}", headers=bearer)).status_code \
            == 404
